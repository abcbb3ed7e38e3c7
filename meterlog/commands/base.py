"""The command group: loads commands on demand and turns errors into exit codes in one place."""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from meterlog.commands import COMMANDS
from meterlog.errors import ExitStatus, MeterlogError

#: Set by the program's entry point (:func:`meterlog.cli.run`): process-wide tuning such as
#: :func:`gc.freeze` is only done when meterlog is the program, never when it is imported.
PROGRAM = {"running": False}


def tune_for_batch_work() -> None:
    """Before a long batch job (ingest), when meterlog is the program: everything imported so
    far lives as long as the process, so keep the garbage collector from scanning it again and
    again while chunks are parsed. Does nothing when meterlog is used as a library."""
    if PROGRAM["running"]:
        import gc

        gc.freeze()


def error_line(message: str) -> str:
    """One ``meterlog: error: ...`` line, with terminal control characters made harmless."""
    from meterlog.text import printable

    return f"meterlog: error: {printable(message)}"


class LazyGroup(click.Group):
    """A group whose commands are imported only when named (pip's ``commands/`` pattern)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMANDS.get(cmd_name)
        if module is None:
            return None
        command = importlib.import_module(module).command
        assert isinstance(command, click.Command)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; map meterlog's errors, Ctrl-C and a closed pipe to exit codes."""
        try:
            return super().invoke(ctx)
        except MeterlogError as exc:
            click.echo(error_line(str(exc)), err=True)
            ctx.exit(exc.exit_code)
        except FileNotFoundError as exc:
            from meterlog.errors import vanished_file_error

            vanished = vanished_file_error(exc)
            if vanished is None:
                raise
            click.echo(error_line(str(vanished)), err=True)
            ctx.exit(vanished.exit_code)
        except KeyboardInterrupt:
            click.echo("meterlog: interrupted", err=True)
            ctx.exit(ExitStatus.INTERRUPTED)
        except BrokenPipeError:
            # The reader went away (| head): nothing more to say, and nothing left to flush.
            _silence_stdout()
            ctx.exit(ExitStatus.OK)


def _silence_stdout() -> None:
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
