"""Build stage ``active_layer/<epoch>``: calibrated Stefan (or Kudryavtsev) ALT map and its tables.

Reads ``grid/dem.tif``, ``<epoch>/landcover.tif``, ``permafrost.tif``, ``magt.tif`` (Kudryavtsev),
``composite/lst.tif`` (thawing index from LST), ``grid/geomorphology.tif`` (when the config has a
geomorphology input: unit codes, CLASS_NAMES tag) and ``tables/boreholes.csv``; writes
``<epoch>/alt.tif`` [m], ``tables/alt_calibration_<epoch>.csv``, ``tables/alt_cv_<epoch>.csv`` and
``tables/metrics_active_layer_<epoch>.json``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import dask.array as dsa
import numpy as np
import pandas as pd
import rasterio
import xarray as xr

from pfatlas.activelayer.calibrate import (
    MODES,
    UNIT_MODES,
    EdaphicFit,
    calibration_table,
    error_stats,
    fit_edaphic,
    loo_predictions,
)
from pfatlas.activelayer.stefan import SoilTable, active_layer_map, alt_block
from pfatlas.activelayer.thawing_index import fit_amplitude_c, mean_over_months_factor
from pfatlas.build.context import BuildContext
from pfatlas.build.layout import (
    borehole_landcover,
    borehole_landcover_inputs,
    landcover_stage,
    natural_dir,
    natural_landcover,
)
from pfatlas.build.stages import Stage
from pfatlas.errors import ConfigError, InputError, PfatlasWarning
from pfatlas.io.cog import Layer, write_cogs
from pfatlas.io.raster import read_class_names, read_to_grid, sample_points
from pfatlas.io.table_writer import read_table, write_json, write_table

__all__ = ["stages", "run_active_layer", "station_amplitude_c", "soil_table"]


def station_amplitude_c(ctx: BuildContext) -> float:
    """Amplitude [degC] of the station's sinusoidal year (fitted to its MAAT and thawing index)."""
    clim = ctx.cfg.climate
    if clim.station_thawing_index_cdays is None:
        raise ConfigError(
            "the active-layer stage needs the reference station's air thawing index [degC day] "
            "(with the station MAAT it fixes the amplitude of the annual temperature wave)",
            path=ctx.cfg.source_path,
            field="climate.station_thawing_index_cdays",
        )
    try:
        return fit_amplitude_c(clim.station_maat_c, clim.station_thawing_index_cdays)
    except ValueError as exc:
        raise ConfigError(
            str(exc), path=ctx.cfg.source_path, field="climate.station_thawing_index_cdays"
        ) from None


def _paths(ctx: BuildContext, label: str) -> dict[str, Path]:
    p = {
        "dem": ctx.path("grid", "dem.tif"),
        "landcover": natural_landcover(ctx, label),
        "permafrost": natural_dir(ctx, label) / "permafrost.tif",
        "boreholes": ctx.path("tables", "boreholes.csv"),
    }
    if ctx.cfg.active_layer.method == "kudryavtsev":
        p["magt"] = natural_dir(ctx, label) / "magt.tif"
    if ctx.cfg.climate.thawing_index_source == "lst":
        p["lst"] = ctx.path(label, "composite", "lst.tif")
    if ctx.cfg.inputs.geomorphology is not None:
        p["geomorphology"] = ctx.path("grid", "geomorphology.tif")
    return p


def _check_mode(ctx: BuildContext) -> None:
    """A unit mode needs the geomorphology units: refuse it, never fall back silently."""
    mode = ctx.cfg.active_layer.calibration
    if mode in UNIT_MODES and ctx.cfg.inputs.geomorphology is None:
        raise ConfigError(
            f'active_layer.calibration = "{mode}" fits a factor per geomorphology unit, but the config '
            'has no geomorphology input (set inputs.geomorphology or choose "per_class")',
            path=ctx.cfg.source_path,
            field="active_layer.calibration",
        )


