"""Build stages ``landcover_forest/<epoch>`` and ``landcover/<epoch>``: the Random Forests of one
epoch, then its land-cover map decided with the forests of every epoch, and its accuracy.

``landcover_forest/<epoch>`` reads (by path) ``grid/dem.tif``, ``grid/slope.tif``,
``grid/aspect.tif``, the composite layers (of every epoch when training points are pooled) and
``tables/samples.csv``; writes the forest's probability of each class,
``<epoch>/landcover_forest/probability_<code>.tif`` [1], ``tables/landcover_forest_<epoch>.json``
(classes, training shares, held-out accuracy of the forest alone) and
``landcover_feature_importance_<epoch>.csv``.

``landcover/<epoch>`` reads those of every epoch (compound classification,
:mod:`pfatlas.landcover.compound`; the epoch's own only with ``compound_epochs = false``) and writes
``<epoch>/landcover.tif`` (uint8 codes, colour table from the config),
``<epoch>/landcover_probability.tif`` [1] (posterior of the mapped class) and the tables
``landcover_accuracy_<epoch>.csv`` (per class), ``landcover_accuracy_summary_<epoch>.csv`` (overall
accuracy, kappa), ``landcover_confusion_<epoch>.csv`` (rows reference, columns map, every config
class) and ``metrics_landcover_<epoch>.json``.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from pfatlas.build.context import BuildContext
from pfatlas.build.stages import Stage
from pfatlas.errors import MissingInputError
from pfatlas.io.cog import CLASS_NODATA, ClassInfo, Layer, write_cogs
from pfatlas.io.raster import read_to_grid, sample_points
from pfatlas.io.table_writer import read_table, write_json, write_table
from pfatlas.landcover.accuracy import assess_accuracy
from pfatlas.landcover.classify import (
    LandCoverModel,
    check_training,
    class_probabilities,
    fit_landcover_model,
    plot_cells,
    predict_features,
    split_samples,
)
from pfatlas.landcover.compound import compound_posteriors
from pfatlas.landcover.features import (
    SPECTRAL_FEATURES,
    LstTrend,
    add_lst_anomaly,
    fit_lst_trend,
    landcover_features,
    point_features,
    spectral_feature_names,
    window_radius_cells,
)
from pfatlas.parallel import local_threads

__all__ = ["stages", "run_forest", "run_landcover", "landcover_inputs", "fit_epoch_model", "EpochModel"]

MIN_TRAINING_SAMPLES = 10


def training_epochs(ctx: BuildContext, label: str) -> list[str]:
    """The epochs whose training samples train epoch ``label``'s forest (itself first)."""
    others = [e.label for e in ctx.cfg.epochs if e.label != label]
    return [label, *others] if ctx.cfg.landcover.pool_epochs else [label]


def landcover_inputs(ctx: BuildContext, label: str) -> list[Path]:
    """The files the stage reads (their content decides whether it reruns)."""
    comps = [ctx.path(e, "composite") for e in training_epochs(ctx, label)]
    return [
        ctx.path("grid", "dem.tif"),
        ctx.path("grid", "slope.tif"),
        ctx.path("grid", "aspect.tif"),
        *(comp / f"{n}.tif" for comp in comps for n in SPECTRAL_FEATURES),
        ctx.path("tables", "samples.csv"),
    ]


def _read(ctx: BuildContext, path: Path, units: str, long_name: str):
    da = read_to_grid(path, ctx.gbox, resampling="nearest", chunks=ctx.chunk, name=path.stem)
    da.attrs.update(units=units, long_name=long_name)
    return da


def feature_stack(ctx: BuildContext, label: str, trend: LstTrend):
    """The epoch's lazy feature stack (see :func:`pfatlas.landcover.features.landcover_features`)."""
    comp = ctx.path(label, "composite")
    composite = {
        n: _read(ctx, comp / f"{n}.tif", "degC" if n == "lst" else "1", n) for n in SPECTRAL_FEATURES
    }
    dem = _read(ctx, ctx.path("grid", "dem.tif"), "m", "elevation")
    slope = _read(ctx, ctx.path("grid", "slope.tif"), "degree", "slope")
    aspect = _read(ctx, ctx.path("grid", "aspect.tif"), "degree", "aspect")
    return landcover_features(
        composite, dem, slope, aspect, relief_radii_m=tuple(ctx.cfg.landcover.relief_radii_m), lst_trend=trend
    )


