"""``pfatlas build CONFIG``."""

from __future__ import annotations

from pathlib import Path

import typer

from pfatlas.cli.options import print_products, stage_progress, stdout


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
    ) -> None:
        """Build the atlas: run every stage the config allows, reusing current outputs."""
        from pfatlas.build import run_build

        with stage_progress(state.get("quiet", False)) as progress:
            report = run_build(config, out, force=force, progress=progress)
        stdout.print(f"atlas written to {report.out}")
        print_products(report.out)
