"""Time and peak memory of `pfatlas demo` (generation + build) at a given size.

Usage: .venv/bin/python benchmarks/bench_demo.py [--size full|small] [--seed N] [--out DIR] [--keep]

Runs the demo in a fresh folder as a child process and prints wall time and the peak resident
memory of that process (ru_maxrss of the child; the demo runs in one process with threads), then
a second run on the same folder to show what stage reuse costs. Target (issue 2): full size within
5 minutes and under 6 GB on the 2-core reference machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path

from _child import run_pfatlas


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="full", choices=["full", "small"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--keep", action="store_true", help="keep the output folder")
    args = ap.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="pfatlas-bench-")) / "demo"
    if out.exists():
        shutil.rmtree(out)
    demo = ["-q", "demo", str(out), "--size", args.size, "--seed", str(args.seed)]
    gen_s, gen_gb = run_pfatlas([*demo, "--no-build"])
    build_s, build_gb = run_pfatlas(demo)
    prov = json.loads((out / "provenance.json").read_text())
    rerun_s, _ = run_pfatlas(demo)
    print(f"pfatlas demo --size {args.size} --seed {args.seed} on {os.cpu_count()} cores")
    print(f"{'step':<36}{'seconds':>9}{'peak RSS [GB]':>15}")
    print(f"{'generation of the synthetic inputs':<36}{gen_s:>9.1f}{gen_gb:>15.2f}")
    print(f"{'build (fresh)':<36}{build_s:>9.1f}{build_gb:>15.2f}")
    for s in prov["stages"]:
        print(f"{'  stage ' + s['name']:<36}{s['seconds']:>9.1f}")
    print(f"{'make demo equivalent (sum)':<36}{gen_s + build_s:>9.1f}{max(gen_gb, build_gb):>15.2f}")
    print(f"{'rerun (everything reused)':<36}{rerun_s:>9.1f}")
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 1024**2
    print(f"output folder: {size:.0f} MB ({out})")
    if not args.keep and args.out is None:
        shutil.rmtree(out.parent)


if __name__ == "__main__":
    main()
