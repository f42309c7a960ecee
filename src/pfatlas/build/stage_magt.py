"""Build stage ``magt/<epoch>``: MAGT, its error, permafrost and thermal stability of one epoch.

Reads (by path) ``tables/boreholes.csv`` (and ``tables/boreholes_validation.csv`` when the config
names validation boreholes: only scored against, never trained on), ``grid/dem.tif``,
``grid/slope.tif``, ``grid/aspect.tif`` and ``<epoch>/landcover.tif``. Only boreholes with
``setting == natural`` train the (natural, pre-disturbance) model.

Writes ``<epoch>/magt.tif`` [degC], ``magt_se.tif`` [degC], ``permafrost.tif`` (0/1, 255),
``permafrost_probability.tif`` [1], ``thermal_stability.tif`` (1-6, 255) in one dask pass, and the
tables ``magt_coefficients_<epoch>.csv``, ``magt_cv_<epoch>.csv``, ``magt_model_<epoch>.json``,
``magt_validation_<epoch>.csv`` (when validation boreholes exist), ``thermal_stability_area_<epoch>.csv``,
``metrics_magt_<epoch>.json`` and, from the first epoch's stage only (one writer per file),
``thermal_stability_classes.csv``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from pyproj import Transformer

from pfatlas.build.context import BuildContext
from pfatlas.build.layout import (
    borehole_landcover,
    borehole_landcover_inputs,
    landcover_stage,
    natural_dir,
    natural_landcover,
)
from pfatlas.build.stages import Stage
from pfatlas.errors import InputError, MissingInputError, PfatlasWarning
from pfatlas.io.cog import Layer, write_cogs
from pfatlas.io.raster import class_counts, read_to_grid, sample_points
from pfatlas.io.table_writer import read_table, write_json, write_table
from pfatlas.magt.features import FeatureSpec, design_matrix, make_spec
from pfatlas.magt.predict import predict_magt, predict_points
from pfatlas.magt.validation import coefficient_table, scores, train_magt
from pfatlas.permafrost.extent import PERMAFROST_CLASSES, permafrost_extent
from pfatlas.permafrost.stability import (
    STABILITY_CLASSES,
    stability_class_info,
    stability_class_table,
    thermal_stability,
)

__all__ = ["stages", "magt_inputs", "run_magt"]

NATURAL = "natural"


def magt_inputs(ctx: BuildContext, label: str) -> list[Path]:
    """The files the stage reads (their content decides whether it reruns)."""
    files = [
        ctx.path("tables", "boreholes.csv"),
        ctx.path("grid", "dem.tif"),
        ctx.path("grid", "slope.tif"),
        ctx.path("grid", "aspect.tif"),
        *dict.fromkeys([natural_landcover(ctx, label), *borehole_landcover_inputs(ctx)[0]]),
    ]
    if ctx.cfg.inputs.validation_boreholes is not None:
        files.append(ctx.path("tables", "boreholes_validation.csv"))
    return files


def _landcover_stages(ctx: BuildContext, label: str) -> tuple[str, ...]:
    """The stages writing the epoch's land cover and the ones the boreholes' classes come from."""
    return tuple(dict.fromkeys([landcover_stage(ctx, label), *borehole_landcover_inputs(ctx)[1]]))


def _params(ctx: BuildContext) -> dict:
    return {
        **ctx.cfg.model_dump(mode="json", include={"area", "magt", "thermal_stability"}),
        "landcover_classes": [c.model_dump(mode="json") for c in ctx.cfg.landcover.classes],
    }


def _need(path: Path, what: str) -> Path:
    if not path.is_file():
        raise MissingInputError(f"{what} is missing (run the upstream stage first)", path=path)
    return path


def _grid_centre_lonlat(ctx: BuildContext) -> tuple[float, float]:
    ny, nx = ctx.gbox.shape
    x, y = ctx.gbox.affine @ (nx / 2.0, ny / 2.0)
    tr = Transformer.from_crs(ctx.gbox.crs.to_wkt(), "EPSG:4326", always_xy=True)
    lon, lat = tr.transform(x, y)
    return float(lon), float(lat)


def _borehole_factors(ctx: BuildContext, df: pd.DataFrame, label: str) -> dict[str, np.ndarray]:
    """The six factors at boreholes; the land cover of the epoch nearest each one's year."""
    rows, cols = df["row"].to_numpy(), df["col"].to_numpy()
    return {
        "elevation_m": df["elevation_m"].to_numpy(dtype=float),
        "lon_deg": df["lon"].to_numpy(dtype=float),
        "lat_deg": df["lat"].to_numpy(dtype=float),
        "slope_deg": sample_points(ctx.path("grid", "slope.tif"), rows, cols),
        "aspect_deg": sample_points(ctx.path("grid", "aspect.tif"), rows, cols),
        "landcover": np.nan_to_num(borehole_landcover(ctx, df, label), nan=255).astype(np.int64),
    }


