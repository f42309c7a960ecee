"""Build stage ``landcover/<epoch>``: the Random Forest land-cover map of one epoch and its accuracy.

Reads (by path) ``grid/dem.tif``, ``grid/slope.tif``, ``grid/aspect.tif``, the epoch's composite
layers and ``tables/samples.csv``; writes ``<epoch>/landcover.tif`` (uint8 codes, colour table from
the config), ``<epoch>/landcover_probability.tif`` [1] and the tables
``landcover_accuracy_<epoch>.csv`` (per class), ``landcover_accuracy_summary_<epoch>.csv`` (overall
accuracy, kappa), ``landcover_confusion_<epoch>.csv`` (rows reference, columns map, every config
class), ``landcover_feature_importance_<epoch>.csv`` and ``metrics_landcover_<epoch>.json``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from pfatlas.build.context import BuildContext
from pfatlas.build.stages import Stage
from pfatlas.errors import MissingInputError
from pfatlas.io.cog import ClassInfo, Layer, write_cogs
from pfatlas.io.raster import read_to_grid
from pfatlas.io.table_writer import read_table, write_json, write_table
from pfatlas.landcover.accuracy import assess_accuracy
from pfatlas.landcover.classify import (
    check_training,
    classify,
    fit_landcover_model,
    plot_cells,
    predict_features,
    split_samples,
)
from pfatlas.landcover.features import (
    SPECTRAL_FEATURES,
    landcover_features,
    point_features,
    window_radius_cells,
)

__all__ = ["stages", "run_landcover", "landcover_inputs"]

MIN_TRAINING_SAMPLES = 10


def landcover_inputs(ctx: BuildContext, label: str) -> list[Path]:
    """The files the stage reads (their content decides whether it reruns)."""
    comp = ctx.path(label, "composite")
    return [
        ctx.path("grid", "dem.tif"),
        ctx.path("grid", "slope.tif"),
        ctx.path("grid", "aspect.tif"),
        *(comp / f"{n}.tif" for n in SPECTRAL_FEATURES),
        ctx.path("tables", "samples.csv"),
    ]


def _read(ctx: BuildContext, path: Path, units: str, long_name: str):
    da = read_to_grid(path, ctx.gbox, resampling="nearest", chunks=ctx.chunk, name=path.stem)
    da.attrs.update(units=units, long_name=long_name)
    return da


def feature_stack(ctx: BuildContext, label: str):
    """The epoch's lazy feature stack (see :func:`pfatlas.landcover.features.landcover_features`)."""
    comp = ctx.path(label, "composite")
    composite = {
        n: _read(ctx, comp / f"{n}.tif", "degC" if n == "lst" else "1", n) for n in SPECTRAL_FEATURES
    }
    dem = _read(ctx, ctx.path("grid", "dem.tif"), "m", "elevation")
    slope = _read(ctx, ctx.path("grid", "slope.tif"), "degree", "slope")
    aspect = _read(ctx, ctx.path("grid", "aspect.tif"), "degree", "aspect")
    return landcover_features(
        composite, dem, slope, aspect, relief_radii_m=tuple(ctx.cfg.landcover.relief_radii_m)
    )


def sample_features(ctx: BuildContext, label: str, rows, cols) -> np.ndarray:
    """Features at sample cells, read point by point (equal to the stack's values there)."""
    from pfatlas.io.raster import read_windows, sample_points

    comp = ctx.path(label, "composite")
    spectral = {n: sample_points(comp / f"{n}.tif", rows, cols) for n in SPECTRAL_FEATURES}
    grid = {n: sample_points(ctx.path("grid", f"{n}.tif"), rows, cols) for n in ("dem", "slope", "aspect")}
    cell = abs(float(ctx.gbox.resolution.x))
    R = max(window_radius_cells(r, cell) for r in ctx.cfg.landcover.relief_radii_m)
    windows = read_windows(ctx.path("grid", "dem.tif"), rows, cols, R)
    return point_features(
        spectral,
        grid["dem"],
        grid["slope"],
        grid["aspect"],
        windows,
        relief_radii_m=ctx.cfg.landcover.relief_radii_m,
        cell_m=cell,
    )


def _samples(ctx: BuildContext, label: str) -> pd.DataFrame:
    path = ctx.path("tables", "samples.csv")
    if not path.is_file():
        raise MissingInputError("the samples table is missing (run the 'samples' stage)", path=path)
    df = read_table(path)
    return df[df["epoch"] == label].reset_index(drop=True)


