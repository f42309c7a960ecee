"""Cloud-Optimized GeoTIFF writer for every raster pfatlas produces.

Two named profiles (continuous float32 + NaN; classes uint8 + 255 + colour table) instead of
copied ones. Layers are computed chunk by chunk into tiled temporary GeoTIFFs beside their targets
(several layers in one dask pass, so shared work such as a composite's median is done once),
converted to COG (internal overviews: average for continuous, nearest for classes) under a second
temporary name and renamed into place only when all are complete, so a crash or a failed check
never leaves a half-written file under a real name.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import dask.array as dsa
import numpy as np
import rasterio
import rasterio.shutil
import xarray as xr
from odc.geo.geobox import GeoBox

from pfatlas.grid import check_on_grid

__all__ = ["ClassInfo", "Layer", "write_cog", "write_cogs", "atomic_path", "CLASS_NODATA"]

CLASS_NODATA = 255


@dataclass(frozen=True)
class ClassInfo:
    """One class of a class layer: its code, name and display colour (RGB 0-255)."""

    value: int
    name: str
    color: tuple[int, int, int]


@dataclass(frozen=True)
class Layer:
    """A layer to write: the data, its destination and its metadata.

    ``classes`` makes it a class layer (uint8, 255 nodata, colour table); otherwise it is written
    as float32 with NaN nodata.
    """

    data: xr.DataArray
    path: Path
    units: str
    description: str
    classes: Sequence[ClassInfo] | None = None
    tags: dict[str, str] = field(default_factory=dict)


def atomic_path(path: Path) -> Path:
    """A temporary name beside ``path`` (same folder, so ``os.replace`` is atomic)."""
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")


class _WindowWriter:
    """``da.store`` target writing chunks into an open GeoTIFF under a lock."""

    def __init__(self, dst):
        self.dst = dst
        self.lock = threading.Lock()

    def __setitem__(self, key, value):
        rows, cols = key
        window = rasterio.windows.Window(
            cols.start, rows.start, cols.stop - cols.start, rows.stop - rows.start
        )
        with self.lock:
            self.dst.write(value, 1, window=window)


def _profile(gbox: GeoBox, is_class: bool, blocksize: int) -> dict:
    ny, nx = gbox.shape
    return {
        "driver": "GTiff",
        "width": nx,
        "height": ny,
        "count": 1,
        "dtype": "uint8" if is_class else "float32",
        "nodata": CLASS_NODATA if is_class else np.nan,
        "crs": gbox.crs.to_wkt(),
        "transform": gbox.affine,
        "tiled": True,
        "blockxsize": blocksize,
        "blockysize": blocksize,
        "compress": "deflate",
        "zlevel": 1,
        "BIGTIFF": "IF_SAFER",
    }


def _dask_data(layer: Layer, blocksize: int) -> dsa.Array:
    data = layer.data.data
    if not isinstance(data, dsa.Array):
        data = dsa.from_array(np.asarray(data), chunks=blocksize * 2)
    if layer.classes is not None:
        if np.dtype(data.dtype) != np.uint8:
            raise TypeError(f"class layer {layer.path.name} must be uint8, got {data.dtype}")
        return data
    return data.astype("float32")


def _finish_tags(dst, layer: Layer) -> None:
    tags = {
        "units": layer.units,
        "long_name": layer.description,
        "description": layer.description,
        **layer.tags,
    }
    dst.update_tags(**tags)
    dst.update_tags(1, units=layer.units, long_name=layer.description)
    dst.set_band_description(1, layer.description)
    dst.units = (layer.units,)
    if layer.classes is not None:
        names = {str(c.value): c.name for c in layer.classes}
        dst.update_tags(CLASS_NAMES=json.dumps(names, ensure_ascii=False))


def _write_colormap(dst, layer: Layer) -> None:
    """The colour table of a class layer; GDAL needs it before any pixel is written."""
    cmap = {v: (0, 0, 0, 0) for v in range(256)}
    for c in layer.classes:
        cmap[c.value] = (*c.color, 255)
    dst.write_colormap(1, cmap)


def write_cogs(
    layers: Sequence[Layer],
    *,
    gbox: GeoBox,
    blocksize: int = 512,
    check: Callable[[dict[Path, Path]], None] | None = None,
) -> list[Path]:
    """Write several layers on ``gbox`` as COGs in one dask pass, atomically.

    Parameters
    ----------
    layers
        What to write (see :class:`Layer`).
    gbox
        The run's grid; every layer must lie on it.
    blocksize
        Internal tile edge [cells].
    check
        Called with ``{final path: temporary GeoTIFF}`` once all layers are computed and before
        anything is renamed into place; raise to abandon the write (nothing is left behind).

    Returns
    -------
    list of Path
        The written files, in the order of ``layers``.
    """
    layers = [Layer(**{**layer.__dict__, "path": Path(layer.path)}) for layer in layers]
    for layer in layers:
        check_on_grid(layer.data, gbox, f"layer for {layer.path}")
        layer.path.parent.mkdir(parents=True, exist_ok=True)
    tmps = {layer.path: atomic_path(layer.path) for layer in layers}
    cogs = {layer.path: atomic_path(layer.path) for layer in layers}
    handles = []
    try:
        for layer in layers:
            handles.append(
                rasterio.open(tmps[layer.path], "w", **_profile(gbox, layer.classes is not None, blocksize))
            )
            if layer.classes is not None:
                _write_colormap(handles[-1], layer)
        dsa.store(
            [_dask_data(layer, blocksize) for layer in layers],
            [_WindowWriter(h) for h in handles],
            lock=False,
        )
        for h, layer in zip(handles, layers, strict=True):
            _finish_tags(h, layer)
            h.close()
        if check is not None:
            check(dict(tmps))
        for layer in layers:
            is_class = layer.classes is not None
            rasterio.shutil.copy(
                tmps[layer.path],
                cogs[layer.path],
                driver="COG",
                COMPRESS="DEFLATE",
                LEVEL=6,
                PREDICTOR="NO" if is_class else "YES",
                BLOCKSIZE=blocksize,
                OVERVIEW_RESAMPLING="NEAREST" if is_class else "AVERAGE",
                BIGTIFF="IF_SAFER",
            )
        for layer in layers:
            os.replace(cogs[layer.path], layer.path)
    finally:
        for h in handles:
            if not h.closed:
                h.close()
        for p in [*tmps.values(), *cogs.values()]:
            if p.exists():
                p.unlink()
    return [layer.path for layer in layers]


def write_cog(
    da: xr.DataArray,
    path: str | Path,
    *,
    gbox: GeoBox,
    units: str,
    description: str,
    classes: Sequence[ClassInfo] | None = None,
    tags: dict[str, str] | None = None,
    blocksize: int = 512,
) -> Path:
    """Write one 2-D layer on ``gbox`` as a COG, atomically (see :func:`write_cogs`).

    Continuous layers are written as float32 with NaN nodata; when ``classes`` is given, as uint8
    with 255 nodata, a colour table and the class names in the ``CLASS_NAMES`` tag (JSON).
    ``units`` and ``description`` go to the dataset and band tags.
    """
    layer = Layer(da, Path(path), units, description, classes, dict(tags or {}))
    return write_cogs([layer], gbox=gbox, blocksize=blocksize)[0]