def apply_unit_factors(alt: xr.DataArray, unit: xr.DataArray, fit: EdaphicFit) -> xr.DataArray:
    """``alt`` [m] times the unit multiplier of each cell's geomorphology unit (1 for unit 255).

    Both arrays on one grid and chunking (as read by ``read_to_grid``); lazy where they are.
    """
    lut = fit.unit_lookup()

    def block(a, u):
        return (a * lut[u]).astype("float32")

    if isinstance(alt.data, dsa.Array):
        data = dsa.map_blocks(block, alt.data, unit.data, dtype="float32")
    else:
        data = block(np.asarray(alt.data), np.asarray(unit.data))
    return alt.copy(data=data)


def soil_table(ctx: BuildContext) -> SoilTable:
    """The config's per-class soil table as lookup arrays by class code."""
    classes = {c.code: c.name for c in ctx.cfg.landcover.classes}
    return SoilTable.from_config(ctx.cfg.active_layer.soils, classes)


def _calibration_boreholes(ctx: BuildContext, label: str, paths: dict[str, Path], table: SoilTable):
    """Natural boreholes in permafrost with a measured ALT and a class with soil parameters."""
    bh = read_table(paths["boreholes"])
    sel = (bh["setting"] == "natural") & (bh["magt_c"] < 0) & np.isfinite(bh["alt_m"]) & (bh["alt_m"] > 0)
    bh = bh[sel].copy()
    bh["class_code"] = borehole_landcover(ctx, bh, label)  # the land cover when each was measured
    known = np.isfinite(bh["class_code"]) & (bh["class_code"] != 255)
    bh = bh[known].copy()
    bh["class_code"] = bh["class_code"].astype(int)
    bh = bh[np.isfinite(table.k_t[bh["class_code"].to_numpy()])].copy()
    if "lst" in paths:
        bh["lst_c"] = sample_points(paths["lst"], bh["row"], bh["col"])
        bh = bh[np.isfinite(bh["lst_c"])].copy()
    if "magt" in paths:
        bh["magt_map_c"] = sample_points(paths["magt"], bh["row"], bh["col"])
    if "geomorphology" in paths:
        u = sample_points(paths["geomorphology"], bh["row"], bh["col"])
        bh["unit_code"] = np.where(np.isfinite(u) & (u != 255), u, np.nan)
    return bh


def _forcing_mean_at(ctx: BuildContext, bh: pd.DataFrame, amplitude: float) -> np.ndarray:
    clim = ctx.cfg.climate
    if clim.thawing_index_source == "lst":
        return bh["lst_c"].to_numpy() - amplitude * mean_over_months_factor(ctx.cfg.composite.months)
    z = bh["elevation_m"].to_numpy(dtype="float64")
    return clim.station_maat_c - clim.lapse_rate_c_per_km * (z - clim.station_elevation_m) / 1000.0


