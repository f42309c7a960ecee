"""Readers of the vector inputs: land-cover samples, geomorphology map, mining features.

Files are read with geopandas/pyogrio (GeoPackage, GeoJSON, Shapefile, anything OGR reads);
samples may also be a CSV (see :mod:`pfatlas.io.tables`). Every attribute is checked feature by
feature, so a bad one is reported with the file, the feature and the attribute.

Feature numbers
---------------
In error messages of vector files, ``row`` is the **1-based position of the feature in the file**
(the row number of QGIS's attribute table; equal to the ``fid`` of a GeoPackage written in one go).
When the file's own feature id differs (GeoJSON and Shapefile count from 0), the message adds it as
``fid N``. For CSV samples ``row`` is the spreadsheet row (header = row 1).

Attribute names are matched case-insensitively (Shapefile tools often upper-case them).
"""

from __future__ import annotations

import math
import threading
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyogrio.errors
import shapely
from odc.geo.geobox import GeoBox
from pyproj import CRS
from rasterio import Affine
from rasterio.features import rasterize

from pfatlas.errors import CoverageError, CRSError, InputError, MissingInputError, PfatlasWarning
from pfatlas.io.tables import (
    YEAR_RANGE,
    check_integers,
    check_range,
    fail_rows,
    format_list,
    grid_cells,
    keep_inside,
    parse_number,
    parse_numbers,
    read_csv_table,
    read_point_coordinates,
)

__all__ = [
    "MINING_KINDS",
    "MINING_CODES",
    "read_samples",
    "read_geomorphology",
    "rasterize_units",
    "read_mining",
    "rasterize_mining",
]

#: Kinds of mining feature.
MINING_KINDS: tuple[str, ...] = ("pit", "dump")
#: Codes of :func:`rasterize_mining` (255 is never used: every cell is none, pit or dump).
MINING_CODES: dict[str, int] = {"none": 0, "pit": 1, "dump": 2}
NODATA_CLASS = 255  # uint8 nodata of class rasters

_CSV_SUFFIXES = {".csv", ".txt"}
_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0", ""})


# --------------------------------------------------------------------------------------------------
# reading a vector file
# --------------------------------------------------------------------------------------------------


def _read_vector(path: str | Path, layer: str | None) -> gpd.GeoDataFrame:
    """Read one layer with its CRS; lower-case attribute names; add ``_feature`` (1-based) and ``_fid``."""
    path = Path(path)
    if not path.exists():
        raise MissingInputError("file does not exist", path=path)
    try:
        if layer is None:
            layers = pyogrio.list_layers(path)
            spatial = [str(name) for name, geom in layers if geom is not None]
            if len(layers) > 1:
                if len(spatial) != 1:
                    raise InputError(
                        f"has {len(layers)} layers ({format_list(str(n) for n, _ in layers)}); name the one to read",
                        path=path,
                    )
                layer = spatial[0]
        gdf = gpd.read_file(path, engine="pyogrio", layer=layer, fid_as_index=True)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise InputError(f"cannot be read as a vector file ({exc})", path=path, field=layer) from None
    if not isinstance(gdf, gpd.GeoDataFrame) or gdf.geometry.name not in gdf.columns:
        raise InputError("has no geometry (a table without a geometry column)", path=path, field=layer)
    if len(gdf) == 0:
        raise InputError("has no features", path=path, field=layer)
    if gdf.crs is None:
        raise CRSError(
            "has no coordinate reference system (a Shapefile needs its .prj; set the CRS in QGIS and save again)",
            path=path,
        )
    lower = {c: c.strip().lower() for c in gdf.columns if c != gdf.geometry.name}
    if len(set(lower.values())) != len(lower):
        dup = sorted({v for v in lower.values() if list(lower.values()).count(v) > 1})
        raise InputError(f"attribute names differ only in case: {', '.join(dup)}", path=path, field=dup[0])
    gdf = gdf.rename(columns=lower)
    gdf["_fid"] = np.asarray(gdf.index, dtype=np.int64)
    gdf["_feature"] = np.arange(1, len(gdf) + 1, dtype=np.int64)
    return gdf.reset_index(drop=True)


def _where(gdf: gpd.GeoDataFrame, i: int) -> str:
    """``feature 3`` or ``feature 3 (fid 2)`` for messages."""
    feat, fid = int(gdf["_feature"].iat[i]), int(gdf["_fid"].iat[i])
    return f"feature {feat}" + ("" if fid == feat else f" (fid {fid})")


