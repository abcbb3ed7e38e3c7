"""The README stays true: every command and option is documented with an example, and the
``meterlog usage`` examples run against a small store."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import click
import polars as pl
import pytest
from click.testing import CliRunner

from meterlog.cli import main
from meterlog.config import load_config
from meterlog.filters import DEFAULT_BOT_PATTERNS
from tests.support import REPO
from tests.support.usage import ACCOUNTS_CSV, build_store, requests_frame
from tests.test_endpoints import OPENAPI_YAML

README = Path(__file__).resolve().parent.parent / "README.md"
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def readme() -> str:
    return README.read_text(encoding="utf-8")


def code_blocks(language: str, section: str | None = None) -> list[str]:
    """Fenced blocks of ``language``; with ``section``, only those under that ``## `` heading."""
    text = readme()
    if section is not None:
        start = text.index(section)
        end = text.find("\n## ", start + len(section))
        text = text[start : end if end >= 0 else len(text)]
    return [body for lang, body in FENCE.findall(text) if lang == language]


def example_commands(command: str) -> list[list[str]]:
    """``meterlog COMMAND ...`` lines of the README's shell blocks, as argument lists after
    ``meterlog`` (continuation lines joined, anything from a pipe or redirection on dropped)."""
    examples = []
    for block in code_blocks("sh"):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.shlex(line, posix=True, punctuation_chars="|><;&")
            words.whitespace_split = True
            words.commenters = "#"
            tokens = list(words)
            if tokens[:2] != ["meterlog", command]:
                continue
            cut = next((i for i, t in enumerate(tokens) if t and t[0] in "|><;&"), len(tokens))
            examples.append(tokens[1:cut])
    return examples


def documented_commands() -> list[tuple[str, click.Command]]:
    context = click.Context(main)
    commands = [(name, main.get_command(context, name)) for name in main.list_commands(context)]
    return sorted((name, command) for name, command in commands if command is not None)


@pytest.mark.parametrize(("name", "command"), documented_commands())
def test_every_command_has_a_readme_example(name: str, command: click.Command) -> None:
    assert f"meterlog {name}" in readme(), f"README does not mention 'meterlog {name}'"
    assert example_commands(name), f"README has no example of 'meterlog {name}' in a sh block"


@pytest.mark.parametrize(("name", "command"), documented_commands())
def test_every_option_is_in_the_readme(name: str, command: click.Command) -> None:
    text = readme()
    missing = [
        option
        for parameter in command.params
        if isinstance(parameter, click.Option)
        for option in parameter.opts
        if option.startswith("--") and not re.search(rf"(?<![\w-]){option}(?![\w-])", text)
    ]
    assert not missing, f"options of 'meterlog {name}' missing from README.md: {missing}"


@pytest.mark.parametrize(("name", "command"), documented_commands())
def test_every_command_help_has_an_example(name: str, command: click.Command) -> None:
    result = CliRunner().invoke(main, [name, "--help"])
    assert result.exit_code == 0
    assert f"meterlog {name}" in result.output


def test_bot_list_in_readme_is_the_built_in_one() -> None:
    section = readme().split("#### Bots", 1)[1].split("\n#", 1)[0]
    listed = re.findall(r"`([^`]+)`", section.split("any of:", 1)[1].split(".", 1)[0])
    assert tuple(listed) == DEFAULT_BOT_PATTERNS