def run_active_layer(ctx: BuildContext, label: str) -> list[Path]:
    """Run the stage for one epoch (see the module docstring)."""
    cfg, al = ctx.cfg, ctx.cfg.active_layer
    paths = _paths(ctx, label)
    amplitude = station_amplitude_c(ctx)
    surface = cfg.climate.thawing_index_source == "lst"
    table = soil_table(ctx)
    kw = dict(amplitude_c=amplitude, surface=surface, latent_heat_j_kg=al.latent_heat_j_kg, method=al.method)

    # --- calibration at the boreholes (small table) ---
    _check_mode(ctx)
    bh = _calibration_boreholes(ctx, label, paths, table)
    if al.calibration != "none" and len(bh) == 0:
        raise InputError(
            "no natural borehole in permafrost (magt_c < 0) with a measured alt_m on a land-cover class "
            "with soil parameters: the edaphic factor cannot be calibrated "
            '(add measured ALT or set active_layer.calibration = "none")',
            path=cfg.inputs.boreholes,
            field="alt_m",
        )
    codes = bh["class_code"].to_numpy(dtype="uint8")
    raw = alt_block(
        codes,
        _forcing_mean_at(ctx, bh, amplitude),
        np.ones(len(bh), dtype="uint8"),
        bh["magt_map_c"].to_numpy() if "magt_map_c" in bh else None,
        params=table.params(),
        **kw,
    ).astype("float64")
    good = np.isfinite(raw) & (raw > 0)
    if (~good).any():
        warnings.warn(
            f"{int((~good).sum())} calibration borehole(s) ({', '.join(bh['id'][~good][:10])}) have no "
            f"modelled ALT ({al.method} undefined there) and are left out of the calibration",
            PfatlasWarning,
            stacklevel=2,
        )
    bh, raw, codes = bh[good], raw[good], codes[good]
    obs = bh["alt_m"].to_numpy(dtype="float64")
    has_units = "geomorphology" in paths
    unit_names = read_class_names(paths["geomorphology"]) if has_units else {}
    units = bh["unit_code"].to_numpy(dtype="float64") if has_units else None
    ukw = dict(units=units, unit_codes=sorted(unit_names))
    fit = fit_edaphic(obs, raw, codes, table.codes(), al.calibration, **ukw)
    # leave-one-out for every mode the inputs allow (the configured one is alt_loo_m): the table
    # on which the choice of mode is made, at the boreholes only
    loo_by_mode = {
        m: loo_predictions(obs, raw, codes, table.codes(), m, **ukw)
        for m in MODES
        if has_units or m not in UNIT_MODES
    }
    loo = loo_by_mode[al.calibration]
    bh_units = units if units is not None else np.full(obs.shape, np.nan)
    cal_table = calibration_table(obs, raw, codes, fit, table.names, units=bh_units, unit_names=unit_names)
    cv = pd.DataFrame(
        {
            "id": bh["id"].to_numpy(),
            "class_code": codes.astype(int),
            "class_name": [table.names[c] for c in codes],
            "unit_code": pd.array([int(u) if np.isfinite(u) else None for u in bh_units], dtype="Int64"),
            "unit_name": [unit_names.get(int(u), "") if np.isfinite(u) else "" for u in bh_units],
            "alt_observed_m": obs,
            "alt_uncalibrated_m": raw,
            "alt_fitted_m": np.array([fit.factor_for(c, u) for c, u in zip(codes, bh_units, strict=True)])
            * raw,
            "alt_loo_m": loo,
            "error_loo_m": loo - obs,
            "rel_error_loo": (loo - obs) / obs,
            **{f"alt_loo_{m}_m": v for m, v in loo_by_mode.items()},
        }
    )

    # --- the map ---
    rd = lambda p, **k: read_to_grid(p, ctx.gbox, resampling="nearest", chunks=ctx.chunk, **k)  # noqa: E731
    lc = rd(paths["landcover"], dtype="uint8", fill=255)
    pf = rd(paths["permafrost"], dtype="uint8", fill=255)
    if surface:
        mean = rd(paths["lst"]) - amplitude * mean_over_months_factor(cfg.composite.months)
    else:
        dem = rd(paths["dem"])
        c = cfg.climate
        mean = c.station_maat_c - c.lapse_rate_c_per_km * (dem - c.station_elevation_m) / 1000.0
    magt = rd(paths["magt"]) if "magt" in paths else None
    alt = active_layer_map(lc, mean, pf, table.with_factors(fit.factors), magt=magt, **kw)
    if al.calibration in UNIT_MODES:
        alt = apply_unit_factors(alt, rd(paths["geomorphology"], dtype="uint8", fill=255), fit)
    out_path = natural_dir(ctx, label) / "alt.tif"
    source = "LST (Landsat) surface" if surface else f"air ({cfg.climate.station_name} + lapse rate)"
    written = write_cogs(
        [
            Layer(
                alt,
                out_path,
                "m",
                f"active-layer thickness, {al.method} with {source} thawing index, edaphic factor "
                f"{al.calibration} (NaN: no permafrost or no soil parameters), epoch {label}",
                tags=ctx.tags,
            )
        ],
        gbox=ctx.gbox,
    )

    # --- report ---
    metrics = _map_metrics(out_path, paths, table)
    val = _validation(ctx, out_path)
    metrics.update(
        {
            "epoch": label,
            "method": al.method,
            "thawing_index_source": cfg.climate.thawing_index_source,
            "calibration": al.calibration,
            "station_amplitude_c": amplitude,
            "edaphic_factor_overall": fit.overall,
            "edaphic_factors": {table.names[c]: f for c, f in fit.factors.items()},
            "edaphic_unit_multipliers": {unit_names[u]: f for u, f in fit.unit_factors.items()},
            "fit": error_stats(cv["alt_fitted_m"], obs),
            "loo_cv": error_stats(loo, obs),
            "loo_cv_by_mode": {m: error_stats(v, obs) for m, v in loo_by_mode.items()},
            "uncalibrated": error_stats(raw, obs),
            "validation_boreholes": val,
        }
    )
    syn = cfg.area.synthetic
    written += [
        write_table(cal_table, ctx.path("tables", f"alt_calibration_{label}.csv"), synthetic=syn),
        write_table(cv, ctx.path("tables", f"alt_cv_{label}.csv"), synthetic=syn),
        write_json(metrics, ctx.path("tables", f"metrics_active_layer_{label}.json")),
    ]
    return written


