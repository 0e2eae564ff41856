"""The `zoo` command line: typer commands, with errors as one line and a hint.

Exit codes: 0 ok, 2 usage or validation error, 1 failure while working. A traceback is shown
only with ZOO_DEBUG=1, and never with local variables; so are the libraries' Python warnings (the
zoo prints its own as one `Warning:` line).
"""

from __future__ import annotations

import sys
import traceback
import warnings
from typing import Annotated

import typer

from zoo import __version__
from zoo.cli import components, recipes, results, trained
from zoo.cli.commands import Commands
from zoo.cli.data import data_app
from zoo.cli.output import debug_enabled, report_error
from zoo.errors import ZooError

app = typer.Typer(
    name="zoo",
    help="erosion zoo: train, compare and apply models that score bone erosion in RA joint X-rays.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command("list")(components.list_components)
app.command("plugins")(components.list_plugins)
app.command("validate")(recipes.validate)
app.command("run")(recipes.run)
app.command("evaluate")(results.evaluate)
app.command("leaderboard")(results.leaderboard)
app.command("predict")(trained.predict)
app.command("analyze")(trained.analyze)
app.command("export")(trained.export)
app.add_typer(data_app, name="data")
_plugin_commands_added = False


def _add_plugin_commands() -> None:
    """Let plugins add their commands (once per process)."""
    global _plugin_commands_added
    if not _plugin_commands_added:
        from zoo.compose.plugins import get_plugins, register_commands

        register_commands(get_plugins(), Commands(root=app, data=data_app))
        _plugin_commands_added = True


def _print_version(value: bool) -> None:
    if value:
        sys.stdout.write(f"zoo {__version__}\n")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """erosion zoo: train, compare and apply models that score bone erosion in RA joint X-rays."""


def run_cli(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code."""
    try:
        with warnings.catch_warnings():
            if not debug_enabled():  # libraries' warnings are for developers; the zoo says what matters itself
                warnings.simplefilter("ignore")
            _add_plugin_commands()
            result = app(args=argv, prog_name="zoo", standalone_mode=False)
    except typer.TyperException as exc:  # typer's usage errors: bad option, missing argument
        if type(exc).__name__ == "NoArgsIsHelpError":  # `zoo` alone: show the help
            sys.stdout.write(exc.format_message() + "\n")
            return 2
        ctx = getattr(exc, "ctx", None)
        command = ctx.command_path if ctx is not None else "zoo"
        sys.stderr.write(f"Error: {exc.format_message()}\nHint: run '{command} --help'\n")
        return exc.exit_code
    except typer.Abort:
        sys.stderr.write("Error: aborted\n")
        return 130
    except ZooError as error:
        report_error(error)
        return error.exit_code
    except Exception as exc:
        if debug_enabled():
            traceback.print_exc()
        sys.stderr.write(f"Error: unexpected {type(exc).__name__}: {exc}\n")
        sys.stderr.write("Hint: run again with ZOO_DEBUG=1 to see the traceback, and report it\n")
        return 1
    return result if isinstance(result, int) else 0


def main() -> None:
    """Console-script entry point."""
    sys.exit(run_cli())