def run_landcover(ctx: BuildContext, label: str) -> list[Path]:
    """Fit, predict, assess and write the land cover of epoch ``label``; returns the files written."""
    lc_cfg = ctx.cfg.landcover
    classes = sorted(lc_cfg.classes, key=lambda c: c.code)
    names = {c.code: c.name for c in classes}
    samples = _samples(ctx, label)
    codes = samples["class_code"].to_numpy(dtype=np.int64)
    train, val = split_samples(codes, lc_cfg.validation_fraction, lc_cfg.seed)
    check_training(
        codes[train], names, label, min_samples=MIN_TRAINING_SAMPLES, path=ctx.path("tables", "samples.csv")
    )

    stack = feature_stack(ctx, label)
    rows, cols = samples["row"].to_numpy(), samples["col"].to_numpy()
    cell = abs(float(ctx.gbox.resolution.x))
    radius = int(round(lc_cfg.plot_radius_m / cell))
    pr, pc, owner = plot_cells(rows[train], cols[train], radius, ctx.gbox.shape)
    X_train = sample_features(ctx, label, pr + 0.5, pc + 0.5)
    X_val = sample_features(ctx, label, np.floor(rows[val]) + 0.5, np.floor(cols[val]) + 0.5)
    spectral = [str(n) for n in stack["feature"].values if str(n) in SPECTRAL_FEATURES]
    model = fit_landcover_model(
        X_train,
        codes[train][owner],
        [str(n) for n in stack["feature"].values],
        spectral,
        n_estimators=lc_cfg.n_estimators,
        seed=lc_cfg.seed,
    )
    pred, _ = predict_features(X_val, model)
    report = assess_accuracy(codes[val], pred, [c.code for c in classes], [c.name for c in classes])

    maps = classify(stack, model)
    info = [ClassInfo(c.code, c.name, c.rgb) for c in classes]
    out = write_cogs(
        [
            Layer(
                maps["landcover"],
                ctx.path(label, "landcover.tif"),
                "class",
                f"land cover, Random Forest on composite, LST and terrain (epoch {label})",
                classes=info,
                tags=ctx.tags,
            ),
            Layer(
                maps["landcover_probability"],
                ctx.path(label, "landcover_probability.tif"),
                "1",
                f"Random Forest probability of the mapped land-cover class (epoch {label})",
                tags=ctx.tags,
            ),
        ],
        gbox=ctx.gbox,
    )

    synthetic = ctx.cfg.area.synthetic
    n_train = [int(np.sum(codes[train] == c.code)) for c in classes]
    tables = ctx.path("tables")
    out.append(
        write_table(
            report.class_table(n_train), tables / f"landcover_accuracy_{label}.csv", synthetic=synthetic
        )
    )
    out.append(
        write_table(
            report.summary_table(int(train.size)),
            tables / f"landcover_accuracy_summary_{label}.csv",
            synthetic=synthetic,
        )
    )
    out.append(
        write_table(
            report.confusion_table(), tables / f"landcover_confusion_{label}.csv", synthetic=synthetic
        )
    )
    imp = pd.DataFrame(
        sorted(model.feature_importance.items(), key=lambda kv: -kv[1]), columns=["feature", "importance"]
    )
    out.append(write_table(imp, tables / f"landcover_feature_importance_{label}.csv", synthetic=synthetic))
    metrics = {
        "epoch": label,
        "overall_accuracy": report.overall_accuracy,
        "overall_accuracy_se": report.overall_accuracy_se,
        "kappa": report.kappa,
        "n_train": int(train.size),
        "n_train_cells": int(owner.size),
        "plot_radius_cells": radius,
        "n_validation": int(val.size),
        "classes_trained": [names[c] for c in model.codes],
        "synthetic": synthetic,
    }
    metrics = {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in metrics.items()}
    out.append(write_json(metrics, tables / f"metrics_landcover_{label}.json"))
    return out


def _run(label: str) -> Callable[[BuildContext], list[Path]]:
    return lambda ctx: run_landcover(ctx, label)


def stages(ctx: BuildContext) -> list[Stage]:
    """One ``landcover/<epoch>`` stage per epoch of the config."""
    if ctx.cfg.inputs.samples is None or not ctx.cfg.inputs.landsat:
        return []
    return [
        Stage(
            f"landcover/{e.label}",
            _run(e.label),
            inputs=lambda c, e=e: landcover_inputs(c, e.label),
            params=lambda c: c.cfg.model_dump(mode="json", include={"area", "landcover"}),
            depends=("terrain", "samples", f"composite/{e.label}"),
            description=f"Random Forest land cover {e.label}",
        )
        for e in ctx.cfg.epochs
    ]
