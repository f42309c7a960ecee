"""Lazy reading of any GDAL raster onto the target grid.

Each dask task gets a file path and a small frozen spec (band, destination window transform,
resampling) and warps just its chunk with GDAL (``rasterio.warp.reproject``). No open handle ever
enters the graph, so the same graph runs on threads, processes or a distributed cluster, and eager
and lazy reading share this one code path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import dask.array as dsa
import numpy as np
import rasterio
import rasterio.errors
import xarray as xr
from dask.base import tokenize
from odc.geo.geobox import GeoBox
from pyproj import CRS
from rasterio.enums import Resampling
from rasterio.warp import reproject, transform_bounds

from pfatlas.errors import CoverageError, CRSError, InputError, MissingInputError
from pfatlas.grid import grid_coords

__all__ = ["RasterInfo", "raster_info", "read_to_grid", "read_window", "chunk_sizes", "DEFAULT_CHUNK"]

DEFAULT_CHUNK = 1024
WARP_BLOCK = 512  # [cells] inputs in another CRS are warped on this fixed block grid of the target grid


@dataclass(frozen=True)
class RasterInfo:
    """What pfatlas needs to know of a raster file before reading it."""

    path: str
    crs: CRS
    bounds: tuple[float, float, float, float]
    shape: tuple[int, int]
    count: int
    dtypes: tuple[str, ...]
    nodata: float | None
    transform: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)  # affine coefficients a..f

    def bounds_in(self, crs: CRS) -> tuple[float, float, float, float]:
        """Bounds transformed (densified) to ``crs``."""
        return transform_bounds(self.crs, crs, *self.bounds, densify_pts=21)


def raster_info(path: str | Path) -> RasterInfo:
    """Open ``path`` once and check it is a georeferenced raster with a CRS."""
    path = Path(path)
    if not path.exists():
        raise MissingInputError("file does not exist", path=path)
    try:
        with rasterio.open(path) as src:
            if src.crs is None:
                raise CRSError("raster has no coordinate reference system", path=path)
            if src.transform.is_identity:
                raise CRSError("raster has no georeferencing (identity transform)", path=path)
            return RasterInfo(
                path=str(path),
                crs=CRS.from_user_input(src.crs.to_wkt()),
                bounds=tuple(src.bounds),
                shape=(src.height, src.width),
                count=src.count,
                dtypes=tuple(src.dtypes),
                nodata=src.nodata,
                transform=tuple(src.transform)[:6],
            )
    except rasterio.errors.RasterioIOError as exc:
        raise MissingInputError(f"cannot be read as a raster ({exc})", path=path) from None


def covers(info: RasterInfo, gbox: GeoBox, *, tolerance_cells: float = 0.5) -> bool:
    """True when the raster's footprint contains the whole grid (to ``tolerance_cells``)."""
    x0, y0, x1, y1 = info.bounds_in(gbox.crs)
    gx0, gy0, gx1, gy1 = gbox.extent.boundingbox
    tol = tolerance_cells * abs(gbox.resolution.x)
    return x0 <= gx0 + tol and y0 <= gy0 + tol and x1 >= gx1 - tol and y1 >= gy1 - tol


def overlaps(info: RasterInfo, gbox: GeoBox) -> bool:
    """True when the raster's footprint and the grid intersect."""
    x0, y0, x1, y1 = info.bounds_in(gbox.crs)
    gx0, gy0, gx1, gy1 = gbox.extent.boundingbox
    return x0 < gx1 and x1 > gx0 and y0 < gy1 and y1 > gy0