@pytest.fixture(scope="module")
def docs_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working folder with a store and the files the README examples name."""
    folder = tmp_path_factory.mktemp("docs")
    # the README's examples name a user of the bundled sample logs
    events = requests_frame().with_columns(
        pl.col("remote_user").replace({"ann": "u_58138"}),
        http_x_user_id=pl.col("remote_user"),
    )
    build_store(folder / "store", events)
    (folder / "accounts.csv").write_text(ACCOUNTS_CSV)
    (folder / "openapi.yaml").write_text(OPENAPI_YAML.replace("/v1", ""))
    (folder / "sample_logs").mkdir()  # the README's examples name the bundled sample files
    shutil.copy(REPO / "sample_logs" / "openapi.yaml", folder / "sample_logs")
    (folder / "sample_logs" / "accounts.csv").write_text(ACCOUNTS_CSV)  # named by the quick start
    return folder


def with_test_store(arguments: list[str], store: Path) -> list[str]:
    """``arguments`` with any ``--store`` value replaced by ``store``."""
    replaced = list(arguments)
    for index, value in enumerate(replaced[:-1]):
        if value == "--store":
            replaced[index + 1] = str(store)
    return replaced


@pytest.mark.parametrize("arguments", example_commands("usage"), ids=" ".join)
def test_readme_usage_examples_run(
    arguments: list[str], docs_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(docs_folder)
    store = docs_folder / "store"
    result = CliRunner().invoke(
        main,
        with_test_store(arguments, store),
        env={"METERLOG_STORE": str(store), "METERLOG_CONFIG": None},
    )
    assert result.exit_code == 0, result.stderr or result.output
    assert "error" not in result.stderr
    assert "no requests" not in result.stderr, "the example should show rows on the test store"
    output_file = next(
        (arguments[i + 1] for i, a in enumerate(arguments[:-1]) if a in ("-o", "--output")), None
    )
    if output_file:
        assert (docs_folder / output_file).stat().st_size > 0
    else:
        assert "requests" in result.stdout


def test_readme_config_example_is_valid(docs_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (example,) = code_blocks("toml", "## Configuration file")
    store = docs_folder / "store"
    config = re.sub(r'^store = ".*"', f'store = "{store}"', example, flags=re.MULTILINE)
    (docs_folder / "meterlog.toml").write_text(config)
    monkeypatch.chdir(docs_folder)
    loaded = load_config(None)
    assert loaded.store == str(store)
    assert loaded.routes == ("/v1/users/{user_id}/orders", "/v1/users/me")
    no_env: dict[str, str | None] = {"METERLOG_STORE": None, "METERLOG_CONFIG": None}
    result = CliRunner().invoke(main, ["usage", "--by", "account", "--by", "endpoint"], env=no_env)
    (docs_folder / "meterlog.toml").unlink()
    assert result.exit_code == 0, result.stderr
    assert "acme,/v1/users/{user_id}/orders," in result.stdout


def test_readme_accounts_example_is_valid(tmp_path: Path) -> None:
    from meterlog.identity import load_accounts_file

    (example,) = code_blocks("csv", "## Configuration file")
    (tmp_path / "accounts.csv").write_text(example)
    assert set(load_accounts_file(tmp_path / "accounts.csv").values()) == {"acme", "globex"}


def test_cli_reference_is_generated_from_help() -> None:
    from meterlog.commands.reference import cli_reference

    reference = README.parent / "docs" / "cli-reference.md"
    assert reference.read_text(encoding="utf-8") == cli_reference(), (
        "docs/cli-reference.md is out of date: run 'make docs'"
    )


@pytest.mark.slow
def test_quick_start_on_the_bundled_sample_logs_works(tmp_path: Path) -> None:
    """The README's first ingest example on sample_logs/ runs as written, from the checkout."""
    import subprocess
    import sys

    block = code_blocks("sh", "## Quick start")[0]
    commands = [shlex.split(line) for line in block.splitlines() if line.startswith("meterlog ")]
    assert [words[1] for words in commands] == ["ingest", "usage", "status"]
    store = str(tmp_path / "store")
    outputs = []
    for words in commands:
        args = [store if word == "./store" else word for word in words[1:]]
        result = subprocess.run(
            [sys.executable, "-m", "meterlog", *args],
            cwd=README.parent,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout)
    assert "0 rejected" not in outputs[0]  # the sample logs hold deliberate bad lines
    assert "failed" not in outputs[0]
    usage = outputs[1].splitlines()
    assert usage[0].startswith("account,requests")
    assert any(line.startswith("acme,") for line in usage[1:])
