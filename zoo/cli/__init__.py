"""The `zoo` command line: typer commands, with errors as one line and a hint.

Exit codes: 0 ok, 2 usage or validation error, 1 failure while working. A traceback is shown
only with ZOO_DEBUG=1, and never with local variables; so are the libraries' Python warnings (the
zoo prints its own as one `Warning:` line). `zoo --quiet COMMAND` shows no progress (see
zoo.progress); `zoo --install-completion SHELL` sets up shell completion of commands, options,
kinds, component names in `--set` and recipe files (typer's scripts and installer; the shell is
named, not guessed, so the answer does not depend on which process started zoo).
"""

from __future__ import annotations

import sys
import traceback
import warnings
from enum import StrEnum
from typing import Annotated

import typer
from typer._completion_classes import completion_init  # typer calls it only with its own options
from typer.completion import install_callback, show_callback

import zoo
from zoo import progress
from zoo.cli import components, recipes, results, schema, trained
from zoo.cli.data import data_app
from zoo.cli.messages import debug_enabled, report_error
from zoo.cli.models import models_app
from zoo.cli.pipeline import CliPipeline
from zoo.errors import ZooError, disk_full
from zoo.protocols import Commands

app = typer.Typer(
    name="zoo",
    help="erosion zoo: train, compare and apply models that score bone erosion in RA joint X-rays.",
    no_args_is_help=True,
    add_completion=False,  # the root's own --install-completion/--show-completion take the shell
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 120},
)
app.command("list")(components.list_components)
app.command("plugins")(components.list_plugins)
app.command("schema")(schema.write_schema)
app.command("validate")(recipes.validate)
app.command("run")(recipes.run)
app.command("evaluate")(results.evaluate)
app.command("leaderboard")(results.leaderboard)
app.command("predict")(trained.predict)
app.command("analyze")(trained.analyze)
app.command("export")(trained.export)
app.command("ensemble")(trained.ensemble)
app.add_typer(data_app, name="data")
app.add_typer(models_app, name="models")
_plugin_commands_added = False


def _add_plugin_commands() -> None:
    """Let plugins add their commands (once per process)."""
    global _plugin_commands_added
    if not _plugin_commands_added:
        from zoo.compose.plugins import get_plugins, register_commands

        register_commands(get_plugins(), Commands(root=app, data=data_app, pipeline=CliPipeline()))
        _plugin_commands_added = True


def _print_version(value: bool) -> None:
    if value:
        sys.stdout.write(f"zoo {zoo.__version__}\n")
        raise typer.Exit()


class Shell(StrEnum):
    """The shells typer writes completion for."""

    bash = "bash"
    zsh = "zsh"
    fish = "fish"
    powershell = "powershell"
    pwsh = "pwsh"


def _install_completion(ctx: typer.Context, param: typer.CallbackParam, shell: Shell | None) -> None:
    if shell is not None:
        install_callback(ctx, param, shell.value)  # writes the script and its rc line, then exits


def _show_completion(ctx: typer.Context, param: typer.CallbackParam, shell: Shell | None) -> None:
    if shell is not None:
        show_callback(ctx, param, shell.value)  # prints the script, then exits


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Show the version."),
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Show no progress bars or epoch lines (also: ZOO_QUIET=1).")
    ] = False,
    install_completion: Annotated[
        Shell | None,
        typer.Option(
            "--install-completion",
            callback=_install_completion,
            is_eager=True,
            metavar="SHELL",
            help="Install completion for SHELL (bash, zsh, fish, powershell or pwsh) in your home folder.",
        ),
    ] = None,
    show_completion: Annotated[
        Shell | None,
        typer.Option(
            "--show-completion",
            callback=_show_completion,
            is_eager=True,
            metavar="SHELL",
            help="Print the completion script for SHELL, to install it yourself.",
        ),
    ] = None,
) -> None:
    """erosion zoo: train, compare and apply models that score bone erosion in RA joint X-rays."""
    progress.set_quiet(quiet)


def run_cli(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code."""
    try:
        with warnings.catch_warnings():
            if not debug_enabled():  # libraries' warnings are for developers; the zoo says what matters itself
                warnings.simplefilter("ignore")
            _add_plugin_commands()
            completion_init()  # typer's shell classes answer the completion scripts' requests
            result = app(args=argv, prog_name="zoo", standalone_mode=False)
    except typer.TyperException as exc:  # typer's usage errors: bad option, missing argument
        if type(exc).__name__ == "NoArgsIsHelpError":  # `zoo` alone: show the help
            sys.stdout.write(exc.format_message() + "\n")
            return 2
        ctx = getattr(exc, "ctx", None)
        command = ctx.command_path if ctx is not None else "zoo"
        sys.stderr.write(f"Error: {exc.format_message()}\nHint: run '{command} --help'\n")
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt):  # Ctrl-C outside training (which keeps its checkpoint)
        sys.stderr.write("Error: interrupted\n")
        return 130
    except SystemExit as done:  # typer's completion options and requests end by exiting
        return done.code if isinstance(done.code, int) else int(done.code is not None)
    except ZooError as error:
        report_error(error)
        return error.exit_code
    except Exception as exc:
        if debug_enabled():
            traceback.print_exc()
        if disk_full(exc):  # where no run could say more (a cache, an export)
            sys.stderr.write(f"Error: the disk is full ({exc.strerror if isinstance(exc, OSError) else exc})\n")
            sys.stderr.write("Hint: free some space, then run the command again\n")
            return 1
        sys.stderr.write(f"Error: unexpected {type(exc).__name__}: {exc}\n")
        sys.stderr.write("Hint: run again with ZOO_DEBUG=1 to see the traceback, and report it\n")
        return 1
    return result if isinstance(result, int) else 0


def main() -> None:
    """Console-script entry point."""
    sys.exit(run_cli())
