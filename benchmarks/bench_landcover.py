"""Land-cover prediction throughput: pfatlas's chunked prediction vs a plain scikit-learn predict.

Usage: .venv/bin/python benchmarks/bench_landcover.py [--out out/demo] [--epoch 2000] [--cells N]

Needs a built demo folder (`pfatlas demo OUT`). Both sides classify the same feature stack with
the same fitted forest (the stage's model, trained on the epoch's training split):

- baseline: the stack computed into memory, then ``RandomForestClassifier.predict`` in one
  process with ``n_jobs=1`` (cells with NaN features are given to it as they are);
- pfatlas: :func:`pfatlas.landcover.classify` on the in-memory stack, chunked with the config's
  chunk size, on dask's threaded scheduler (``compute.workers``, default one per core).

Prints cells per second of each and the ratio, and the overall accuracy of the stage's map against
the demo's truth map (scoring only; the pipeline never reads the truth). ``--cells`` limits the
baseline to the first N cells (it is slow); its rate is extrapolated.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path

import dask
import dask.array as dsa
import numpy as np
import rasterio

from pfatlas.build.context import make_context
from pfatlas.build.stage_landcover import _samples, feature_stack, sample_features
from pfatlas.config import load_config
from pfatlas.errors import PfatlasWarning
from pfatlas.landcover import SPECTRAL_FEATURES, classify, fit_landcover_model, split_samples


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="out/demo")
    ap.add_argument("--epoch", default="2000")
    ap.add_argument("--cells", type=int, default=500_000)
    a = ap.parse_args()
    out = Path(a.out)
    ctx = make_context(load_config(out / "config.toml"), out)
    workers = ctx.cfg.compute.workers or os.cpu_count() or 1
    s = _samples(ctx, a.epoch)
    codes = s["class_code"].to_numpy()
    tr, _ = split_samples(codes, ctx.cfg.landcover.validation_fraction, ctx.cfg.landcover.seed)
    X = sample_features(ctx, a.epoch, s["row"].to_numpy(), s["col"].to_numpy())
    stack = feature_stack(ctx, a.epoch)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PfatlasWarning)
        model = fit_landcover_model(
            X[tr],
            codes[tr],
            [str(n) for n in stack["feature"].values],
            SPECTRAL_FEATURES,
            n_estimators=ctx.cfg.landcover.n_estimators,
            seed=ctx.cfg.landcover.seed,
        )
    with dask.config.set(scheduler="threads", num_workers=workers):
        t0 = time.perf_counter()
        data = stack.data.compute()
        t_stack = time.perf_counter() - t0
    n = data.shape[1] * data.shape[2]
    table = np.ascontiguousarray(data.reshape(data.shape[0], -1).T)
    m = min(a.cells, n)
    t0 = time.perf_counter()
    model.rf.predict(table[:m])
    rate_sk = m / (time.perf_counter() - t0)
    mem = stack.copy(data=dsa.from_array(data, chunks=(-1, ctx.chunk, ctx.chunk)))
    with dask.config.set(scheduler="threads", num_workers=workers):
        classify(mem.isel(y=slice(0, 64)), model)["landcover"].compute()  # numba compile / cache load
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
    truth = out / "inputs" / "truth" / a.epoch / "landcover.tif"
    if truth.is_file():
        with rasterio.open(truth) as src:
            t = src.read(1)
        print(f"overall accuracy vs the truth map (this model): {float(np.mean(np.asarray(lc) == t)):.4f}")


if __name__ == "__main__":
    main()
