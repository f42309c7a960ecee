"""Benchmark: growing-season composite of N Landsat scenes onto the Muli-size grid.

Writes N synthetic Collection 2 Level-2 scenes (about 5 M cells each, on a UTM grid shifted by half a
cell from the target so the reader really warps) into a temporary folder, then times the lazy
composite of one epoch (6 bands + LST medians, 7 indices, clear count, snow fraction) onto the
target grid of the Muli coal field (about 2650 x 1880 cells at 30 m), computing all layers.

Usage::

    python benchmarks/bench_composite.py [--scenes 4] [--chunks 1024] [--workers 2] [--json PATH]

Prints the write time, the composite time, Mcells/s (target cells x scenes / s) and the peak RSS;
``--json PATH`` writes them. Target: none of its own; it is part of the 3-minute build (issue 6).
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import resource
import tempfile
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import dask
import numpy as np
from affine import Affine
from odc.geo.geobox import GeoBox

from _record import add_json_option, save
from pfatlas.composite.seasonal import seasonal_composite
from pfatlas.grid import grid_from_bbox
from pfatlas.io.landsat import QA_CLEAR, QA_CLOUD, QA_SHADOW, QA_SNOW, find_scenes
from pfatlas.synth.landsat_files import write_c2l2_scene

MULI_BBOX = (98.85, 37.8233, 99.7539, 38.33)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: kB


def write_scenes(root: Path, target: GeoBox, n: int) -> float:
    """N OLI scenes covering the target plus a margin, about 5 M cells each; returns seconds."""
    ny, nx = target.shape
    margin = 20
    a = target.affine
    g = GeoBox(
        (ny + 2 * margin, nx + 2 * margin),
        Affine(30.0, 0.0, a.c - 30 * margin + 15.0, 0.0, -30.0, a.f + 30 * margin - 15.0),
        target.crs,
    )
    shape = g.shape
    warnings.filterwarnings("ignore", "Use `@` matmul", PendingDeprecationWarning)  # odc-geo/affine 3
    t0 = time.perf_counter()
    for i in range(n):
        rng = np.random.default_rng(i)
        smooth = np.add.outer(np.linspace(0, 0.05, shape[0]), np.linspace(0, 0.05, shape[1]))
        noise = (0.01 * rng.standard_normal(shape)).astype("float32")
        sr = {
            b: (v + smooth + noise).astype("float32")
            for b, v in {
                "blue": 0.05,
                "green": 0.08,
                "red": 0.07,
                "nir": 0.3,
                "swir1": 0.2,
                "swir2": 0.12,
            }.items()
        }
        qa = rng.choice(np.array([QA_CLEAR] * 8 + [QA_CLOUD, QA_SHADOW, QA_SNOW], "uint16"), size=shape)
        write_c2l2_scene(
            root,
            spacecraft="LANDSAT_8",
            acquired=dt.date(2020, 6, 10) + dt.timedelta(days=16 * i),
            wrs_path=133,
            wrs_row=33,
            gbox=g,
            sr=sr,
            st_kelvin=(285.0 + noise * 100).astype("float32"),
            qa_pixel=qa,
            qa_radsat=np.zeros(shape, "uint16"),
            sun_azimuth=120.0,
            sun_elevation=60.0,
            cloud_cover=27.0,
        )
    print(f"scene grid {shape[1]} x {shape[0]} = {shape[0] * shape[1] / 1e6:.2f} Mcells per scene")
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenes", type=int, default=4)
    p.add_argument("--chunks", type=int, default=1024)
    p.add_argument("--workers", type=int, default=2, help="dask threads")
    add_json_option(p)
    args = p.parse_args()
    warnings.filterwarnings("ignore", "Use `@` matmul", PendingDeprecationWarning)  # odc-geo/affine 3
    target = grid_from_bbox(MULI_BBOX)
    ny, nx = target.shape
    print(
        f"target grid {nx} x {ny} = {nx * ny / 1e6:.2f} Mcells, chunks {args.chunks}, {args.workers} threads"
    )
    with tempfile.TemporaryDirectory(prefix="pfatlas-bench-") as tmp:
        root = Path(tmp)
        # written in a child process so that the peak RSS below is the composite's alone
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            t_write = pool.submit(write_scenes, root, target, args.scenes).result()
        print(f"write {args.scenes} scenes: {t_write:.1f} s ({t_write / args.scenes:.2f} s per scene)")
        scenes = find_scenes([root])
        rss0 = peak_rss_mb()
        t0 = time.perf_counter()
        ds = seasonal_composite(
            scenes, target, start="2020-01-01", end="2020-12-31", chunks=args.chunks, label="bench"
        )
        t_graph = time.perf_counter() - t0
        with dask.config.set(scheduler="threads", num_workers=args.workers):
            t1 = time.perf_counter()
            out = ds.compute()
            t_comp = time.perf_counter() - t1
        cells = nx * ny
        print(f"graph: {t_graph:.2f} s; composite ({len(out.data_vars)} layers): {t_comp:.1f} s")
        print(
            f"throughput: {cells / t_comp / 1e6:.2f} Mcells/s of output, "
            f"{cells * len(scenes) / t_comp / 1e6:.2f} Mcells/s of scene input"
        )
        print(
            f"clear cells: {float((out.clear_count > 0).mean()) * 100:.1f} %; median clear count {float(out.clear_count.median()):.0f}"
        )
        print(f"peak RSS: {peak_rss_mb():.0f} MB (before the composite: {rss0:.0f} MB)")
    save(
        args,
        "composite",
        {
            "cells": cells,
            "scenes": args.scenes,
            "chunks": args.chunks,
            "workers": args.workers,
            "write_seconds": t_write,
            "graph_seconds": t_graph,
            "seconds": t_comp,
            "cells_per_s": cells / t_comp,
            "scene_cells_per_s": cells * len(scenes) / t_comp,
            "peak_rss_gb": peak_rss_mb() / 1024,
        },
    )


if __name__ == "__main__":
    main()
