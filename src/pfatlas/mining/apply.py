"""From feature runs to maps: footprints, local pre-mining state, change by distance from the edge.

Kernels on numpy arrays (no I/O); features are held as footprints (:mod:`pfatlas.mining.footprints`)
and the change is computed window by window. Each feature's change of MAGT by radius
(:class:`pfatlas.mining.model.RadialChange`) is laid on the map through the Euclidean distance
transform of its footprint: a cell at distance ``d`` outside the edge takes the change at radius
``a + d``, a cell ``d`` inside it the change at ``a - d`` (``a`` the equivalent disc radius). Changes
of several features add (conduction is linear away from the freezing range).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from pfatlas.mining.footprints import Footprint, footprints_from_index
from pfatlas.mining.model import RadialChange

__all__ = ["window_of", "ring_values", "delta_magt_block", "delta_magt_map", "signed_distance"]


def window_of(mask: np.ndarray, halo: int) -> tuple[slice, slice]:
    """The bounding box of ``mask`` grown by ``halo`` cells, clipped to the array."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    ny, nx = mask.shape
    return (
        slice(max(int(rows[0]) - halo, 0), min(int(rows[-1]) + halo + 1, ny)),
        slice(max(int(cols[0]) - halo, 0), min(int(cols[-1]) + halo + 1, nx)),
    )


def signed_distance(mask: np.ndarray, cellsize: float) -> np.ndarray:
    """Distance [m] from the footprint's edge: > 0 outside, < 0 inside (cell centres; the edge
    lies half a cell beyond the outermost footprint cell).

    >>> m = np.zeros((1, 7), bool); m[0, 2:5] = True
    >>> signed_distance(m, 30.0)[0].tolist()
    [45.0, 15.0, -15.0, -45.0, -15.0, 15.0, 45.0]
    """
    out = ndimage.distance_transform_edt(~mask, sampling=cellsize) - cellsize / 2.0
    inside = ndimage.distance_transform_edt(mask, sampling=cellsize) - cellsize / 2.0
    return np.where(mask, -inside, out)


def ring_values(values: np.ndarray, mask: np.ndarray, other: np.ndarray, cellsize: float,
                inner_m: float, outer_m: float) -> np.ndarray:  # fmt: skip
    """Finite ``values`` in the ring ``inner_m < d <= outer_m`` outside the footprint ``mask``,
    leaving out cells of other features (``other``)."""
    w = window_of(mask, int(np.ceil(outer_m / cellsize)) + 1)
    d = signed_distance(mask[w], cellsize)
    sel = (d > inner_m) & (d <= outer_m) & ~other[w] & np.isfinite(values[w])
    return values[w][sel]


def delta_magt_block(
    footprints: Sequence[Footprint],
    changes: dict[int, RadialChange],
    rows: slice,
    cols: slice,
    shape: tuple[int, int],
    cellsize: float,
    reach_m: float,
) -> np.ndarray:
    """Sum over features of their change of MAGT [degC] at each cell's distance from their edge,
    on the window ``rows, cols`` of a grid of ``shape``.

    Each feature's distances are computed on its own window (its footprint's bounding box grown by
    ``reach_m``), so every chunk of the grid gets the same values as the whole grid would. Cells
    farther than ``reach_m`` from a feature get nothing from it.
    """
    delta = np.zeros((rows.stop - rows.start, cols.stop - cols.start), dtype=np.float64)
    halo = int(np.ceil(reach_m / cellsize))
    for fp in footprints:
        ch = changes.get(fp.number)
        if ch is None or fp.cells == 0 or not fp.overlaps(rows, cols, halo):
            continue
        wr, wc = fp.window(halo, shape)
        d = signed_distance(fp.mask_in(wr, wc), cellsize)
        ra, rb = max(wr.start, rows.start), min(wr.stop, rows.stop)
        ca, cb = max(wc.start, cols.start), min(wc.stop, cols.stop)
        if ra >= rb or ca >= cb:
            continue
        d = d[ra - wr.start : rb - wr.start, ca - wc.start : cb - wc.start]
        r = np.clip(ch.radius_m + d, 0.0, None)
        near = d <= reach_m
        delta[ra - rows.start : rb - rows.start, ca - cols.start : cb - cols.start] += np.where(
            near, np.interp(r, ch.r, ch.delta_magt, right=0.0), 0.0
        )
    return delta


def delta_magt_map(
    index: np.ndarray, changes: dict[int, RadialChange], cellsize: float, reach_m: float
) -> np.ndarray:
    """:func:`delta_magt_block` over a whole (small) grid given the feature number of every cell
    (``index``, -1 none) and the run of each feature."""
    ny, nx = index.shape
    return delta_magt_block(
        footprints_from_index(index), changes, slice(0, ny), slice(0, nx), index.shape, cellsize, reach_m
    )
