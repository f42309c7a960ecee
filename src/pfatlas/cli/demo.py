"""``pfatlas demo OUTDIR``: generate virtual Muli and build its atlas.

Ctrl-C or SIGTERM stops it as it stops ``pfatlas build`` (exit status 130, one line, no traceback);
a rerun reuses complete inputs and the finished stages.
"""

from __future__ import annotations

from pathlib import Path

import typer

from pfatlas.cli.build import EXIT_INTERRUPTED, sigterm_interrupts
from pfatlas.cli.options import print_products, stage_progress, stderr, stdout


def register(app: typer.Typer, state: dict) -> None:
    @app.command("demo")
    def demo_cmd(
        outdir: Path = typer.Argument(Path("out/demo"), help="Output folder (inputs/ and the atlas)."),
        size: str = typer.Option(
            "full",
            "--size",
            help="'full' (the whole Muli bbox), 'small' (for tests) or '4x' (twice the Muli bbox each way "
            "about its centre: 4x the cells, to show memory bounded by the chunk).",
        ),
        seed: int = typer.Option(0, "--seed", help="Seed of the synthetic world (deterministic)."),
        build: bool = typer.Option(
            True, "--build/--no-build", help="Build the atlas after generating the inputs."
        ),
    ) -> None:
        """Generate the SYNTHETIC 'virtual Muli' study area and build its atlas."""
        from pfatlas.demo import run_demo

        try:
            with sigterm_interrupts(), stage_progress(state.get("quiet", False)) as progress:
                report = run_demo(
                    outdir, size=size, seed=seed, build=build, progress=progress, log=stderr.print
                )
        except KeyboardInterrupt:
            stderr.print("[bold red]demo interrupted; a rerun resumes after what is complete[/bold red]",
                         highlight=False)  # fmt: skip
            raise typer.Exit(EXIT_INTERRUPTED) from None
        stdout.print(f"synthetic inputs: {report.inputs}")
        if build:
            stdout.print(f"atlas (synthetic demo) written to {report.out}")
            print_products(report.out)
