"""Land-cover prediction throughput: pfatlas's chunked prediction vs a plain scikit-learn predict.

Usage: .venv/bin/python benchmarks/bench_landcover.py [--out out/demo] [--epoch 2000]
       [--threads 2] [--cells N] [--json PATH]

Needs a built demo folder (`pfatlas demo OUT`). Both sides classify the same feature stack, held
in memory, with the same fitted forest (the stage's model, :func:`fit_epoch_model`):

- baseline: ``RandomForestClassifier.predict`` of the main forest on the whole stack as one table,
  in one process with ``n_jobs=1`` (cells with NaN features are given to it as they are);
- pfatlas: :func:`pfatlas.landcover.classify` (scikit-learn's ``predict_proba`` per chunk, the
  terrain-only forest for composite holes), chunked with the config's chunk size, on dask's
  threaded scheduler with ``--threads`` threads.

Prints cells per second of each and their ratio, the share of cells with a spectral feature where
the two maps agree (it must be 1: both are the main forest's ``predict`` there), and the overall
accuracy of the map against the demo's truth map (scoring only; the pipeline never reads the
truth). ``--cells`` limits the baseline to the first N cells (0, the default: all). ``--json PATH``
writes the figures (``speed_ratio``: pfatlas cells/s over scikit-learn's).

Target: pfatlas at least as fast as the plain predict (ratio >= 1) with identical maps.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import dask
import dask.array as dsa
import numpy as np
import rasterio

from _record import add_json_option, save
from pfatlas.build.context import make_context
from pfatlas.build.stage_landcover import fit_epoch_model
from pfatlas.config import load_config
from pfatlas.errors import PfatlasWarning
from pfatlas.landcover import classify


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="out/demo")
    ap.add_argument("--epoch", default="2000")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cells", type=int, default=0)
    add_json_option(ap)
    a = ap.parse_args()
    out = Path(a.out)
    ctx = make_context(load_config(out / "config.toml"), out)
    workers = a.threads
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PfatlasWarning)
        fitted = fit_epoch_model(ctx, a.epoch)
    model, stack = fitted.model, fitted.stack
    with dask.config.set(scheduler="threads", num_workers=workers):
        t0 = time.perf_counter()
        data = stack.data.compute()
        t_stack = time.perf_counter() - t0
    n = data.shape[1] * data.shape[2]
    table = np.ascontiguousarray(data.reshape(data.shape[0], -1).T)
    m = min(a.cells, n) if a.cells > 0 else n
    t0 = time.perf_counter()
    ref = model.rf.predict(table[:m])
    rate_sk = m / (time.perf_counter() - t0)
    mem = stack.copy(data=dsa.from_array(data, chunks=(-1, ctx.chunk, ctx.chunk)))
    with dask.config.set(scheduler="threads", num_workers=workers):
        t0 = time.perf_counter()
        lc = classify(mem, model)["landcover"].compute()
        t_pf = time.perf_counter() - t0
    rate_pf = n / t_pf
    print(f"grid {data.shape[1]} x {data.shape[2]} = {n / 1e6:.2f} M cells, {data.shape[0]} features")
    print(f"feature stack read + computed: {t_stack:.1f} s")
    print(f"scikit-learn predict, 1 process, n_jobs=1: {rate_sk / 1e6:.3f} M cells/s ({m} cells)")
    print(
        f"pfatlas classify, {workers} threads, chunk {ctx.chunk}: {rate_pf / 1e6:.3f} M cells/s ({t_pf:.1f} s)"
    )
    print(f"ratio pfatlas / scikit-learn: {rate_pf / rate_sk:.2f}")
    spec = ~np.isnan(table[:m, list(model.spectral)]).all(axis=1)
    same = np.asarray(lc).reshape(-1)[:m][spec] == ref[spec]
    print(f"cells with a spectral feature where the maps agree: {float(np.mean(same)):.6f}")
    results = {
        "epoch": a.epoch,
        "cells": n,
        "features": data.shape[0],
        "threads": workers,
        "chunk": ctx.chunk,
        "stack_seconds": t_stack,
        "sklearn_cells": m,
        "sklearn_cells_per_s": rate_sk,
        "pfatlas_seconds": t_pf,
        "pfatlas_cells_per_s": rate_pf,
        "speed_ratio": rate_pf / rate_sk,
        "agreement": float(np.mean(same)),
    }
    truth = out / "inputs" / "truth" / a.epoch / "landcover.tif"
    if truth.is_file():
        with rasterio.open(truth) as src:
            t = src.read(1)
        results["accuracy_vs_truth"] = float(np.mean(np.asarray(lc) == t))
        acc = results["accuracy_vs_truth"]
        print(
            f"overall accuracy vs the truth map (the epoch's forest alone, before the compound step): {acc:.4f}"
        )
    save(a, "landcover", results)


if __name__ == "__main__":
    main()