def sample_features(ctx: BuildContext, label: str, rows, cols, trend: LstTrend | None) -> np.ndarray:
    """Features at sample cells, read point by point (equal to the stack's values there)."""
    from pfatlas.io.raster import read_windows

    comp = ctx.path(label, "composite")
    cell = abs(float(ctx.gbox.resolution.x))
    R = max(window_radius_cells(r, cell) for r in ctx.cfg.landcover.relief_radii_m)
    paths = {n: comp / f"{n}.tif" for n in SPECTRAL_FEATURES}
    paths.update({n: ctx.path("grid", f"{n}.tif") for n in ("dem", "slope", "aspect")})
    # one file per thread (GDAL decodes the tiles without the GIL)
    with ThreadPoolExecutor(local_threads()) as pool:
        windows = pool.submit(read_windows, ctx.path("grid", "dem.tif"), rows, cols, R)
        values = dict(
            zip(paths, pool.map(lambda p: sample_points(p, rows, cols), paths.values()), strict=True)
        )
        windows = windows.result()
    spectral = {n: values[n] for n in SPECTRAL_FEATURES}
    grid = {n: values[n] for n in ("dem", "slope", "aspect")}
    return point_features(
        spectral,
        grid["dem"],
        grid["slope"],
        grid["aspect"],
        windows,
        relief_radii_m=ctx.cfg.landcover.relief_radii_m,
        cell_m=cell,
        lst_trend=trend,
    )


def _samples(ctx: BuildContext, label: str) -> pd.DataFrame:
    path = ctx.path("tables", "samples.csv")
    if not path.is_file():
        raise MissingInputError("the samples table is missing (run the 'samples' stage)", path=path)
    df = read_table(path)
    return df[df["epoch"] == label].reset_index(drop=True)


@dataclass(frozen=True)
class EpochModel:
    """The fitted forests of one epoch and what they were trained on."""

    model: LandCoverModel
    stack: xr.DataArray  # the epoch's lazy feature stack
    trend: LstTrend  # the epoch's LST trend with elevation
    samples: pd.DataFrame  # the epoch's own samples (tables/samples.csv)
    codes: np.ndarray  # their class codes
    train: np.ndarray  # indices into them: training split
    val: np.ndarray  # and held-out split
    points_by_epoch: dict[str, int]  # training points per epoch that trained the forests
    points_by_class: dict[int, int]  # training points per class, all epochs
    n_cells: int  # training plot cells, all epochs
    cells_by_class: dict[int, int]  # training plot cells per class, all epochs


def plot_radii(ctx: BuildContext) -> dict[int, int]:
    """Training plot half-width [cells] of each class code (its own, or ``landcover.plot_radius_m``)."""
    lc = ctx.cfg.landcover
    cell = abs(float(ctx.gbox.resolution.x))
    return {
        c.code: int(round((lc.plot_radius_m if c.plot_radius_m is None else c.plot_radius_m) / cell))
        for c in lc.classes
    }


def _training_plots(ctx: BuildContext, epoch: str, samples: pd.DataFrame, train: np.ndarray):
    """Features (with the LST anomaly), class codes and point index of the training plot cells of
    an epoch's samples, and the epoch's LST trend fitted on them."""
    codes = samples["class_code"].to_numpy(dtype=np.int64)
    rows, cols = samples["row"].to_numpy()[train], samples["col"].to_numpy()[train]
    radii = plot_radii(ctx)
    radius = np.array([radii[c] for c in codes[train]], dtype=np.int64)
    parts = []
    for r in np.unique(radius):  # each class's plot size; then point by point again
        (idx,) = np.nonzero(radius == r)
        pr, pc, k = plot_cells(rows[idx], cols[idx], int(r), ctx.gbox.shape)
        parts.append((pr, pc, idx[k]))
    pr, pc, owner = (np.concatenate(a) for a in zip(*parts, strict=True))
    order = np.argsort(owner, kind="stable")
    pr, pc, owner = pr[order], pc[order], owner[order]
    X = sample_features(ctx, epoch, pr + 0.5, pc + 0.5, None)
    y = codes[train][owner]
    k = len(SPECTRAL_FEATURES)  # without the anomaly, elevation is the first terrain column
    trend = fit_lst_trend(X[:, SPECTRAL_FEATURES.index("lst")], X[:, k], y)
    return add_lst_anomaly(X, trend), y, owner, trend


