"""Build stage ``ground_ice/<epoch>``: ice content below the permafrost table, per geomorphology unit.

Reads ``grid/geomorphology.tif`` (unit codes, CLASS_NAMES tag), ``<epoch>/alt.tif``,
``<epoch>/permafrost.tif``, ``tables/boreholes.csv`` and ``tables/borehole_logs.csv``; writes
``<epoch>/ground_ice.tif`` [m3 m-3], ``ice_volume.tif`` [m3 per cell], ``ice_class.tif`` and the
tables ``ground_ice_units_<epoch>.csv``, ``ground_ice_totals_<epoch>.csv``,
``metrics_ground_ice_<epoch>.json``.
"""

from __future__ import annotations

from pathlib import Path

import dask.array as dsa
import numpy as np
import pandas as pd
import rasterio

from pfatlas.build.context import BuildContext
from pfatlas.build.layout import natural_dir
from pfatlas.build.stages import Stage
from pfatlas.groundice.classes import ICE_CLASS_NAMES_ZH, ICE_CLASSES, ice_class_infos
from pfatlas.groundice.profile import ProfileSet, ground_ice_block
from pfatlas.groundice.stratigraphy import sample_ice, unit_profiles
from pfatlas.io.cog import Layer, write_cogs
from pfatlas.io.raster import read_class_names, read_to_grid, sample_points
from pfatlas.io.table_writer import read_table, write_json, write_table

__all__ = ["stages", "run_ground_ice", "ground_ice_layers", "unit_ice_profiles"]


def _paths(ctx: BuildContext, label: str) -> dict[str, Path]:
    return {
        "geomorphology": ctx.path("grid", "geomorphology.tif"),
        "alt": natural_dir(ctx, label) / "alt.tif",
        "permafrost": natural_dir(ctx, label) / "permafrost.tif",
        "boreholes": ctx.path("tables", "boreholes.csv"),
        "logs": ctx.path("tables", "borehole_logs.csv"),
    }


def ground_ice_layers(unit, alt, permafrost, profiles: ProfileSet, *, depth_m: float, cell_area_m2: float):
    """Lazy (ground_ice [m3 m-3], ice_volume [m3 per cell], ice_class uint8) on the inputs' grid.

    One dask task per chunk computes all three (:func:`pfatlas.groundice.profile.ground_ice_block`).
    """

    def block(u, a, p):
        return ground_ice_block(u, a, p, profiles=profiles, depth_m=depth_m, cell_area_m2=cell_area_m2)

    if isinstance(unit.data, dsa.Array):
        stack = dsa.map_blocks(
            block,
            unit.data,
            alt.data,
            permafrost.data,
            dtype="float32",
            new_axis=0,
            chunks=((3,), *unit.data.chunks),
        )
    else:
        stack = block(np.asarray(unit.data), np.asarray(alt.data), np.asarray(permafrost.data))
    mk = lambda d, units, name: unit.copy(data=d).rename(name).assign_attrs(units=units)  # noqa: E731
    return (
        mk(stack[0], "m3 m-3", "ground_ice"),
        mk(stack[1], "m3", "ice_volume"),
        mk(stack[2].astype("uint8"), "class", "ice_class"),
    )


def unit_ice_profiles(ctx: BuildContext, label: str) -> tuple[ProfileSet, pd.DataFrame]:
    """The ice profile of every geomorphology unit from the logs of the natural permafrost
    boreholes (tables ``boreholes.csv``, ``borehole_logs.csv``) and the unit table."""
    gi = ctx.cfg.ground_ice
    paths = _paths(ctx, label)
    names = read_class_names(paths["geomorphology"])

    bh = read_table(paths["boreholes"])
    bh = bh[(bh["setting"] == "natural") & (bh["magt_c"] < 0)].copy()
    mapped_alt = sample_points(paths["alt"], bh["row"], bh["col"])
    table_depth = dict(
        zip(bh["id"], np.where(np.isfinite(bh["alt_m"]), bh["alt_m"], mapped_alt), strict=True)
    )
    units = sample_points(paths["geomorphology"], bh["row"], bh["col"])
    borehole_unit = {b: int(u) for b, u in zip(bh["id"], units, strict=True) if np.isfinite(u) and u != 255}
    logs = read_table(paths["logs"])
    logs = logs[logs["borehole_id"].isin(bh["id"])]
    samples = sample_ice(logs, gi.rho_ice_kg_m3, path=paths["logs"])
    return unit_profiles(samples, borehole_unit, table_depth, names)


