"""The CLI reference (``docs/cli-reference.md``), generated from every command's ``--help``.

``python -m meterlog.commands.reference > docs/cli-reference.md`` (``make docs``) rewrites it; a
test checks that the file matches, so the reference and the program cannot drift apart.
"""

from __future__ import annotations

import click

HEADER = """# meterlog command-line reference

This file is generated from `meterlog --help` and each `meterlog COMMAND --help` by
`make docs`; do not edit it by hand. The [manual](index.md) explains what the commands are for,
with examples.
"""


def _help(args: list[str]) -> str:
    from click.testing import CliRunner

    from meterlog.cli import main

    result = CliRunner().invoke(main, args, terminal_width=100, prog_name="meterlog")
    if result.exit_code != 0:
        raise RuntimeError(f"meterlog {' '.join(args)} failed: {result.output}")
    return result.output.rstrip() + "\n"


def cli_reference() -> str:
    """The whole reference as Markdown: the group's help, then each command's."""
    from meterlog.cli import main

    context = click.Context(main)
    parts = [HEADER, "## meterlog\n", "```\n" + _help(["--help"]) + "```\n"]
    for name in main.list_commands(context):
        parts.append(f"## meterlog {name}\n")
        parts.append("```\n" + _help([name, "--help"]) + "```\n")
    return "\n".join(parts)


if __name__ == "__main__":
    print(cli_reference(), end="")