def _fail(path, gdf: gpd.GeoDataFrame, idx, field: str | None, message: str, kind: type = InputError):
    """Raise for the first of positions ``idx`` (numpy ints), naming its feature and counting the rest."""
    idx = [int(i) for i in idx]
    fail_rows(
        str(path),
        [int(gdf["_feature"].iat[i]) for i in idx],
        field,
        f"{_where(gdf, idx[0])}: {message}",
        kind,
    )


def _require(path, gdf: gpd.GeoDataFrame, name: str) -> None:
    if name not in gdf.columns:
        found = [c for c in gdf.columns if c not in ("_fid", "_feature", gdf.geometry.name)]
        raise InputError(
            f"missing attribute '{name}'; attributes found: {', '.join(found) or '(none)'}",
            path=path,
            field=name,
        )


def _check_geometries(path, gdf: gpd.GeoDataFrame, allowed: tuple[str, ...], what: str) -> None:
    """Every feature has a non-empty geometry of an ``allowed`` type."""
    geoms = gdf.geometry.to_numpy()
    missing = np.flatnonzero(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if missing.size:
        _fail(path, gdf, missing, "geometry", "has no geometry")
    types = np.asarray(gdf.geom_type)
    wrong = np.flatnonzero(~np.isin(types, allowed))
    if wrong.size:
        _fail(path, gdf, wrong, "geometry", f"is a {types[wrong[0]]}, not a {what}")


def _area_box(gbox: GeoBox):
    return shapely.box(*gbox.extent.boundingbox)


def _text_attr(path, gdf: gpd.GeoDataFrame, name: str) -> list[str]:
    """Non-blank text values of an attribute (numbers are written as integers where whole)."""
    values = [_as_text(v) for v in gdf[name].tolist()]
    blank = [i for i, v in enumerate(values) if v == ""]
    if blank:
        _fail(path, gdf, blank, name, "is blank")
    return values


def _as_text(value) -> str:
    """Attribute value as stripped text; whole numbers as ``2000`` (not ``2000.0``); missing -> ''."""
    if value is None or (isinstance(value, float | np.floating) and math.isnan(value)):
        return ""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


# --------------------------------------------------------------------------------------------------
# land-cover samples
# --------------------------------------------------------------------------------------------------


def _class_key(name: str) -> str:
    return " ".join(str(name).strip().lower().replace("_", " ").replace("-", " ").split())


def read_samples(
    path: str | Path,
    gbox: GeoBox,
    classes: dict[int, str],
    epochs: list[str],
    *,
    layer: str | None = None,
) -> pd.DataFrame:
    """Read land-cover sample points (training and validation of stage 4).

    Parameters
    ----------
    path
        GeoPackage / GeoJSON / any OGR point layer with a CRS, or a CSV with ``lon``, ``lat``
        [deg, WGS84] or ``x``, ``y`` [m, grid CRS] columns. Attributes: ``class`` (a class name of
        ``classes``, matched case-insensitively with whitespace, ``_`` and ``-`` ignored, or an
        integer class code) and ``epoch`` (an epoch label; the number 2000 reads as ``"2000"``).
    gbox
        Target grid; points outside it are dropped with a :class:`PfatlasWarning`.
    classes
        Class code -> class name of the config.
    epochs
        Epoch labels of the config.
    layer
        Layer to read when the file has several.

    Returns
    -------
    pandas.DataFrame
        Columns x, y [m, grid CRS], row, col (grid cell), class_code (int), class_name (the
        config's spelling), epoch (the config's label), in file order.

    Raises
    ------
    InputError
        Unknown class or epoch (the known ones listed), a non-point geometry, a missing attribute,
        no sample inside the study area.
    CRSError
        A vector file without CRS.
    """
    path = Path(path)
    p = str(path)
    if path.suffix.lower() in _CSV_SUFFIXES:
        table = read_csv_table(path)
        table.require("class", "epoch")
        x, y, _ = read_point_coordinates(table, gbox)
        labels = [f"row {r}" for r in table.data.index]
        raw_class = table.data["class"].tolist()
        raw_epoch = table.data["epoch"].tolist()

        def where(i: int) -> str:
            return ""

        rows = list(table.data.index)
    else:
        gdf = _read_vector(path, layer)
        _require(p, gdf, "class")
        _require(p, gdf, "epoch")
        types = np.asarray(gdf.geom_type)
        geoms = gdf.geometry.to_numpy()
        single = np.flatnonzero((types == "MultiPoint") & (shapely.get_num_geometries(geoms) == 1))
        if single.size:  # a one-point MultiPoint (some tools write only multi-types) is a point
            fixed = np.asarray(geoms, dtype=object)
            fixed[single] = shapely.get_geometry(fixed[single], 0)
            gdf = gdf.set_geometry(gpd.GeoSeries(fixed, index=gdf.index, crs=gdf.crs))
        _check_geometries(p, gdf, ("Point",), "point")
        pts = gdf.geometry.to_crs(gbox.crs)
        x = np.asarray(pts.x, dtype=np.float64)
        y = np.asarray(pts.y, dtype=np.float64)
        rows = [int(v) for v in gdf["_feature"]]
        labels = [f"feature {r}" for r in rows]
        raw_class = gdf["class"].tolist()
        raw_epoch = gdf["epoch"].tolist()

        def where(i: int) -> str:
            return _where(gdf, i) + ": "

    codes, names = _match_classes(p, rows, where, raw_class, classes)
    epoch = _match_epochs(p, rows, where, raw_epoch, epochs)
    row, col, inside = grid_cells(gbox, x, y)
    out = pd.DataFrame(
        {
            "x": x,
            "y": y,
            "row": row,
            "col": col,
            "class_code": np.asarray(codes, dtype=np.int64),
            "class_name": pd.array(names, dtype="str"),
            "epoch": pd.array(epoch, dtype="str"),
        }
    )
    return keep_inside(out, inside, labels, p, "samples", gbox)


def _match_classes(p, rows, where, values, classes: dict[int, str]) -> tuple[list[int], list[str]]:
    by_key: dict[str, int] = {}
    for code, name in classes.items():
        key = _class_key(name)
        if key in by_key:
            raise InputError(f"classes {by_key[key]} and {code} have the same name '{name}'", field="classes")
        by_key[key] = int(code)
    known = "; ".join(f"{c} {n}" for c, n in sorted(classes.items()))
    codes, names = [], []
    for i, v in enumerate(values):
        text = _as_text(v)
        code = None
        if text == "":
            raise InputError(
                f"{where(i)}class is blank; known classes: {known}", path=p, row=rows[i], field="class"
            )
        num = parse_number(text)
        if num is not None and math.isfinite(num) and num.is_integer():
            code = int(num) if int(num) in classes else None
        else:
            code = by_key.get(_class_key(text))
        if code is None:
            raise InputError(
                f"{where(i)}unknown class '{text}'; known classes (name or code): {known}",
                path=p,
                row=rows[i],
                field="class",
            )
        codes.append(code)
        names.append(classes[code])
    return codes, names


def _match_epochs(p, rows, where, values, epochs: list[str]) -> list[str]:
    exact = {str(e).strip(): str(e) for e in epochs}
    folded = {str(e).strip().lower(): str(e) for e in epochs}
    out = []
    for i, v in enumerate(values):
        text = _as_text(v)
        label = exact.get(text) or folded.get(text.lower())
        if label is None:
            what = "epoch is blank" if text == "" else f"unknown epoch '{text}'"
            raise InputError(
                f"{where(i)}{what}; epochs of the config: {', '.join(map(str, epochs))}",
                path=p,
                row=rows[i],
                field="epoch",
            )
        out.append(label)
    return out


# --------------------------------------------------------------------------------------------------
# polygons: geomorphology and mining
# --------------------------------------------------------------------------------------------------


def _read_polygons(path, gbox: GeoBox, layer: str | None, required: tuple[str, ...]) -> gpd.GeoDataFrame:
    """Read a polygon layer, check attributes and geometries, return it in the grid CRS."""
    p = str(path)
    gdf = _read_vector(path, layer)
    for name in required:
        _require(p, gdf, name)
    _check_geometries(p, gdf, ("Polygon", "MultiPolygon"), "polygon")
    geoms = gdf.geometry.to_numpy()
    invalid = np.flatnonzero(~shapely.is_valid(geoms))
    gdf = gdf.to_crs(gbox.crs)
    # area of the repaired shape: a bow-tie is invalid (has area), a collinear ring has no area
    area = np.asarray(gdf.geometry.make_valid().area, dtype=np.float64)
    flat = np.flatnonzero(area <= 0)
    if flat.size:
        _fail(p, gdf, flat, "geometry", "polygon has no area")
    if invalid.size:
        reason = shapely.is_valid_reason(geoms[invalid[0]])
        _fail(p, gdf, invalid, "geometry", f"invalid polygon ({reason}); fix it (e.g. QGIS 'Fix geometries')")
    return gdf


def _no_overlap(p, gdf: gpd.GeoDataFrame, gbox: GeoBox, what: str):
    b = gdf.total_bounds
    return CoverageError(
        f"no {what} intersects the study area (features span {tuple(round(float(v)) for v in b)}, area "
        f"{tuple(round(v) for v in gbox.extent.boundingbox)}, both in {gbox.crs})",
        path=p,
    )


def read_geomorphology(path: str | Path, gbox: GeoBox, *, layer: str | None = None) -> gpd.GeoDataFrame:
    """Read the geomorphology map (polygons with a ``unit`` attribute).

    Parameters
    ----------
    path
        GeoPackage / Shapefile / GeoJSON polygon layer with a CRS.
    gbox
        Target grid.
    layer
        Layer to read when the file has several.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``unit`` (stripped text) and ``geometry``, in the grid CRS, in file order.

    Raises
    ------
    InputError
        Missing or blank ``unit``, a geometry that is not a valid polygon (feature named).
    CRSError
        No CRS.
    CoverageError
        No polygon intersects the study area.
    """
    p = str(path)
    gdf = _read_polygons(path, gbox, layer, ("unit",))
    units = _text_attr(p, gdf, "unit")
    if not gdf.geometry.intersects(_area_box(gbox)).any():
        raise _no_overlap(p, gdf, gbox, "polygon")
    out = gpd.GeoDataFrame({"unit": pd.array(units, dtype="str")}, geometry=gdf.geometry.array, crs=gbox.crs)
    out.attrs["source"] = p
    return out


def rasterize_units(
    gdf: gpd.GeoDataFrame, gbox: GeoBox, column: str = "unit", *, chunks: int | None = None
) -> tuple[np.ndarray, list[str]]:
    """Burn polygon units onto the grid.

    Parameters
    ----------
    gdf
        Polygons with a CRS (reprojected to the grid CRS if needed) and a text attribute ``column``.
    gbox
        Target grid.
    column
        Attribute holding the unit name.
    chunks
        If given, ``codes`` is a lazy dask array of chunks of this edge [cells], each burning only
        the polygons that reach it (the same cells as a burn of the whole grid).

    Returns
    -------
    codes : numpy.ndarray or dask.array.Array
        uint8 array of ``gbox.shape``: code ``k`` is ``names[k]``, 255 where no polygon covers the
        cell centre. Where polygons overlap the later feature wins.
    names : list of str
        Unit names sorted, so codes are 0..n-1 in sorted-name order.
    """
    if gdf.crs is None:
        raise CRSError("polygons have no CRS", field="geometry")
    if column not in gdf.columns:
        raise InputError(f"no attribute '{column}' (have {', '.join(map(str, gdf.columns))})", field=column)
    names = sorted({str(u) for u in gdf[column]})
    if len(names) > NODATA_CLASS:
        raise InputError(f"{len(names)} units: at most {NODATA_CLASS} fit a uint8 class raster", field=column)
    code = {n: k for k, n in enumerate(names)}
    gdf = (
        gdf.to_crs(gbox.crs)
        if CRS.from_user_input(gdf.crs) != CRS.from_user_input(gbox.crs.to_wkt())
        else gdf
    )
    shapes = [(g, code[str(u)]) for g, u in zip(gdf.geometry, gdf[column], strict=True) if g is not None]
    if chunks is None:
        return _burn(shapes, gbox), names
    return _burn_lazy(shapes, gbox, chunks), names


_BURN_LOCK = threading.Lock()


def _burn_block(shapes: list, bounds: np.ndarray, affine: tuple, block_info=None) -> np.ndarray:
    (r0, r1), (c0, c1) = block_info[None]["array-location"]
    t = Affine(*affine) * Affine.translation(c0, r0)
    x0, y1 = t * (0, 0)
    x1, y0 = t * (c1 - c0, r1 - r0)
    x0, x1, y0, y1 = min(x0, x1), max(x0, x1), min(y0, y1), max(y0, y1)
    near = (bounds[:, 0] <= x1) & (bounds[:, 2] >= x0) & (bounds[:, 1] <= y1) & (bounds[:, 3] >= y0)
    mine = [shapes[i] for i in np.flatnonzero(near)]  # in the original order: later still wins
    if not mine:
        return np.full((r1 - r0, c1 - c0), NODATA_CLASS, dtype=np.uint8)
    # rasterio burns into a numpy array through a dataset whose creation silences a warning with
    # catch_warnings, which is process-global: two threads doing it at once can let it escape
    with _BURN_LOCK:
        return rasterize(mine, out_shape=(r1 - r0, c1 - c0), transform=t, fill=NODATA_CLASS, dtype="uint8")


def _burn_lazy(shapes: list, gbox: GeoBox, chunks: int):
    """:func:`_burn` as a dask array, one burn per chunk of the polygons whose bounds reach it."""
    import dask.array as dsa

    from pfatlas.io.raster import chunk_sizes

    ny, nx = gbox.shape
    bounds = np.array([g.bounds for g, _ in shapes], dtype=np.float64).reshape(-1, 4)
    # the transform as plain numbers: dask would take an Affine (a namedtuple) apart
    return dsa.map_blocks(_burn_block, shapes, bounds, list(gbox.affine)[:6], chunks=(chunk_sizes(ny, chunks), chunk_sizes(nx, chunks)),
                          dtype="uint8", meta=np.array((), dtype="uint8"))  # fmt: skip


def _burn(shapes: list, gbox: GeoBox) -> np.ndarray:
    if not shapes:
        return np.full(gbox.shape, NODATA_CLASS, dtype=np.uint8)
    return rasterize(
        shapes,
        out_shape=gbox.shape,
        transform=gbox.affine,
        fill=NODATA_CLASS,
        dtype="uint8",
        all_touched=False,
    )


def _parse_bool(value) -> bool | None:
    if value is None:
        return False
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, float | np.floating) and math.isnan(value):
        return False
    text = _as_text(value).lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return None


