"""Time and peak memory of `pfatlas demo` (generation + build) at a given size, stage by stage.

Usage: .venv/bin/python benchmarks/bench_demo.py [--size full|small] [--seed N] [--out DIR] [--keep]
       [--json PATH]

Runs the demo in a fresh folder as child processes: the generation of the synthetic inputs
(``--no-build``), then the build of all stages (both epochs, mining, atlas products), then a second
run on the same folder to show what stage reuse costs. Prints wall time and peak memory of each
step (the `pfatlas` process's ``ru_maxrss`` and the sampled peak of its whole process tree, see
``_child.py``), and per stage of the build its seconds, cells per second and peak memory (from
``provenance.json``).

Targets: issue 2, the demo at full size within 5 minutes and under 6 GB; issue 6, the full 30 m
Muli atlas (the build: both epochs, all stages including mining) within 3 minutes and under 4 GB, on
the 2-core reference machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

from _child import measure_pfatlas
from _provenance import fmt, grid_cells, stage_figures
from _record import add_json_option, save

BUILD_TARGET_S = 180.0  # issue 6: the full Muli atlas within 3 minutes
BUILD_TARGET_GB = 4.0  # issue 6: peak memory of the build under 4 GB


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="full", choices=["full", "small", "4x"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--keep", action="store_true", help="keep the output folder")
    add_json_option(ap)
    args = ap.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="pfatlas-bench-")) / "demo"
    if out.exists():
        shutil.rmtree(out)
    demo = ["-q", "demo", str(out), "--size", args.size, "--seed", str(args.seed)]
    gen = measure_pfatlas([*demo, "--no-build"])
    build = measure_pfatlas(demo)
    stages = stage_figures(out)
    width, height = grid_cells(out)
    rerun = measure_pfatlas(demo)
    size_mb = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 1024**2

    print(f"pfatlas demo --size {args.size} --seed {args.seed} on {os.cpu_count()} cores")
    print(f"grid {width} x {height} = {width * height / 1e6:.2f} M cells")
    print(f"{'step':<36}{'seconds':>9}{'M cells/s':>11}{'peak [GB]':>11}{'tree [GB]':>11}")
    print(
        f"{'generation of the synthetic inputs':<36}{gen.seconds:>9.1f}{'':>11}{gen.peak_gb:>11.2f}"
        f"{fmt(gen.tree_peak_gb, '.2f', 11)}"
    )
    print(
        f"{'build (fresh)':<36}{build.seconds:>9.1f}{width * height / build.seconds / 1e6:>11.3f}"
        f"{build.peak_gb:>11.2f}{fmt(build.tree_peak_gb, '.2f', 11)}"
    )
    for s in stages:
        mcps = None if s["cells_per_s"] is None else s["cells_per_s"] / 1e6
        print(
            f"{'  stage ' + s['name']:<36}{s['seconds']:>9.1f}{fmt(mcps, '.3f', 11)}"
            f"{fmt(s['peak_rss_gb'], '.2f', 11)}"
        )
    total = gen.seconds + build.seconds
    print(f"{'make demo equivalent (sum)':<36}{total:>9.1f}{'':>11}{max(gen.peak_gb, build.peak_gb):>11.2f}")
    print(f"{'rerun (everything reused)':<36}{rerun.seconds:>9.1f}")
    print(f"output folder: {size_mb:.0f} MB ({out})")
    print("peak: ru_maxrss of the pfatlas process; tree: sampled RSS sum of it and its child processes;")
    print("stage peak: the build's own sampling of its process (children not included)")
    if args.size == "full":
        ok_t = "met" if build.seconds <= BUILD_TARGET_S else "MISSED"
        ok_m = "met" if build.peak_any_gb < BUILD_TARGET_GB else "MISSED"
        print(f"target build <= {BUILD_TARGET_S:.0f} s: {build.seconds:.1f} s, {ok_t}")
        print(f"target build peak memory < {BUILD_TARGET_GB:.0f} GB: {build.peak_any_gb:.2f} GB, {ok_m}")

    save(
        args,
        "demo",
        {
            "size": args.size,
            "seed": args.seed,
            "grid": {"width": width, "height": height, "cells": width * height},
            "generation": {"seconds": gen.seconds, "peak_gb": gen.peak_gb, "tree_peak_gb": gen.tree_peak_gb},
            "build": {
                "seconds": build.seconds,
                "cells_per_s": width * height / build.seconds,
                "peak_gb": build.peak_gb,
                "tree_peak_gb": build.tree_peak_gb,
                "peak_any_gb": build.peak_any_gb,
                "target_seconds": BUILD_TARGET_S,
                "target_peak_gb": BUILD_TARGET_GB,
            },
            "stages": {s["name"]: {k: v for k, v in s.items() if k != "name"} for s in stages},
            "rerun_seconds": rerun.seconds,
            "output_mb": size_mb,
        },
    )
    if not args.keep and args.out is None:
        shutil.rmtree(out.parent)


if __name__ == "__main__":
    main()
