"""Peak memory of the build against the area: the full virtual Muli and the 4x area, stage by stage.

Usage: .venv/bin/python benchmarks/bench_memory.py [--work out/bench-memory] [--sizes full,4x]
       [--seed 0] [--no-products] [--json PATH]

For each demo size in ``--sizes`` (the first is the reference) the synthetic inputs are generated
into ``WORK/<size>/inputs`` unless a complete generation of that size and seed is already there
(`pfatlas demo --no-build`; its time and peak memory are measured too). Then `pfatlas build` runs
in a child process into a fresh ``WORK/<size>/build`` folder, measured from outside: wall time, the
process's ``ru_maxrss`` and the sampled peak of its process tree (``_child.py``). The per-stage
``seconds`` and ``peak_rss_gb`` come from ``build/provenance.json``. ``--no-products`` builds from a
copy of the config with ``[products] enabled = false`` (the atlas products read at display size
and are not what this measures; they also take a while at 4x).

Prints per stage: seconds and peak of each size and the peak ratio of the last size to the first,
then the build's overall peak ratio against the target.

Target (issue 6): the 4x area builds with a peak memory no higher than the full area's, within
20 %: ratio <= 1.2. The figure compared is each build's larger of ``ru_maxrss`` and the sampled
tree peak (``peak_any_gb``), as in ``bench_demo.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tomllib
from pathlib import Path

import tomli_w

from _child import measure_pfatlas
from _provenance import fmt, grid_cells, stage_figures
from _record import add_json_option, save

TARGET_RATIO = 1.2  # issue 6: peak memory of the 4x build <= 1.2 x that of the full build
SIZES = ("full", "small", "4x")  # the demo sizes (`pfatlas demo --size`)


def ensure_inputs(folder: Path, size: str, seed: int) -> dict | None:
    """Generate the demo inputs of ``size`` into ``folder/inputs`` unless they are already there.

    Returns the generation's figures (seconds, peak memory [GB]), or None when the inputs were
    reused. The demo's marker file says which size and seed a folder holds.
    """
    marker = folder / "inputs" / ".pfatlas-demo.json"
    try:
        have = json.loads(marker.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        have = None
    if have is not None and have.get("size") == size and have.get("seed") == seed:
        print(f"{size}: reusing the inputs in {folder / 'inputs'}", flush=True)
        return None
    print(
        f"{size}: generating the inputs into {folder / 'inputs'} (load {os.getloadavg()[0]:.2f}) ...",
        flush=True,
    )
    run = measure_pfatlas(["-q", "demo", str(folder), "--size", size, "--seed", str(seed), "--no-build"])
    return {"seconds": run.seconds, "peak_gb": run.peak_gb, "tree_peak_gb": run.tree_peak_gb}


def build_config(folder: Path, products: bool) -> Path:
    """The config to build: the demo's own, or a copy beside it with ``[products] enabled = false``."""
    config = folder / "inputs" / "config.toml"
    if products:
        return config
    cfg = tomllib.loads(config.read_text(encoding="utf-8"))
    cfg.setdefault("products", {})["enabled"] = False
    copy = config.with_name("config-no-products.toml")  # beside it: the relative input paths still hold
    copy.write_text(tomli_w.dumps(cfg), encoding="utf-8")
    return copy


def measure_build(folder: Path, config: Path) -> dict:
    """Build ``config`` into a fresh ``folder/build``; wall time, peaks, load, grid and stages."""
    out = folder / "build"
    if out.exists():
        shutil.rmtree(out)
    load_before = os.getloadavg()[0]
    print(f"building {config} into {out} (load {load_before:.2f}) ...", flush=True)
    run = measure_pfatlas(["-q", "build", str(config), "--out", str(out)])
    width, height = grid_cells(out)
    return {
        "cells": width * height,
        "grid": [width, height],
        "seconds": run.seconds,
        "peak_gb": run.peak_gb,
        "tree_peak_gb": run.tree_peak_gb,
        "peak_any_gb": run.peak_any_gb,
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
        "stages": {s["name"]: {k: s[k] for k in ("seconds", "peak_rss_gb")} for s in stage_figures(out)},
    }