def read_mining(path: str | Path, gbox: GeoBox, *, layer: str | None = None) -> gpd.GeoDataFrame:
    """Read the outlines of open pits and waste-rock dumps.

    Attributes: ``kind`` (pit / dump, case-insensitive), ``start_year`` (integer), ``depth_m``
    [m] (pits, > 0), ``height_m`` [m] (dumps, > 0), ``pit_lake`` (optional boolean: true/false,
    yes/no, 1/0; blank is false) and ``name`` (optional).

    Parameters
    ----------
    path
        GeoPackage / Shapefile / GeoJSON polygon layer with a CRS.
    gbox
        Target grid. Features that do not intersect it are dropped with a :class:`PfatlasWarning`.
    layer
        Layer to read when the file has several.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns name (given, else ``pit-3`` after kind and feature number), kind, start_year (int),
        depth_m [m] (NaN for dumps), height_m [m] (NaN for pits), pit_lake (bool, False for dumps),
        geometry, in the grid CRS, in file order.

    Raises
    ------
    InputError
        Unknown kind, a pit without a positive depth, a dump without a positive height, a bad year,
        a polygon with no area, invalid or not a polygon (feature named).
    CRSError
        No CRS.
    CoverageError
        No feature intersects the study area.
    """
    p = str(path)
    gdf = _read_polygons(path, gbox, layer, ("kind", "start_year"))
    n = len(gdf)
    feats = [int(v) for v in gdf["_feature"]]
    kinds = []
    for i, text in enumerate(_text_attr(p, gdf, "kind")):
        k = text.lower()
        if k not in MINING_KINDS:
            _fail(p, gdf, [i], "kind", f"unknown kind '{text}'; expected one of: {', '.join(MINING_KINDS)}")
        kinds.append(k)
    kinds_a = np.asarray(kinds)
    is_pit, is_dump = kinds_a == "pit", kinds_a == "dump"

    year = parse_numbers(p, gdf["start_year"], "start_year", required=True, what="a year", rows=feats)
    year = check_integers(p, year, feats, "start_year")
    check_range(p, year.astype(np.float64), feats, "start_year", *YEAR_RANGE)

    def measure(field: str, mask: np.ndarray, kind: str) -> np.ndarray:
        if not mask.any():
            return np.full(n, np.nan)
        _require(p, gdf, field)
        v = parse_numbers(p, gdf[field], field, required=False, what=f"a {field[:-2]} [m]", rows=feats)
        missing = np.flatnonzero(mask & np.isnan(v))
        if missing.size:
            _fail(p, gdf, missing, field, f"{kind} without {field} (a {kind} needs its {field[:-2]} [m] > 0)")
        bad = np.flatnonzero(mask & (v <= 0))
        if bad.size:
            _fail(p, gdf, bad, field, f"{kind} with {field} = {v[bad[0]]:g} m (must be > 0)")
        return np.where(mask, v, np.nan)

    depth = measure("depth_m", is_pit, "pit")
    height = measure("height_m", is_dump, "dump")

    lake = np.zeros(n, dtype=bool)
    if "pit_lake" in gdf.columns:
        for i, v in enumerate(gdf["pit_lake"].tolist()):
            b = _parse_bool(v)
            if b is None:
                _fail(p, gdf, [i], "pit_lake", f"'{v}' is not true/false (yes/no, 1/0)")
            lake[i] = b and is_pit[i]
    names = [_as_text(v) for v in gdf["name"].tolist()] if "name" in gdf.columns else [""] * n
    names = [nm or f"{k}-{f}" for nm, k, f in zip(names, kinds, feats, strict=True)]

    out = gpd.GeoDataFrame(
        {
            "name": pd.array(names, dtype="str"),
            "kind": pd.array(kinds, dtype="str"),
            "start_year": year,
            "depth_m": depth,
            "height_m": height,
            "pit_lake": lake,
        },
        geometry=gdf.geometry.array,
        crs=gbox.crs,
    )
    hit = np.asarray(out.geometry.intersects(_area_box(gbox)), dtype=bool)
    if not hit.any():
        raise _no_overlap(p, gdf, gbox, "mining feature")
    if not hit.all():
        outside = [f"{names[i]} ({_where(gdf, i)})" for i in np.flatnonzero(~hit)]
        warnings.warn(
            f"{p}: {len(outside)} of {n} mining features outside the study area dropped: {format_list(outside)}",
            PfatlasWarning,
            stacklevel=2,
        )
        out = out[hit].reset_index(drop=True)
    out.attrs["source"] = p
    return out


