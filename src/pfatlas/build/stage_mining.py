"""Build stage ``mining_impact/<epoch>``: the atlas layers of an epoch with its pits and dumps.

Reads the natural layers (``<epoch>/natural/``: MAGT and its SE, ALT, ground ice), the land cover,
the DEM, the geomorphology units, the mining polygons (or the pit and dump classes of the land cover)
and the borehole tables. For every pit and dump that exists in the epoch (start year <= epoch year)
it runs an axisymmetric heat-conduction model (:mod:`pfatlas.mining.model`) from the start year to
the epoch year under the local natural MAGT and lays the change of MAGT on the map by distance from
the feature's edge (:mod:`pfatlas.mining.apply`). Then, on the changed cells:

- ALT: pit floors and dump tops thaw as their land-cover class of the soil table (Stefan, thawing
  index at the floor's or the top's elevation); pit lakes have no active layer; no ALT where the
  ground is no longer permafrost; outside the footprints the natural ALT times the two-phase
  Neumann ratio for the warmed permafrost (:func:`pfatlas.activelayer.neumann.warming_ratio`);
- ground ice over the 10 m below the new permafrost table: the natural method on the new ALT and
  permafrost, then pits read their unit's profile ``depth`` deeper (the ice above went with the
  overburden); dumps hold waste rock (soil table water content) over the buried profile; none where
  the permafrost is gone.

Writes into ``<epoch>/`` the atlas layers (:data:`pfatlas.build.layout.ATLAS_LAYERS`) and, for an
epoch with features, ``mining_delta_magt.tif`` [degC], ``mining_delta_alt.tif`` [m] and
``mining_zone.tif`` (1 pit, 2 dump, 3 affected ring); tables ``mining_runs_<epoch>.csv`` (one row per
feature) and ``mining_validation_<epoch>.csv`` (boreholes in mined ground), and
``metrics_mining_<epoch>.json``. An epoch without features gets the natural layers (hard links).
"""

from __future__ import annotations

import math
import os
import shutil
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage

from pfatlas.activelayer.neumann import thaw_season_mean_c, warming_ratio
from pfatlas.activelayer.stefan import SoilTable, stefan_depth_m
from pfatlas.activelayer.thawing_index import air_maat_c, air_thawing_index_cdays, cdays_to_cseconds
from pfatlas.build.context import BuildContext
from pfatlas.build.layout import ATLAS_LAYERS, NATURAL, mining_configured, natural_landcover
from pfatlas.build.stage_activelayer import soil_table, station_amplitude_c
from pfatlas.build.stages import Stage
from pfatlas.errors import ConfigError, InputError, PfatlasWarning
from pfatlas.grid import wrap_on_grid
from pfatlas.groundice.profile import ground_ice_block, window_class
from pfatlas.io.cog import ClassInfo, Layer, pam_sidecar, write_cogs
from pfatlas.io.raster import read_array
from pfatlas.io.table_writer import read_table, write_json, write_table
from pfatlas.mining.apply import delta_magt_map, ring_values
from pfatlas.mining.model import FeatureRun, GroundModel, check_run, run_feature
from pfatlas.permafrost import (
    PERMAFROST_CLASSES,
    permafrost_mask_kernel,
    permafrost_probability_kernel,
    stability_class_info,
    stability_codes,
)
from pfatlas.thermal import Material

__all__ = [
    "stages",
    "natural_landcover_stages",
    "run_mining_impact",
    "run_natural_landcover",
    "ground_model",
    "epoch_features",
]

ZONES = (
    ClassInfo(0, "not affected", (235, 235, 235)),
    ClassInfo(1, "open pit", (59, 59, 59)),
    ClassInfo(2, "waste dump", (141, 90, 59)),
    ClassInfo(3, "affected ring", (230, 120, 40)),
)
NEGLIGIBLE_C = 0.005  # [degC] changes below this outside the footprints are set to 0
RING_M = (60.0, 300.0)  # [m] ring outside the footprint whose natural MAGT is the local state
MIN_YEARS = 0.5  # [yr] a feature started in the epoch's year has acted for half a year


