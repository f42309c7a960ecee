"""``pfatlas template-config`` and ``pfatlas validate``."""

from __future__ import annotations

from pathlib import Path

import typer

from pfatlas.cli.options import stderr, stdout


def register(app: typer.Typer, state: dict) -> None:
    @app.command("template-config")
    def template_config_cmd() -> None:
        """Print a commented configuration template (every key at its default) to stdout."""
        from pfatlas.config import template_config

        stdout.out(template_config(), end="")

    @app.command("validate")
    def validate_cmd(
        config: Path = typer.Argument(..., help="The TOML configuration file."),
    ) -> None:
        """Check the config and every input it names, without running anything."""
        from pfatlas.validate import raise_if_invalid, validate_config

        report = validate_config(config)
        for name, summary in report.checked:
            stdout.print(f"ok       {name:<14} {summary}")
        for w in report.warnings:
            stderr.print(f"[yellow]warning:[/yellow] {w}")
        raise_if_invalid(report)
        stdout.print(f"{config}: all inputs valid")