def fit_epoch_model(ctx: BuildContext, label: str) -> EpochModel:
    """Fit epoch ``label``'s forests on the training plots of its samples and, with
    ``landcover.pool_epochs``, of the other epochs' samples of the classes this epoch has.

    Each plot's features come from its own epoch's composite, so a pooled point teaches the forest
    what its class looked like then: more points for the same fieldwork, as long as the composites
    are comparable (same season window, surface reflectance harmonised across sensors). The
    held-out points of every epoch stay out of every forest.
    """
    lc_cfg = ctx.cfg.landcover
    names = {c.code: c.name for c in lc_cfg.classes}
    samples = _samples(ctx, label)
    codes = samples["class_code"].to_numpy(dtype=np.int64)
    train, val = split_samples(codes, lc_cfg.validation_fraction, lc_cfg.seed)
    check_training(
        codes[train], names, label, min_samples=MIN_TRAINING_SAMPLES, path=ctx.path("tables", "samples.csv")
    )
    kept = np.unique(codes[train])
    X, y, trend = [], [], None
    by_epoch, by_class = {}, dict.fromkeys(kept.tolist(), 0)
    for epoch in training_epochs(ctx, label):
        if epoch == label:
            s, tr = samples, train
        else:
            s = _samples(ctx, epoch)
            tr, _ = split_samples(s["class_code"].to_numpy(), lc_cfg.validation_fraction, lc_cfg.seed)
            if not np.isin(s["class_code"].to_numpy()[tr], kept).any():
                continue
        # each epoch's anomaly from its own trend (fitted on all its training plots, as in its own
        # stage), then only the classes this epoch has
        Xe, ye, owner, te = _training_plots(ctx, epoch, s, tr)
        trend = te if epoch == label else trend
        use = np.isin(ye, kept)
        X.append(Xe[use])
        y.append(ye[use])
        used = np.unique(owner[use])
        by_epoch[epoch] = int(used.size)
        for code in s["class_code"].to_numpy()[tr][used].tolist():
            by_class[code] += 1
    stack = feature_stack(ctx, label, trend)
    model = fit_landcover_model(
        np.concatenate(X),
        np.concatenate(y),
        [str(n) for n in stack["feature"].values],
        spectral_feature_names(True),
        n_estimators=lc_cfg.n_estimators,
        seed=lc_cfg.seed,
        n_jobs=local_threads(),
    )
    return EpochModel(
        model=model,
        stack=stack,
        trend=trend,
        samples=samples,
        codes=codes,
        train=train,
        val=val,
        points_by_epoch=by_epoch,
        points_by_class=by_class,
        n_cells=int(sum(len(a) for a in y)),
        cells_by_class={
            int(c): int(n) for c, n in zip(*np.unique(np.concatenate(y), return_counts=True), strict=True)
        },
    )


def forest_probability_path(ctx: BuildContext, label: str, code: int) -> Path:
    """Where epoch ``label``'s forest writes its probability of class ``code``."""
    return ctx.path(label, "landcover_forest", f"probability_{code}.tif")


def _forest_json(ctx: BuildContext, label: str) -> Path:
    return ctx.path("tables", f"landcover_forest_{label}.json")


