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

Memory is bounded by the chunk: features are held as footprints (:mod:`pfatlas.mining.footprints`),
the runs read only the windows around their features, and the layers are computed by one dask task
per chunk (:func:`_apply_block`) that paints the footprints and the changes into its own window.
The stage ``natural_landcover/<epoch>`` (:func:`run_natural_landcover`) works chunk by chunk too.
"""

from __future__ import annotations

import math
import os
import shutil
import uuid
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import dask
import dask.array as dsa
import numpy as np
import pandas as pd
import rasterio
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
from pfatlas.groundice.profile import ProfileSet, ground_ice_block, window_class
from pfatlas.io.cog import ClassInfo, Layer, pam_sidecar, write_cogs
from pfatlas.io.raster import chunk_sizes, class_counts, read_to_grid, read_window, sample_points
from pfatlas.io.table_writer import read_table, write_json, write_table
from pfatlas.mining.apply import delta_magt_block, ring_values
from pfatlas.mining.footprints import Footprint, class_polygons, footprints_from_polygons, paint_index
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
    "EpochFeatures",
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
NEAREST_M = 5000.0  # [m] how far a mined cell looks for the nearest unmined class (natural land cover)


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


@dataclass(frozen=True)
class EpochFeatures:
    """The pits and dumps acting in an epoch: their table (index = feature number; name, kind,
    start_year, depth_m, height_m, pit_lake) and their footprints on the grid, by number."""

    table: pd.DataFrame
    footprints: tuple[Footprint, ...]

    def index(self, rows: slice, cols: slice) -> np.ndarray:
        """Feature number of every cell of the grid window ``rows, cols`` (-1 none)."""
        return paint_index(self.footprints, rows, cols)

    @property
    def empty(self) -> bool:
        return not any(fp.cells for fp in self.footprints)


def epoch_features(ctx: BuildContext, label: str, year: int) -> EpochFeatures:
    """The pits and dumps acting in the epoch (start year <= epoch year) and their footprints.

    From the mining polygons when the config names them (a feature that starts after the last epoch
    is refused: it can act in no epoch; where polygons overlap, pits win), else from the 4-connected
    patches of at least 3 cells of the land cover's pit and dump classes (read chunk by chunk).
    """
    m = ctx.cfg.mining
    if ctx.cfg.inputs.mining is not None:
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
        fps = footprints_from_polygons([feats.at[i, "geometry"] for i in order], order, ctx.gbox)
        return EpochFeatures(pd.DataFrame(feats.drop(columns="geometry")),
                             tuple(sorted(fps, key=lambda fp: fp.number)))  # fmt: skip
    src = ctx.path(label, "landcover.tif")
    rows, fps = [], []
    for kind, cls in (("dump", m.dump_class), ("pit", m.pit_class)):
        polys = class_polygons(src, _class_code(ctx, cls), ctx.chunk)
        found = footprints_from_polygons(polys, range(len(polys)), ctx.gbox)
        for fp in sorted((f for f in found if f.cells >= 3), key=lambda f: f.first_cell):  # raster order
            i = len(rows)
            fps.append(Footprint(i, fp.row0, fp.col0, fp.mask))
            rows.append({"name": f"{kind} {i + 1} (land cover)", "kind": kind,
                         "start_year": year - m.default_age_years,
                         "depth_m": m.default_pit_depth_m if kind == "pit" else np.nan,
                         "height_m": m.default_dump_height_m if kind == "dump" else np.nan,
                         "pit_lake": False})  # fmt: skip
    df = pd.DataFrame(rows, columns=["name", "kind", "start_year", "depth_m", "height_m", "pit_lake"])
    return EpochFeatures(df, tuple(fps))


def _ring_magt(magt_path: Path, feats: EpochFeatures, fp: Footprint, shape, cell: float) -> np.ndarray:
    """Natural MAGT [degC] of the ring around feature ``fp`` (its own cells if the ring has none)."""
    rows, cols = fp.window(int(np.ceil(RING_M[1] / cell)) + 1, shape)
    values = read_window(magt_path, rows, cols)
    mask = fp.mask_in(rows, cols)
    ring = ring_values(values, mask, (feats.index(rows, cols) >= 0) & ~mask, cell, *RING_M)
    return ring if ring.size else values[mask & np.isfinite(values)]


def _runs(ctx, feats: EpochFeatures, magt_path: Path, year) -> tuple[dict, pd.DataFrame]:
    m = ctx.cfg.mining
    model = ground_model(ctx)
    cell = abs(float(ctx.gbox.resolution.x))
    lapse = ctx.cfg.climate.lapse_rate_c_per_km / 1000.0
    specs, rows = {}, []
    for fp in feats.footprints:
        i, n = fp.number, fp.cells
        f = feats.table.loc[i]
        if n == 0:
            warnings.warn(f"mining feature '{f['name']}' covers no cell of the grid; left out",
                          PfatlasWarning, stacklevel=2)  # fmt: skip
            continue
        ring = _ring_magt(magt_path, feats, fp, ctx.gbox.shape, cell)
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


@dataclass(frozen=True)
class _Apply:
    """Everything a chunk of the mining stage needs besides its rasters (small; travels to workers)."""

    footprints: tuple[Footprint, ...]
    features: dict  # feature number -> {kind, pit_lake, depth_m, height_m}
    changes: dict  # feature number -> RadialChange
    shape: tuple[int, int]
    cell: float
    reach_m: float
    affected_c: float
    breaks: tuple[float, ...]
    table: SoilTable
    pit_code: int
    dump_code: int
    latent_heat: float
    station: tuple[float, float, float, float | None]  # elevation, MAAT, lapse [degC/km], thawing index
    amplitude_c: float
    profiles: ProfileSet
    depth_m: float
    rho_ice: float

    def stefan_at(self, code: int, elevation: np.ndarray) -> np.ndarray:
        """Uncalibrated Stefan ALT [m] of soil row ``code`` under the air thawing index at ``elevation``."""
        z0, maat, lapse, ti = self.station
        idx = air_thawing_index_cdays(elevation, station_elevation_m=z0, station_maat_c=maat,
                                      station_thawing_index_cdays=ti, lapse_c_per_km=lapse)  # fmt: skip
        t = self.table
        return stefan_depth_m(t.k_t[code], t.n_t[code], cdays_to_cseconds(idx), self.latent_heat,
                              t.rho_d[code], t.w[code], t.w_u[code])  # fmt: skip

    def ring_alt(self, lc, dem, alt_nat, magt_nat, delta) -> np.ndarray:
        """ALT [m] of cells outside the footprints whose permafrost the mines warmed: the natural
        ALT times the two-phase Neumann ratio (:func:`pfatlas.activelayer.neumann.warming_ratio`)
        under the air sinusoid at the cell's elevation and its class's thawing n-factor."""
        t, lc = self.table, lc.astype(np.intp)
        z0, maat0, lapse, _ = self.station
        maat = air_maat_c(dem, z0, maat0, lapse)
        t_s = t.n_t[lc] * thaw_season_mean_c(maat, self.amplitude_c)
        ratio = warming_ratio(
            t_s, magt_nat, delta, t.k_t[lc], t.rho_d[lc], t.w[lc], t.w_u[lc], self.latent_heat
        )
        return alt_nat * ratio

    def ice(self, unit, index, alt, pf, cell_area) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Ground ice (theta, volume, class) after mining: everywhere the natural method on the new
        ALT and permafrost (a deepened table takes the ice above it; none off permafrost), then the
        feature cells: pits deeper in their unit's profile, dumps waste rock over the buried profile."""
        D = self.depth_m
        theta, _, cls = ground_ice_block(unit, alt, pf, profiles=self.profiles, depth_m=D,
                                         cell_area_m2=cell_area).astype(np.float64)  # fmt: skip
        t, w = self.table, self.dump_code
        rho_d, w_tot, w_u = float(t.rho_d[w]), float(t.w[w]), float(t.w_u[w])
        theta_w = (w_tot - w_u) * rho_d / self.rho_ice
        for i in np.unique(index[(index >= 0) & (pf == 1) & np.isfinite(alt)]):
            f = self.features[i]
            sel = (index == i) & (pf == 1) & np.isfinite(alt)
            for code in np.unique(unit[sel]):
                s = sel & (unit == code)
                prof = self.profiles.for_code(int(code))
                a = alt[s].astype(np.float64)
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
        volume = np.where(pf == 1, theta * D * cell_area, 0.0)
        return theta, volume, cls


