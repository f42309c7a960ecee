"""Time and peak memory of the atlas stages 4-9 (land cover to ground ice) for one epoch.

Usage: .venv/bin/python benchmarks/bench_atlas_epoch.py [--out out/demo] [--epoch 2000] [--size full]

Needs a demo folder (made with `pfatlas demo`; made here if missing). The recorded state of the
stages of the epoch is removed, so the next `pfatlas build` reruns exactly those stages and reuses
the rest (DEM, terrain, composites); the script prints each stage's seconds from provenance.json
and the peak resident memory of the build process. Target (issue 3): stages 4-9 of one epoch at
full size within 60 s on the 2-core reference machine. Then it prints `pfatlas score`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from _child import run_pfatlas

STAGES = ("landcover", "magt", "active_layer", "ground_ice")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("out/demo"))
    ap.add_argument("--epoch", default="2000")
    ap.add_argument("--size", default="full", choices=["full", "small"])
    args = ap.parse_args()
    out = args.out
    if not (out / "inputs" / "config.toml").exists():
        print(f"making the demo in {out} first ...", flush=True)
        run_pfatlas(["-q", "demo", str(out), "--size", args.size])
    state = out / ".pfatlas" / "state"
    for name in STAGES:
        (state / f"{name}__{args.epoch}.json").unlink(missing_ok=True)
    _, peak = run_pfatlas(["-q", "build", str(out / "inputs" / "config.toml"), "--out", str(out)])
    prov = json.loads((out / "provenance.json").read_text())
    ran = [s for s in prov["stages"] if s["status"] == "ran"]
    print(f"stages 4-9 of epoch {args.epoch} in {out}")
    print(f"{'stage':<28}{'seconds':>9}")
    for s in ran:
        print(f"{s['name']:<28}{s['seconds']:>9.1f}")
    print(f"{'total':<28}{sum(s['seconds'] for s in ran):>9.1f}   (target: 60 s at full size)")
    print(f"peak resident memory of the build process: {peak:.2f} GB")
    print()
    subprocess.run([sys.executable, "-m", "pfatlas.cli.main", "score", str(out)], check=False)


if __name__ == "__main__":
    main()
