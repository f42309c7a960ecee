"""Entry point of the ``pfatlas`` command: the app, global options and error handling.

Every user error is a :class:`~pfatlas.errors.PfatlasError`: printed as one line (no traceback)
and the exit status is 1. Usage errors exit 2, Ctrl-C exits 130. An unexpected exception is a bug:
the message says so, and ``--debug`` shows its traceback.
"""

from __future__ import annotations

import sys
import warnings

import typer

from pfatlas import __version__
from pfatlas.cli import build as build_cmd
from pfatlas.cli import config as config_cmd
from pfatlas.cli import demo as demo_cmd
from pfatlas.cli import score as score_cmd
from pfatlas.cli import serve as serve_cmd
from pfatlas.cli import simulate as simulate_cmd
from pfatlas.cli import terrain as terrain_cmd
from pfatlas.cli.options import setup_logging, stderr, stdout
from pfatlas.errors import PfatlasError

app = typer.Typer(
    name="pfatlas",
    help="pfatlas: a 30 m atlas of permafrost and its change in alpine mining areas.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

_state = {"debug": False}


def _version(value: bool) -> None:
    if value:
        stdout.print(f"pfatlas {__version__}")
        raise typer.Exit()


@app.callback()
def _global(
    verbose: int = typer.Option(0, "--verbose", "-v", count=True, help="More log output (-vv for debug)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only errors on stderr; no progress."),
    debug: bool = typer.Option(False, "--debug", help="Show the traceback of unexpected errors."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """pfatlas: a 30 m atlas of permafrost and its change in alpine mining areas."""
    setup_logging(-1 if quiet else verbose)
    _state["debug"] = debug
    _state["quiet"] = quiet


config_cmd.register(app, _state)
build_cmd.register(app, _state)
terrain_cmd.register(app, _state)
demo_cmd.register(app, _state)
score_cmd.register(app, _state)
simulate_cmd.register(app, _state)
serve_cmd.register(app, _state)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and exit with its status (returns it instead when ``argv`` is given)."""
    command = typer.main.get_command(app)
    try:
        # standalone mode: click prints usage errors itself (exit 2) and turns Ctrl-C into exit 1;
        # the warning display the command sets up is undone on the way out
        with warnings.catch_warnings():
            command.main(args=argv, prog_name="pfatlas", standalone_mode=True)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except PfatlasError as exc:
        stderr.print(f"[bold red]error:[/bold red] {exc}", markup=True, highlight=False)
        code = 1
    except Exception as exc:  # a bug: say so, without a traceback unless asked
        if _state.get("debug"):
            raise
        stderr.print(
            f"[bold red]internal error:[/bold red] {type(exc).__name__}: {exc}\n"
            "This is a bug in pfatlas; rerun with --debug for the traceback and please report it."
        )
        code = 3
    if argv is None:
        sys.exit(code)
    return code


if __name__ == "__main__":  # pragma: no cover
    main()