#: the layers of the per-chunk stack of :func:`_apply_block`, in order
_STACK = ("magt", "permafrost", "permafrost_probability", "thermal_stability", "alt", "ground_ice",
          "ice_volume", "ice_class", "mining_delta_magt", "mining_delta_alt", "mining_zone")  # fmt: skip


def _apply_block(magt_nat, magt_se, alt_nat, dem, lc, unit, spec: _Apply, block_info=None) -> np.ndarray:
    """The post-mining layers of one chunk (stacked as :data:`_STACK`, float32)."""
    _, (r0, r1), (c0, c1) = block_info[None]["array-location"]
    rows, cols = slice(r0, r1), slice(c0, c1)
    magt_nat = magt_nat.astype(np.float64)
    alt_nat = alt_nat.astype(np.float64)
    dem = dem.astype(np.float64)
    index = paint_index(spec.footprints, rows, cols)
    delta = delta_magt_block(spec.footprints, spec.changes, rows, cols, spec.shape, spec.cell, spec.reach_m)
    infeat = index >= 0
    delta[~infeat & (np.abs(delta) < NEGLIGIBLE_C)] = 0.0
    magt = np.where(np.isfinite(magt_nat), magt_nat + delta, np.nan)
    pf = permafrost_mask_kernel(magt)
    prob = permafrost_probability_kernel(magt, magt_se)
    stab = stability_codes(magt, spec.breaks)
    alt = alt_nat.copy()
    for i in np.unique(index[infeat]):
        sel = index == i
        f = spec.features[i]
        if i not in spec.changes:
            continue
        if f["kind"] == "pit" and f["pit_lake"]:
            alt[sel] = np.nan
        elif f["kind"] == "pit":
            alt[sel] = spec.stefan_at(spec.pit_code, dem[sel] - float(f["depth_m"]))
        else:
            alt[sel] = spec.stefan_at(spec.dump_code, dem[sel] + float(f["height_m"]))
    ring = ~infeat & (delta != 0) & np.isfinite(alt_nat)
    if ring.any():
        alt[ring] = spec.ring_alt(lc[ring], dem[ring], alt_nat[ring], magt_nat[ring], delta[ring])
    alt[pf != 1] = np.nan
    theta, volume, icls = spec.ice(unit, index, alt, pf, spec.cell * spec.cell)
    zone = np.zeros(index.shape, dtype=np.uint8)
    zone[~infeat & (np.abs(delta) > spec.affected_c)] = 3
    for i in np.unique(index[infeat]):
        zone[index == i] = 1 if spec.features[i]["kind"] == "pit" else 2
    with np.errstate(invalid="ignore"):
        d_alt = alt - alt_nat
    layers = (magt, pf, prob, stab, alt, theta, volume, icls, magt - magt_nat, d_alt, zone)
    return np.stack([np.asarray(a).astype(np.float32) for a in layers])


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
    from pfatlas.build.stage_groundice import unit_ice_profiles

    year = next(e.year for e in ctx.cfg.epochs if e.label == label)
    nat_dir = ctx.path(label, NATURAL)
    feats = epoch_features(ctx, label, year)
    if feats.empty:
        return _link_natural(ctx, label)
    changes, runs = _runs(ctx, feats, nat_dir / "magt.tif", year)
    m, clim = ctx.cfg.mining, ctx.cfg.climate
    table = soil_table(ctx)
    cell = abs(float(ctx.gbox.resolution.x))
    spec = _Apply(
        footprints=feats.footprints,
        features={int(i): {"kind": str(f["kind"]), "pit_lake": bool(f["kind"] == "pit" and f.get("pit_lake", False)),
                           "depth_m": f["depth_m"], "height_m": f["height_m"]}
                  for i, f in feats.table.iterrows()},
        changes=changes, shape=tuple(ctx.gbox.shape), cell=cell, reach_m=m.reach_m,
        affected_c=m.affected_threshold_c, breaks=tuple(ctx.cfg.thermal_stability.breaks), table=table,
        pit_code=_soil_code(ctx, table, m.pit_class), dump_code=_soil_code(ctx, table, m.dump_class),
        latent_heat=ctx.cfg.active_layer.latent_heat_j_kg,
        station=(clim.station_elevation_m, clim.station_maat_c, clim.lapse_rate_c_per_km,
                 clim.station_thawing_index_cdays),
        amplitude_c=station_amplitude_c(ctx), profiles=unit_ice_profiles(ctx, label)[0],
        depth_m=ctx.cfg.ground_ice.depth_below_table_m, rho_ice=ctx.cfg.ground_ice.rho_ice_kg_m3,
    )  # fmt: skip
    rd = lambda p, **k: read_to_grid(p, ctx.gbox, resampling="nearest", chunks=ctx.chunk, **k)  # noqa: E731
    grids = [rd(nat_dir / "magt.tif"), rd(nat_dir / "magt_se.tif"), rd(nat_dir / "alt.tif"),
             rd(ctx.path("grid", "dem.tif")), rd(natural_landcover(ctx, label), dtype="uint8", fill=255),
             rd(ctx.path("grid", "geomorphology.tif"), dtype="uint8", fill=255)]  # fmt: skip
    data = [g.data for g in grids]
    stack = dsa.map_blocks(
        _apply_block,
        *data,
        spec=dask.delayed(spec, pure=True),  # one key: a cluster ships it to each worker once
        dtype="float32",
        new_axis=0,
        chunks=((len(_STACK),), *data[0].chunks),
        name=f"mining-impact-{label}-{uuid.uuid4().hex}",
    )
    lay = {k: stack[n] for n, k in enumerate(_STACK)}
    g = ctx.gbox
    how = f"natural layer + axisymmetric heat-conduction runs of the pits and dumps (epoch {label})"

    def layer(name, data, units, description, classes=None):
        da = wrap_on_grid(
            data if classes is None else data.astype("uint8"), g, name, units=units, long_name=name
        )
        return Layer(da, ctx.path(label, f"{name}.tif"), units, description, classes=classes, tags=ctx.tags)

    layers = [
        layer("magt", lay["magt"], "degC",
              f"mean annual ground temperature at the depth of zero annual amplitude, {how}"),
        layer("magt_se", data[1], "degC", f"standard error of the natural MAGT (epoch {label})"),
        layer("permafrost", lay["permafrost"], "class", f"permafrost where MAGT < 0 degC, {how}",
              list(PERMAFROST_CLASSES)),
        layer("permafrost_probability", lay["permafrost_probability"], "1", f"P(MAGT < 0), {how}"),
        layer("thermal_stability", lay["thermal_stability"], "class", f"thermal stability (Cheng 1984), {how}",
              stability_class_info()),
        layer("alt", lay["alt"], "m", f"active-layer thickness, Stefan, mined ground at its new surface, {how}"),
        layer("ground_ice", lay["ground_ice"], "m3 m-3",
              f"mean volumetric ice content, ALT to ALT + {ctx.cfg.ground_ice.depth_below_table_m:g} m, {how}"),
        layer("ice_volume", lay["ice_volume"], "m3", f"ground-ice volume per cell, {how}"),
        layer("ice_class", lay["ice_class"], "class", f"ice-content class after GB 50324-2014, {how}",
              _ice_classes()),
        layer("mining_delta_magt", lay["mining_delta_magt"], "degC", f"MAGT change by mining, {how}"),
        layer("mining_delta_alt", lay["mining_delta_alt"], "m",
              f"ALT change by mining (NaN where ALT is undefined before or after), {how}"),
        layer("mining_zone", lay["mining_zone"], "class",
              f"mining zone: pit, dump, ring where |delta MAGT| > {m.affected_threshold_c:g} degC (epoch {label})",
              list(ZONES)),
    ]  # fmt: skip
    written = write_cogs(layers, gbox=g)
    syn = ctx.cfg.area.synthetic
    written.append(write_table(runs, ctx.path("tables", f"mining_runs_{label}.csv"), synthetic=syn))
    val, metrics = _validation(ctx, label, year)
    written.append(write_table(val, ctx.path("tables", f"mining_validation_{label}.csv"), synthetic=syn))
    cell_km2 = cell * cell / 1e6
    zones = class_counts(ctx.path(label, "mining_zone.tif"))
    metrics.update({
        "epoch": label, "synthetic": syn, "features": int(len(runs)),
        "pit_km2": zones.get(1, 0) * cell_km2, "dump_km2": zones.get(2, 0) * cell_km2,
        "ring_km2": zones.get(3, 0) * cell_km2,
        "permafrost_lost_km2": _permafrost_lost(ctx.path(label, "permafrost.tif"), nat_dir / "magt.tif") * cell_km2,
    })  # fmt: skip
    written.append(write_json(metrics, ctx.path("tables", f"metrics_mining_{label}.json")))
    return written


