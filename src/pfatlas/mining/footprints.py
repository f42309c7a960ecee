"""Footprints of pits and dumps on the grid, held feature by feature (no whole-grid array).

A :class:`Footprint` is the set of cells of one feature -- the cells whose centre lies inside its
polygon, where polygons overlap the one drawn last wins -- as a boolean mask over the bounding box
of those cells. A build keeps one per feature (a few kB each) and paints them into any window of
the grid (:func:`paint_index`), so the per-chunk tasks of the mining stages never need the feature
number of every cell of the area at once.

Footprints come from polygons (:func:`footprints_from_polygons`: each feature is rasterised in its
own window together with the features that overlap it, in drawing order, which gives exactly the
cells a rasterisation of all features over the whole grid gives) or from the pit and dump classes
of a land-cover raster (:func:`class_polygons`: the raster is polygonised chunk by chunk and the
pieces merged, so every 4-connected patch of a class becomes one feature).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
import shapely
from odc.geo.geobox import GeoBox
from rasterio.features import rasterize, shapes
from rasterio.windows import Window

__all__ = ["Footprint", "footprints_from_polygons", "footprints_from_index", "class_polygons", "paint_index"]


@dataclass(frozen=True)
class Footprint:
    """The cells of feature ``number``: ``mask`` over the grid cells ``row0:row0+h, col0:col0+w``."""

    number: int
    row0: int
    col0: int
    mask: np.ndarray

    @property
    def cells(self) -> int:
        """Number of cells of the feature."""
        return int(self.mask.sum())

    @property
    def first_cell(self) -> tuple[int, int]:
        """(row, col) of the feature's first cell in raster order (top row, then leftmost)."""
        r = int(np.flatnonzero(self.mask.any(axis=1))[0])
        return self.row0 + r, self.col0 + int(np.flatnonzero(self.mask[r])[0])

    def window(self, halo: int, shape: tuple[int, int]) -> tuple[slice, slice]:
        """Grid slices of the footprint's bounding box grown by ``halo`` cells, clipped to ``shape``."""
        h, w = self.mask.shape
        return (
            slice(max(self.row0 - halo, 0), min(self.row0 + h + halo, shape[0])),
            slice(max(self.col0 - halo, 0), min(self.col0 + w + halo, shape[1])),
        )

    def mask_in(self, rows: slice, cols: slice) -> np.ndarray:
        """The footprint as a boolean array over the grid window ``rows, cols``."""
        out = np.zeros((rows.stop - rows.start, cols.stop - cols.start), dtype=bool)
        _paint(out, rows.start, cols.start, self, True)
        return out

    def overlaps(self, rows: slice, cols: slice, halo: int = 0) -> bool:
        """Whether the bounding box grown by ``halo`` meets the grid window ``rows, cols``."""
        h, w = self.mask.shape
        return (
            self.row0 - halo < rows.stop
            and self.row0 + h + halo > rows.start
            and self.col0 - halo < cols.stop
            and self.col0 + w + halo > cols.start
        )


def _paint(out: np.ndarray, r0: int, c0: int, fp: Footprint, value) -> None:
    """Set ``out`` (a window whose first cell is grid cell ``r0, c0``) to ``value`` on ``fp``'s cells."""
    h, w = fp.mask.shape
    ra, rb = max(fp.row0, r0), min(fp.row0 + h, r0 + out.shape[0])
    ca, cb = max(fp.col0, c0), min(fp.col0 + w, c0 + out.shape[1])
    if ra >= rb or ca >= cb:
        return
    m = fp.mask[ra - fp.row0 : rb - fp.row0, ca - fp.col0 : cb - fp.col0]
    out[ra - r0 : rb - r0, ca - c0 : cb - c0][m] = value


def paint_index(footprints: Sequence[Footprint], rows: slice, cols: slice) -> np.ndarray:
    """Feature number of every cell of the grid window ``rows, cols`` (int32, -1 for none)."""
    out = np.full((rows.stop - rows.start, cols.stop - cols.start), -1, dtype=np.int32)
    for fp in footprints:
        if fp.overlaps(rows, cols):
            _paint(out, rows.start, cols.start, fp, fp.number)
    return out


def _trim(number: int, burned: np.ndarray, r0: int, c0: int) -> Footprint:
    mask = burned == number
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return Footprint(number, r0, c0, np.zeros((0, 0), dtype=bool))
    return Footprint(
        number,
        r0 + int(rows[0]),
        c0 + int(cols[0]),
        mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].copy(),
    )


def footprints_from_polygons(geometries: Sequence, numbers: Sequence[int], gbox: GeoBox) -> list[Footprint]:
    """Footprints of polygons on ``gbox`` (map coordinates of the grid's CRS).

    ``numbers`` are the features' numbers in drawing order: where polygons overlap, the later one
    takes the cells. A polygon with no cell centre inside gets an empty footprint (``cells == 0``).
    """
    ny, nx = gbox.shape
    a = gbox.affine
    inv = ~a
    boxes = []
    for g in geometries:
        x0, y0, x1, y1 = g.bounds
        cs = [inv * (x, y) for x in (x0, x1) for y in (y0, y1)]
        c_lo, c_hi = min(c for c, _ in cs), max(c for c, _ in cs)
        r_lo, r_hi = min(r for _, r in cs), max(r for _, r in cs)
        boxes.append((max(math.floor(r_lo) - 1, 0), min(math.ceil(r_hi) + 1, ny),
                      max(math.floor(c_lo) - 1, 0), min(math.ceil(c_hi) + 1, nx)))  # fmt: skip
    out = []
    for k, n in enumerate(numbers):
        r0, r1, c0, c1 = boxes[k]
        if r0 >= r1 or c0 >= c1:
            out.append(Footprint(int(n), r0, c0, np.zeros((0, 0), dtype=bool)))
            continue
        shown = [(geometries[j], int(numbers[j])) for j in range(len(numbers))
                 if boxes[j][0] < r1 and boxes[j][1] > r0 and boxes[j][2] < c1 and boxes[j][3] > c0]  # fmt: skip
        burned = rasterize(shown, out_shape=(r1 - r0, c1 - c0), transform=a * rasterio.Affine.translation(c0, r0),
                           fill=-1, dtype="int32")  # fmt: skip
        out.append(_trim(int(n), burned, r0, c0))
    return out


def footprints_from_index(index: np.ndarray) -> list[Footprint]:
    """Footprints of the features numbered in a grid of feature numbers (-1 none), by number."""
    return [_trim(int(n), index, 0, 0) for n in np.unique(index) if n >= 0]


def class_polygons(path: str | Path, code: int, chunk: int) -> list:
    """The 4-connected patches of class ``code`` of a class raster as polygons (map coordinates),
    read ``chunk`` x ``chunk`` cells at a time and merged across the chunks' edges."""
    pieces = []
    with rasterio.open(path) as src:
        for r in range(0, src.height, chunk):
            for c in range(0, src.width, chunk):
                win = Window(c, r, min(chunk, src.width - c), min(chunk, src.height - r))
                m = src.read(1, window=win) == code
                if m.any():
                    t = src.window_transform(win)
                    pieces += [
                        shapely.geometry.shape(g) for g, _ in shapes(m.view(np.uint8), mask=m, transform=t)
                    ]
    if not pieces:
        return []
    merged = shapely.unary_union(pieces)
    return list(getattr(merged, "geoms", [merged]))
