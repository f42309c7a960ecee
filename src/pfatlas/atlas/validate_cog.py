"""Check that a raster pfatlas wrote is a valid Cloud-Optimized GeoTIFF with the atlas conventions.

:func:`check_cog` lists what is wrong with one file (an empty list means it is fine):

* the COG structure, by ``rio_cogeo.cogeo.cog_validate`` (IFDs before the data, tiles in order,
  overviews tiled and in decreasing size); its warnings count as problems too, as the pfatlas
  writer gives a file none (they would mean a large image without overviews, or overviews that do
  not halve);
* one band, a CRS, nodata set (NaN for float32, 255 for uint8), a ``units`` and a ``description``
  tag, and the overview method in the ``OVERVIEW_RESAMPLING`` tag (``AVERAGE`` for continuous
  layers, ``MODE`` for classes);
* internal overviews whenever the image is larger than one tile, and their content: a class
  overview holds only class codes and nodata; a continuous overview equals the mean of the valid
  cells of each block of the full-resolution image (checked when the image size is a multiple of
  the decimation, since otherwise GDAL's windows do not fall on whole blocks);
* for class layers (uint8): an embedded colour table, the ``CLASS_NAMES`` tag (JSON ``{"code":
  "name"}``) naming every code found in the data, and the ``<file>.aux.xml`` sidecar whose category
  names and attribute table agree with it.

``rio-cogeo`` is a test dependency (``pip install pfatlas[test]``); it is imported when
:func:`check_cog` is called.
"""

from __future__ import annotations

import json
import math
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import rasterio
from rasterio.windows import Window

from pfatlas.io.cog import CLASS_NODATA, OVERVIEW_RESAMPLING, pam_sidecar

__all__ = ["check_cog", "read_pam_classes"]

_MAX_CELLS = 4096 * 4096  # largest part of an image read to check an overview [cells]
_RTOL = 1e-5  # float32 means of up to 64 cells: a few ulp of the cell values


def read_pam_classes(path: str | Path) -> tuple[list[str], list[tuple[int, str, tuple[int, int, int, int]]]]:
    """The category names and the attribute table rows of band 1 in ``<path>.aux.xml``.

    Returns
    -------
    categories
        Category name per pixel value (index = value; ``""`` where unnamed).
    rows
        ``(value, name, (red, green, blue, alpha))`` per attribute-table row, the columns found by
        their GDAL usage (MinMax, Name, Red, Green, Blue, Alpha).

    Raises
    ------
    FileNotFoundError
        No sidecar.
    xml.etree.ElementTree.ParseError
        The sidecar is not well-formed XML.
    """
    root = ET.parse(pam_sidecar(path)).getroot()
    band = next((b for b in root.iter("PAMRasterBand") if b.get("band") == "1"), None)
    if band is None:
        return [], []
    cats = [c.text or "" for c in band.iter("Category")]
    rat = band.find("GDALRasterAttributeTable")
    rows = []
    if rat is not None:
        # column index by GDAL field usage: 2 Name, 5 MinMax, 6-9 Red, Green, Blue, Alpha (gdal.h)
        usage = {int(f.findtext("Usage")): int(f.get("index")) for f in rat.findall("FieldDefn")}
        for row in rat.findall("Row"):
            f = [x.text or "" for x in row.findall("F")]
            rgba = tuple(int(f[usage[u]]) if u in usage else 255 for u in (6, 7, 8, 9))
            rows.append((int(f[usage[5]]), f[usage[2]], rgba))
    return cats, rows


def _structure(path: Path) -> list[str]:
    try:
        from rio_cogeo.cogeo import cog_validate
    except ImportError as err:  # pragma: no cover - rio-cogeo is a test dependency
        raise ImportError("check_cog needs rio-cogeo: pip install 'pfatlas[test]'") from err
    _, errors, warns = cog_validate(str(path), quiet=True)
    return [f"COG structure: {e}" for e in errors] + [f"COG structure (warning): {w}" for w in warns]


def _block_mean(a: np.ndarray, d: int) -> np.ndarray:
    """Mean of the finite cells of each ``d x d`` block of ``a`` (NaN where a block has none)."""
    ny, nx = a.shape
    b = a.reshape(ny // d, d, nx // d, d).astype("float64")
    ok = np.isfinite(b)
    n = ok.sum(axis=(1, 3))
    s = np.where(ok, b, 0.0).sum(axis=(1, 3))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, s / np.maximum(n, 1), np.nan)