def ratio(a: float | None, b: float | None) -> float | None:
    """``b / a``, or None when either is missing or ``a`` is not positive.

    >>> ratio(2.0, 3.0), ratio(None, 1.0), ratio(0.0, 1.0)
    (1.5, None, None)
    """
    return b / a if a is not None and b is not None and a > 0 else None


def print_table(sizes: list[str], builds: dict[str, dict]) -> None:
    """Per stage: seconds and peak of each size, and the peak ratio of the last size to the first."""
    first, last = sizes[0], sizes[-1]
    names = list(dict.fromkeys(n for s in sizes for n in builds[s]["stages"]))
    secs = "".join(f"{f's {s}':>10}" for s in sizes)
    peaks = "".join(f"{f'peak {s} [GB]':>15}" for s in sizes)
    print(f"\n{'stage':<26}{secs}{peaks}{f'ratio {last}/{first}':>15}")
    for name in names:
        figs = [builds[s]["stages"].get(name) for s in sizes]
        row = "".join(fmt(None if f is None else f["seconds"], ".1f", 10) for f in figs)
        pk = [None if f is None else f["peak_rss_gb"] for f in figs]
        print(
            f"{name:<26}{row}{''.join(fmt(p, '.2f', 15) for p in pk)}{fmt(ratio(pk[0], pk[-1]), '.2f', 15)}"
        )
    print("stage peak: the build process during the stage (provenance.json; child processes not included)")
    for s in sizes:
        b = builds[s]
        tree = fmt(b["tree_peak_gb"], ".2f", 0)
        print(
            f"build {s}: {b['grid'][0]} x {b['grid'][1]} = {b['cells'] / 1e6:.2f} M cells, "
            f"{b['seconds']:.1f} s, peak {b['peak_gb']:.2f} GB (tree {tree} GB), "
            f"load {b['load_before']:.2f} / {b['load_after']:.2f} before / after"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("out/bench-memory"), help="inputs and builds go here")
    ap.add_argument(
        "--sizes", default="full,4x", help="comma-separated demo sizes; the first is the reference"
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--no-products", action="store_true", help="build with [products] enabled = false (a copied config)"
    )
    add_json_option(ap)
    args = ap.parse_args()
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    unknown = [s for s in sizes if s not in SIZES]
    if unknown or len(sizes) < 2:
        ap.error(f"--sizes needs two or more of {', '.join(SIZES)}, got {args.sizes!r}")
    work = args.work.resolve()
    generations, builds = {}, {}
    for size in sizes:  # one heavy job at a time
        folder = work / size
        generations[size] = ensure_inputs(folder, size, args.seed)
        builds[size] = measure_build(folder, build_config(folder, not args.no_products))

    print_table(sizes, builds)
    for size, g in generations.items():
        if g is not None:
            print(f"generation {size}: {g['seconds']:.1f} s, peak {g['peak_gb']:.2f} GB")
    first, last = sizes[0], sizes[-1]
    overall = ratio(builds[first]["peak_any_gb"], builds[last]["peak_any_gb"])
    verdict = "-" if overall is None else ("met" if overall <= TARGET_RATIO else "MISSED")
    print(
        f"peak of the build {last} / {first}: {builds[last]['peak_any_gb']:.2f} / "
        f"{builds[first]['peak_any_gb']:.2f} GB = {fmt(overall, '.2f', 0)} "
        f"(target <= {TARGET_RATIO}): {verdict}"
    )
    save(
        args,
        "memory",
        {
            "sizes": sizes,
            "seed": args.seed,
            "products": not args.no_products,
            "generation": generations,
            "builds": builds,
            "peak_ratio": overall,
            "target_ratio": TARGET_RATIO,
        },
    )


if __name__ == "__main__":
    main()