MM = 1000  # histogram bins per metre of the map percentiles


def _map_metrics(alt_path: Path, paths: dict[str, Path], table: SoilTable) -> dict:
    """Percentiles of the map (to the millimetre, from a histogram read tile by tile), and a warning
    if the model left permafrost cells with a soil blank."""
    has_soil = np.isfinite(table.k_t)
    counts = np.zeros(1, dtype=np.int64)
    holes = 0
    with (
        rasterio.open(alt_path) as al,
        rasterio.open(paths["permafrost"]) as pf,
        rasterio.open(paths["landcover"]) as lc,
    ):
        for _, win in al.block_windows(1):
            alt = al.read(1, window=win)
            finite = np.isfinite(alt)
            expected = (pf.read(1, window=win) == 1) & has_soil[lc.read(1, window=win)]
            holes += int((expected & ~finite).sum())
            mm = np.round(np.clip(alt[finite].astype(np.float64), 0.0, None) * MM).astype(np.int64)
            c = np.bincount(mm)
            if c.size > counts.size:
                counts = np.concatenate([counts, np.zeros(c.size - counts.size, dtype=np.int64)])
            counts[: c.size] += c
    if holes:
        warnings.warn(
            f"{holes} permafrost cell(s) with soil parameters got no ALT (the model is undefined there: "
            f"check the soil table); they are NaN in {alt_path.name}",
            PfatlasWarning,
            stacklevel=3,
        )
    n = int(counts.sum())
    if n:  # the value below which the share q of the cells lie (numpy's "inverted_cdf" percentile)
        cum = np.cumsum(counts)
        pct = [float(np.searchsorted(cum, q / 100.0 * n) / MM) for q in (5, 25, 50, 75, 95)]
    else:
        pct = [float("nan")] * 5
    return {
        "map_cells": n,
        "map_percentiles_m": dict(zip(["p5", "p25", "p50", "p75", "p95"], pct, strict=True)),
        "map_cells_undefined": holes,
    }


def _validation(ctx: BuildContext, alt_path: Path) -> dict:
    """Error of the map at the held-out boreholes (reported only, never fitted)."""
    path = ctx.path("tables", "boreholes_validation.csv")
    if not path.exists():
        return {"n": 0}
    vb = read_table(path)
    vb = vb[(vb["setting"] == "natural") & np.isfinite(vb["alt_m"])]
    if vb.empty:
        return {"n": 0}
    pred = sample_points(alt_path, vb["row"], vb["col"])
    return error_stats(pred, vb["alt_m"].to_numpy(dtype="float64"))


def stages(ctx: BuildContext) -> list[Stage]:
    """One ``active_layer/<epoch>`` stage per epoch."""
    out = []
    for e in ctx.cfg.epochs:
        label = e.label

        def run(c: BuildContext, label=label) -> list[Path]:
            return run_active_layer(c, label)

        def inputs(c: BuildContext, label=label) -> list[Path]:
            return list(dict.fromkeys([*_paths(c, label).values(), *borehole_landcover_inputs(c)[0]]))

        def params(c: BuildContext) -> dict:
            return c.cfg.model_dump(
                mode="json", include={"active_layer", "climate", "landcover", "composite"}
            )

        out.append(
            Stage(
                f"active_layer/{label}",
                run,
                inputs=inputs,
                params=params,
                depends=(
                    "dem",
                    "boreholes",
                    *dict.fromkeys([landcover_stage(ctx, label), *borehole_landcover_inputs(ctx)[1]]),
                    f"magt/{label}",
                )
                + (("geomorphology",) if ctx.cfg.inputs.geomorphology is not None else ()),
                description=f"active-layer thickness ({ctx.cfg.active_layer.method}) {label}",
            )
        )
    return out