def _warp_block(
    path: str,
    band: int,
    dst_crs_wkt: str,
    dst_transform: tuple,
    shape: tuple[int, int],
    resampling: str,
    dtype: str,
    fill: float,
    src_nodata: float | None,
) -> np.ndarray:
    """Warp one destination window of one band (runs inside a dask task)."""
    # GDAL warps band to band: the destination is an in-memory GeoTIFF created with its
    # georeferencing (WarpedVRT windows are shifted by a fraction of a cell for some window sizes,
    # and reproject() into a bare numpy array toggles warning filters, which is not thread-safe).
    with rasterio.Env(GDAL_NUM_THREADS=1), rasterio.open(path) as src:
        nodata = src.nodata if src_nodata is None else src_nodata
        window = _aligned_window(src, dst_crs_wkt, dst_transform, shape)
        if window is not None:
            return _read_aligned(src, band, window, nodata, dtype, fill)
        with (
            rasterio.MemoryFile() as mem,
            mem.open(
                driver="GTiff",
                width=shape[1],
                height=shape[0],
                count=1,
                dtype=dtype,
                crs=dst_crs_wkt,
                transform=rasterio.Affine(*dst_transform[:6]),
                nodata=fill,
            ) as dst,
        ):
            reproject(
                source=rasterio.band(src, band),
                destination=rasterio.band(dst, 1),
                src_nodata=nodata,
                dst_nodata=fill,
                resampling=Resampling[resampling],
            )
            return dst.read(1)


def _aligned_window(src, dst_crs_wkt: str, dst_transform: tuple, shape: tuple[int, int]):
    """The source window that is exactly the destination block, or None.

    When a file is already on the grid (same CRS, same north-up cell size, whole-cell offset) and
    holds the whole block, reading the window gives what any resampling would, without a warp.
    """
    st, dt_ = src.transform, rasterio.Affine(*dst_transform[:6])
    if st.b != 0 or st.d != 0 or dt_.b != 0 or dt_.d != 0:
        return None
    if not (
        np.isclose(st.a, dt_.a, rtol=0, atol=1e-9 * abs(dt_.a))
        and np.isclose(st.e, dt_.e, rtol=0, atol=1e-9 * abs(dt_.e))
    ):
        return None
    col = (dt_.c - st.c) / st.a
    row = (dt_.f - st.f) / st.e
    if abs(col - round(col)) > 1e-6 or abs(row - round(row)) > 1e-6:
        return None
    col, row = int(round(col)), int(round(row))
    if col < 0 or row < 0 or col + shape[1] > src.width or row + shape[0] > src.height:
        return None
    if src.crs is None or src.crs != rasterio.crs.CRS.from_wkt(dst_crs_wkt):
        return None
    return rasterio.windows.Window(col, row, shape[1], shape[0])


def _read_aligned(src, band: int, window, nodata, dtype: str, fill: float) -> np.ndarray:
    data = src.read(band, window=window)
    out = data.astype(dtype, copy=False)
    if nodata is not None:
        bad = np.isnan(data) if np.isnan(nodata) else data == nodata
        if bad.any():
            out[bad] = fill  # `out` is this task's own array (a fresh read, or its cast copy)
    return out