def _natural(df: pd.DataFrame, path: Path) -> pd.DataFrame:
    for col in ("id", "x", "y", "lon", "lat", "elevation_m", "magt_c", "setting", "row", "col"):
        if col not in df.columns:
            raise InputError("column missing (rerun the 'boreholes' stage)", path=path, field=col)
    keep = (df["setting"].astype(str).str.lower() == NATURAL) & df["magt_c"].notna()
    return df[keep].reset_index(drop=True)


def _layer(ctx, da, path, units, desc, classes=None):
    return Layer(da, path, units, desc, classes=classes, tags=ctx.tags)


def run_magt(ctx: BuildContext, label: str) -> list[Path]:
    """Fit, cross-validate and map MAGT for one epoch; write its layers and tables."""
    cfg = ctx.cfg
    synthetic = cfg.area.synthetic
    bh_path = _need(ctx.path("tables", "boreholes.csv"), "the boreholes table")
    lc_path = _need(natural_landcover(ctx, label), f"the land-cover map of epoch {label}")
    source = cfg.inputs.boreholes or bh_path
    table = read_table(bh_path)
    train = _natural(table, bh_path)
    f = _borehole_factors(ctx, train, label)

    names = {c.code: c.name for c in cfg.landcover.classes}
    lon0, lat0 = _grid_centre_lonlat(ctx)
    counts = class_counts(lc_path)
    ok = np.isfinite(f["slope_deg"]) & np.isfinite(f["elevation_m"]) & (f["landcover"] != 255)
    if not ok.all():
        bad = ", ".join(train.loc[~ok, "id"].astype(str))
        warnings.warn(
            f"{bh_path}: {int((~ok).sum())} natural borehole(s) dropped from the MAGT model: no slope or "
            f"land cover in their cell (grid edge or unmapped): {bad}",
            PfatlasWarning,
            stacklevel=2,
        )
        train = train[ok].reset_index(drop=True)
        f = {k: v[ok] for k, v in f.items()}
    if len(train) == 0:
        raise InputError(
            f"no natural borehole with a MAGT can be used ({len(table)} row(s), settings "
            f"{sorted(table['setting'].astype(str).unique())}); the MAGT model needs natural boreholes",
            path=source,
            field="setting",
        )
    spec = make_spec(
        f["landcover"],
        [c for c in counts if c in names],
        centre_lon=lon0,
        centre_lat=lat0,
        elevation_ref_m=round(float(np.mean(f["elevation_m"])), 0),
        class_names=names,
    )
    cell_km2 = abs(ctx.gbox.resolution.x * ctx.gbox.resolution.y) / 1e6
    if spec.absent_classes:
        listed = "; ".join(
            f"'{spec.name_of(c)}' (code {c}, {counts.get(c, 0) * cell_km2:.2f} km2)"
            for c in spec.absent_classes
        )
        warnings.warn(
            f"epoch {label}: land-cover class(es) in the map but at no natural borehole: {listed}; "
            f"their effect cannot be estimated: they are predicted with the effect of the reference "
            f"class '{spec.name_of(spec.reference_class)}'",
            PfatlasWarning,
            stacklevel=2,
        )
    X, valid = design_matrix(spec, **f)
    y = train["magt_c"].to_numpy(dtype=float)
    training = train_magt(
        X,
        y,
        train["x"].to_numpy(dtype=float),
        train["y"].to_numpy(dtype=float),
        spec,
        model=cfg.magt.model,
        n_estimators=cfg.magt.n_estimators,
        seed=cfg.magt.seed,
        cv_block_km=cfg.magt.cv_block_km,
        cv_n_estimators=cfg.magt.cv_n_estimators,
        source=source,
    )
    model = training.model

    # --- maps: one dask pass for the five layers
    def read(name, path, dtype="float32", fill=np.nan):
        return read_to_grid(
            path, ctx.gbox, resampling="nearest", chunks=ctx.chunk, dtype=dtype, fill=fill, name=name
        )

    dem = read("dem", ctx.path("grid", "dem.tif"))
    slope = read("slope", ctx.path("grid", "slope.tif"))
    aspect = read("aspect", ctx.path("grid", "aspect.tif"))
    lc = read("landcover", lc_path, dtype="uint8", fill=255)
    pred = predict_magt(model, dem, slope, aspect, lc)
    pf = permafrost_extent(pred["magt"], pred["magt_se"])
    stab = thermal_stability(pred["magt"], cfg.thermal_stability.breaks)
    how = {"mlr": "multiple linear regression", "rf": "Random Forest regression"}[model.kind]
    folder = natural_dir(ctx, label)
    written = write_cogs(
        [
            _layer(ctx, pred["magt"], folder / "magt.tif", "degC",
                   f"mean annual ground temperature at the depth of zero annual amplitude, {how} on "
                   f"elevation, longitude, latitude, land cover, aspect, slope (epoch {label})"),
            _layer(ctx, pred["magt_se"], folder / "magt_se.tif", "degC",
                   f"standard error of the predicted MAGT, {how} (epoch {label})"),
            _layer(ctx, pf["permafrost"], folder / "permafrost.tif", "class",
                   f"permafrost where predicted MAGT < 0 degC: 1 yes, 0 no (epoch {label})",
                   classes=list(PERMAFROST_CLASSES)),
            _layer(ctx, pf["permafrost_probability"], folder / "permafrost_probability.tif", "1",
                   f"probability of permafrost P(MAGT < 0) = Phi(-MAGT / SE) (epoch {label})"),
            _layer(ctx, stab, folder / "thermal_stability.tif", "class",
                   f"permafrost thermal stability, Cheng (1984), MAGT breaks "
                   f"{list(cfg.thermal_stability.breaks)} degC (epoch {label})",
                   classes=stability_class_info()),
        ],
        gbox=ctx.gbox,
    )  # fmt: skip

    # --- tables
    tables = ctx.path("tables")
    written.append(
        write_table(
            coefficient_table(training.mlr, spec),
            tables / f"magt_coefficients_{label}.csv",
            synthetic=synthetic,
        )
    )
    written.append(write_table(training.cv, tables / f"magt_cv_{label}.csv", synthetic=synthetic))
    validation = _validation(ctx, model, label)
    if validation is not None:
        written.append(write_table(validation, tables / f"magt_validation_{label}.csv", synthetic=synthetic))
    area = _stability_area(folder / "thermal_stability.tif", cell_km2)
    written.append(write_table(area, tables / f"thermal_stability_area_{label}.csv", synthetic=synthetic))
    if label == cfg.epochs[0].label:  # one writer per file: the class table is the same for every epoch
        written.append(
            write_table(
                stability_class_table(cfg.thermal_stability.breaks),
                tables / "thermal_stability_classes.csv",
                synthetic=synthetic,
            )
        )
    cv = training.cv.set_index(["model", "scheme"])["rmse_degC"]
    loo = {m: float(cv[(m, "leave-one-out")]) for m in ("mlr", "rf")}
    blocked_scheme = [s for s in training.cv["scheme"] if s.startswith("blocked")][0]
    info = _model_info(ctx, label, training, spec, len(train), table)
    written.append(write_json(info, tables / f"magt_model_{label}.json"))
    pf_km2 = float(area.loc[area["code"] < 6, "area_km2"].sum())
    metrics = {
        "epoch": label,
        "synthetic": synthetic,
        "chosen_model": model.kind,
        "reason": training.reason,
        "n_training_boreholes": len(train),
        "loocv_rmse_degC": loo,
        "blocked_cv_rmse_degC": {m: float(cv[(m, blocked_scheme)]) for m in ("mlr", "rf")},
        "blocked_cv_block_km": cfg.magt.cv_block_km,
        "mlr_residual_se_degC": float(np.sqrt(training.mlr.sigma2)),
        "permafrost_area_km2": pf_km2,
        "permafrost_fraction": pf_km2 / max(float(area["area_km2"].sum()), 1e-12),
    }
    if validation is not None:
        s = scores(validation["magt_c"], validation["magt_pred_degC"])
        metrics.update(
            validation_n=s["n"],
            validation_rmse_degC=s["rmse_degC"],
            validation_bias_degC=s["bias_degC"],
            validation_r2=s["r2"],
        )
    written.append(write_json(metrics, tables / f"metrics_magt_{label}.json"))
    return written


