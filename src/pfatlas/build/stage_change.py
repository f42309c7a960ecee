"""Build stage ``change/<A>_<B>``: what changed from epoch A to epoch B.

One stage per pair of consecutive epochs in the config order, plus first -> last when there are
three or more epochs. It reads the atlas layers of both epoch folders ``OUT/<A>/`` and ``OUT/<B>/``
(the natural layers, or those with the mining impact when the build has it):

- continuous, each one present in both folders: ``magt.tif`` [degC], ``alt.tif`` [m],
  ``ground_ice.tif`` [m3 m-3], ``ice_volume.tif`` [m3], ``permafrost_probability.tif`` [1];
- classes (uint8, CLASS_NAMES tag): ``landcover.tif``, ``permafrost.tif`` (0 no, 1 yes),
  ``thermal_stability.tif``, ``ice_class.tif``.

``landcover``, ``magt`` and ``permafrost`` are required; a missing optional layer is skipped.
Every file must lie on the build grid (an :class:`~pfatlas.errors.InputError` names the one that
does not). Writes ``change/<A>_<B>/delta_<layer>.tif`` (B - A, float32, NaN where either is NaN),
``change/<A>_<B>/permafrost_transition.tif`` (uint8 1-4, 255), ``tables/transitions_<layer>_<A>_<B>.csv``
[km2], ``tables/change_<A>_<B>.csv`` and ``tables/metrics_change_<A>_<B>.json``.

The reductions (transition counts, ice-volume sums, mean changes) are computed in one dask pass
over the inputs and checked before anything is written; the rasters are written in a second pass.
"""

from __future__ import annotations

from pathlib import Path

import dask
import numpy as np
from odc.geo.geobox import GeoBox
from pyproj import CRS

from pfatlas.build.context import BuildContext
from pfatlas.build.layout import final_stage
from pfatlas.build.stages import Stage
from pfatlas.change.difference import (
    CONTINUOUS_LAYERS,
    layer_difference,
    mean_from_sum_count,
    valid_sum_count,
)
from pfatlas.change.totals import change_summary, ice_volume_sums, permafrost_totals
from pfatlas.change.transition import (
    PERMAFROST_TRANSITION_CLASSES,
    permafrost_transition,
    transition_counts,
    transition_table,
    unlisted_cells,
)
from pfatlas.config import Config
from pfatlas.errors import InputError, MissingInputError
from pfatlas.io.cog import Layer, write_cogs
from pfatlas.io.raster import raster_info, read_class_names, read_to_grid
from pfatlas.io.table_writer import write_json, write_table

__all__ = ["stages", "run_change", "epoch_pairs", "change_inputs", "CLASS_LAYERS", "REQUIRED_LAYERS"]

#: Class layers whose transitions are tabulated, in the order of the tables.
CLASS_LAYERS = ("landcover", "permafrost", "thermal_stability", "ice_class")
#: Layers every epoch folder must hold (the others are differenced when both epochs have them).
REQUIRED_LAYERS = ("landcover", "magt", "permafrost")
_ALL_LAYERS = tuple(c.name for c in CONTINUOUS_LAYERS) + CLASS_LAYERS


def epoch_pairs(cfg: Config) -> list[tuple[str, str]]:
    """(A, B) epoch labels: consecutive pairs in config order, then (first, last) if 3 or more."""
    labels = [e.label for e in cfg.epochs]
    pairs = list(zip(labels[:-1], labels[1:], strict=True))
    if len(labels) >= 3:
        pairs.append((labels[0], labels[-1]))
    return pairs


def _layer_path(ctx: BuildContext, label: str, layer: str) -> Path:
    return ctx.path(label, f"{layer}.tif")


def change_inputs(ctx: BuildContext, a: str, b: str) -> list[Path]:
    """The epoch files the stage reads (those that exist; their content decides reruns)."""
    return [p for e in (a, b) for layer in _ALL_LAYERS if (p := _layer_path(ctx, e, layer)).is_file()]


def check_file_on_grid(path: Path, gbox: GeoBox) -> None:
    """Raise :class:`InputError` naming ``path`` unless the raster lies exactly on ``gbox``.

    The change stage compares cells of two epochs: it never resamples one onto the other.
    """
    info = raster_info(path)
    ny, nx = gbox.shape
    tol = 1e-6 * abs(gbox.resolution.x)  # [m] float noise in the stored transform
    same = (
        tuple(info.shape) == (ny, nx)
        and info.crs == CRS.from_user_input(gbox.crs.to_wkt())
        and np.allclose(info.transform, tuple(gbox.affine)[:6], rtol=0, atol=tol)
    )
    if not same:
        t = info.transform
        raise InputError(
            f"is not on the build grid: {info.shape[0]} x {info.shape[1]} cells of {t[0]:g} m from "
            f"({t[2]:.1f}, {t[5]:.1f}), the grid has {ny} x {nx} cells of {gbox.resolution.x:g} m from "
            f"({gbox.affine.c:.1f}, {gbox.affine.f:.1f}); the epochs of a change must come from one build",
            path=path,
        )


def _class_names(path: Path, layer: str) -> dict[int, str]:
    names = read_class_names(path)
    if layer == "permafrost" and not {0, 1} <= set(names):
        raise InputError(
            f"permafrost layer must have classes 0 (no) and 1 (yes), its CLASS_NAMES has {sorted(names)}",
            path=path,
            field="CLASS_NAMES",
        )
    return names


