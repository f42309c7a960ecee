"""Time and peak memory of the atlas stages 4-9 (land cover to ground ice) for one epoch.

Usage: .venv/bin/python benchmarks/bench_atlas_epoch.py [--out out/demo] [--epoch 2000] [--size full]
       [--json PATH]

Needs a demo folder (made with `pfatlas demo`; made here if missing). The recorded state of the
stages of the epoch is removed, so the next `pfatlas build` reruns exactly those stages and reuses
the rest (DEM, terrain, composites); the script prints each stage's seconds from provenance.json
and the peak resident memory of the build process. Target (issue 3): stages 4-9 of one epoch at
full size within 60 s on the 2-core reference machine. Then it prints `pfatlas score`.
``--json PATH`` writes the stage seconds, cells/s, peak memory and the score.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from _provenance import print_stages, rerun_stages
from _record import add_json_option, save

STAGES = ("landcover_forest", "landcover", "magt", "active_layer", "ground_ice")
TARGET_S = 60.0  # issue 3: stages 4-9 of one epoch at full size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("out/demo"))
    ap.add_argument("--epoch", default="2000")
    ap.add_argument("--size", default="full", choices=["full", "small", "4x"])
    add_json_option(ap)
    args = ap.parse_args()
    out = args.out
    run, ran = rerun_stages(out, args.size, [f"{name}__{args.epoch}.json" for name in STAGES])
    # the atlas stage follows any change of its layers: shown, but not part of stages 4-9
    total = sum(s["seconds"] for s in ran if s["name"].split("/")[0] in STAGES)
    print(f"stages 4-9 of epoch {args.epoch} in {out}")
    print_stages(ran)
    print(f"{'total of stages 4-9':<28}{total:>9.1f}   (target: {TARGET_S:.0f} s at full size)")
    print(f"peak resident memory of the build process: {run.peak_gb:.2f} GB")
    print()
    score = subprocess.run(
        [sys.executable, "-m", "pfatlas.cli.main", "score", str(out)],
        check=False,
        capture_output=True,
        text=True,
    )
    print(score.stdout, end="")
    try:
        rows = json.loads((out / "score.json").read_text())
        scores = {f"{r.get('epoch', '')} {r['metric']}".strip(): r["value"] for r in rows}
    except (FileNotFoundError, json.JSONDecodeError, KeyError, TypeError):
        scores = None
    save(
        args,
        "atlas_epoch",
        {
            "epoch": args.epoch,
            "size": args.size,
            "stages": {s["name"]: {k: v for k, v in s.items() if k != "name"} for s in ran},
            "total_seconds": total,
            "target_seconds": TARGET_S,
            "build_seconds": run.seconds,
            "peak_gb": run.peak_gb,
            "score": scores,
        },
    )


if __name__ == "__main__":
    main()
