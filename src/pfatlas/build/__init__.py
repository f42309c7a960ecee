"""Build orchestration: stages, reuse of current outputs, provenance."""

from pfatlas.build.runner import BuildReport, run_build

__all__ = ["BuildReport", "run_build"]
