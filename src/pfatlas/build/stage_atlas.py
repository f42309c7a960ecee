"""Build stage ``atlas``: what a person reads, made from the finished layers.

Runs last, after every other stage of the build (it depends on all of them, so it is redone when any
layer changed and reused otherwise). In order, into ``OUT/``:

1. ``atlas_style.json``: one colour scale per layer across epochs (:mod:`pfatlas.atlas.style`);
2. the GDAL class sidecars (``<layer>.tif.aux.xml``) wherever one is missing, and a QGIS style
   (``<layer>.qml``) beside every layer, on those same scales (:mod:`pfatlas.atlas.qgis`);
3. ``tables/area_<layer>_<epoch>.csv`` and ``tables/area_by_class.csv`` (:mod:`pfatlas.atlas.tables`);
4. ``plates/*.png``, the map plates (:mod:`pfatlas.atlas.plates`);
5. ``atlas.pdf`` (:mod:`pfatlas.atlas.pdf`);
6. ``index.html`` and ``viewer/`` (:mod:`pfatlas.atlas.viewer`);
7. ``catalog.json`` and ``stac/`` (:mod:`pfatlas.atlas.stac`), last, so it lists every product.

``[products] enabled = false`` in the config leaves the stage out.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from pathlib import Path

from pfatlas.build.context import BuildContext
from pfatlas.build.stages import Stage
from pfatlas.errors import MissingInputError, PfatlasWarning

__all__ = ["stage", "run_atlas"]

log = logging.getLogger("pfatlas.build")


def run_atlas(ctx: BuildContext) -> list[Path]:
    """Write every product of the atlas folder ``ctx.out`` (see the module docstring)."""
    from pfatlas.atlas.pdf import write_atlas_pdf
    from pfatlas.atlas.plates import render_plates
    from pfatlas.atlas.qgis import write_class_sidecars, write_qml_styles
    from pfatlas.atlas.stac import write_catalog
    from pfatlas.atlas.style import write_styles
    from pfatlas.atlas.tables import write_area_tables
    from pfatlas.atlas.viewer import write_viewer

    out = ctx.out
    workers = ctx.cfg.compute.workers or os.cpu_count() or 1
    steps = [
        ("colour scales", lambda: [write_styles(out)]),
        ("GDAL and QGIS sidecars", lambda: [*write_class_sidecars(out), *write_qml_styles(out)]),
        ("area tables", lambda: write_area_tables(out)),
        ("plates", lambda: render_plates(out, dpi=ctx.cfg.products.plate_dpi, workers=workers)),
        ("PDF atlas", lambda: [write_atlas_pdf(out)]),
        ("viewer", lambda: _viewer(out, write_viewer)),
        ("STAC catalog", lambda: [write_catalog(out)]),
    ]
    written: list[Path] = []
    for what, step in steps:
        t0 = time.perf_counter()
        written += [Path(p) for p in step()]
        log.info("atlas: %s in %.1f s", what, time.perf_counter() - t0)
    return written


def _viewer(out: Path, write_viewer) -> list[Path]:
    """The viewer, or a warning when its map library was never fetched (a pip install without
    `python -m pfatlas.atlas.vendor`): the rest of the atlas does not depend on it."""
    from pfatlas.atlas.vendor import leaflet_dir

    try:
        leaflet_dir()
    except MissingInputError as exc:
        warnings.warn(f"atlas viewer not written: {exc}", PfatlasWarning, stacklevel=2)
        return []
    return [write_viewer(out)]


def stage(ctx: BuildContext, upstream: list[str]) -> list[Stage]:
    """The ``atlas`` stage after the stages named in ``upstream`` (none when products are off)."""
    if not ctx.cfg.products.enabled:
        return []
    return [
        Stage(
            "atlas",
            run_atlas,
            params=lambda c: c.cfg.model_dump(mode="json", include={"products", "area", "epochs"}),
            depends=tuple(upstream),
            description="plates, PDF atlas, viewer, STAC catalog",
        )
    ]
