"""Cloud-Optimized GeoTIFF writer for every raster pfatlas produces.

Two named profiles (continuous float32 + NaN; classes uint8 + 255 + colour table) instead of
copied ones. A layer is computed chunk by chunk into a tiled temporary GeoTIFF beside the target,
converted to COG (internal overviews: average for continuous, nearest for classes) under a second
temporary name and renamed into place only when complete, so a crash never leaves a half-written
file under the real name.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import dask.array as dsa
import numpy as np
import rasterio
import rasterio.shutil
import xarray as xr
from odc.geo.geobox import GeoBox

from pfatlas.grid import check_on_grid

__all__ = ["ClassInfo", "write_cog", "atomic_path", "CLASS_NODATA"]

CLASS_NODATA = 255


@dataclass(frozen=True)
class ClassInfo:
    """One class of a class layer: its code, name and display colour (RGB 0-255)."""

    value: int
    name: str
    color: tuple[int, int, int]


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
        window = rasterio.windows.Window(cols.start, rows.start, cols.stop - cols.start, rows.stop - rows.start)
        with self.lock:
            self.dst.write(value, 1, window=window)


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
    """Write a 2-D layer on ``gbox`` as a COG, atomically.

    Parameters
    ----------
    da
        The layer (numpy- or dask-backed) on ``gbox``. Continuous layers are written as float32
        with NaN nodata; when ``classes`` is given, as uint8 with 255 nodata and a colour table.
    path
        Destination ``.tif``.
    units, description
        Written to the tags (``units``, ``long_name``/``description``) and the band metadata.
    classes
        Class table of a class layer (codes 0..254).
    tags
        More dataset tags (e.g. ``source="synthetic ..."``).
    """
    check_on_grid(da, gbox, f"layer for {path}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    is_class = classes is not None
    dtype = "uint8" if is_class else "float32"
    nodata = CLASS_NODATA if is_class else np.nan
    data = da.data
    if not isinstance(data, dsa.Array):
        data = dsa.from_array(np.asarray(data), chunks=blocksize * 2)
    if is_class and np.dtype(data.dtype) != np.uint8:
        raise TypeError(f"class layer {path.name} must be uint8, got {data.dtype}")
    data = data.astype(dtype)
    ny, nx = gbox.shape
    profile = {
        "driver": "GTiff",
        "width": nx,
        "height": ny,
        "count": 1,
        "dtype": dtype,
        "nodata": nodata,
        "crs": gbox.crs.to_wkt(),
        "transform": gbox.affine,
        "tiled": True,
        "blockxsize": blocksize,
        "blockysize": blocksize,
        "compress": "deflate",
        "zlevel": 1,
        "BIGTIFF": "IF_SAFER",
    }
    all_tags = {"units": units, "long_name": description, "description": description, **(tags or {})}
    tmp = atomic_path(path)
    tmp_cog = atomic_path(path)
    try:
        with rasterio.open(tmp, "w", **profile) as dst:
            dsa.store(data, _WindowWriter(dst), lock=False)
            dst.update_tags(**all_tags)
            dst.update_tags(1, units=units, long_name=description)
            dst.set_band_description(1, description)
            dst.units = (units,)
            if is_class:
                names = {str(c.value): c.name for c in classes}
                dst.update_tags(CLASS_NAMES=json.dumps(names, ensure_ascii=False))
                cmap = {v: (0, 0, 0, 0) for v in range(256)}
                for c in classes:
                    cmap[c.value] = (*c.color, 255)
                dst.write_colormap(1, cmap)
        rasterio.shutil.copy(
            tmp,
            tmp_cog,
            driver="COG",
            COMPRESS="DEFLATE",
            LEVEL=6,
            PREDICTOR="YES" if not is_class else "NO",
            BLOCKSIZE=blocksize,
            OVERVIEW_RESAMPLING="NEAREST" if is_class else "AVERAGE",
            BIGTIFF="IF_SAFER",
        )
        os.replace(tmp_cog, path)
    finally:
        for p in (tmp, tmp_cog):
            if p.exists():
                p.unlink()
    return path