def ground_model(ctx: BuildContext) -> GroundModel:
    """The materials and geometry of the feature runs (config ``mining``)."""
    m = ctx.cfg.mining
    ground = Material("ground", m.ground_conductivity, m.ground_conductivity, m.ground_heat_capacity,
                      m.ground_heat_capacity, water_content=m.ground_water_content,
                      unfrozen_water=0.2 * m.ground_water_content, freezing_range=1.0)  # fmt: skip
    waste = Material("waste rock", m.waste_rock_conductivity, m.waste_rock_conductivity,
                     m.waste_rock_heat_capacity, m.waste_rock_heat_capacity,
                     water_content=m.waste_rock_water_content,
                     unfrozen_water=0.2 * m.waste_rock_water_content, freezing_range=1.0)  # fmt: skip
    return GroundModel(ground, waste, heat_flux_w_m2=m.geothermal_heat_flux_w_m2,
                       domain_depth_m=m.domain_depth_m, reach_m=m.reach_m, dt_days=m.dt_days)  # fmt: skip


def _class_code(ctx: BuildContext, name: str) -> int:
    for c in ctx.cfg.landcover.classes:
        if c.name.strip().lower() == name.strip().lower():
            return int(c.code)
    raise ConfigError(f"class '{name}' is not a land-cover class of the config", path=ctx.cfg.source_path,
                      field="mining.pit_class / mining.dump_class")  # fmt: skip


def epoch_features(ctx: BuildContext, label: str, year: int) -> tuple[pd.DataFrame, np.ndarray]:
    """The pits and dumps acting in the epoch and the feature number of every cell (-1 none).

    From the mining polygons when the config names them (a feature that starts after the last epoch
    is refused: it can act in no epoch), else from the land cover's pit and dump classes.
    """
    m = ctx.cfg.mining
    shape = ctx.gbox.shape
    if ctx.cfg.inputs.mining is not None:
        from rasterio.features import rasterize

        from pfatlas.io.vectors import read_mining

        path = ctx.cfg.inputs.mining
        gdf = read_mining(path, ctx.gbox).reset_index(drop=True)
        last = max(e.year for e in ctx.cfg.epochs)
        late = np.flatnonzero(gdf["start_year"].to_numpy() > last)
        if late.size:
            i = int(late[0])
            raise InputError(f"feature '{gdf['name'][i]}' starts in {int(gdf['start_year'][i])}, after the "
                             f"last epoch ({last}): it cannot act in any epoch", path=path, row=i + 1,
                             field="start_year")  # fmt: skip
        feats = gdf[gdf["start_year"] <= year].copy()
        order = sorted(feats.index, key=lambda i: feats.at[i, "kind"] == "pit")  # pits drawn last, win
        index = np.full(shape, -1, dtype=np.int32)
        if len(order):
            index = rasterize([(feats.at[i, "geometry"], int(i)) for i in order], out_shape=shape,
                              transform=ctx.gbox.affine, fill=-1, dtype="int32")  # fmt: skip
        df = pd.DataFrame(feats.drop(columns="geometry"))
    else:
        lc = read_array(ctx.path(label, "landcover.tif"))
        index = np.full(shape, -1, dtype=np.int32)
        rows = []
        for kind, cls in (("dump", m.dump_class), ("pit", m.pit_class)):
            lab, n = ndimage.label(lc == _class_code(ctx, cls))
            for k in range(1, n + 1):
                sel = lab == k
                if sel.sum() < 3:
                    continue
                i = len(rows)
                index[sel] = i
                rows.append({"name": f"{kind} {i + 1} (land cover)", "kind": kind,
                             "start_year": year - m.default_age_years,
                             "depth_m": m.default_pit_depth_m if kind == "pit" else np.nan,
                             "height_m": m.default_dump_height_m if kind == "dump" else np.nan,
                             "pit_lake": False})  # fmt: skip
        df = pd.DataFrame(rows, columns=["name", "kind", "start_year", "depth_m", "height_m", "pit_lake"])
    return df, index


