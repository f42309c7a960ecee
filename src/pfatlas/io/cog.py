"""Cloud-Optimized GeoTIFF writer for every raster pfatlas produces.

Two named profiles (continuous float32 + NaN; classes uint8 + 255 + colour table) instead of
copied ones. Layers are computed chunk by chunk (several layers in one dask pass, so shared work
such as a composite's median is done once); the task that computes a chunk writes it as its own
small GeoTIFF into a temporary folder beside the target, under a temporary name renamed when the
file is complete. A VRT then mosaics a layer's chunks with its metadata, GDAL converts it to COG
(internal overviews: average for continuous, mode for classes, the method kept in the
``OVERVIEW_RESAMPLING`` tag) under a second temporary name, and the files are renamed into place
only when all are complete. So no two tasks ever write into one file (no lock between workers), a
task killed mid-write (a lost worker) leaves only a file nothing reads and its rerun writes the
chunk again, a chunk GDAL cannot read back stops the write with a clear error, and a crash, an
interrupt or a failed check never leaves a half-written file under a real name.

A class layer also gets a GDAL PAM sidecar ``<file>.aux.xml`` with the class names as band
category names and as a raster attribute table (value, name, colour), which GDAL, rasterio's GDAL
and QGIS read (GeoTIFF has no place for a RAT of its own). It is written from the same
:class:`ClassInfo` list as the colour table and the ``CLASS_NAMES`` tag, under a temporary name, and
renamed into place right after its COG; an older sidecar of the target (a stale one would
override what the new file says, e.g. GDAL's cached statistics) is removed before the COG is
replaced, so a crash leaves the new COG without a sidecar at worst, never with a wrong one.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
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
from odc.geo.geobox import GeoBox
from rasterio._err import CPLE_BaseError
from rasterio.errors import RasterioError
from rasterio.transform import Affine

from pfatlas.errors import PfatlasError
from pfatlas.grid import check_on_grid
from pfatlas.parallel import local_threads

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
_MOSAIC = "mosaic.vrt"  # the VRT of a layer's chunk files, in its temporary folder
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


class _ChunkWriter:
    """``da.store`` target writing each chunk as its own small GeoTIFF in a temporary folder.

    It holds only the folder and a small creation profile, so it pickles: with a
    ``dask.distributed`` client the workers compute and write their own chunks. A chunk goes to a
    ``.part`` file that is renamed into place once it is complete, so no file is ever shared by two
    tasks (no lock, no tile rewritten by a neighbour) and a task killed in the middle of a write
    leaves at most an orphan ``.part`` that nothing reads; the rerun of the task writes the chunk
    again. The folder is not created here: a task still running after the write was abandoned (and
    the folder removed) fails instead of leaving files behind.
    """

    def __init__(self, folder: Path, profile: dict):
        self.folder = str(folder)
        self.profile = profile

    def __setitem__(self, key, value):
        rows, cols = key
        final = _chunk_file(self.folder, rows.start, cols.start)
        part = f"{final}.{uuid.uuid4().hex[:8]}.part"
        height, width = value.shape
        transform = self.profile["transform"] @ Affine.translation(cols.start, rows.start)
        try:
            with rasterio.open(part, "w", **{**self.profile, "height": height, "width": width,
                                              "transform": transform}) as dst:  # fmt: skip
                dst.write(value, 1)
            os.replace(part, final)
        finally:
            if os.path.exists(part):
                os.unlink(part)


def _chunk_file(folder: str | Path, row: int, col: int) -> str:
    """The chunk file of the chunk whose first cell is (``row``, ``col``)."""
    return os.path.join(folder, f"r{row}_c{col}.tif")


def _chunk_profile(gbox: GeoBox, is_class: bool) -> dict:
    """Creation options of the chunk files (their size and transform are the chunk's)."""
    prof = _profile(gbox, is_class, 256)
    for k in ("width", "height", "BIGTIFF"):
        prof.pop(k)
    return prof


def _mosaic_vrt(folder: Path, gbox: GeoBox, chunks: tuple[tuple[int, ...], ...], is_class: bool,
                blocksize: int) -> Path:  # fmt: skip
    """A VRT of the grid made of the chunk files in ``folder`` (``chunks``: the dask chunk sizes).

    Raises
    ------
    RuntimeError
        When a chunk file is missing (the store did not complete; never expected).
    """
    ny, nx = gbox.shape
    a = gbox.affine
    root = ET.Element("VRTDataset", rasterXSize=str(nx), rasterYSize=str(ny))
    ET.SubElement(root, "SRS", dataAxisToSRSAxisMapping="1,2").text = gbox.crs.to_wkt()
    geotransform = (a.c, a.a, a.b, a.f, a.d, a.e)  # GDAL's order
    ET.SubElement(root, "GeoTransform").text = ", ".join(repr(float(v)) for v in geotransform)
    dtype = "Byte" if is_class else "Float32"
    band = ET.SubElement(root, "VRTRasterBand", dataType=dtype, band="1",
                         blockXSize=str(blocksize), blockYSize=str(blocksize))  # fmt: skip
    ET.SubElement(band, "NoDataValue").text = str(CLASS_NODATA) if is_class else "nan"
    missing = []
    row = 0
    for h in chunks[0]:
        col = 0
        for w in chunks[1]:
            name = os.path.basename(_chunk_file(folder, row, col))
            if not (folder / name).is_file():
                missing.append(name)
            src = ET.SubElement(band, "SimpleSource")
            ET.SubElement(src, "SourceFilename", relativeToVRT="1").text = name
            ET.SubElement(src, "SourceBand").text = "1"
            ET.SubElement(src, "SourceProperties", RasterXSize=str(w), RasterYSize=str(h), DataType=dtype,
                          BlockXSize="256", BlockYSize="256")  # fmt: skip
            ET.SubElement(src, "SrcRect", xOff="0", yOff="0", xSize=str(w), ySize=str(h))
            ET.SubElement(src, "DstRect", xOff=str(col), yOff=str(row), xSize=str(w), ySize=str(h))
            col += w
        row += h
    if missing:
        raise RuntimeError(f"{folder}: chunk file(s) {', '.join(missing[:5])} missing after the write")
    path = folder / _MOSAIC
    path.write_text(ET.tostring(root, encoding="unicode"), encoding="utf-8")
    return path


def _remove_tree(path: Path) -> None:
    """Remove a temporary folder, also when a task still running writes into it meanwhile."""
    for _ in range(5):
        shutil.rmtree(path, ignore_errors=True)
        if not os.path.lexists(path):
            return
        time.sleep(0.05)


@contextlib.contextmanager
def _read_back(layers: Sequence[Layer]):
    """Turns a failure to read the computed chunks back (a damaged chunk file) into a clear error:
    a COG is never made of a chunk GDAL could not read."""
    try:
        yield
    except (RasterioError, CPLE_BaseError) as exc:
        names = ", ".join(str(layer.path) for layer in layers)
        raise PfatlasError(
            f"{names}: the computed chunks could not be read back ({exc}); nothing was written, and "
            "the next build redoes this stage"
        ) from exc


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
        Called with ``{final path: temporary raster}`` (a VRT of the computed chunks, readable with
        rasterio like any raster) once all layers are computed and before anything is renamed into
        place; raise to abandon the write (nothing is left behind).

    Returns
    -------
    list of Path
        The written files, in the order of ``layers``.
    """
    layers = [Layer(**{**layer.__dict__, "path": Path(layer.path)}) for layer in layers]
    for layer in layers:
        check_on_grid(layer.data, gbox, f"layer for {layer.path}")
        layer.path.parent.mkdir(parents=True, exist_ok=True)
    data = [_dask_data(layer, blocksize) for layer in layers]
    chunk_dirs = {layer.path: atomic_path(layer.path) for layer in layers}
    cogs = {layer.path: atomic_path(layer.path) for layer in layers}
    pams = {layer.path: atomic_path(pam_sidecar(layer.path)) for layer in layers if layer.classes is not None}
    try:
        for d in chunk_dirs.values():
            d.mkdir()
        writers = [
            _ChunkWriter(chunk_dirs[ly.path], _chunk_profile(gbox, ly.classes is not None)) for ly in layers
        ]
        dsa.store(data, writers, lock=False)  # each chunk its own file: no lock
        mosaics = {}
        for layer, arr in zip(layers, data, strict=True):
            is_class = layer.classes is not None
            mosaics[layer.path] = _mosaic_vrt(chunk_dirs[layer.path], gbox, arr.chunks, is_class, blocksize)
            with rasterio.open(mosaics[layer.path], "r+") as h:
                if is_class:
                    _write_colormap(h, layer)
                _finish_tags(h, layer)
        if check is not None:
            with _read_back(layers):
                check(dict(mosaics))
        for layer in layers:
            is_class = layer.classes is not None
            with _read_back([layer]):
                rasterio.shutil.copy(
                    mosaics[layer.path],
                    cogs[layer.path],
                    driver="COG",
                    COMPRESS="DEFLATE",
                    LEVEL=6,
                    PREDICTOR="NO" if is_class else "YES",
                    BLOCKSIZE=blocksize,
                    OVERVIEW_RESAMPLING=OVERVIEW_RESAMPLING["class" if is_class else "continuous"],
                    BIGTIFF="IF_SAFER",
                    NUM_THREADS=local_threads(),  # same bytes, compressed in parallel
                )
            if is_class:
                pams[layer.path].write_text(class_pam_xml(layer.classes), encoding="utf-8")
        for layer in layers:
            pam_sidecar(layer.path).unlink(missing_ok=True)
            os.replace(cogs[layer.path], layer.path)
            if layer.path in pams:
                os.replace(pams[layer.path], pam_sidecar(layer.path))
    finally:
        for d in chunk_dirs.values():
            _remove_tree(d)
        for p in [*cogs.values(), *pams.values()]:
            p.unlink(missing_ok=True)
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