def run_ground_ice(ctx: BuildContext, label: str) -> list[Path]:
    """Run the stage for one epoch (see the module docstring)."""
    gi = ctx.cfg.ground_ice
    paths = _paths(ctx, label)
    profiles, unit_table = unit_ice_profiles(ctx, label)

    rd = lambda p, **k: read_to_grid(p, ctx.gbox, resampling="nearest", chunks=ctx.chunk, **k)  # noqa: E731
    unit = rd(paths["geomorphology"], dtype="uint8", fill=255)
    alt = rd(paths["alt"])
    pf = rd(paths["permafrost"], dtype="uint8", fill=255)
    cell_area = abs(ctx.gbox.resolution.x * ctx.gbox.resolution.y)
    theta, volume, cls = ground_ice_layers(
        unit, alt, pf, profiles, depth_m=gi.depth_below_table_m, cell_area_m2=cell_area
    )
    d = gi.depth_below_table_m
    out = {k: natural_dir(ctx, label) / f"{k}.tif" for k in ("ground_ice", "ice_volume", "ice_class")}
    written = write_cogs(
        [
            Layer(theta, out["ground_ice"], "m3 m-3",
                  f"mean volumetric ice content from ALT to ALT + {d:g} m, per geomorphology unit from "
                  f"borehole logs (NaN: no permafrost), epoch {label}", tags=ctx.tags),
            Layer(volume, out["ice_volume"], "m3",
                  f"ground-ice volume per cell, ALT to ALT + {d:g} m (0: no permafrost), epoch {label}",
                  tags=ctx.tags),
            Layer(cls, out["ice_class"], "class",
                  f"ice-content class after GB 50324-2014, ALT to ALT + {d:g} m, epoch {label}",
                  classes=ice_class_infos(), tags=ctx.tags),
        ],
        gbox=ctx.gbox,
    )  # fmt: skip
    units_df, totals_df, metrics = _summaries(out, paths, unit_table, cell_area, label)
    syn = ctx.cfg.area.synthetic
    written += [
        write_table(units_df, ctx.path("tables", f"ground_ice_units_{label}.csv"), synthetic=syn),
        write_table(totals_df, ctx.path("tables", f"ground_ice_totals_{label}.csv"), synthetic=syn),
        write_json(metrics, ctx.path("tables", f"metrics_ground_ice_{label}.json")),
    ]
    return written


def _unit_sums(out: dict[str, Path], paths: dict[str, Path]) -> dict[str, np.ndarray]:
    """Per unit code (and 255 for none), over permafrost cells, read tile by tile: cells, cells with a
    finite theta, sum of theta, sum of ice volume; and cells per ice class."""
    sums = {k: np.zeros(256) for k in ("cells", "finite", "theta", "volume", "classes")}
    with (
        rasterio.open(out["ground_ice"]) as th, rasterio.open(out["ice_volume"]) as vo,
        rasterio.open(out["ice_class"]) as cl, rasterio.open(paths["geomorphology"]) as un,
        rasterio.open(paths["permafrost"]) as pf,
    ):  # fmt: skip
        for _, win in th.block_windows(1):
            perm = pf.read(1, window=win) == 1
            unit = un.read(1, window=win)[perm].astype(np.intp)
            theta = th.read(1, window=win)[perm].astype(np.float64)
            vol = vo.read(1, window=win)[perm].astype(np.float64)
            ok = np.isfinite(theta)
            sums["cells"] += np.bincount(unit, minlength=256)
            sums["finite"] += np.bincount(unit[ok], minlength=256)
            sums["theta"] += np.bincount(unit[ok], theta[ok], minlength=256)
            sums["volume"] += np.bincount(unit, np.nan_to_num(vol), minlength=256)
            sums["classes"] += np.bincount(cl.read(1, window=win).ravel(), minlength=256)
    return sums


def _summaries(
    out: dict[str, Path], paths: dict[str, Path], unit_table: pd.DataFrame, cell_area: float, label: str
):
    s = _unit_sums(out, paths)
    mean = lambda total, n: float(total / n) if n else float("nan")  # noqa: E731
    rows = []
    for r in unit_table.itertuples():
        k = int(r.unit_code)
        rows.append(
            {
                "unit_code": r.unit_code,
                "unit": r.unit,
                "n_logs": r.n_logs,
                "profile_source": r.profile_source,
                "mean_theta_m3_m3": mean(s["theta"][k], s["finite"][k]),
                "permafrost_area_km2": float(s["cells"][k] * cell_area / 1e6),
                "ice_volume_m3": float(s["volume"][k]),
            }
        )
    units_df = pd.DataFrame(rows)
    total_vol = float(s["volume"].sum())
    mean_theta = mean(s["theta"].sum(), s["finite"].sum())
    trows = [
        {"quantity": "permafrost_area_km2", "value": float(s["cells"].sum() * cell_area / 1e6)},
        {"quantity": "ice_volume_m3", "value": total_vol},
        {"quantity": "mean_theta_m3_m3", "value": mean_theta},
    ]
    area = {c: float(s["classes"][c] * cell_area / 1e6) for c in ICE_CLASSES}
    for code, (name, _) in ICE_CLASSES.items():
        trows.append({"quantity": f"area_km2_class_{code}_{name}", "value": area[code]})
    metrics = {
        "epoch": label,
        "ice_volume_m3": total_vol,
        "mean_theta_m3_m3": mean_theta,
        "permafrost_area_km2": trows[0]["value"],
        "class_area_km2": {f"{ICE_CLASSES[c][0]} ({ICE_CLASS_NAMES_ZH[c]})": area[c] for c in ICE_CLASSES},
        "units": units_df.drop(columns=["unit_code"]).to_dict(orient="records"),
    }
    return units_df, pd.DataFrame(trows), metrics


def stages(ctx: BuildContext) -> list[Stage]:
    """One ``ground_ice/<epoch>`` stage per epoch."""
    out = []
    for e in ctx.cfg.epochs:
        label = e.label

        def run(c: BuildContext, label=label) -> list[Path]:
            return run_ground_ice(c, label)

        def inputs(c: BuildContext, label=label) -> list[Path]:
            return list(_paths(c, label).values())

        out.append(
            Stage(
                f"ground_ice/{label}",
                run,
                inputs=inputs,
                params=lambda c: c.cfg.model_dump(mode="json", include={"ground_ice"}),
                depends=(f"active_layer/{label}", "geomorphology", "boreholes", f"magt/{label}"),
                description=f"ground ice {label}",
            )
        )
    return out
