"""``pfatlas simulate SCENARIO OUTDIR`` and ``pfatlas template-scenario``."""

from __future__ import annotations

from pathlib import Path

import typer

from pfatlas.cli.options import stderr, stdout


def _progress_bar():
    """A rich progress bar of the time steps on stderr, and the callback that moves it (redrawn
    at each whole per cent, so a fast column run is not slowed by the drawing)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    bar = Progress(
        TextColumn("simulating"), BarColumn(), TextColumn("{task.percentage:>3.0f} %"),
        TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn(), console=stderr, transient=True,
    )  # fmt: skip
    task = bar.add_task("steps", total=None)
    shown = [-1]

    def progress(done: int, total: int) -> None:
        percent = 100 * done // total
        if percent != shown[0]:
            shown[0] = percent
            bar.update(task, completed=done, total=total)

    return bar, progress


def register(app: typer.Typer, state: dict) -> None:
    @app.command("simulate")
    def simulate_cmd(
        scenario: Path = typer.Argument(..., help="The scenario TOML (see `pfatlas template-scenario`)."),
        outdir: Path = typer.Argument(
            ..., help="Folder for temperature.nc, summary.csv and temperature.png."
        ),
    ) -> None:
        """Run one site model (column, section or axisymmetric): temperature field and ALT/MAGT per year."""
        from pfatlas.thermal.run_scenario import run_scenario
        from pfatlas.thermal.scenario import load_scenario

        model = load_scenario(scenario)
        if state.get("quiet", False):
            paths = run_scenario(model, outdir, source=scenario)
        else:
            bar, progress = _progress_bar()
            with bar:
                paths = run_scenario(model, outdir, source=scenario, progress=progress)
        for p in paths.values():
            stdout.print(str(p))

    @app.command("template-scenario")
    def template_scenario_cmd() -> None:
        """Print a commented site scenario template (a 1-D column under a meadow) to stdout."""
        from pfatlas.thermal.scenario import template_scenario

        stdout.out(template_scenario(), end="")