def _runs(ctx, df, index, magt_nat, year) -> tuple[dict, pd.DataFrame]:
    m = ctx.cfg.mining
    model = ground_model(ctx)
    cell = abs(float(ctx.gbox.resolution.x))
    feature_cells = index >= 0
    lapse = ctx.cfg.climate.lapse_rate_c_per_km / 1000.0
    specs, rows = {}, []
    for i, f in df.iterrows():
        mask = index == i
        n = int(mask.sum())
        if n == 0:
            warnings.warn(f"mining feature '{f['name']}' covers no cell of the grid; left out",
                          PfatlasWarning, stacklevel=2)  # fmt: skip
            continue
        ring = ring_values(magt_nat, mask, feature_cells & ~mask, cell, *RING_M)
        if ring.size == 0:
            ring = magt_nat[mask & np.isfinite(magt_nat)]
        if ring.size == 0:
            warnings.warn(f"mining feature '{f['name']}' has no natural MAGT around it; left out",
                          PfatlasWarning, stacklevel=2)  # fmt: skip
            continue
        magt0 = float(np.median(ring))
        pit = f["kind"] == "pit"
        lake = bool(pit and f.get("pit_lake", False))
        if lake:
            surf = m.pit_lake_bottom_c
        elif pit:
            surf = magt0 + m.pit_floor_warming_c
        else:
            surf = magt0 + m.dump_surface_warming_c - lapse * float(f["height_m"])
        run = FeatureRun(kind=str(f["kind"]), radius_m=math.sqrt(n * cell * cell / math.pi),
                         depth_m=float(f["depth_m"]) if pit else 0.0,
                         height_m=0.0 if pit else float(f["height_m"]),
                         years=max(float(year - int(f["start_year"])), MIN_YEARS), magt_c=magt0,
                         new_surface_c=surf)  # fmt: skip
        try:
            check_run(run, model)
        except InputError as exc:
            raise InputError(f"mining feature '{f['name']}': {exc.detail}", path=ctx.cfg.inputs.mining,
                             row=int(i) + 1, field=exc.field) from None  # fmt: skip
        specs[i] = run
        rows.append({"name": f["name"], "kind": f["kind"], "pit_lake": lake, "cells": n,
                     "radius_m": run.radius_m, "depth_m": run.depth_m, "height_m": run.height_m,
                     "years": run.years, "magt_natural_c": magt0, "new_surface_c": surf})  # fmt: skip
    # the runs are independent: one per thread (the sparse solves release the GIL)
    with ThreadPoolExecutor(max_workers=ctx.cfg.compute.workers or os.cpu_count() or 1) as pool:
        changes = dict(zip(specs, pool.map(lambda r: run_feature(r, model), specs.values()), strict=True))
    for row, (i, run) in zip(rows, specs.items(), strict=True):
        ch = changes[i]
        row["delta_magt_centre_c"] = float(ch.delta_magt[0])
        row["delta_magt_30m_outside_c"] = float(np.interp(run.radius_m + 30.0, ch.r, ch.delta_magt))
    return changes, pd.DataFrame(rows)


def _soil_code(ctx: BuildContext, table: SoilTable, name: str) -> int:
    """Code of the land-cover class ``name``, which must have a soil-table row."""
    code = _class_code(ctx, name)
    if not np.isfinite(table.k_t[code]):
        raise ConfigError(f"the soil table has no row for '{name}' (needed for the ALT of mined ground)",
                          path=ctx.cfg.source_path, field="active_layer.soils")  # fmt: skip
    return code