def _validation(ctx: BuildContext, model, label: str) -> pd.DataFrame | None:
    """Predictions at the held-out natural boreholes (scored, never trained on)."""
    if ctx.cfg.inputs.validation_boreholes is None:
        return None
    path = ctx.path("tables", "boreholes_validation.csv")
    if not path.is_file():
        return None
    val = _natural(read_table(path), path)
    if val.empty:
        return None
    f = _borehole_factors(ctx, val, label)
    mean, se = predict_points(model, **f)
    return pd.DataFrame(
        {
            "id": val["id"],
            "x": val["x"],
            "y": val["y"],
            "elevation_m": val["elevation_m"],
            "landcover": f["landcover"],
            "magt_c": val["magt_c"],
            "magt_pred_degC": mean,
            "magt_se_degC": se,
            "residual_degC": mean - val["magt_c"].to_numpy(dtype=float),
        }
    )


def _stability_area(path: Path, cell_km2: float) -> pd.DataFrame:
    counts = class_counts(path)
    return pd.DataFrame(
        [
            {
                "code": c.code,
                "name_en": c.name_en,
                "name_zh": c.name_zh,
                "cells": counts.get(c.code, 0),
                "area_km2": counts.get(c.code, 0) * cell_km2,
            }
            for c in STABILITY_CLASSES
        ]
    )


