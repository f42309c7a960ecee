"""Bounded reads of atlas rasters for the products: memory set by the product, never by the grid.

The products (plates, PDF, viewer) show a layer at a display size, so none of them needs a whole
layer in memory. Beside decimated ``out_shape`` reads (GDAL picks a COG overview), four readers
cover what they need, window by window:

- :func:`read_windows`: band 1 in windows, for reductions (class counts);
- :func:`read_decimated`: the upper-left cell of every ``factor`` x ``factor`` block of cells
  (``src.read(1)[::factor, ::factor]``);
- :func:`count_valid`: the cells that hold a value;
- :func:`class_outlines`: the outlines of the cells of some class codes (pits and dumps),
  polygonised per window and merged across window edges.

Windows (:func:`windows`) are whole internal blocks of the file, up to :data:`WINDOW_CELLS` cells
(at least one block), so every block is decompressed once. The file is opened anew for each window:
GDAL keeps the decompressed blocks of an open dataset in its block cache until the dataset is closed
(up to ``GDAL_CACHEMAX``, by default 5 % of the RAM), so one dataset held open through a whole layer
would hold the whole layer, window reads or not. What is held at a time is thus one window (twice:
GDAL's blocks and the array) plus the product's own array.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import rasterio
from rasterio.io import DatasetReader
from rasterio.windows import Window

__all__ = ["WINDOW_CELLS", "windows", "read_windows", "read_decimated", "count_valid", "class_outlines"]

#: Most cells read at once by the readers of this module (rounded to whole blocks, at least one):
#: 4 M cells, 16 MB of float32.
WINDOW_CELLS = 1 << 22


def windows(src: DatasetReader, max_cells: int | None = None) -> Iterator[Window]:
    """Windows covering band 1 of ``src`` in row-major order, each made of whole internal blocks and
    holding at most ``max_cells`` cells (default :data:`WINDOW_CELLS`) or one block, if larger.

    >>> from rasterio.io import MemoryFile
    >>> from rasterio.transform import from_origin
    >>> with MemoryFile() as f, f.open(driver="GTiff", width=40, height=30, count=1, dtype="uint8",
    ...                                transform=from_origin(0, 900, 30, 30), tiled=True,
    ...                                blockxsize=16, blockysize=16) as src:
    ...     [tuple(map(int, w.flatten())) for w in windows(src, max_cells=600)]
    [(0, 0, 32, 16), (32, 0, 8, 16), (0, 16, 32, 14), (32, 16, 8, 14)]
    """
    cap = WINDOW_CELLS if max_cells is None else int(max_cells)
    bh, bw = src.block_shapes[0]
    bh, bw = max(1, min(bh, src.height)), max(1, min(bw, src.width))
    w = min(src.width, bw * max(1, cap // (bh * bw)))
    h = min(src.height, bh * max(1, cap // (bh * w)))
    for row in range(0, src.height, h):
        for col in range(0, src.width, w):
            yield Window(col, row, min(w, src.width - col), min(h, src.height - row))


def _each_open(path: str | Path, wins: list[Window], masked: bool) -> Iterator[tuple[Window, np.ndarray]]:
    """Band 1 in each of ``wins``, the file opened anew for each (see the module docstring)."""
    for win in wins:
        with rasterio.open(path) as src:
            a = src.read(1, window=win, masked=masked)
        yield win, a


def read_windows(
    path: str | Path, *, masked: bool = False, max_cells: int | None = None
) -> Iterator[tuple[Window, np.ndarray]]:
    """Band 1 of the raster at ``path``, window by window (:func:`windows`): ``(window, array)``.

    Parameters
    ----------
    path
        A raster file.
    masked
        Masked arrays (nodata masked), as ``src.read(1, masked=True)``.
    max_cells
        Most cells per window (default :data:`WINDOW_CELLS`; at least one internal block).
    """
    with rasterio.open(path) as src:
        wins = list(windows(src, max_cells))
    yield from _each_open(path, wins, masked)


def read_decimated(path: str | Path, factor: int, *, masked: bool = False) -> np.ndarray:
    """``src.read(1, masked=masked)[::factor, ::factor]`` of the raster at ``path``, window by window.

    The cell kept for each ``factor`` x ``factor`` block is its upper-left cell (decimation, never
    averaging: a class stays a class and every value is a real cell's value). Memory: the result,
    ``ceil(height / factor) x ceil(width / factor)`` cells, and one window.

    Parameters
    ----------
    path
        A raster file.
    factor
        Keep every ``factor``-th row and column (>= 1), starting from the first.
    masked
        Return a masked array (nodata masked) as ``src.read(1, masked=True)`` does.
    """
    f = int(factor)
    if f < 1:
        raise ValueError(f"the decimation factor must be >= 1, not {factor!r}")
    with rasterio.open(path) as src:
        shape = (-(-src.height // f), -(-src.width // f))
        dtype = src.dtypes[0]
        # windows holding at least one kept row and column (all of them unless f exceeds a window)
        wins = [w for w in windows(src) if _first(w.row_off, f) < w.row_off + w.height
                and _first(w.col_off, f) < w.col_off + w.width]  # fmt: skip
    data = np.empty(shape, dtype=dtype)
    mask = np.zeros(shape, dtype=bool) if masked else None
    for win, a in _each_open(path, wins, masked):
        rf, cf = _first(win.row_off, f), _first(win.col_off, f)
        a = a[rf - int(win.row_off) :: f, cf - int(win.col_off) :: f]
        rows, cols = slice(rf // f, rf // f + a.shape[0]), slice(cf // f, cf // f + a.shape[1])
        data[rows, cols] = np.ma.getdata(a)
        if mask is not None:
            mask[rows, cols] = np.ma.getmaskarray(a)
    return np.ma.MaskedArray(data, mask) if mask is not None else data


def _first(offset: float, f: int) -> int:
    """The first multiple of ``f`` at or after ``offset``: the first kept row (column) of a window."""
    return -(-int(offset) // f) * f


def count_valid(path: str | Path) -> int:
    """Cells of band 1 that hold a value (``src.read(1, masked=True).count()``), window by window."""
    return sum(int(a.count()) for _, a in read_windows(path, masked=True))


def class_outlines(
    path: str | Path, codes: Sequence[int] = (1, 2), *, max_cells: int | None = None
) -> dict[int, list[list[np.ndarray]]]:
    """The polygons formed by the cells of each code in ``codes`` (4-connected, as GDAL polygonises).

    Each window is polygonised alone in pixel coordinates (exact integers); a polygon that reaches
    an inner window edge is merged with its continuation by a union of the pieces (pieces of one
    region share whole cell edges, so the union is exact). Rings are then given GDAL's form: closed,
    no collinear vertices, starting at the corner of the top-left cell, outer ring anticlockwise and
    holes clockwise on the map (north up).

    Parameters
    ----------
    path
        A class raster (integer codes).
    codes
        The codes whose cells are outlined.
    max_cells
        Most cells read at once (:func:`windows`).

    Returns
    -------
    dict
        ``{code: [polygon, ...]}``, polygons ordered by their top-left cell (rows from the top, then
        columns), each a list of closed rings (``(n, 2)`` float arrays of map x, y): the outer ring,
        then the holes in the same order.
    """
    import shapely
    from affine import Affine
    from rasterio.features import shapes

    codes = [int(c) for c in codes]
    with rasterio.open(path) as src:
        height, width, t = src.height, src.width, src.transform
    whole: dict[int, list[list[np.ndarray]]] = {c: [] for c in codes}
    cut: dict[int, list[list[np.ndarray]]] = {c: [] for c in codes}
    for win, z in read_windows(path, max_cells=max_cells):
        r0, c0, h, w = int(win.row_off), int(win.col_off), int(win.height), int(win.width)
        inside = np.isin(z, codes)
        if not inside.any():
            continue
        for geom, value in shapes(z, mask=inside, transform=Affine.translation(c0, r0)):
            rings = [np.asarray(r, dtype="float64") for r in geom["coordinates"]]
            x, y = rings[0][:, 0], rings[0][:, 1]  # column and row of the cell corners
            edge = ((c0 > 0 and x.min() == c0) or (c0 + w < width and x.max() == c0 + w)
                    or (r0 > 0 and y.min() == r0) or (r0 + h < height and y.max() == r0 + h))  # fmt: skip
            (cut if edge else whole)[int(value)].append(rings)
    out: dict[int, list[list[np.ndarray]]] = {}
    for c in codes:
        polys = whole[c]
        if cut[c]:
            merged = shapely.union_all([shapely.Polygon(p[0], p[1:]) for p in cut[c]])
            polys = polys + [[np.asarray(g.exterior.coords), *(np.asarray(i.coords) for i in g.interiors)]
                             for g in shapely.get_parts(merged) if not g.is_empty]  # fmt: skip
        forms = [[_ring_form(r, hole=k > 0) for k, r in enumerate(p)] for p in polys]
        forms = [[p[0], *sorted(p[1:], key=_top_left)] for p in forms]
        forms.sort(key=lambda p: _top_left(p[0]))
        out[c] = [[_to_map(r, t) for r in p] for p in forms]
    return out


def _top_left(ring: np.ndarray) -> tuple[float, float]:
    """(row, column) of the first vertex of a ring in GDAL's form: its top-left corner."""
    return float(ring[0, 1]), float(ring[0, 0])


def _ring_form(ring: np.ndarray, hole: bool) -> np.ndarray:
    """A closed ring of pixel corners (column, row) in GDAL's polygonizer form: no collinear or
    repeated vertices, starting at the top-left corner (least row, then least column), the outer
    ring anticlockwise on a north-up map (clockwise with rows running down), holes the other way."""
    p = ring[:-1] if len(ring) > 1 and (ring[0] == ring[-1]).all() else ring
    while len(p) > 3:
        d_in, d_out = p - np.roll(p, 1, axis=0), np.roll(p, -1, axis=0) - p
        keep = d_in[:, 0] * d_out[:, 1] - d_in[:, 1] * d_out[:, 0] != 0
        if keep.all():
            break
        p = p[keep]
    area2 = float(np.sum(p[:, 0] * np.roll(p[:, 1], -1) - np.roll(p[:, 0], -1) * p[:, 1]))
    if (area2 > 0) != hole:  # rows run down: an outer ring anticlockwise on the map has area2 < 0
        p = p[::-1]
    start = int(np.lexsort((p[:, 0], p[:, 1]))[0])
    p = np.roll(p, -start, axis=0)
    return np.vstack([p, p[:1]])


def _to_map(ring: np.ndarray, t) -> np.ndarray:
    """Map coordinates of pixel corners (column, row) by the affine ``t``, as GDAL applies it."""
    col, row = ring[:, 0], ring[:, 1]
    return np.column_stack([t.c + col * t.a + row * t.b, t.f + col * t.d + row * t.e])