def _check_overview(src, path: Path, is_class: bool, codes: set[int]) -> list[str]:
    """Compare the first overview level with the full-resolution image (see the module docstring)."""
    problems = []
    d = src.overviews(1)[0]
    ny, nx = src.height, src.width
    # read at most _MAX_CELLS of the full image, from the top-left corner, in whole blocks of d
    side = max(d, int(math.sqrt(_MAX_CELLS)) // d * d)
    h, w = min(ny // d * d, side), min(nx // d * d, side)
    with rasterio.open(path, overview_level=0) as ovr:
        ov = ovr.read(1, window=Window(0, 0, w // d, h // d))
    if is_class:
        bad = sorted(set(np.unique(ov).tolist()) - codes - {CLASS_NODATA})
        if bad:
            problems.append(f"overview holds values that are no class code: {bad[:10]}")
    elif ny % d == 0 and nx % d == 0:
        full = src.read(1, window=Window(0, 0, w, h))
        expect = _block_mean(full, d)
        if not np.array_equal(np.isnan(expect), np.isnan(ov)):
            problems.append("overview nodata does not match the blocks without valid cells")
        ok = np.isfinite(expect) & np.isfinite(ov)
        scale = np.nanmax(np.abs(full)) if np.isfinite(full).any() else 1.0
        err = np.abs(ov[ok] - expect[ok])
        if err.size and err.max() > _RTOL * max(scale, 1e-30):
            problems.append(f"overview is not the block average (max difference {err.max():.3g})")
    return problems


def _class_problems(src, path: Path) -> tuple[list[str], set[int]]:
    problems: list[str] = []
    try:
        names = {int(k): v for k, v in json.loads(src.tags().get("CLASS_NAMES", "")).items()}
    except (ValueError, AttributeError):
        return ["no valid CLASS_NAMES tag (JSON {code: name})"], set()
    codes = set(names)
    try:
        cmap = src.colormap(1)
    except ValueError:
        cmap = None
        problems.append("no colour table")
    seen = np.zeros(256, dtype=np.int64)
    for _, win in src.block_windows(1):
        seen += np.bincount(src.read(1, window=win).ravel(), minlength=256)
    unnamed = sorted(set(np.flatnonzero(seen).tolist()) - codes - {CLASS_NODATA})
    if unnamed:
        problems.append(f"codes in the data without a class name: {unnamed}")
    try:
        cats, rows = read_pam_classes(path)
    except FileNotFoundError:
        return [*problems, f"no {pam_sidecar(path).name} (class names for GDAL and QGIS)"], codes
    except ET.ParseError as err:
        return [*problems, f"{pam_sidecar(path).name} is not well-formed XML: {err}"], codes
    if {v: cats[v] for v in range(len(cats)) if cats[v]} != names:
        problems.append(f"{pam_sidecar(path).name}: category names differ from CLASS_NAMES")
    if {v: n for v, n, _ in rows} != names:
        problems.append(f"{pam_sidecar(path).name}: attribute table differs from CLASS_NAMES")
    if cmap is not None and any(tuple(cmap[v][:3]) != rgba[:3] for v, _, rgba in rows):
        problems.append(f"{pam_sidecar(path).name}: attribute table colours differ from the colour table")
    return problems, codes


def check_cog(path: str | Path) -> list[str]:
    """What is wrong with the raster at ``path`` as a pfatlas COG (see the module docstring).

    Parameters
    ----------
    path
        A GeoTIFF written by :mod:`pfatlas.io.cog`.

    Returns
    -------
    list of str
        One message per problem, each starting with the file name; empty when the file is fine.
    """
    path = Path(path)
    if not path.is_file():
        return [f"{path}: no such file"]
    problems = _structure(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with rasterio.open(path) as src:
            if src.count != 1:
                problems.append(f"{src.count} bands, expected 1")
            if src.crs is None:
                problems.append("no CRS")
            dtype = src.dtypes[0]
            is_class = dtype == "uint8"
            if dtype not in ("uint8", "float32"):
                problems.append(f"data type {dtype}, expected float32 (continuous) or uint8 (classes)")
            if is_class and src.nodata != CLASS_NODATA:
                problems.append(f"nodata {src.nodata}, expected {CLASS_NODATA} for a class layer")
            if dtype == "float32" and not (src.nodata is not None and math.isnan(src.nodata)):
                problems.append(f"nodata {src.nodata}, expected NaN for a continuous layer")
            tags = src.tags()
            for key in ("units", "description"):
                if not tags.get(key):
                    problems.append(f"no '{key}' tag")
            expect = OVERVIEW_RESAMPLING["class" if is_class else "continuous"]
            if tags.get("OVERVIEW_RESAMPLING") != expect:
                problems.append(
                    f"OVERVIEW_RESAMPLING tag {tags.get('OVERVIEW_RESAMPLING')!r}, expected {expect}"
                )
            codes: set[int] = set()
            if is_class:
                found, codes = _class_problems(src, path)
                problems += found
            blocky, blockx = src.block_shapes[0]
            if not src.overviews(1):
                if src.width > blockx or src.height > blocky:
                    problems.append("no internal overviews although the image is larger than one tile")
            else:
                problems += _check_overview(src, path, is_class, codes)
    return [f"{path.name}: {p}" for p in problems]