def _held_out_cells(samples: pd.DataFrame, val: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = samples["row"].to_numpy(), samples["col"].to_numpy()
    return np.floor(rows[val]) + 0.5, np.floor(cols[val]) + 0.5


def run_forest(ctx: BuildContext, label: str) -> list[Path]:
    """Fit epoch ``label``'s forests and write their probability of each class
    (``<epoch>/landcover_forest/probability_<code>.tif``), the feature importance and
    ``tables/landcover_forest_<epoch>.json`` (classes, training class shares, held-out accuracy of
    the forest alone)."""
    lc_cfg = ctx.cfg.landcover
    names = {c.code: c.name for c in lc_cfg.classes}
    fitted = fit_epoch_model(ctx, label)
    model = fitted.model
    probs = class_probabilities(fitted.stack, model)
    out = write_cogs(
        [
            Layer(
                probs.sel({"class": code}, drop=True),
                forest_probability_path(ctx, label, code),
                "1",
                f"Random Forest probability of land-cover class {code} '{names[code]}' (epoch {label})",
                tags=ctx.tags,
            )
            for code in model.codes
        ],
        gbox=ctx.gbox,
    )
    synthetic = ctx.cfg.area.synthetic
    imp = pd.DataFrame(
        sorted(model.feature_importance.items(), key=lambda kv: -kv[1]), columns=["feature", "importance"]
    )
    tables = ctx.path("tables")
    out.append(write_table(imp, tables / f"landcover_feature_importance_{label}.csv", synthetic=synthetic))
    rows, cols = _held_out_cells(fitted.samples, fitted.val)
    X_val = sample_features(ctx, label, rows, cols, fitted.trend)
    pred, _ = predict_features(X_val, model)
    ok = pred != CLASS_NODATA
    # the class mix of the training points: the field sample's estimate of the classes' shares (the
    # plot cells would count a 1-cell road plot 9 times less than a 9-cell meadow plot)
    total = sum(fitted.points_by_class.values())
    info = {
        "epoch": label,
        "codes": list(model.codes),
        "classes": [names[c] for c in model.codes],
        "training_cells": {str(c): n for c, n in fitted.cells_by_class.items()},
        "prior": [fitted.points_by_class.get(c, 0) / total for c in model.codes],
        "n_train": sum(fitted.points_by_epoch.values()),
        "n_train_by_epoch": fitted.points_by_epoch,
        "points_by_class": {str(c): n for c, n in fitted.points_by_class.items()},
        "n_train_cells": fitted.n_cells,
        "plot_radius_cells": {names[c]: r for c, r in sorted(plot_radii(ctx).items())},
        "lst_trend": {
            "intercept_c": fitted.trend.intercept_c,
            "lapse_c_per_km": 1000.0 * fitted.trend.lapse_c_per_m,
            "n_cells": fitted.trend.n_cells,
        },
        "held_out_overall_accuracy_forest": float(np.mean(pred[ok] == fitted.codes[fitted.val][ok]))
        if ok.any()
        else None,
    }
    out.append(write_json(info, _forest_json(ctx, label)))
    return out


def _epochs_for(ctx: BuildContext, label: str) -> list[str]:
    """The epochs, in time order, whose forests decide epoch ``label``'s map: every epoch, or the
    epoch alone without ``landcover.compound_epochs``."""
    if not ctx.cfg.landcover.compound_epochs:
        return [label]
    return [e.label for e in sorted(ctx.cfg.epochs, key=lambda e: e.year)]


def _forest_info(ctx: BuildContext, label: str) -> dict:
    path = _forest_json(ctx, label)
    if not path.is_file():
        raise MissingInputError(
            f"the forest of epoch '{label}' is missing (run 'landcover_forest/{label}')", path=path
        )
    return json.loads(path.read_text())


def _prior(codes: list[int], info: dict) -> np.ndarray:
    """An epoch forest's training shares over ``codes`` (0 for the classes it lacks)."""
    prior = np.zeros(len(codes))
    prior[[codes.index(c) for c in info["codes"]]] = info["prior"]
    return prior


def _decide(post: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Class code (NaN where no evidence) and its probability from ``(K, n)`` probabilities."""
    missing = np.isnan(post).any(axis=0)
    best = np.argmax(np.nan_to_num(post, nan=-1.0), axis=0)
    prob = np.take_along_axis(post, best[None], axis=0)[0]
    code = codes[best].astype(np.float32)
    code[missing] = np.nan
    prob[missing] = np.nan
    return code, prob.astype(np.float32)


# cells per compound step: its float64 temporaries (a few arrays of classes x cells per epoch) stay
# a few MB, not a few hundred per chunk
_COMPOUND_BATCH = 65_536


def _compound_block(*blocks, priors, index, change_prior, codes):
    k, by, bx = blocks[0].shape
    proba = [b.reshape(k, by * bx) for b in blocks]
    out = np.empty((2, by * bx), dtype=np.float32)
    for start in range(0, by * bx, _COMPOUND_BATCH):
        part = [p[:, start : start + _COMPOUND_BATCH] for p in proba]
        post = compound_posteriors(part, priors, change_prior)[index] if len(part) > 1 else part[0]
        cut = slice(start, start + _COMPOUND_BATCH)
        out[0, cut], out[1, cut] = _decide(post, codes)
    return out.reshape(2, by, bx)


def _union_stack(ctx: BuildContext, epoch: str, codes: list[int], info: dict):
    """Lazy ``(K, y, x)`` forest probabilities of an epoch over ``codes`` (0 where its forest lacks
    the class)."""
    import dask.array as dsa

    layers = {c: read_to_grid(forest_probability_path(ctx, epoch, c), ctx.gbox, resampling="nearest",
                              chunks=ctx.chunk) for c in info["codes"]}  # fmt: skip
    ref = next(iter(layers.values()))
    stack = dsa.stack([layers[c].data if c in layers else dsa.zeros_like(ref.data) for c in codes])
    return stack, ref


def run_landcover(ctx: BuildContext, label: str) -> list[Path]:
    """The land-cover map of epoch ``label`` from the forests of every epoch (compound
    classification, :mod:`pfatlas.landcover.compound`), its accuracy at the held-out points; returns
    the files written."""
    import dask.array as dsa

    lc_cfg = ctx.cfg.landcover
    classes = sorted(lc_cfg.classes, key=lambda c: c.code)
    codes = [c.code for c in classes]
    epochs = _epochs_for(ctx, label)
    infos = {e: _forest_info(ctx, e) for e in epochs}
    priors = [_prior(codes, infos[e]) for e in epochs]
    index = epochs.index(label)
    code_arr = np.asarray(codes)

    # the held-out points of this epoch, decided as the map decides their cells
    samples = _samples(ctx, label)
    truth_codes = samples["class_code"].to_numpy(dtype=np.int64)
    _, val = split_samples(truth_codes, lc_cfg.validation_fraction, lc_cfg.seed)
    rows, cols = _held_out_cells(samples, val)
    point_proba = []
    for e in epochs:
        p = np.zeros((len(codes), val.size))
        for c in infos[e]["codes"]:
            p[codes.index(c)] = sample_points(forest_probability_path(ctx, e, c), rows, cols)
        p[:, np.isnan(p).any(axis=0)] = np.nan
        point_proba.append(p)
    post = (
        compound_posteriors(point_proba, priors, lc_cfg.change_prior)[index]
        if len(epochs) > 1
        else point_proba[0]
    )
    pred_code, _ = _decide(post, code_arr)
    pred = np.where(np.isnan(pred_code), CLASS_NODATA, pred_code).astype(np.int64)
    report = assess_accuracy(truth_codes[val], pred, codes, [c.name for c in classes])

    read = [_union_stack(ctx, e, codes, infos[e]) for e in epochs]
    stacks = [st.rechunk({0: -1}) for st, _ in read]
    template = read[0][1]
    out2 = dsa.map_blocks(
        _compound_block,
        *stacks,
        priors=priors,
        index=index,
        change_prior=lc_cfg.change_prior,
        codes=code_arr,
        dtype=np.float32,
        chunks=((2,), *stacks[0].chunks[1:]),
        meta=np.array((), dtype=np.float32).reshape((0, 0, 0)),
    )
    lc = template.copy(data=out2[0]).fillna(CLASS_NODATA).astype(np.uint8)
    pr = template.copy(data=out2[1])
    how = (
        f"compound classification of epochs {', '.join(epochs)} (Swain 1978), change prior {lc_cfg.change_prior}"
        if len(epochs) > 1
        else "Random Forest"
    )
    info = [ClassInfo(c.code, c.name, c.rgb) for c in classes]
    out = write_cogs(
        [
            Layer(
                lc,
                ctx.path(label, "landcover.tif"),
                "class",
                f"land cover, Random Forest on composite, LST and terrain; {how} (epoch {label})",
                classes=info,
                tags=ctx.tags,
            ),  # fmt: skip
            Layer(
                pr,
                ctx.path(label, "landcover_probability.tif"),
                "1",
                f"probability of the mapped land-cover class; {how} (epoch {label})",
                tags=ctx.tags,
            ),  # fmt: skip
        ],
        gbox=ctx.gbox,
    )

    synthetic = ctx.cfg.area.synthetic
    own = infos[label]
    n_train = [int(own["points_by_class"].get(str(c), 0)) for c in codes]
    tables = ctx.path("tables")
    out.append(
        write_table(
            report.class_table(n_train), tables / f"landcover_accuracy_{label}.csv", synthetic=synthetic
        )
    )
    out.append(
        write_table(
            report.summary_table(own["n_train"]),
            tables / f"landcover_accuracy_summary_{label}.csv",
            synthetic=synthetic,
        )  # fmt: skip
    )
    out.append(
        write_table(
            report.confusion_table(), tables / f"landcover_confusion_{label}.csv", synthetic=synthetic
        )
    )
    metrics = {
        "epoch": label,
        "overall_accuracy": report.overall_accuracy,
        "overall_accuracy_se": report.overall_accuracy_se,
        "kappa": report.kappa,
        "overall_accuracy_forest_alone": own["held_out_overall_accuracy_forest"],
        "compound_epochs": epochs if len(epochs) > 1 else None,
        "change_prior": lc_cfg.change_prior if len(epochs) > 1 else None,
        **{
            k: own[k]
            for k in ("n_train", "n_train_by_epoch", "n_train_cells", "plot_radius_cells", "lst_trend")
        },
        "n_validation": int(val.size),
        "classes_trained": own["classes"],
        "synthetic": synthetic,
    }
    metrics = {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in metrics.items()}
    out.append(write_json(metrics, tables / f"metrics_landcover_{label}.json"))
    return out


def map_inputs(ctx: BuildContext, label: str) -> list[Path]:
    """The files the map stage reads: the forests' tables (their probability rasters are written
    with them) and the samples."""
    return [*(_forest_json(ctx, e) for e in _epochs_for(ctx, label)), ctx.path("tables", "samples.csv")]


def stages(ctx: BuildContext) -> list[Stage]:
    """Per epoch a ``landcover_forest/<epoch>`` stage (the forests and their class probabilities)
    and a ``landcover/<epoch>`` stage (the map, from the forests of every epoch)."""
    if ctx.cfg.inputs.samples is None or not ctx.cfg.inputs.landsat:
        return []
    forest_params = lambda c: c.cfg.model_dump(  # noqa: E731
        mode="json",
        include={
            "area": True,
            "epochs": True,
            "landcover": {
                "classes",
                "n_estimators",
                "seed",
                "validation_fraction",
                "plot_radius_m",
                "pool_epochs",
                "relief_radii_m",
            },
        },  # fmt: skip
    )
    out = [
        Stage(
            f"landcover_forest/{e.label}",
            (lambda ctx, e=e: run_forest(ctx, e.label)),
            inputs=lambda c, e=e: landcover_inputs(c, e.label),
            params=forest_params,
            depends=("terrain", "samples", *(f"composite/{t}" for t in training_epochs(ctx, e.label))),
            description=f"Random Forest class probabilities {e.label}",
        )
        for e in ctx.cfg.epochs
    ]
    out += [
        Stage(
            f"landcover/{e.label}",
            (lambda ctx, e=e: run_landcover(ctx, e.label)),
            inputs=lambda c, e=e: map_inputs(c, e.label),
            params=lambda c: c.cfg.model_dump(mode="json", include={"area", "landcover", "epochs"}),
            depends=("samples", *(f"landcover_forest/{t}" for t in _epochs_for(ctx, e.label))),
            description=f"land cover {e.label}",
        )
        for e in ctx.cfg.epochs
    ]
    return out