def _stefan_at(ctx: BuildContext, table: SoilTable, code: int, elevation: np.ndarray) -> np.ndarray:
    """Uncalibrated Stefan ALT [m] of soil row ``code`` under the air thawing index at ``elevation``."""
    clim = ctx.cfg.climate
    idx = air_thawing_index_cdays(elevation, station_elevation_m=clim.station_elevation_m,
                                  station_maat_c=clim.station_maat_c,
                                  station_thawing_index_cdays=clim.station_thawing_index_cdays,
                                  lapse_c_per_km=clim.lapse_rate_c_per_km)  # fmt: skip
    return stefan_depth_m(table.k_t[code], table.n_t[code], cdays_to_cseconds(idx),
                          ctx.cfg.active_layer.latent_heat_j_kg, table.rho_d[code], table.w[code],
                          table.w_u[code])  # fmt: skip


def _ring_alt(ctx: BuildContext, label: str, table: SoilTable, dem, alt_nat, magt_nat, delta, sel):
    """ALT [m] of the cells ``sel`` outside the footprints whose permafrost the mines warmed: the
    natural ALT times the two-phase Neumann ratio (:func:`pfatlas.activelayer.neumann.warming_ratio`)
    under the air sinusoid at the cell's elevation and its class's thawing n-factor."""
    lc = read_array(natural_landcover(ctx, label))[sel].astype(np.intp)
    clim = ctx.cfg.climate
    maat = air_maat_c(dem[sel], clim.station_elevation_m, clim.station_maat_c, clim.lapse_rate_c_per_km)
    t_s = table.n_t[lc] * thaw_season_mean_c(maat, station_amplitude_c(ctx))
    ratio = warming_ratio(t_s, magt_nat[sel], delta[sel], table.k_t[lc], table.rho_d[lc], table.w[lc],
                          table.w_u[lc], ctx.cfg.active_layer.latent_heat_j_kg)  # fmt: skip
    return alt_nat[sel] * ratio


def _post_ice(ctx, label, df, index, alt_post, pf_post, table: SoilTable):
    """Ground ice (theta, volume, class) after mining: everywhere the natural method on the new ALT
    and permafrost (a deepened table takes the ice above it; none off permafrost), then the feature
    cells: pits deeper in their unit's profile, dumps waste rock over the buried profile."""
    from pfatlas.build.stage_groundice import unit_ice_profiles

    gi = ctx.cfg.ground_ice
    D = gi.depth_below_table_m
    profiles, _ = unit_ice_profiles(ctx, label)
    unit = read_array(ctx.path("grid", "geomorphology.tif"))
    cell_area = abs(ctx.gbox.resolution.x * ctx.gbox.resolution.y)
    theta, _, cls = ground_ice_block(unit, alt_post, pf_post, profiles=profiles, depth_m=D,
                                     cell_area_m2=cell_area).astype(np.float64)  # fmt: skip
    w = _soil_code(ctx, table, ctx.cfg.mining.dump_class)
    rho_d, w_tot, w_u = float(table.rho_d[w]), float(table.w[w]), float(table.w_u[w])
    theta_w = (w_tot - w_u) * rho_d / gi.rho_ice_kg_m3
    for i, f in df.iterrows():
        sel = (index == i) & (pf_post == 1) & np.isfinite(alt_post)
        for code in np.unique(unit[sel]):
            s = sel & (unit == code)
            prof = profiles.for_code(int(code))
            a = alt_post[s].astype(np.float64)
            if f["kind"] == "pit":
                integ = prof.window_integrals(a + float(f["depth_m"]), D)
            else:
                h = float(f["height_m"])
                hw = np.clip(h - a, 0.0, D)
                integ = prof.window_integrals(np.maximum(a - h, 0.0), D - hw)  # the buried ground
                integ["theta"] = integ["theta"] + hw * theta_w
                integ["rho_d"] = integ["rho_d"] + hw * rho_d
                integ["rho_w"] = integ["rho_w"] + hw * rho_d * w_tot
                integ["soil"][0] = integ["soil"][0] + hw  # waste rock is coarse: gravel rows of GB 50324
            theta[s] = integ["theta"] / D
            cls[s] = window_class(integ)
    volume = np.where(pf_post == 1, theta * D * cell_area, 0.0)
    return theta.astype(np.float32), volume.astype(np.float32), cls.astype(np.uint8)


