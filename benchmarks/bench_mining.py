"""Time and peak memory of the mining-impact stage, and the speed of one axisymmetric feature run.

Usage: .venv/bin/python benchmarks/bench_mining.py [--out out/demo] [--epoch 2020] [--size full]
       [--json PATH]

Needs a demo folder (made with `pfatlas demo`; made here if missing). The recorded state of
`mining_impact/<epoch>` and `change/*` is removed so the next `pfatlas build` reruns exactly those;
prints their seconds and the build's peak resident memory. Target (issue 4): the mining stage for the
whole demo area within 60 s on the 2-core reference machine. Then one pit run (r-z, 12 years) timed
alone, in model-years per second, and the mining lines of `pfatlas score`. ``--json PATH`` writes
the figures.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from _provenance import print_stages, rerun_stages
from _record import add_json_option, save

TARGET_S = 60.0  # issue 4: the mining stage of the whole demo area


def feature_run_speed() -> tuple[float, int, float]:
    from pfatlas.mining.model import FeatureRun, GroundModel, run_feature
    from pfatlas.thermal import Material

    ground = Material(
        "ground", 2.0, 2.0, 2.0e6, 2.0e6, water_content=0.05, unfrozen_water=0.01, freezing_range=1.0
    )
    model = GroundModel(ground, ground)
    run = FeatureRun("pit", 500.0, 80.0, 0.0, 12.0, -1.0, 0.5)
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        ch = run_feature(run, model)
        best = min(best, time.perf_counter() - t)
    return best, ch.r.size, run.years / best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("out/demo"))
    ap.add_argument("--epoch", default="2020")
    ap.add_argument("--size", default="full", choices=["full", "small", "4x"])
    add_json_option(ap)
    args = ap.parse_args()
    out = args.out
    run, ran = rerun_stages(out, args.size, [f"mining_impact__{args.epoch}.json", "change__*.json"])
    print_stages(ran)
    print(f"peak resident memory of the build process: {run.peak_gb:.2f} GB "
          f"(target: mining stage <= {TARGET_S:.0f} s)")  # fmt: skip
    m = json.loads((out / "tables" / f"metrics_mining_{args.epoch}.json").read_text())
    print(f"features run: {m['features']}")
    sec, nr, yps = feature_run_speed()
    print(f"one pit run (radius 500 m, 80 m deep, 12 years, 90-day steps, {nr} radii): {sec:.2f} s "
          f"= {yps:.1f} model-years/s")  # fmt: skip
    print()
    res = subprocess.run([sys.executable, "-m", "pfatlas.cli.main", "score", str(out)], capture_output=True,
                         text=True, check=False)  # fmt: skip
    print("\n".join(line for line in res.stdout.splitlines() if "mining" in line or "metric" in line))
    mining = [s for s in ran if s["name"] == f"mining_impact/{args.epoch}"]
    save(
        args,
        "mining",
        {
            "epoch": args.epoch,
            "size": args.size,
            "stages": {s["name"]: {k: v for k, v in s.items() if k != "name"} for s in ran},
            "mining_stage_seconds": mining[0]["seconds"] if mining else None,
            "target_seconds": TARGET_S,
            "peak_gb": run.peak_gb,
            "features": m["features"],
            "pit_run": {"seconds": sec, "radii": nr, "model_years_per_s": yps},
        },
    )


if __name__ == "__main__":
    main()
