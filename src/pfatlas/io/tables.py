"""Readers of the CSV tables a user supplies: boreholes and borehole logs.

Every value is read as text first and parsed here, so that a bad cell is reported with the file,
its row and its column, and the bad value itself, before anything is computed.

Row numbers
-----------
Rows in error messages (``InputError.row``) are **spreadsheet rows**: the header is row 1 and the
first data row is row 2, exactly the number a user sees at the left of the row when the CSV is
opened in a spreadsheet (blank lines count as rows, as they do there). The same convention holds for
every CSV pfatlas reads (:mod:`pfatlas.io.vectors` reads CSV samples with it too).

Column names are matched case-insensitively with surrounding whitespace ignored; files are read as
UTF-8 (with or without a byte-order mark), comma-separated.
"""

from __future__ import annotations

import csv
import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from odc.geo.geobox import GeoBox
from pyproj import Transformer

from pfatlas.errors import InputError, MissingInputError, PfatlasWarning

__all__ = [
    "SETTINGS",
    "SOIL_TYPES",
    "read_boreholes",
    "read_borehole_logs",
    "normalise_setting",
]

#: Settings of a borehole (ground it was drilled in).
SETTINGS: tuple[str, ...] = ("natural", "pit", "dump", "other_disturbed")
#: Soil (layer material) names of borehole logs.
SOIL_TYPES: tuple[str, ...] = ("gravel", "sand", "silt", "clay", "peat", "bedrock", "ice")

# physically plausible ranges (inclusive unless said otherwise)
MAGT_RANGE_C = (-15.0, 10.0)  # [degC] MAGT at the depth of zero annual amplitude
ALT_RANGE_M = (0.0, 20.0)  # [m] active-layer thickness, 0 < alt <= 20
ELEVATION_RANGE_M = (-500.0, 9000.0)  # [m] a.s.l.
YEAR_RANGE = (1900, 2100)
WATER_CONTENT_RANGE_PCT = (0.0, 1000.0)  # [%] gravimetric, ice + unfrozen water
DRY_DENSITY_RANGE_KG_M3 = (100.0, 3000.0)  # [kg m-3]

# cell texts read as "no value" in optional numeric columns
_MISSING_TOKENS = frozenset({"", "nan", "na", "n/a", "null", "none"})
# max number of items listed in a message before "and N more"
_LIST_MAX = 10

BOREHOLE_COLUMNS = [
    "id",
    "x",
    "y",
    "lon",
    "lat",
    "elevation_m",
    "magt_c",
    "alt_m",
    "year",
    "setting",
    "row",
    "col",
]
LOG_COLUMNS = ["borehole_id", "top_m", "bottom_m", "soil", "water_content_pct", "dry_density_kg_m3"]


# --------------------------------------------------------------------------------------------------
# CSV reading with spreadsheet row numbers (shared with pfatlas.io.vectors)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CsvTable:
    """A CSV read as text.

    ``data`` holds one ``str`` column per (lower-cased, stripped) header name, every cell stripped
    of surrounding whitespace; its index is the spreadsheet row number (header = row 1).
    """

    path: str
    data: pd.DataFrame

    @property
    def columns(self) -> list[str]:
        return list(self.data.columns)

    def require(self, *names: str) -> None:
        """Raise :class:`InputError` naming the first of ``names`` missing from the header."""
        for name in names:
            if name not in self.data.columns:
                raise InputError(
                    f"missing required column '{name}'; columns found: {', '.join(self.columns) or '(none)'}"
                    + _delimiter_hint(self.columns),
                    path=self.path,
                    row=1,
                    field=name,
                )


def _delimiter_hint(columns: Sequence[str]) -> str:
    if len(columns) == 1:
        for sep, name in ((";", "semicolons"), ("\t", "tabs"), ("|", "bars")):
            if sep in columns[0]:
                return f" (the header seems separated by {name}; pfatlas reads comma-separated files)"
    return ""