def _permafrost_lost(permafrost: Path, magt_natural: Path) -> int:
    """Cells with natural MAGT < 0 that are no longer permafrost, counted tile by tile."""
    n = 0
    with rasterio.open(permafrost) as pf, rasterio.open(magt_natural) as mg:
        for _, win in pf.block_windows(1):
            nat = mg.read(1, window=win)
            n += int(((pf.read(1, window=win) != 1) & (np.nan_to_num(nat, nan=1.0) < 0)).sum())
    return n


def _ice_classes():
    from pfatlas.groundice.classes import ice_class_infos

    return ice_class_infos()


def _validation(ctx, label, year) -> tuple[pd.DataFrame, dict]:
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
    at = lambda *p: sample_points(ctx.path(*p), r, c)  # noqa: E731
    sim, natv, asim = at(label, "magt.tif"), at(label, NATURAL, "magt.tif"), at(label, "alt.tif")
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


def _mined_codes(ctx: BuildContext) -> list[int]:
    """Codes of the pit and dump classes that the config's land cover has."""
    codes = {c.name.strip().lower(): c.code for c in ctx.cfg.landcover.classes}
    names = (ctx.cfg.mining.pit_class, ctx.cfg.mining.dump_class)
    return [codes[n.strip().lower()] for n in names if n.strip().lower() in codes]