def _link_natural(ctx: BuildContext, label: str) -> list[Path]:
    out = []
    for name in ATLAS_LAYERS:
        src, dst = ctx.path(label, NATURAL, f"{name}.tif"), ctx.path(label, f"{name}.tif")
        if not src.is_file():
            continue
        pam_sidecar(dst).unlink(missing_ok=True)  # a stale one must not outlive its raster
        for s, d in ((src, dst), (pam_sidecar(src), pam_sidecar(dst))):
            if not s.is_file():
                continue
            tmp = d.with_name(f".{d.name}.tmp")
            tmp.unlink(missing_ok=True)
            try:
                os.link(s, tmp)
            except OSError:
                shutil.copyfile(s, tmp)
            os.replace(tmp, d)
        out.append(dst)
    for stale in ("mining_delta_magt", "mining_delta_alt", "mining_zone"):
        ctx.path(label, f"{stale}.tif").unlink(missing_ok=True)
        pam_sidecar(ctx.path(label, f"{stale}.tif")).unlink(missing_ok=True)
    return out


def run_mining_impact(ctx: BuildContext, label: str) -> list[Path]:
    """Run the stage for one epoch (see the module docstring)."""
    year = next(e.year for e in ctx.cfg.epochs if e.label == label)
    nat_dir = ctx.path(label, NATURAL)
    df, index = epoch_features(ctx, label, year)
    if df.empty or not (index >= 0).any():
        return _link_natural(ctx, label)
    nat = {k: read_array(nat_dir / f"{k}.tif") for k in ("magt", "magt_se", "alt")}
    magt_nat = nat["magt"].astype(np.float64)
    changes, runs = _runs(ctx, df, index, magt_nat, year)
    cell = abs(float(ctx.gbox.resolution.x))
    delta = delta_magt_map(index, changes, cell, ctx.cfg.mining.reach_m)
    infeat = index >= 0
    delta[~infeat & (np.abs(delta) < NEGLIGIBLE_C)] = 0.0
    magt = np.where(np.isfinite(magt_nat), magt_nat + delta, np.nan)
    pf = permafrost_mask_kernel(magt)
    prob = permafrost_probability_kernel(magt, nat["magt_se"])
    stab = stability_codes(magt, ctx.cfg.thermal_stability.breaks)

    dem = read_array(ctx.path("grid", "dem.tif")).astype(np.float64)
    alt_nat = nat["alt"].astype(np.float64)
    alt = alt_nat.copy()
    table = soil_table(ctx)
    m = ctx.cfg.mining
    pit_code, dump_code = _soil_code(ctx, table, m.pit_class), _soil_code(ctx, table, m.dump_class)
    for i, f in df.iterrows():
        sel = index == i
        if not sel.any() or i not in changes:
            continue
        if f["kind"] == "pit" and bool(f.get("pit_lake", False)):
            alt[sel] = np.nan
        elif f["kind"] == "pit":
            alt[sel] = _stefan_at(ctx, table, pit_code, dem[sel] - float(f["depth_m"]))
        else:
            alt[sel] = _stefan_at(ctx, table, dump_code, dem[sel] + float(f["height_m"]))
    ring = ~infeat & (delta != 0) & np.isfinite(alt_nat)
    alt[ring] = _ring_alt(ctx, label, table, dem, alt_nat, magt_nat, delta, ring)
    alt[pf != 1] = np.nan
    theta, volume, icls = _post_ice(ctx, label, df, index, alt, pf, table)
    zone = np.zeros(index.shape, dtype=np.uint8)
    zone[~infeat & (np.abs(delta) > m.affected_threshold_c)] = 3
    kinds = np.array([1 if k == "pit" else 2 for k in df["kind"]], dtype=np.uint8)
    zone[infeat] = kinds[index[infeat]]
    with np.errstate(invalid="ignore"):
        d_alt = alt - alt_nat

    g = ctx.gbox
    wrap = lambda a, name, units: wrap_on_grid(a, g, name, units=units, long_name=name)  # noqa: E731
    how = f"natural layer + axisymmetric heat-conduction runs of the pits and dumps (epoch {label})"
    layers = [
        Layer(wrap(magt.astype(np.float32), "magt", "degC"), ctx.path(label, "magt.tif"), "degC",
              f"mean annual ground temperature at the depth of zero annual amplitude, {how}"),
        Layer(wrap(nat["magt_se"], "magt_se", "degC"), ctx.path(label, "magt_se.tif"), "degC",
              f"standard error of the natural MAGT (epoch {label})"),
        Layer(wrap(pf, "permafrost", "class"), ctx.path(label, "permafrost.tif"), "class",
              f"permafrost where MAGT < 0 degC, {how}", classes=list(PERMAFROST_CLASSES)),
        Layer(wrap(prob, "permafrost_probability", "1"), ctx.path(label, "permafrost_probability.tif"), "1",
              f"P(MAGT < 0), {how}"),
        Layer(wrap(stab, "thermal_stability", "class"), ctx.path(label, "thermal_stability.tif"), "class",
              f"thermal stability (Cheng 1984), {how}", classes=stability_class_info()),
        Layer(wrap(alt.astype(np.float32), "alt", "m"), ctx.path(label, "alt.tif"), "m",
              f"active-layer thickness, Stefan, mined ground at its new surface, {how}"),
        Layer(wrap(theta, "ground_ice", "m3 m-3"), ctx.path(label, "ground_ice.tif"), "m3 m-3",
              f"mean volumetric ice content, ALT to ALT + {ctx.cfg.ground_ice.depth_below_table_m:g} m, {how}"),
        Layer(wrap(volume, "ice_volume", "m3"), ctx.path(label, "ice_volume.tif"), "m3",
              f"ground-ice volume per cell, {how}"),
        Layer(wrap(icls, "ice_class", "class"), ctx.path(label, "ice_class.tif"), "class",
              f"ice-content class after GB 50324-2014, {how}",
              classes=_ice_classes()),
        Layer(wrap((magt - magt_nat).astype(np.float32), "mining_delta_magt", "degC"),
              ctx.path(label, "mining_delta_magt.tif"), "degC", f"MAGT change by mining, {how}"),
        Layer(wrap(d_alt.astype(np.float32), "mining_delta_alt", "m"), ctx.path(label, "mining_delta_alt.tif"),
              "m", f"ALT change by mining (NaN where ALT is undefined before or after), {how}"),
        Layer(wrap(zone, "mining_zone", "class"), ctx.path(label, "mining_zone.tif"), "class",
              f"mining zone: pit, dump, ring where |delta MAGT| > {m.affected_threshold_c:g} degC (epoch {label})",
              classes=list(ZONES)),
    ]  # fmt: skip
    layers = [
        Layer(ly.data, ly.path, ly.units, ly.description, classes=ly.classes, tags=ctx.tags) for ly in layers
    ]
    written = write_cogs(layers, gbox=g)
    syn = ctx.cfg.area.synthetic
    written.append(write_table(runs, ctx.path("tables", f"mining_runs_{label}.csv"), synthetic=syn))
    val, metrics = _validation(ctx, label, year, magt, alt, magt_nat, nat["alt"])
    written.append(write_table(val, ctx.path("tables", f"mining_validation_{label}.csv"), synthetic=syn))
    cell_km2 = cell * cell / 1e6
    metrics.update({
        "epoch": label, "synthetic": syn, "features": int(len(runs)),
        "pit_km2": float((zone == 1).sum() * cell_km2), "dump_km2": float((zone == 2).sum() * cell_km2),
        "ring_km2": float((zone == 3).sum() * cell_km2),
        "permafrost_lost_km2": float(((pf != 1) & (np.nan_to_num(magt_nat, nan=1.0) < 0)).sum() * cell_km2),
    })  # fmt: skip
    written.append(write_json(metrics, ctx.path("tables", f"metrics_mining_{label}.json")))
    return written