def run_change(ctx: BuildContext, a: str, b: str) -> list[Path]:
    """Run the stage for the epoch pair (a, b) (see the module docstring)."""
    paths = {e: {layer: _layer_path(ctx, e, layer) for layer in _ALL_LAYERS} for e in (a, b)}
    for layer in REQUIRED_LAYERS:
        for e in (a, b):
            if not paths[e][layer].is_file():
                raise MissingInputError(
                    f"the {layer} layer of epoch {e} is missing (run the upstream stages first)",
                    path=paths[e][layer],
                )
    present = [layer for layer in _ALL_LAYERS if all(paths[e][layer].is_file() for e in (a, b))]
    for layer in present:
        for e in (a, b):
            check_file_on_grid(paths[e][layer], ctx.gbox)

    def cont(e: str, layer: str):
        return read_to_grid(paths[e][layer], ctx.gbox, resampling="nearest", chunks=ctx.chunk)

    def cls(e: str, layer: str):
        return read_to_grid(
            paths[e][layer], ctx.gbox, resampling="nearest", dtype="uint8", fill=255, chunks=ctx.chunk
        )

    deltas = {
        c.name: layer_difference(
            cont(a, c.name), cont(b, c.name), units=c.units, long_name=f"change in {c.long_name}, {b} - {a}"
        )
        for c in CONTINUOUS_LAYERS
        if c.name in present
    }
    classes = [layer for layer in CLASS_LAYERS if layer in present]
    names = {
        layer: (_class_names(paths[a][layer], layer), _class_names(paths[b][layer], layer))
        for layer in classes
    }
    lazy = {
        "counts": {
            layer: transition_counts(
                cls(a, layer), cls(b, layer), list(names[layer][0]), list(names[layer][1])
            )
            for layer in classes
        },
        "means": {k: valid_sum_count(deltas[k]) for k in ("magt", "alt") if k in deltas},
        "ice": (
            ice_volume_sums(cont(a, "ice_volume"), cont(b, "ice_volume")) if "ice_volume" in deltas else None
        ),
    }
    (done,) = dask.compute(lazy)
    for layer, counts in done["counts"].items():
        for e, n in zip((a, b), unlisted_cells(counts), strict=True):
            if n:
                raise InputError(
                    f"{n} cell(s) have class codes that its CLASS_NAMES tag does not list",
                    path=paths[e][layer],
                    field="CLASS_NAMES",
                )

    cell_area = abs(ctx.gbox.resolution.x * ctx.gbox.resolution.y)  # [m2]
    folder = ctx.path("change", f"{a}_{b}")
    tags = {**ctx.tags, "epoch_from": a, "epoch_to": b}
    layers = [
        Layer(da, folder / f"delta_{k}.tif", da.attrs["units"], da.attrs["long_name"], tags=tags)
        for k, da in deltas.items()
    ]
    pt = permafrost_transition(cls(a, "permafrost"), cls(b, "permafrost"))
    layers.append(
        Layer(pt, folder / "permafrost_transition.tif", "class",
              f"permafrost transition from {a} to {b}: 1 stable permafrost, 2 permafrost lost (degraded), "
              "3 new permafrost (aggraded), 4 stable no permafrost", classes=PERMAFROST_TRANSITION_CLASSES,
              tags=tags)
    )  # fmt: skip
    written = write_cogs(layers, gbox=ctx.gbox)

    syn = ctx.cfg.area.synthetic
    for layer in classes:
        df = transition_table(
            done["counts"][layer], *names[layer], cell_area_m2=cell_area, label_a=a, label_b=b
        )
        written.append(write_table(df, ctx.path("tables", f"transitions_{layer}_{a}_{b}.csv"), synthetic=syn))
    pf = permafrost_totals(
        done["counts"]["permafrost"], list(names["permafrost"][0]), list(names["permafrost"][1]), cell_area
    )
    means = {k: mean_from_sum_count(*v) for k, v in done["means"].items()}
    table, metrics = change_summary(a, b, pf, done["ice"], means)
    metrics.update(
        cell_area_m2=cell_area,
        layers_differenced=list(deltas),
        transition_tables=classes,
        cells_valid_in_both={k: int(v[1]) for k, v in done["means"].items()},
    )
    written += [
        write_table(table, ctx.path("tables", f"change_{a}_{b}.csv"), synthetic=syn),
        write_json(metrics, ctx.path("tables", f"metrics_change_{a}_{b}.json")),
    ]
    return written


def stages(ctx: BuildContext) -> list[Stage]:
    """One ``change/<A>_<B>`` stage per epoch pair (:func:`epoch_pairs`)."""
    out = []
    for a, b in epoch_pairs(ctx.cfg):

        def run(c: BuildContext, a=a, b=b) -> list[Path]:
            return run_change(c, a, b)

        def inputs(c: BuildContext, a=a, b=b) -> list[Path]:
            return change_inputs(c, a, b)

        out.append(
            Stage(
                f"change/{a}_{b}",
                run,
                inputs=inputs,
                params=lambda c, a=a, b=b: {"epochs": [a, b]},
                depends=(final_stage(ctx, a), final_stage(ctx, b), f"landcover/{a}", f"landcover/{b}"),
                description=f"change from {a} to {b}",
            )
        )
    return out
