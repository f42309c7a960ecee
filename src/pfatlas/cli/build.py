"""``pfatlas build CONFIG``.

Ctrl-C (SIGINT) or SIGTERM stops the build: the stage that was running is abandoned (its temporary
files removed, its previous outputs, if any, left as they were), ``provenance.json`` says
``interrupted``, one line on stderr says so, and the exit status is 130. A rerun resumes after the
finished stages.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from pathlib import Path

import typer

from pfatlas.cli.options import print_products, stage_progress, stderr, stdout
from pfatlas.errors import ConfigError

#: Exit status of an interrupted build (128 + SIGINT, as shells report Ctrl-C).
EXIT_INTERRUPTED = 130


@contextlib.contextmanager
def sigterm_interrupts():
    """While the block runs, SIGTERM (``kill``, a batch system's time limit) stops the build as
    Ctrl-C does: as a ``KeyboardInterrupt`` in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def register(app: typer.Typer, state: dict) -> None:
    @app.command("build")
    def build_cmd(
        config: Path = typer.Argument(..., help="The TOML configuration file."),
        out: Path | None = typer.Option(
            None, "--out", "-o", help="Output folder (default: 'out' beside the config)."
        ),
        force: bool = typer.Option(
            False, "--force", help="Rerun every stage, even those whose outputs are current."
        ),
        workers: int | None = typer.Option(
            None,
            "--workers",
            "-w",
            min=1,
            help="dask workers: threads (default one per core), or with --cluster processes the worker "
            "processes (default 1, each with cores / N threads).",
        ),
        cluster: str | None = typer.Option(
            None,
            "--cluster",
            help="'local' (default: a local dask.distributed cluster whose worker runs threads in this "
            "process), 'processes' (a local cluster of worker processes) or 'threads' (dask's threaded "
            "scheduler, no cluster; the fastest on one small machine).",
        ),
        scheduler: str | None = typer.Option(
            None,
            "--scheduler",
            help="Run on an existing dask.distributed scheduler, e.g. tcp://10.0.0.5:8786 (its workers "
            "must see the input and output paths).",
        ),
    ) -> None:
        """Build the atlas: run every stage the config allows, reusing current outputs.

        The raster work runs on dask.distributed: a local cluster started for the build by default
        (its worker's threads in this process; worker processes with --cluster processes), or the
        cluster of --scheduler; --cluster threads uses dask's threaded scheduler instead. The results
        are the same whatever the workers.
        """
        from pfatlas.build import run_build
        from pfatlas.config import load_config
        from pfatlas.config.schema import CLUSTERS

        if cluster is not None and cluster not in CLUSTERS:
            raise ConfigError(f"--cluster must be one of {', '.join(repr(c) for c in CLUSTERS)}, got '{cluster}'",
                              field="cluster")  # fmt: skip
        cfg = load_config(config)
        pairs = (("workers", workers), ("scheduler", scheduler), ("cluster", cluster))
        update = {k: v for k, v in pairs if v is not None}
        if update:
            cfg = cfg.model_copy(update={"compute": cfg.compute.model_copy(update=update)})
        try:
            with sigterm_interrupts(), stage_progress(state.get("quiet", False)) as progress:
                report = run_build(cfg, out, force=force, progress=progress)
        except KeyboardInterrupt:
            from pfatlas.build.runner import INTERRUPTED

            stderr.print(f"[bold red]build {INTERRUPTED}[/bold red]", highlight=False)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        stdout.print(f"atlas written to {report.out}")
        print_products(report.out)
