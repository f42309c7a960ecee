"""State and helpers shared by the CLI commands: consoles, logging, progress."""

from __future__ import annotations

import logging
import warnings
from contextlib import contextmanager

from rich.console import Console
from rich.logging import RichHandler

from pfatlas.errors import PfatlasWarning

__all__ = ["stderr", "stdout", "setup_logging", "stage_progress"]

stderr = Console(stderr=True, highlight=False, soft_wrap=True)
stdout = Console(highlight=False, soft_wrap=True)

_LEVELS = {-1: logging.WARNING, 0: logging.WARNING, 1: logging.INFO, 2: logging.DEBUG}


def setup_logging(verbosity: int) -> None:
    """Log to stderr through rich: -q errors only, default warnings, -v info, -vv debug."""
    level = logging.ERROR if verbosity < 0 else _LEVELS.get(min(verbosity, 2), logging.DEBUG)
    root = logging.getLogger("pfatlas")
    root.handlers[:] = [RichHandler(console=stderr, show_path=False, show_time=False)]
    root.setLevel(level)
    quiet = verbosity < 0

    def show(message, category, filename, lineno, file=None, line=None):
        # a warning is for the user: one line with what is wrong, not the source line that said it
        if not quiet or not issubclass(category, PfatlasWarning):
            stderr.print(f"[yellow]warning:[/yellow] {message}", highlight=False)

    warnings.showwarning = show


@contextmanager
def stage_progress(quiet: bool):
    """A progress callback for :func:`pfatlas.build.run_build` drawing on stderr."""
    if quiet:
        yield None
        return
    status = stderr.status("starting", spinner="dots")
    status.start()

    def progress(event: str, name: str, seconds: float) -> None:
        if event == "start":
            status.update(f"[bold]{name}[/bold] running")
        elif event == "ran":
            stderr.print(f"[green]done[/green]   {name:<26} {seconds:7.1f} s")
        elif event == "reused":
            stderr.print(f"[cyan]reused[/cyan] {name:<26}       - (inputs unchanged)")

    try:
        yield progress
    finally:
        status.stop()


def print_products(out) -> None:
    """Tell where the products a person reads are, when the build made them."""
    from pathlib import Path

    out = Path(out)
    for name, what in (("atlas.pdf", "the PDF atlas"), ("index.html", "the viewer (opens from disk; "
                       f"`pfatlas serve {out}` adds exact cell values)"), ("catalog.json", "the STAC catalog")):  # fmt: skip
        if (out / name).is_file():
            stdout.print(f"  {what}: {out / name}", markup=False)