def rasterize_mining(gdf: gpd.GeoDataFrame, gbox: GeoBox, year: int | None = None) -> np.ndarray:
    """Burn pits and dumps onto the grid: 0 none, 1 pit, 2 dump (:data:`MINING_CODES`).

    Parameters
    ----------
    gdf
        Output of :func:`read_mining` (``kind``, ``start_year``, geometry with a CRS).
    gbox
        Target grid.
    year
        If given, only features with ``start_year <= year`` (mining begun by then).

    Returns
    -------
    numpy.ndarray
        uint8 array of ``gbox.shape``. A cell belongs to a feature when its centre is inside it;
        where features overlap the one started later wins (a pit dug through an older dump is a pit),
        and at equal start years a pit wins over a dump.
    """
    if gdf.crs is None:
        raise CRSError("mining polygons have no CRS", field="geometry")
    for name in ("kind", "start_year"):
        if name not in gdf.columns:
            raise InputError(f"no attribute '{name}' (use read_mining to read the file)", field=name)
    if CRS.from_user_input(gdf.crs) != CRS.from_user_input(gbox.crs.to_wkt()):
        gdf = gdf.to_crs(gbox.crs)
    if year is not None:
        gdf = gdf[np.asarray(gdf["start_year"]) <= year]
    codes = np.asarray([MINING_CODES.get(str(k).lower(), -1) for k in gdf["kind"]], dtype=np.int64)
    bad = np.flatnonzero(codes < 0)
    if bad.size:
        raise InputError(f"unknown kind '{gdf['kind'].iloc[bad[0]]}'", row=int(bad[0]) + 1, field="kind")
    # draw order: earlier start first; at equal years dumps (code 2) before pits (code 1)
    order = np.lexsort((-codes, np.asarray(gdf["start_year"], dtype=np.int64)))
    geoms = gdf.geometry.to_numpy()
    shapes = [(geoms[i], int(codes[i])) for i in order if geoms[i] is not None]
    out = _burn(shapes, gbox)
    out[out == NODATA_CLASS] = MINING_CODES["none"]
    return out
