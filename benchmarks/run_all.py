"""Run every benchmark of pfatlas in turn and print their tables.

Usage: .venv/bin/python benchmarks/run_all.py [--quick]

--quick runs the demo benchmark at small size (seconds) instead of full size (about 2 minutes).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    size = "small" if args.quick else "full"
    demo = Path("out") / f"bench-{size}"
    runs = [
        ["bench_terrain.py"],
        ["bench_thermal.py"],
        ["bench_composite.py"],
        ["bench_demo.py", "--size", size, "--out", str(demo), "--keep"],
        ["bench_atlas_epoch.py", "--out", str(demo), "--size", size],
        ["bench_landcover.py", "--out", str(demo)],
        ["bench_mining.py", "--out", str(demo), "--size", size],
        ["bench_products.py", "--out", str(demo), "--size", size],
    ]
    failed = []
    for run in runs:
        print(f"\n=== {' '.join(run)} ===", flush=True)
        if subprocess.run([sys.executable, str(HERE / run[0]), *run[1:]], check=False).returncode != 0:
            failed.append(run[0])
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