def _earlier_epochs(ctx: BuildContext, label: str) -> list[str]:
    """The epochs before ``label``, the most recent first."""
    year = next(e.year for e in ctx.cfg.epochs if e.label == label)
    return [e.label for e in sorted(ctx.cfg.epochs, key=lambda e: -e.year) if e.year < year]


def _natural_block(epochs, codes, shape, halo, block_info=None) -> np.ndarray:
    """Natural land cover of one chunk; ``epochs`` = [(land-cover path, footprints)], this epoch
    first, then the earlier ones, most recent first. The nearest unmined cell is looked for within
    ``halo`` cells of the chunk; a cell with none that near keeps its class."""
    (r0, r1), (c0, c1) = block_info[None]["array-location"]
    rows, cols = (
        slice(max(r0 - halo, 0), min(r1 + halo, shape[0])),
        slice(max(c0 - halo, 0), min(c1 + halo, shape[1])),
    )
    core = (slice(r0 - rows.start, r1 - rows.start), slice(c0 - cols.start, c1 - cols.start))

    def mined_of(path, fps, rs, cs):
        lc = read_window(path, rs, cs, dtype="uint8")
        return lc, ((paint_index(fps, rs, cs) >= 0) | np.isin(lc, codes)) & (lc != 255)

    lc, mined = mined_of(*epochs[0], rows, cols)
    out = lc[core].copy()
    todo = mined[core].copy()
    for path, fps in epochs[1:]:
        if not todo.any():
            break
        lc_e, mined_e = mined_of(path, fps, slice(r0, r1), slice(c0, c1))
        ok = todo & (lc_e != 255) & ~mined_e
        out[ok] = lc_e[ok]
        todo &= ~ok
    if todo.any():
        blocked = mined | (lc == 255)
        if not blocked.all():
            dist, (ni, nj) = ndimage.distance_transform_edt(
                blocked, return_distances=True, return_indices=True
            )
            near = todo & (dist[core] <= halo)
            out[near] = lc[ni[core][near], nj[core][near]]
    return out