def read_csv_table(path: str | Path) -> CsvTable:
    """Read a CSV file as text, with spreadsheet row numbers as the index.

    Raises
    ------
    MissingInputError
        The file does not exist or cannot be read.
    InputError
        The file is empty, not UTF-8 text, has no data rows, has repeated or blank column names, or
        a row has more (non-blank) fields than the header.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingInputError("file does not exist" if not path.exists() else "is not a file", path=path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"is not UTF-8 text (byte {exc.start}); save it as 'CSV UTF-8' from the spreadsheet", path=path
        ) from None
    except OSError as exc:
        raise MissingInputError(f"cannot be read ({exc.strerror})", path=path) from None
    if not text.strip():
        raise InputError("file is empty (no header, no data)", path=path)
    try:
        records = list(csv.reader(text.splitlines(keepends=True), strict=True))
    except csv.Error as exc:
        raise InputError(f"is not a valid CSV file ({exc})", path=path) from None
    # the header is the first non-blank record; rows are numbered by record as in a spreadsheet
    first = next(i for i, rec in enumerate(records) if any(c.strip() for c in rec))
    header = [c.strip().lower() for c in records[first]]
    while header and header[-1] == "":  # trailing delimiters
        header.pop()
    for i, name in enumerate(header):
        if name == "":
            raise InputError(f"column {i + 1} of the header has no name", path=path, row=first + 1)
        if name in header[:i]:
            raise InputError(
                f"column '{name}' appears twice in the header", path=path, row=first + 1, field=name
            )
    rows: list[list[str]] = []
    index: list[int] = []
    for i in range(first + 1, len(records)):
        cells = [c.strip() for c in records[i]]
        if not any(cells):
            continue  # a blank line: a row of the spreadsheet, but no data
        if len(cells) > len(header):
            if any(cells[len(header) :]):
                raise InputError(
                    f"has {len(cells)} fields but the header has {len(header)} "
                    f"(an unquoted comma inside a value?)",
                    path=path,
                    row=i + 1,
                )
            cells = cells[: len(header)]
        cells += [""] * (len(header) - len(cells))
        rows.append(cells)
        index.append(i + 1)
    if not rows:
        raise InputError("has a header but no data rows", path=path)
    data = pd.DataFrame(rows, columns=header, index=pd.Index(index, name="csv_row"), dtype=object)
    return CsvTable(str(path), data)


# --------------------------------------------------------------------------------------------------
# cell parsing: report the first bad row, the field, the value, and how many more rows are bad
# --------------------------------------------------------------------------------------------------


def _more(rows: Sequence[int]) -> str:
    if len(rows) <= 1:
        return ""
    others = [str(r) for r in rows[1 : 1 + _LIST_MAX]]
    extra = len(rows) - 1 - len(others)
    return f" ({len(rows) - 1} more row(s) like this: {', '.join(others)}{f', ... {extra} more' if extra else ''})"


def fail_rows(path: str, rows: Sequence[int], field: str | None, message: str, kind: type = InputError):
    """Raise ``kind`` for the first of ``rows``, mentioning how many more rows have the problem."""
    raise kind(message + _more(list(rows)), path=path, row=int(rows[0]), field=field)


def format_list(items: Iterable, limit: int = _LIST_MAX) -> str:
    """``a, b, c`` or ``a, b, ... (N more)`` for messages."""
    items = [str(v) for v in items]
    if len(items) <= limit:
        return ", ".join(items)
    return ", ".join(items[:limit]) + f", ... ({len(items) - limit} more)"


def parse_number(value) -> float | None:
    """A cell as a float: ``nan`` for a missing value, ``None`` when it is not a number.

    >>> parse_number(" 1.5 "), parse_number(""), parse_number("abc")
    (1.5, nan, None)
    """
    if value is None:
        return math.nan
    if isinstance(value, bool | np.bool_):
        return None
    if isinstance(value, int | float | np.integer | np.floating):
        return float(value)
    text = str(value).strip()
    if text.lower() in _MISSING_TOKENS:
        return math.nan
    try:
        return float(text)
    except ValueError:
        return None


def parse_numbers(
    path: str,
    values: pd.Series,
    field: str,
    *,
    required: bool,
    what: str = "a number",
    rows: Sequence[int] | None = None,
) -> np.ndarray:
    """Parse a column of cells into float64 [same unit as the cells].

    Text that is not a number is an error; so is a blank/NaN cell when ``required``, and an infinite
    value always. ``rows`` are the row numbers reported (default: the index of ``values``).
    """
    rows = list(values.index) if rows is None else list(rows)
    out = np.empty(len(values), dtype=np.float64)
    bad_text: list[int] = []
    bad_blank: list[int] = []
    first_bad = None
    for i, v in enumerate(values.tolist()):
        num = parse_number(v)
        if num is None or math.isinf(num):
            bad_text.append(i)
            first_bad = v if first_bad is None else first_bad
            num = math.nan
        elif math.isnan(num) and required:
            bad_blank.append(i)
            first_bad = v if first_bad is None else first_bad
        out[i] = num
    if bad_text:
        fail_rows(path, [rows[i] for i in bad_text], field, f"'{first_bad}' is not {what}")
    if bad_blank:
        v = values.iloc[bad_blank[0]]
        shown = "" if v is None or (isinstance(v, float | np.floating) and math.isnan(v)) else str(v).strip()
        fail_rows(
            path,
            [rows[i] for i in bad_blank],
            field,
            f"{'blank' if shown == '' else repr(shown)} where {what} is required",
        )
    return out


def check_range(
    path: str,
    values: np.ndarray,
    rows: Sequence[int],
    field: str,
    lo: float,
    hi: float,
    *,
    lo_open: bool = False,
    hi_open: bool = False,
    unit: str = "",
    why: str = "",
) -> None:
    """Raise :class:`InputError` on the first finite value outside ``lo..hi`` (NaN is skipped)."""
    with np.errstate(invalid="ignore"):
        below = (values <= lo) if lo_open else (values < lo)
        above = (values >= hi) if hi_open else (values > hi)
    bad = np.flatnonzero(np.isfinite(values) & (below | above))
    if bad.size:
        rng = f"{lo:g} {'<' if lo_open else '<='} value {'<' if hi_open else '<='} {hi:g}{' ' + unit if unit else ''}"
        fail_rows(
            path,
            [rows[i] for i in bad],
            field,
            f"{values[bad[0]]:g}{' ' + unit if unit else ''} is outside the plausible range ({rng}){why}",
        )


def check_integers(path: str, values: np.ndarray, rows: Sequence[int], field: str) -> np.ndarray:
    """Raise unless every finite value is a whole number; return them as int64 (NaN must be absent)."""
    bad = np.flatnonzero(np.isfinite(values) & (values != np.round(values)))
    if bad.size:
        fail_rows(path, [rows[i] for i in bad], field, f"{values[bad[0]]:g} is not a whole number")
    return values.astype(np.int64)


def grid_cells(gbox: GeoBox, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Grid row, column and an inside mask of points ``x``, ``y`` [m, grid CRS].

    A point on the west or north edge of a cell belongs to it (cells are half-open).
    """
    col_f, row_f = ~gbox.affine @ (np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
    col_f = np.floor(col_f)
    row_f = np.floor(row_f)
    ny, nx = gbox.shape
    inside = (
        np.isfinite(col_f) & np.isfinite(row_f) & (col_f >= 0) & (col_f < nx) & (row_f >= 0) & (row_f < ny)
    )
    row = np.where(inside, row_f, -1).astype(np.int64)
    col = np.where(inside, col_f, -1).astype(np.int64)
    return row, col, inside


def lonlat_to_grid(gbox: GeoBox, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 lon/lat [deg] to x, y [m] in the grid CRS."""
    tr = Transformer.from_crs("EPSG:4326", gbox.crs.to_wkt(), always_xy=True)
    x, y = tr.transform(np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64))
    return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)


def grid_to_lonlat(gbox: GeoBox, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x, y [m] in the grid CRS to WGS84 lon/lat [deg]."""
    tr = Transformer.from_crs(gbox.crs.to_wkt(), "EPSG:4326", always_xy=True)
    lon, lat = tr.transform(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
    return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)


def read_point_coordinates(table: CsvTable, gbox: GeoBox) -> tuple[np.ndarray, np.ndarray, str]:
    """x, y [m, grid CRS] of the rows of a CSV with ``lon``/``lat`` or ``x``/``y`` columns.

    When both pairs are given, lon/lat are used and x/y must agree with them within one cell.

    Returns
    -------
    x, y, source
        Coordinates and ``"lonlat"`` or ``"xy"``.
    """
    cols = set(table.columns)
    path, df = table.path, table.data
    rows = list(df.index)

    def given(*names: str) -> bool:  # columns there and not left wholly blank
        return all(n in cols and (df[n] != "").any() for n in names)

    # a pair of columns left wholly blank (a template filled in the other way) does not count,
    # unless neither pair has data: then the blanks are reported
    ll_cols, xy_cols = {"lon", "lat"} <= cols, {"x", "y"} <= cols
    has_ll = ll_cols and (given("lon", "lat") or not (xy_cols and given("x", "y")))
    has_xy = xy_cols and (given("x", "y") or not has_ll)
    if not (has_ll or has_xy):
        for a, b in (("lon", "lat"), ("x", "y")):
            if (a in cols) != (b in cols):
                missing = b if a in cols else a
                raise InputError(
                    f"column '{missing}' is missing (its pair '{a if missing == b else b}' is there); "
                    f"columns found: {', '.join(table.columns)}",
                    path=path,
                    row=1,
                    field=missing,
                )
        raise InputError(
            "has neither 'lon','lat' (WGS84 degrees) nor 'x','y' (grid CRS metres) columns; "
            f"columns found: {', '.join(table.columns)}" + _delimiter_hint(table.columns),
            path=path,
            row=1,
            field="lon",
        )
    if has_ll:
        lon = parse_numbers(path, df["lon"], "lon", required=True, what="a longitude [deg]")
        lat = parse_numbers(path, df["lat"], "lat", required=True, what="a latitude [deg]")
        off = np.flatnonzero(np.abs(lat) > 90)
        swapped = " (are lon and lat swapped?)" if off.size and abs(lon[off[0]]) <= 90 else ""
        check_range(path, lon, rows, "lon", -180.0, 180.0, unit="deg")
        check_range(path, lat, rows, "lat", -90.0, 90.0, unit="deg", why=swapped)
        x, y = lonlat_to_grid(gbox, lon, lat)
        if has_xy:
            xg = parse_numbers(path, df["x"], "x", required=True, what="an x coordinate [m]")
            yg = parse_numbers(path, df["y"], "y", required=True, what="a y coordinate [m]")
            dist = np.hypot(xg - x, yg - y)
            bad = np.flatnonzero(dist > abs(gbox.resolution.x))
            if bad.size:
                fail_rows(
                    path,
                    [rows[i] for i in bad],
                    "x",
                    f"x, y ({xg[bad[0]]:.1f}, {yg[bad[0]]:.1f}) are {dist[bad[0]]:.0f} m from lon, lat "
                    f"({lon[bad[0]]:.6f}, {lat[bad[0]]:.6f}) in {gbox.crs}; give one pair, "
                    "or make them agree (x, y must be in the grid CRS)",
                )
        return x, y, "lonlat"
    x = parse_numbers(path, df["x"], "x", required=True, what="an x coordinate [m]")
    y = parse_numbers(path, df["y"], "y", required=True, what="a y coordinate [m]")
    return x, y, "xy"


def warn_dropped_outside(path: str, labels: Sequence, what: str, total: int) -> None:
    """Warn that ``labels`` (ids or row numbers) were outside the grid and are dropped."""
    warnings.warn(
        f"{path}: {len(labels)} of {total} {what} outside the study area dropped: {format_list(labels)}",
        PfatlasWarning,
        stacklevel=4,
    )


def keep_inside(
    out: pd.DataFrame, inside: np.ndarray, labels: Sequence, path: str, what: str, gbox: GeoBox
) -> pd.DataFrame:
    """The rows of ``out`` inside the grid; a warning naming those dropped, an error if none is left."""
    if not inside.any():
        raise InputError(
            f"none of the {len(out)} {what} lies inside the study area "
            f"(grid bounds {tuple(round(v) for v in gbox.extent.boundingbox)} in {gbox.crs})",
            path=path,
        )
    if not inside.all():
        warn_dropped_outside(path, [labels[i] for i in np.flatnonzero(~inside)], what, len(out))
        out = out[inside].reset_index(drop=True)
    out.attrs["source"] = path
    return out


# --------------------------------------------------------------------------------------------------
# boreholes
# --------------------------------------------------------------------------------------------------


def normalise_setting(text: str) -> str | None:
    """Canonical setting name of ``text``, or ``None`` if it is not one.

    >>> normalise_setting(" Other Disturbed"), normalise_setting("other-disturbed"), normalise_setting("road")
    ('other_disturbed', 'other_disturbed', None)
    """
    key = "_".join(str(text).strip().lower().replace("-", " ").replace("_", " ").split())
    return key if key in SETTINGS else None


def _text_column(path: str, df: pd.DataFrame, field: str) -> list[str]:
    """Non-blank text cells of a required column."""
    values = [str(v) for v in df[field].tolist()]
    blank = [r for r, v in zip(df.index, values, strict=True) if v == ""]
    if blank:
        fail_rows(path, blank, field, "blank where a value is required")
    return values


def read_boreholes(path: str | Path, gbox: GeoBox) -> pd.DataFrame:
    """Read and check the boreholes CSV.

    Columns: ``id`` (unique), ``lon``, ``lat`` [deg, WGS84] or ``x``, ``y`` [m, grid CRS],
    ``elevation_m`` (optional, blanks allowed) [m], ``magt_c`` [degC] (MAGT at the depth of zero
    annual amplitude, -15..10), ``alt_m`` (optional, blanks allowed; 0 < alt <= 20) [m], ``year``,
    ``setting`` (natural / pit / dump / other_disturbed; "other disturbed" is accepted).

    Parameters
    ----------
    path
        CSV file (UTF-8, comma-separated, one header row).
    gbox
        Target grid. Boreholes outside it are dropped with a :class:`PfatlasWarning`.

    Returns
    -------
    pandas.DataFrame
        Columns id, x, y [m, grid CRS], lon, lat [deg], elevation_m [m] (NaN if not given),
        magt_c [degC], alt_m [m] (NaN if not given), year (int), setting, row, col (grid cell
        indices), in file order; ``attrs["source"]`` is the path.

    Raises
    ------
    MissingInputError
        The file does not exist.
    InputError
        Empty file, missing column, a bad value, a duplicate id, an unknown setting, or no borehole
        inside the study area. ``row`` is the spreadsheet row (header = row 1).
    """
    table = read_csv_table(path)
    p, df = table.path, table.data
    table.require("id", "magt_c", "year", "setting")
    rows = list(df.index)
    ids = _text_column(p, df, "id")
    seen: dict[str, int] = {}
    for r, i in zip(rows, ids, strict=True):
        if i in seen:
            raise InputError(
                f"duplicate borehole id '{i}' (also in row {seen[i]})", path=p, row=r, field="id"
            )
        seen[i] = r
    x, y, _ = read_point_coordinates(table, gbox)
    lon, lat = grid_to_lonlat(gbox, x, y)

    magt = parse_numbers(p, df["magt_c"], "magt_c", required=True, what="a temperature [degC]")
    check_range(p, magt, rows, "magt_c", *MAGT_RANGE_C, unit="degC", why=" (is it in degC?)")
    nan = pd.Series([""] * len(df), index=df.index)
    elev = parse_numbers(
        p, df.get("elevation_m", nan), "elevation_m", required=False, what="an elevation [m]"
    )
    check_range(p, elev, rows, "elevation_m", *ELEVATION_RANGE_M, unit="m")
    alt = parse_numbers(p, df.get("alt_m", nan), "alt_m", required=False, what="a thickness [m]")
    check_range(p, alt, rows, "alt_m", *ALT_RANGE_M, lo_open=True, unit="m", why=" (is it in metres?)")
    year = parse_numbers(p, df["year"], "year", required=True, what="a year")
    year = check_integers(p, year, rows, "year")
    check_range(p, year.astype(np.float64), rows, "year", *YEAR_RANGE)

    settings = []
    for r, text in zip(rows, _text_column(p, df, "setting"), strict=True):
        s = normalise_setting(text)
        if s is None:
            raise InputError(
                f"unknown setting '{text}'; expected one of: {', '.join(SETTINGS)}",
                path=p,
                row=r,
                field="setting",
            )
        settings.append(s)

    row, col, inside = grid_cells(gbox, x, y)
    out = pd.DataFrame(
        {
            "id": pd.array(ids, dtype="str"),
            "x": x,
            "y": y,
            "lon": lon,
            "lat": lat,
            "elevation_m": elev,
            "magt_c": magt,
            "alt_m": alt,
            "year": year,
            "setting": pd.array(settings, dtype="str"),
            "row": row,
            "col": col,
        },
        columns=BOREHOLE_COLUMNS,
    )
    return keep_inside(out, inside, ids, p, "boreholes", gbox)


# --------------------------------------------------------------------------------------------------
# borehole logs
# --------------------------------------------------------------------------------------------------


def read_borehole_logs(path: str | Path, known_ids: Iterable[str] | None = None) -> pd.DataFrame:
    """Read and check the borehole-log (stratigraphy) CSV.

    Columns: ``borehole_id``, ``top_m``, ``bottom_m`` [m below the surface], ``soil`` (gravel /
    sand / silt / clay / peat / bedrock / ice, case-insensitive), ``water_content_pct`` [%,
    gravimetric, ice + unfrozen water, 0..1000; blank only for bedrock], ``dry_density_kg_m3`` [kg m-3, 100..3000] (optional
    column, blanks allowed). Gaps between layers are allowed; overlaps are not.

    Parameters
    ----------
    path
        CSV file.
    known_ids
        Borehole ids with a temperature record. Logs of other boreholes are dropped with one
        :class:`PfatlasWarning` listing their ids (a log without temperature record is normal).

    Returns
    -------
    pandas.DataFrame
        Columns borehole_id, top_m, bottom_m, soil, water_content_pct, dry_density_kg_m3 (NaN where
        not given), sorted by borehole id and depth.

    Raises
    ------
    InputError
        A bad value (``row`` = spreadsheet row), ``top_m < 0``, ``top_m >= bottom_m``, overlapping
        layers of one borehole (both rows named), an unknown soil.
    """
    table = read_csv_table(path)
    p, df = table.path, table.data
    table.require("borehole_id", "top_m", "bottom_m", "soil", "water_content_pct")
    rows = list(df.index)
    ids = _text_column(p, df, "borehole_id")
    top = parse_numbers(p, df["top_m"], "top_m", required=True, what="a depth [m]")
    bottom = parse_numbers(p, df["bottom_m"], "bottom_m", required=True, what="a depth [m]")
    neg = np.flatnonzero(top < 0)
    if neg.size:
        fail_rows(
            p,
            [rows[i] for i in neg],
            "top_m",
            f"negative depth {top[neg[0]]:g} m (depths are below the surface)",
        )
    inv = np.flatnonzero(top >= bottom)
    if inv.size:
        i = inv[0]
        fail_rows(
            p,
            [rows[i] for i in inv],
            "bottom_m",
            f"layer of borehole '{ids[i]}' has top_m {top[i]:g} m >= bottom_m {bottom[i]:g} m",
        )
    soils = []
    for r, text in zip(rows, _text_column(p, df, "soil"), strict=True):
        s = text.strip().lower()
        if s not in SOIL_TYPES:
            raise InputError(
                f"unknown soil '{text}'; expected one of: {', '.join(SOIL_TYPES)}",
                path=p,
                row=r,
                field="soil",
            )
        soils.append(s)
    # a blank water content is allowed for bedrock only (it holds no ground ice to account for)
    w = parse_numbers(
        p, df["water_content_pct"], "water_content_pct", required=False, what="a water content [%]"
    )
    missing = [i for i in np.flatnonzero(np.isnan(w)) if soils[i] != "bedrock"]
    if missing:
        fail_rows(
            p,
            [rows[i] for i in missing],
            "water_content_pct",
            f"missing water content for a {soils[missing[0]]} layer of borehole '{ids[missing[0]]}' "
            "(needed for its ice content; only bedrock layers may leave it blank)",
        )
    check_range(
        p, w, rows, "water_content_pct", *WATER_CONTENT_RANGE_PCT, unit="%", why=" (gravimetric, in %)"
    )
    blank = pd.Series([""] * len(df), index=df.index)
    rho = parse_numbers(
        p, df.get("dry_density_kg_m3", blank), "dry_density_kg_m3", required=False, what="a density [kg m-3]"
    )
    check_range(
        p, rho, rows, "dry_density_kg_m3", *DRY_DENSITY_RANGE_KG_M3, unit="kg m-3", why=" (is it in kg m-3?)"
    )

    out = pd.DataFrame(
        {
            "borehole_id": pd.array(ids, dtype="str"),
            "top_m": top,
            "bottom_m": bottom,
            "soil": pd.array(soils, dtype="str"),
            "water_content_pct": w,
            "dry_density_kg_m3": rho,
            "_row": np.asarray(rows, dtype=np.int64),
        }
    )
    out = out.sort_values(["borehole_id", "top_m", "_row"], kind="stable").reset_index(drop=True)
    # overlapping layers: within a borehole (sorted by top) a layer must start at or below the
    # deepest bottom seen so far
    deepest = out.groupby("borehole_id", sort=False)["bottom_m"].cummax()
    prev_deepest = deepest.groupby(out["borehole_id"], sort=False).shift(1)
    overlap = np.flatnonzero((out["top_m"] < prev_deepest).to_numpy(dtype=bool, na_value=False))
    if overlap.size:
        k = overlap[0]
        bid = out.at[k, "borehole_id"]
        # the first earlier layer of that borehole reaching below this top
        earlier = (out["borehole_id"] == bid).to_numpy() & (out.index < k)
        hit = earlier & (out["bottom_m"] > out.at[k, "top_m"]).to_numpy()
        other = out.iloc[int(np.flatnonzero(hit)[0])]
        raise InputError(
            f"layers of borehole '{bid}' overlap: row {int(other['_row'])} "
            f"({other['top_m']:g}-{other['bottom_m']:g} m) and row {int(out.at[k, '_row'])} "
            f"({out.at[k, 'top_m']:g}-{out.at[k, 'bottom_m']:g} m)",
            path=p,
            row=int(out.at[k, "_row"]),
            field="top_m",
        )
    if known_ids is not None:
        known = {str(i).strip() for i in known_ids}
        keep = out["borehole_id"].isin(known).to_numpy()
        if not keep.all():
            unknown = sorted(set(out.loc[~keep, "borehole_id"]))
            note = (
                " (no log matches any known borehole: are the ids written the same way?)"
                if not keep.any()
                else ""
            )
            warnings.warn(
                f"{p}: logs of {len(unknown)} borehole(s) with no temperature record dropped "
                f"({int((~keep).sum())} layers): {format_list(unknown)}{note}",
                PfatlasWarning,
                stacklevel=2,
            )
            out = out[keep].reset_index(drop=True)
    out = out.drop(columns="_row")
    out.attrs["source"] = p
    return out
