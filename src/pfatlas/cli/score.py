"""``pfatlas score OUT``: the demo atlas against its hidden truth."""

from __future__ import annotations

from pathlib import Path

import typer

from pfatlas.cli.options import stdout


def register(app: typer.Typer, state: dict) -> None:
    @app.command("score")
    def score_cmd(
        out: Path = typer.Argument(
            Path("out/demo"), help="Output folder of `pfatlas demo` (with inputs/truth)."
        ),
    ) -> None:
        """Score a demo atlas against the hidden truth of the synthetic area (only the demo has one)."""
        from pfatlas.score import score_atlas

        scores = score_atlas(out)
        stdout.print(f"{'epoch':<7}{'metric':<48}{'value':>9}  {'target':<14}{'':<6}")
        for s in scores:
            mark = "" if s.passed is None else ("pass" if s.passed else "MISS")
            stdout.print(f"{s.epoch:<7}{s.metric:<48}{s.value:>9.3f}  {s.target:<14}{mark:<6}", markup=False)
        stdout.print(f"written to {Path(out) / 'score.json'}")