def read_to_grid(
    path: str | Path,
    gbox: GeoBox,
    *,
    band: int = 1,
    resampling: str = "bilinear",
    dtype: str = "float32",
    fill: float = np.nan,
    src_nodata: float | None = None,
    chunks: int = DEFAULT_CHUNK,
    name: str | None = None,
    require_cover: bool = False,
    info: RasterInfo | None = None,
) -> xr.DataArray:
    """Lazily read one band of a raster, warped onto ``gbox``.

    Parameters
    ----------
    path
        Any raster GDAL reads (GeoTIFF, SRTM ``.hgt``, ...). It must have a CRS.
    gbox
        Target grid.
    band
        1-based band index.
    resampling
        GDAL resampling name: ``bilinear`` for continuous data, ``nearest`` or ``mode`` for classes
        and bit masks (never bilinear for those).
    dtype, fill
        Output dtype and the value of cells without data (NaN for floats).
    src_nodata
        Override the file's nodata value.
    chunks
        Chunk edge [cells].
    require_cover
        Raise :class:`CoverageError` unless the raster covers the whole grid.

    Returns
    -------
    xarray.DataArray
        Dask-backed array on ``gbox``; attributes are left for the caller to set.
    """
    info = info or raster_info(path)
    if band < 1 or band > info.count:
        raise InputError(
            f"band {band} does not exist (the file has {info.count})", path=path, field=f"band {band}"
        )
    if resampling == "bilinear" and np.issubdtype(np.dtype(dtype), np.integer):
        raise ValueError("bilinear resampling into an integer dtype: use nearest/mode for classes")
    if require_cover and not covers(info, gbox):
        raise CoverageError(
            f"does not cover the study area (raster bounds {tuple(round(v, 1) for v in info.bounds_in(gbox.crs))} "
            f"vs area {tuple(round(v, 1) for v in gbox.extent.boundingbox)} in {gbox.crs})",
            path=path,
        )
    ny, nx = gbox.shape
    ychunks = chunk_sizes(ny, chunks)
    xchunks = chunk_sizes(nx, chunks)
    crs_wkt = gbox.crs.to_wkt()
    a = gbox.affine
    token = tokenize(str(path), band, crs_wkt, tuple(a), ny, nx, resampling, dtype, fill, src_nodata, chunks)

    same_crs = info.crs == gbox.crs

    def warp(r0, r1, c0, c1):
        t = a @ rasterio.Affine.translation(c0, r0)
        return _warp_block(
            str(path), band, crs_wkt, tuple(t)[:6], (r1 - r0, c1 - c0), resampling, dtype, fill, src_nodata
        )

    def block(block_info=None):
        (r0, r1), (c0, c1) = block_info[None]["array-location"]
        if same_crs:  # an affine mapping: GDAL warps each cell exactly, whatever the window
            return warp(r0, r1, c0, c1)
        # across CRSs GDAL approximates the transformation along each window's rows and sets its
        # kernel scale per window: warp the fixed blocks of the grid that meet the chunk, so that
        # a cell's value never depends on the chunking
        out = np.empty((r1 - r0, c1 - c0), dtype=dtype)
        for br in range(r0 - r0 % WARP_BLOCK, r1, WARP_BLOCK):
            for bc in range(c0 - c0 % WARP_BLOCK, c1, WARP_BLOCK):
                b = warp(br, min(br + WARP_BLOCK, ny), bc, min(bc + WARP_BLOCK, nx))
                ra, rb, ca, cb = max(br, r0), min(br + WARP_BLOCK, r1), max(bc, c0), min(bc + WARP_BLOCK, c1)
                out[ra - r0 : rb - r0, ca - c0 : cb - c0] = b[ra - br : rb - br, ca - bc : cb - bc]
        return out

    data = dsa.map_blocks(
        block,
        chunks=(ychunks, xchunks),
        dtype=dtype,
        meta=np.array((), dtype=dtype),
        name=f"read-{Path(path).name}-{token}",
    )
    return xr.DataArray(data, dims=("y", "x"), coords=grid_coords(gbox), name=name)


def chunk_sizes(n: int, size: int) -> tuple[int, ...]:
    """Dask chunk sizes of ``n`` cells in chunks of ``size`` (the last one shorter)."""
    full, rest = divmod(n, size)
    return (size,) * full + ((rest,) if rest else ())


def band_max(path: str | Path, band: int = 1) -> float:
    """Maximum of the valid cells of one band, read block by block [the band's units]."""
    best = -np.inf
    with rasterio.open(path) as src:
        for _, window in src.block_windows(band):
            block = src.read(band, window=window, masked=True)
            if block.count():
                best = max(best, float(block.max()))
    return best


_POINT_TILE = 512  # [cells] points are read tile by tile: one window read per tile that holds points