def _model_info(ctx, label, training, spec: FeatureSpec, n_train: int, table: pd.DataFrame) -> dict:
    settings = table["setting"].astype(str).str.lower().value_counts().to_dict()
    return {
        "epoch": label,
        "chosen_model": training.model.kind,
        "reason": training.reason,
        "config_model": ctx.cfg.magt.model,
        "terms": list(spec.terms),
        "reference_class": {"code": spec.reference_class, "name": spec.name_of(spec.reference_class)},
        "classes_with_effect": [{"code": c, "name": spec.name_of(c)} for c in spec.classes],
        "classes_predicted_with_reference_effect": [
            {"code": c, "name": spec.name_of(c)} for c in spec.absent_classes
        ],
        "centre_lon_deg": spec.centre_lon,
        "centre_lat_deg": spec.centre_lat,
        "elevation_ref_m": spec.elevation_ref_m,
        "n_training_boreholes": n_train,
        "boreholes_by_setting": {k: int(v) for k, v in settings.items()},
        "excluded": "boreholes with setting other than 'natural' (mined or disturbed ground)",
        "random_forest": {
            "n_estimators": ctx.cfg.magt.n_estimators,
            "cv_n_estimators": ctx.cfg.magt.cv_n_estimators,
            "seed": ctx.cfg.magt.seed,
            "se": "sqrt(LOOCV_RMSE^2 + max(0, tree variance - its mean at the boreholes))",
        },
        "mlr_se": "sqrt(s^2 (1 + x0' (X'X)^-1 x0))",
    }


def _run(label: str) -> Callable[[BuildContext], list[Path]]:
    def run(ctx: BuildContext) -> list[Path]:
        return run_magt(ctx, label)

    return run


def stages(ctx: BuildContext) -> list[Stage]:
    """One ``magt/<epoch>`` stage per epoch (needs boreholes and a land-cover map per epoch)."""
    if ctx.cfg.inputs.boreholes is None:
        return []
    return [
        Stage(
            f"magt/{e.label}",
            _run(e.label),
            inputs=lambda c, e=e: magt_inputs(c, e.label),
            params=_params,
            depends=("dem", "terrain", "boreholes", *_landcover_stages(ctx, e.label)),
            description=f"MAGT, permafrost and thermal stability {e.label}",
        )
        for e in ctx.cfg.epochs
    ]
