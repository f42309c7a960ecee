"""``pfatlas simulate SCENARIO OUTDIR`` and ``pfatlas template-scenario``."""

from __future__ import annotations

from pathlib import Path

import typer

from pfatlas.cli.options import stdout


def register(app: typer.Typer, state: dict) -> None:
    @app.command("simulate")
    def simulate_cmd(
        scenario: Path = typer.Argument(..., help="The scenario TOML (see `pfatlas template-scenario`)."),
        outdir: Path = typer.Argument(..., help="Folder for temperature.nc and summary.csv."),
    ) -> None:
        """Run one site model (column, section or axisymmetric): temperature field and ALT/MAGT per year."""
        from pfatlas.thermal.run_scenario import run_scenario
        from pfatlas.thermal.scenario import load_scenario

        paths = run_scenario(load_scenario(scenario), outdir, source=scenario)
        for p in paths.values():
            stdout.print(str(p))

    @app.command("template-scenario")
    def template_scenario_cmd() -> None:
        """Print a commented site scenario template (a 1-D column under a meadow) to stdout."""
        from pfatlas.thermal.scenario import template_scenario

        stdout.out(template_scenario(), end="")