def _tile_groups(rows: np.ndarray, cols: np.ndarray):
    """Indices of the points in each ``_POINT_TILE`` square tile that holds any, tile by tile."""
    key = (rows // _POINT_TILE) * (1 << 32) + (cols // _POINT_TILE)
    order = np.argsort(key, kind="stable")
    bounds = np.flatnonzero(np.diff(key[order])) + 1
    return np.split(order, bounds) if order.size else []


def _read_around(src, band: int, rows: np.ndarray, cols: np.ndarray, halo: int):
    """Per tile of points: (indices, window origin row and col, masked block with a ``halo``)."""
    for idx in _tile_groups(rows, cols):
        r0, c0 = int(rows[idx].min()) - halo, int(cols[idx].min()) - halo
        h = int(rows[idx].max()) + halo + 1 - r0
        w = int(cols[idx].max()) + halo + 1 - c0
        block = np.full((h, w), np.nan)
        ra, rb = max(r0, 0), min(r0 + h, src.height)
        ca, cb = max(c0, 0), min(c0 + w, src.width)
        if ra < rb and ca < cb:  # the part inside the raster (a boundless read is several times slower)
            win = rasterio.windows.Window(ca, ra, cb - ca, rb - ra)
            inner = src.read(band, window=win, masked=True)
            block[ra - r0 : rb - r0, ca - c0 : cb - c0] = inner.astype(np.float64).filled(np.nan)
        yield idx, r0, c0, block


def sample_points(path: str | Path, rows, cols, band: int = 1) -> np.ndarray:
    """Values of one band at (row, col) cells of the raster's own grid, as float64 (NaN = nodata
    or outside the raster). Fractional coordinates name the cell they fall in.

    The points are read a tile at a time (one window per 512 x 512 tile holding points), so many
    points cost a few reads and memory stays bounded by the tile.
    """
    rows = np.floor(np.asarray(rows, dtype=np.float64)).astype(np.int64)
    cols = np.floor(np.asarray(cols, dtype=np.float64)).astype(np.int64)
    out = np.full(rows.shape, np.nan)
    with rasterio.open(path) as src:
        for idx, r0, c0, block in _read_around(src, band, rows, cols, 0):
            out[idx] = block[rows[idx] - r0, cols[idx] - c0]
    return out


def read_array(path: str | Path, band: int = 1) -> np.ndarray:
    """One whole band as a numpy array (nodata left as stored) -- for tables and summaries of a
    layer already on the grid; the stages' per-cell work reads lazily with :func:`read_to_grid`."""
    with rasterio.open(path) as src:
        return src.read(band)


def read_window(
    path: str | Path, rows: slice, cols: slice, *, band: int = 1, dtype: str = "float64"
) -> np.ndarray:
    """The grid window ``rows, cols`` of one band of a raster on its own grid, as ``dtype``; for
    float dtypes nodata becomes NaN (class layers keep their nodata code)."""
    with rasterio.open(path) as src:
        win = rasterio.windows.Window(cols.start, rows.start, cols.stop - cols.start, rows.stop - rows.start)
        data = src.read(band, window=win, masked=np.issubdtype(np.dtype(dtype), np.floating))
    if isinstance(data, np.ma.MaskedArray):
        return data.astype(dtype).filled(np.nan)
    return data.astype(dtype, copy=False)


def read_class_names(path: str | Path) -> dict[int, str]:
    """Class code -> name of a class layer written by :func:`pfatlas.io.cog.write_cog`."""
    import json

    with rasterio.open(path) as src:
        raw = src.tags().get("CLASS_NAMES")
    if not raw:
        raise InputError("class raster has no CLASS_NAMES tag (class names)", path=path, field="CLASS_NAMES")
    return {int(k): v for k, v in json.loads(raw).items()}


def class_counts(path: str | Path) -> dict[int, int]:
    """Cells per class code of a uint8 class raster (255 = nodata excluded), block by block."""
    counts = np.zeros(256, dtype=np.int64)
    with rasterio.open(path) as src:
        for _, window in src.block_windows(1):
            counts += np.bincount(src.read(1, window=window).ravel(), minlength=256)
    return {int(c): int(n) for c, n in enumerate(counts) if n and c != 255}


def read_windows(path: str | Path, rows, cols, radius: int, band: int = 1) -> np.ndarray:
    """The (2 radius + 1)^2 windows around (row, col) cells, float64, NaN outside the raster.

    Returns an array of shape (n, 2 radius + 1, 2 radius + 1) (used to compute neighbourhood
    features at sample points without computing the whole layer). Read a tile of points at a time,
    as :func:`sample_points`.
    """
    size = 2 * radius + 1
    rows = np.floor(np.asarray(rows, dtype=np.float64)).astype(np.int64)
    cols = np.floor(np.asarray(cols, dtype=np.float64)).astype(np.int64)
    out = np.full((len(rows), size, size), np.nan)
    with rasterio.open(path) as src:
        for idx, r0, c0, block in _read_around(src, band, rows, cols, radius):
            for i in idx:
                r, c = rows[i] - r0, cols[i] - c0
                out[i] = block[r - radius : r + radius + 1, c - radius : c + radius + 1]
    return out
