"""Cloud-Optimized GeoTIFF writer for every raster pfatlas produces.

Two named profiles (continuous float32 + NaN; classes uint8 + 255 + colour table) instead of
copied ones. Layers are computed chunk by chunk into tiled temporary GeoTIFFs beside their targets
(several layers in one dask pass, so shared work such as a composite's median is done once),
converted to COG (internal overviews: average for continuous, mode for classes, the method kept in
the ``OVERVIEW_RESAMPLING`` tag) under a second temporary name and renamed into place only when all
are complete, so a crash or a failed check never leaves a half-written file under a real name.

A class layer also gets a GDAL PAM sidecar ``<file>.aux.xml`` with the class names as band
category names and as a raster attribute table (value, name, colour), which GDAL, rasterio's GDAL
and QGIS read (GeoTIFF has no place for a RAT of its own). It is written from the same
:class:`ClassInfo` list as the colour table and the ``CLASS_NAMES`` tag, under a temporary name, and
renamed into place right after its COG; an older sidecar of the target (a stale one would
override what the new file says, e.g. GDAL's cached statistics) is removed before the COG is
replaced, so a crash leaves the new COG without a sidecar at worst, never with a wrong one.
"""

from __future__ import annotations

import json
import os
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import dask.array as dsa
import numpy as np
import rasterio
import rasterio.shutil
import xarray as xr
from dask.utils import SerializableLock
from odc.geo.geobox import GeoBox

from pfatlas.grid import check_on_grid

__all__ = [
    "ClassInfo",
    "Layer",
    "write_cog",
    "write_cogs",
    "atomic_path",
    "pam_sidecar",
    "class_pam_xml",
    "CLASS_NODATA",
    "OVERVIEW_RESAMPLING",
]

CLASS_NODATA = 255
#: Resampling of the internal overviews by kind of layer (also written to the ``OVERVIEW_RESAMPLING`` tag).
OVERVIEW_RESAMPLING = {"continuous": "AVERAGE", "class": "MODE"}
# GDAL raster attribute table codes (gdal.h: GDALRATFieldType, GDALRATFieldUsage)
_GFT_INTEGER, _GFT_STRING = 0, 2
_GFU_NAME, _GFU_MINMAX, _GFU_RED, _GFU_GREEN, _GFU_BLUE, _GFU_ALPHA = 2, 5, 6, 7, 8, 9


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
    """``da.store`` target writing chunks into a GeoTIFF by path, under a lock.

    It holds only the path and a lock, so it pickles: with a ``dask.distributed`` client the chunks
    are computed and written by the workers, each opening the file for update, writing its window
    and closing it, one at a time per file (a cluster-wide :class:`distributed.Lock`); with the
    threaded scheduler the lock is a process lock. GDAL rewrites a tile that two chunks share.
    """

    def __init__(self, path: Path, lock):
        self.path = str(path)
        self.lock = lock

    def __setitem__(self, key, value):
        rows, cols = key
        window = rasterio.windows.Window(
            cols.start, rows.start, cols.stop - cols.start, rows.stop - rows.start
        )
        with self.lock, rasterio.open(self.path, "r+") as dst:
            dst.write(value, 1, window=window)


def _write_lock(path: Path):
    """A lock for the writes into ``path``: cluster-wide when a distributed client is active."""
    try:
        from distributed import Lock, get_client

        get_client()  # the active client, else ValueError
    except (ImportError, ValueError):
        return SerializableLock()
    return Lock(f"pfatlas-write-{uuid.uuid4().hex}")


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
    kind = "continuous" if layer.classes is None else "class"
    dst.update_tags(OVERVIEW_RESAMPLING=OVERVIEW_RESAMPLING[kind])
    if layer.classes is not None:
        names = {str(c.value): c.name for c in layer.classes}
        dst.update_tags(CLASS_NAMES=json.dumps(names, ensure_ascii=False))


def pam_sidecar(path: str | Path) -> Path:
    """The GDAL PAM sidecar of a raster: ``<file>.aux.xml`` beside it."""
    path = Path(path)
    return path.with_name(path.name + ".aux.xml")


