"""Per-stage figures of a build read back from its folder: seconds, cells per second, peak memory.

``OUT/provenance.json`` lists every stage of the last build with ``status`` ("ran" or "reused"),
``seconds`` and ``peak_rss_gb`` (the build process's peak resident memory during the stage, sampled
by the build; child processes not included; absent in builds older than that field). The grid size
is the width x height of ``OUT/grid/dem.tif``.
"""

from __future__ import annotations

import json
from pathlib import Path

import rasterio

__all__ = ["TABLE_STAGES", "fmt", "grid_cells", "stage_figures", "print_stages", "rerun_stages"]

# stages that check tables and vectors rather than compute grid cells: no cells/s for them
TABLE_STAGES = frozenset({"boreholes", "samples", "mining"})


def grid_cells(out: Path) -> tuple[int, int]:
    """(width, height) of the build's grid [cells]."""
    with rasterio.open(Path(out) / "grid" / "dem.tif") as src:
        return src.width, src.height


def stage_figures(out: Path, *, ran_only: bool = True) -> list[dict]:
    """One dict per stage of the last build of ``out``.

    Keys: ``name``, ``status``, ``seconds``, ``cells_per_s`` (grid cells / seconds; None for table
    stages or zero seconds) and ``peak_rss_gb`` (None when the build did not record it).
    """
    width, height = grid_cells(out)
    prov = json.loads((Path(out) / "provenance.json").read_text(encoding="utf-8"))
    rows = []
    for s in prov["stages"]:
        if ran_only and s["status"] != "ran":
            continue
        sec = float(s["seconds"])
        per_cell = s["name"] not in TABLE_STAGES and sec > 0
        rows.append(
            {
                "name": s["name"],
                "status": s["status"],
                "seconds": sec,
                "cells_per_s": width * height / sec if per_cell else None,
                "peak_rss_gb": s.get("peak_rss_gb"),
            }
        )
    return rows


def fmt(value: float | None, spec: str, width: int) -> str:
    """``value`` formatted with ``spec`` right-aligned in ``width``, or '-' when None."""
    return f"{'-':>{width}}" if value is None else f"{value:>{width}{spec}}"


def print_stages(ran: list[dict]) -> None:
    """The table of :func:`stage_figures` rows: seconds, M cells/s, peak memory."""
    print(f"{'stage':<28}{'seconds':>9}{'M cells/s':>11}{'peak [GB]':>11}")
    for s in ran:
        mcps = None if s["cells_per_s"] is None else s["cells_per_s"] / 1e6
        print(f"{s['name']:<28}{s['seconds']:>9.1f}{fmt(mcps, '.3f', 11)}{fmt(s['peak_rss_gb'], '.2f', 11)}")


def rerun_stages(out: Path, size: str, patterns: list[str]):
    """Make the demo in ``out`` if missing, forget the recorded state of the stages whose state files
    match ``patterns`` (e.g. ``mining_impact__2020.json``, ``change__*.json``) and rebuild in a child
    process, which reruns exactly those (and what follows them). Returns the child's
    :class:`_child.ChildRun` and the :func:`stage_figures` of the stages that ran."""
    from _child import measure_pfatlas, run_pfatlas

    out = Path(out)
    if not (out / "inputs" / "config.toml").exists():
        print(f"making the demo in {out} first ...", flush=True)
        run_pfatlas(["-q", "demo", str(out), "--size", size])
    state = out / ".pfatlas" / "state"
    for pattern in patterns:
        for f in state.glob(pattern):
            f.unlink()
    run = measure_pfatlas(["-q", "build", str(out / "inputs" / "config.toml"), "--out", str(out)])
    return run, stage_figures(out)