def _ice_classes():
    from pfatlas.groundice.classes import ice_class_infos

    return ice_class_infos()


def _validation(ctx, label, year, magt, alt, magt_nat, alt_nat) -> tuple[pd.DataFrame, dict]:
    """Observed vs simulated at the boreholes in mined ground of the epoch's year."""
    frames = []
    for name in ("boreholes.csv", "boreholes_validation.csv"):
        p = ctx.path("tables", name)
        if p.is_file():
            frames.append(read_table(p))
    cols = ["id", "setting", "year", "magt_obs_c", "magt_sim_c", "magt_natural_c", "magt_error_c",
            "magt_rel_error_of_change", "alt_obs_m", "alt_sim_m", "alt_rel_error"]  # fmt: skip
    if not frames:
        return pd.DataFrame(columns=cols), {"validation_n": 0}
    bh = pd.concat(frames, ignore_index=True)
    bh = bh[(bh["setting"] != "natural") & (bh["year"] == year)]
    r, c = bh["row"].to_numpy(int), bh["col"].to_numpy(int)
    sim, natv, asim = magt[r, c], magt_nat[r, c], alt[r, c]
    obs = bh["magt_c"].to_numpy(float)
    aobs = bh["alt_m"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.abs(sim - obs) / np.abs(obs - natv)
        arel = np.abs(asim - aobs) / aobs
    df = pd.DataFrame({"id": bh["id"].to_numpy(), "setting": bh["setting"].to_numpy(), "year": year,
                       "magt_obs_c": obs, "magt_sim_c": sim, "magt_natural_c": natv,
                       "magt_error_c": sim - obs, "magt_rel_error_of_change": rel, "alt_obs_m": aobs,
                       "alt_sim_m": asim, "alt_rel_error": arel})  # fmt: skip
    ok = np.isfinite(sim - obs)
    aok = np.isfinite(arel)
    return df, {
        "validation_n": int(ok.sum()),
        "validation_magt_rmse_c": float(np.sqrt(np.mean((sim - obs)[ok] ** 2))) if ok.any() else None,
        "validation_magt_bias_c": float(np.mean((sim - obs)[ok])) if ok.any() else None,
        "validation_alt_n": int(aok.sum()),
        "validation_alt_median_rel_error": float(np.median(arel[aok])) if aok.any() else None,
    }


def _inputs(ctx: BuildContext, label: str) -> list[Path]:
    nat = ctx.path(label, NATURAL)
    files = [nat / f"{k}.tif" for k in ("magt", "magt_se", "alt", "permafrost", "landcover")]
    files += [ctx.path(label, "landcover.tif"), ctx.path("grid", "dem.tif"), ctx.path("grid", "geomorphology.tif"),
              ctx.path("tables", "boreholes.csv"), ctx.path("tables", "borehole_logs.csv")]  # fmt: skip
    if ctx.cfg.inputs.mining is not None:
        files.append(Path(ctx.cfg.inputs.mining))
    return files


def stages(ctx: BuildContext) -> list[Stage]:
    """One ``mining_impact/<epoch>`` stage per epoch when mining is configured."""
    if not mining_configured(ctx.cfg):
        return []
    out = []
    for e in ctx.cfg.epochs:
        label = e.label
        deps = [f"ground_ice/{label}", f"active_layer/{label}", f"magt/{label}", f"landcover/{label}"]
        if ctx.cfg.inputs.mining is not None:
            deps.append("mining")
        out.append(Stage(
            f"mining_impact/{label}",
            lambda c, label=label: run_mining_impact(c, label),
            inputs=lambda c, label=label: [p for p in _inputs(c, label) if p.is_file()],
            params=lambda c: c.cfg.model_dump(mode="json", include={"mining", "active_layer", "climate",
                                                                    "ground_ice", "thermal_stability", "epochs"}),
            depends=tuple(deps),
            description=f"mining impact {label}",
        ))  # fmt: skip
    return out


def _mined_cells(ctx: BuildContext, label: str, lc: np.ndarray) -> np.ndarray:
    """Cells of epoch ``label`` that are mined: inside its acting features or of a pit/dump class."""
    year = next(e.year for e in ctx.cfg.epochs if e.label == label)
    _, index = epoch_features(ctx, label, year)
    codes = {c.name.strip().lower(): c.code for c in ctx.cfg.landcover.classes}
    mined = index >= 0
    for name in (ctx.cfg.mining.pit_class, ctx.cfg.mining.dump_class):
        if name.strip().lower() in codes:
            mined |= lc == codes[name.strip().lower()]
    return mined & (lc != 255)


def _earlier_epochs(ctx: BuildContext, label: str) -> list[str]:
    """The epochs before ``label``, the most recent first."""
    year = next(e.year for e in ctx.cfg.epochs if e.label == label)
    return [e.label for e in sorted(ctx.cfg.epochs, key=lambda e: -e.year) if e.year < year]


def run_natural_landcover(ctx: BuildContext, label: str) -> list[Path]:
    """The epoch's land cover without its mines.

    A mined cell (inside a feature acting in the epoch, or of the pit or dump class) takes the class
    it had in the most recent earlier epoch where it was not mined -- the ground as last seen before
    mining -- and otherwise the class of the nearest unmined cell of this epoch.
    """
    from pfatlas.io.raster import read_class_names as names_of

    src = ctx.path(label, "landcover.tif")
    lc = read_array(src)
    mined = _mined_cells(ctx, label, lc)
    out = lc.copy()
    todo = mined.copy()
    seen = 0
    for earlier in _earlier_epochs(ctx, label):
        if not todo.any():
            break
        lc_e = read_array(ctx.path(earlier, "landcover.tif"))
        ok = todo & (lc_e != 255) & ~_mined_cells(ctx, earlier, lc_e)
        out[ok] = lc_e[ok]
        todo &= ~ok
        seen += int(ok.sum())
    if todo.any() and not mined.all():
        near = ndimage.distance_transform_edt(
            mined | (lc == 255), return_distances=False, return_indices=True
        )
        out[todo] = lc[near[0][todo], near[1][todo]]
    names = names_of(src)
    info = [ClassInfo(c.code, c.name, c.rgb) for c in ctx.cfg.landcover.classes if c.code in names]
    how = (
        f"land cover without the mines, epoch {label}: mined cells as in the last earlier epoch "
        f"before mining ({seen} cells), else the nearest unmined class ({int(todo.sum())} cells)"
    )
    da = wrap_on_grid(out, ctx.gbox, "landcover", units="class", long_name="landcover")
    return write_cogs([Layer(da, natural_landcover(ctx, label), "class", how, classes=info, tags=ctx.tags)],
                      gbox=ctx.gbox)  # fmt: skip


def natural_landcover_stages(ctx: BuildContext) -> list[Stage]:
    """One ``natural_landcover/<epoch>`` stage per epoch when mining is configured."""
    if not mining_configured(ctx.cfg):
        return []
    deps = ("mining",) if ctx.cfg.inputs.mining is not None else ()
    return [
        Stage(
            f"natural_landcover/{e.label}",
            lambda c, label=e.label: run_natural_landcover(c, label),
            inputs=lambda c, label=e.label: [p for p in (c.path(label, "landcover.tif"),
                                                         *(c.path(x, "landcover.tif") for x in _earlier_epochs(c, label)),
                                                         Path(c.cfg.inputs.mining or "")) if p.is_file()],
            params=lambda c: c.cfg.model_dump(mode="json", include={"mining", "epochs"}),
            depends=(f"landcover/{e.label}", *(f"landcover/{x}" for x in _earlier_epochs(ctx, e.label)), *deps),
            description=f"land cover without mines {e.label}",
        )
        for e in ctx.cfg.epochs
    ]  # fmt: skip