def run_natural_landcover(ctx: BuildContext, label: str) -> list[Path]:
    """The epoch's land cover without its mines.

    A mined cell (inside a feature acting in the epoch, or of the pit or dump class) takes the class
    it had in the most recent earlier epoch where it was not mined -- the ground as last seen before
    mining -- and otherwise the class of the nearest unmined cell of this epoch within
    ``NEAREST_M``; a cell with none that near keeps its class (with a warning). Computed chunk by
    chunk, each reading its own windows.
    """
    from pfatlas.io.raster import read_class_names as names_of

    src = ctx.path(label, "landcover.tif")
    year = {e.label: e.year for e in ctx.cfg.epochs}
    epochs = [(src, epoch_features(ctx, label, year[label]).footprints)]
    epochs += [(ctx.path(e, "landcover.tif"), epoch_features(ctx, e, year[e]).footprints)
               for e in _earlier_epochs(ctx, label)]  # fmt: skip
    cell = abs(float(ctx.gbox.resolution.x))
    halo = int(np.ceil(NEAREST_M / cell))
    ny, nx = ctx.gbox.shape
    codes = _mined_codes(ctx)
    data = dsa.map_blocks(_natural_block, epochs, codes, (ny, nx), halo, dtype="uint8",
                          chunks=(chunk_sizes(ny, ctx.chunk), chunk_sizes(nx, ctx.chunk)), meta=np.array((), dtype="uint8"),
                          name=f"natural-landcover-{label}-{uuid.uuid4().hex}")  # fmt: skip
    names = names_of(src)
    info = [ClassInfo(c.code, c.name, c.rgb) for c in ctx.cfg.landcover.classes if c.code in names]
    how = (
        f"land cover without the mines, epoch {label}: mined cells as in the last earlier epoch before "
        f"mining, else the nearest unmined class within {NEAREST_M:g} m"
    )
    da = wrap_on_grid(data, ctx.gbox, "landcover", units="class", long_name="landcover")
    out = write_cogs([Layer(da, natural_landcover(ctx, label), "class", how, classes=info, tags=ctx.tags)],
                     gbox=ctx.gbox)  # fmt: skip
    left = sum(n for c, n in class_counts(out[0]).items() if c in codes)
    if left:
        warnings.warn(f"epoch '{label}': {left} mined cell(s) have no unmined cell within {NEAREST_M:g} m and "
                      "no earlier unmined epoch: they keep their pit/dump class in the natural land cover",
                      PfatlasWarning, stacklevel=2)  # fmt: skip
    return out


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
