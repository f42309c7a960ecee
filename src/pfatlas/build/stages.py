"""The stages of ``pfatlas build`` and what each reads, depends on and writes.

Each stage is a small frozen record: its name, the stages it depends on, the input files whose
content matters, its parameters (config sections) and the function that runs it and returns the
files it wrote. The runner (:mod:`pfatlas.build.runner`) decides from those whether a stage can be
reused. Later stages (land cover, MAGT, ...) plug in by adding records to :func:`stages_for`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from pfatlas.build.context import BuildContext
from pfatlas.errors import InputError, NoClearPixelError
from pfatlas.io.cog import ClassInfo, Layer, write_cog, write_cogs
from pfatlas.io.raster import band_max, read_to_grid, sample_points

__all__ = ["Stage", "stages_for"]

log = logging.getLogger("pfatlas.build")


@dataclass(frozen=True)
class Stage:
    """One step of the build."""

    name: str
    run: Callable[[BuildContext], list[Path]]
    inputs: Callable[[BuildContext], list[Path]] = lambda ctx: []
    params: Callable[[BuildContext], dict] = lambda ctx: {}
    depends: tuple[str, ...] = field(default_factory=tuple)
    description: str = ""


# --- grid: DEM and terrain -------------------------------------------------------------------


def _run_dem(ctx: BuildContext) -> list[Path]:
    dem = read_to_grid(
        ctx.cfg.inputs.dem, ctx.gbox, resampling="bilinear", chunks=ctx.chunk, require_cover=True
    )
    path = write_cog(
        dem,
        ctx.path("grid", "dem.tif"),
        gbox=ctx.gbox,
        units="m",
        description="elevation above sea level (DEM on the 30 m grid, bilinear)",
        tags=ctx.tags,
    )
    return [path]


def _open_grid_layer(ctx: BuildContext, name: str, **kw):
    return read_to_grid(ctx.path("grid", f"{name}.tif"), ctx.gbox, chunks=ctx.chunk, **kw)


def _run_terrain(ctx: BuildContext) -> list[Path]:
    from pfatlas.terrain.attributes import terrain_attributes

    dem = _open_grid_layer(ctx, "dem", resampling="nearest")
    dem.attrs.update(units="m", long_name="elevation")
    terrain = terrain_attributes(dem)  # slope and aspect from one fused kernel pass
    return write_cogs(
        [
            Layer(
                terrain["slope"],
                ctx.path("grid", "slope.tif"),
                "degree",
                "slope, Horn (1981) in metres",
                tags=ctx.tags,
            ),
            Layer(
                terrain["aspect"],
                ctx.path("grid", "aspect.tif"),
                "degree",
                "aspect, degrees clockwise from north (NaN on flat cells), Horn (1981)",
                tags=ctx.tags,
            ),
        ],
        gbox=ctx.gbox,
    )


# --- vectors and tables ---------------------------------------------------------------------


def _run_geomorphology(ctx: BuildContext) -> list[Path]:

    from pfatlas.grid import wrap_on_grid
    from pfatlas.io.vectors import rasterize_units, read_geomorphology

    gdf = read_geomorphology(ctx.cfg.inputs.geomorphology, ctx.gbox)
    codes, names = rasterize_units(gdf, ctx.gbox, chunks=ctx.chunk)
    palette = _palette(len(names))
    classes = [ClassInfo(i, n, palette[i]) for i, n in enumerate(names)]
    da = wrap_on_grid(codes, ctx.gbox, "geomorphology", units="class", long_name="unit")
    return [
        write_cog(
            da,
            ctx.path("grid", "geomorphology.tif"),
            gbox=ctx.gbox,
            units="class",
            description="geomorphology unit",
            classes=classes,
            tags=ctx.tags,
        )
    ]


def _palette(n: int) -> list[tuple[int, int, int]]:
    base = [
        (141, 211, 199),
        (255, 255, 179),
        (190, 186, 218),
        (251, 128, 114),
        (128, 177, 211),
        (253, 180, 98),
    ]
    base += [(179, 222, 105), (252, 205, 229), (217, 217, 217), (188, 128, 189)]
    return [base[i % len(base)] for i in range(n)]


def _write_csv(df: pd.DataFrame, path: Path, synthetic: bool) -> Path:
    from pfatlas.io.table_writer import write_table

    return write_table(df, path, synthetic=synthetic)


def _run_boreholes(ctx: BuildContext) -> list[Path]:
    from pfatlas.io.tables import read_borehole_logs, read_boreholes

    out = []
    frames = {"boreholes": read_boreholes(ctx.cfg.inputs.boreholes, ctx.gbox)}
    if ctx.cfg.inputs.validation_boreholes is not None:
        frames["boreholes_validation"] = read_boreholes(ctx.cfg.inputs.validation_boreholes, ctx.gbox)
        check_disjoint_ids(
            frames["boreholes"], frames["boreholes_validation"], ctx.cfg.inputs.validation_boreholes
        )
    for name, df in frames.items():
        df = df.copy()
        missing = df["elevation_m"].isna()
        if missing.any():
            df.loc[missing, "elevation_m"] = sample_points(
                ctx.path("grid", "dem.tif"), df.loc[missing, "row"], df.loc[missing, "col"]
            )
        df["elevation_source"] = ["dem" if m else "table" for m in missing]
        out.append(_write_csv(df, ctx.path("tables", f"{name}.csv"), ctx.cfg.area.synthetic))
    if ctx.cfg.inputs.borehole_logs is not None:
        ids = set(frames["boreholes"]["id"])
        if "boreholes_validation" in frames:
            ids |= set(frames["boreholes_validation"]["id"])
        logs = read_borehole_logs(ctx.cfg.inputs.borehole_logs, known_ids=ids)
        out.append(_write_csv(logs, ctx.path("tables", "borehole_logs.csv"), ctx.cfg.area.synthetic))
    return out


def check_disjoint_ids(train: pd.DataFrame, held_out: pd.DataFrame, held_out_path: Path) -> None:
    """A held-out borehole must not also be a training borehole (that would leak into the score)."""
    both = sorted(set(train["id"]) & set(held_out["id"]))
    if both:
        raise InputError(
            f"borehole id(s) {', '.join(map(str, both[:10]))} also appear in the training boreholes file; "
            "validation boreholes must be different boreholes",
            path=held_out_path,
            field="id",
        )


def _run_samples(ctx: BuildContext) -> list[Path]:
    from pfatlas.io.vectors import read_samples

    classes = {c.code: c.name for c in ctx.cfg.landcover.classes}
    df = read_samples(ctx.cfg.inputs.samples, ctx.gbox, classes, [e.label for e in ctx.cfg.epochs])
    return [
        _write_csv(
            pd.DataFrame(df).drop(columns="geometry", errors="ignore"),
            ctx.path("tables", "samples.csv"),
            ctx.cfg.area.synthetic,
        )
    ]


def _run_mining(ctx: BuildContext) -> list[Path]:
    from pfatlas.io.vectors import read_mining

    gdf = read_mining(ctx.cfg.inputs.mining, ctx.gbox)
    df = pd.DataFrame(gdf.drop(columns="geometry"))
    df["area_km2"] = gdf.geometry.area.to_numpy() / 1e6
    return [_write_csv(df, ctx.path("tables", "mining_features.csv"), ctx.cfg.area.synthetic)]


# --- Landsat composites ---------------------------------------------------------------------


def _epoch_scenes(ctx: BuildContext, label: str):
    from pfatlas.composite.seasonal import select_scenes
    from pfatlas.io.landsat import find_scenes

    epoch = ctx.cfg.epoch(label)
    scenes = find_scenes(list(ctx.cfg.inputs.landsat))
    return select_scenes(scenes, epoch.start, epoch.end, tuple(ctx.cfg.composite.months)), scenes


def _composite_inputs(label: str) -> Callable[[BuildContext], list[Path]]:
    def inputs(ctx: BuildContext) -> list[Path]:
        selected, _ = _epoch_scenes(ctx, label)
        return [Path(s.folder) for s in selected]

    return inputs


_COMPOSITE_VARS = (
    "blue", "green", "red", "nir", "swir1", "swir2", "lst",
    "ndvi", "evi", "savi", "ndwi", "mndwi", "ndmi", "nbr", "clear_count", "snow_fraction",
)  # fmt: skip


def _composite_run(label: str) -> Callable[[BuildContext], list[Path]]:
    def run(ctx: BuildContext) -> list[Path]:
        from pfatlas.composite.seasonal import seasonal_composite

        epoch = ctx.cfg.epoch(label)
        selected, scenes = _epoch_scenes(ctx, label)
        ds = seasonal_composite(
            scenes,
            ctx.gbox,
            start=epoch.start,
            end=epoch.end,
            months=tuple(ctx.cfg.composite.months),
            chunks=ctx.chunk,
            label=label,
        )
        folder = ctx.path(label, "composite")
        layers = [
            Layer(
                ds[v].astype("float32"),
                folder / f"{v}.tif",
                ds[v].attrs.get("units", "1"),
                ds[v].attrs.get("long_name", v) + f" (Landsat growing-season composite, epoch {label})",
                tags=ctx.tags,
            )
            for v in _COMPOSITE_VARS
            if v in ds
        ]
        clear = folder / "clear_count.tif"

        def check(tmps: dict[Path, Path]) -> None:
            if band_max(tmps[clear]) <= 0:
                raise NoClearPixelError(
                    f"epoch '{label}' has no clear pixel: every observation of the "
                    f"{len(selected)} scene(s) between {epoch.start} and {epoch.end} is cloud, "
                    "shadow, snow, fill or saturated over the study area",
                    field=f"epochs.{label}",
                )

        return write_cogs(layers, gbox=ctx.gbox, check=check)

    return run


def stages_for(ctx: BuildContext) -> list[Stage]:
    """The stages this config can run, in dependency order."""
    cfg = ctx.cfg
    area = lambda c: c.cfg.model_dump(mode="json", include={"area"})  # noqa: E731
    stages = [
        Stage(
            "dem", _run_dem, inputs=lambda c: [c.cfg.inputs.dem], params=area, description="DEM onto the grid"
        ),
        Stage("terrain", _run_terrain, depends=("dem",), description="slope and aspect (Horn)"),
    ]
    if cfg.inputs.geomorphology is not None:
        stages.append(
            Stage(
                "geomorphology",
                _run_geomorphology,
                inputs=lambda c: [c.cfg.inputs.geomorphology],
                params=area,
                description="geomorphology units onto the grid",
            )
        )
    if cfg.inputs.boreholes is not None:
        stages.append(
            Stage(
                "boreholes",
                _run_boreholes,
                inputs=lambda c: [
                    p
                    for p in (
                        c.cfg.inputs.boreholes,
                        c.cfg.inputs.validation_boreholes,
                        c.cfg.inputs.borehole_logs,
                    )
                    if p is not None
                ],
                params=area,
                depends=("dem",),
                description="boreholes and logs checked and placed on the grid",
            )
        )
    if cfg.inputs.samples is not None:
        stages.append(
            Stage(
                "samples",
                _run_samples,
                inputs=lambda c: [c.cfg.inputs.samples],
                params=lambda c: c.cfg.model_dump(mode="json", include={"area", "landcover", "epochs"}),
                description="land-cover samples checked and placed on the grid",
            )
        )
    if cfg.inputs.mining is not None:
        stages.append(
            Stage(
                "mining",
                _run_mining,
                inputs=lambda c: [c.cfg.inputs.mining],
                params=area,
                description="mining features checked",
            )
        )
    if cfg.inputs.landsat:
        for e in cfg.epochs:
            stages.append(
                Stage(
                    f"composite/{e.label}",
                    _composite_run(e.label),
                    inputs=_composite_inputs(e.label),
                    params=lambda c, e=e: {
                        "area": c.cfg.model_dump(mode="json", include={"area"}),
                        "composite": c.cfg.composite.model_dump(mode="json"),
                        "epoch": e.model_dump(mode="json"),
                    },
                    description=f"Landsat growing-season composite {e.label}",
                )
            )
    from pfatlas.build import (
        stage_activelayer,
        stage_change,
        stage_groundice,
        stage_landcover,
        stage_magt,
        stage_mining,
    )

    stages.extend(stage_landcover.stages(ctx))
    stages.extend(stage_mining.natural_landcover_stages(ctx))
    for module in (stage_magt, stage_activelayer, stage_groundice, stage_mining, stage_change):
        stages.extend(module.stages(ctx))
    kept = _runnable(stages)
    from pfatlas.build import stage_atlas

    return kept + stage_atlas.stage(ctx, [s.name for s in kept])


def _runnable(stages: list[Stage]) -> list[Stage]:
    """The stages whose upstream stages all exist (an input the config does not name removes the
    stages that need it, and everything downstream of them)."""
    kept: list[Stage] = []
    names: set[str] = set()
    for stage in stages:
        missing = [d for d in stage.depends if d not in names]
        if missing:
            log.info("%s: skipped (needs %s, which this config cannot run)", stage.name, ", ".join(missing))
            continue
        kept.append(stage)
        names.add(stage.name)
    return kept