def class_pam_xml(classes: Sequence[ClassInfo]) -> str:
    """GDAL PAM XML giving band 1 the class names as category names and a raster attribute table.

    Category names are a list indexed by pixel value (empty names for unused values up to the
    largest code); the thematic attribute table has one row per class with the columns
    ``value`` (usage MinMax), ``class`` (usage Name) and ``red``/``green``/``blue``/``alpha``.

    Examples
    --------
    >>> xml = class_pam_xml([ClassInfo(0, "no permafrost", (230, 200, 150)), ClassInfo(2, "ice", (0, 0, 255))])
    >>> [c.text for c in ET.fromstring(xml).iter("Category")]
    ['no permafrost', None, 'ice']
    >>> [[f.text for f in row] for row in ET.fromstring(xml).iter("Row")][1]
    ['2', 'ice', '0', '0', '255', '255']
    """
    root = ET.Element("PAMDataset")
    band = ET.SubElement(root, "PAMRasterBand", band="1")
    names = {c.value: c.name for c in classes}
    cats = ET.SubElement(band, "CategoryNames")
    for v in range(max(names) + 1):
        ET.SubElement(cats, "Category").text = names.get(v) or None
    rat = ET.SubElement(band, "GDALRasterAttributeTable", tableType="thematic")
    fields = [("value", _GFT_INTEGER, _GFU_MINMAX), ("class", _GFT_STRING, _GFU_NAME),
              ("red", _GFT_INTEGER, _GFU_RED), ("green", _GFT_INTEGER, _GFU_GREEN),
              ("blue", _GFT_INTEGER, _GFU_BLUE), ("alpha", _GFT_INTEGER, _GFU_ALPHA)]  # fmt: skip
    for i, (name, ftype, usage) in enumerate(fields):
        f = ET.SubElement(rat, "FieldDefn", index=str(i))
        ET.SubElement(f, "Name").text = name
        ET.SubElement(f, "Type").text = str(ftype)
        ET.SubElement(f, "Usage").text = str(usage)
    for i, c in enumerate(sorted(classes, key=lambda c: c.value)):
        row = ET.SubElement(rat, "Row", index=str(i))
        for v in (c.value, c.name, *c.color, 255):
            ET.SubElement(row, "F").text = str(v)
    ET.indent(root, space="  ")
    return ET.tostring(root, encoding="unicode") + "\n"


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
    pams = {layer.path: atomic_path(pam_sidecar(layer.path)) for layer in layers if layer.classes is not None}
    try:
        for layer in layers:  # created and closed here; the chunks are written by path
            with rasterio.open(
                tmps[layer.path], "w", **_profile(gbox, layer.classes is not None, blocksize)
            ) as h:
                if layer.classes is not None:
                    _write_colormap(h, layer)
        dsa.store(
            [_dask_data(layer, blocksize) for layer in layers],
            [_WindowWriter(tmps[layer.path], _write_lock(tmps[layer.path])) for layer in layers],
            lock=False,
        )
        for layer in layers:
            with rasterio.open(tmps[layer.path], "r+") as h:
                _finish_tags(h, layer)
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
                OVERVIEW_RESAMPLING=OVERVIEW_RESAMPLING["class" if is_class else "continuous"],
                BIGTIFF="IF_SAFER",
            )
            if is_class:
                pams[layer.path].write_text(class_pam_xml(layer.classes), encoding="utf-8")
        for layer in layers:
            pam_sidecar(layer.path).unlink(missing_ok=True)
            os.replace(cogs[layer.path], layer.path)
            if layer.path in pams:
                os.replace(pams[layer.path], pam_sidecar(layer.path))
    finally:
        for p in [*tmps.values(), *cogs.values(), *pams.values()]:
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
    with 255 nodata, a colour table, the class names in the ``CLASS_NAMES`` tag (JSON) and the
    ``<file>.aux.xml`` sidecar (category names and attribute table, see :func:`class_pam_xml`).
    ``units`` and ``description`` go to the dataset and band tags.
    """
    layer = Layer(da, Path(path), units, description, classes, dict(tags or {}))
    return write_cogs([layer], gbox=gbox, blocksize=blocksize)[0]
