"""From feature runs to maps: footprints, local pre-mining state, change by distance from the edge.

Kernels on numpy arrays of the grid (no I/O). Each feature's change of MAGT by radius
(:class:`pfatlas.mining.model.RadialChange`) is laid on the map through the Euclidean distance
transform of its footprint: a cell at distance ``d`` outside the edge takes the change at radius
``a + d``, a cell ``d`` inside it the change at ``a - d`` (``a`` the equivalent disc radius). Changes
of several features add (conduction is linear away from the freezing range).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from pfatlas.mining.model import RadialChange

__all__ = ["window_of", "ring_values", "delta_magt_map", "signed_distance"]


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


def delta_magt_map(
    index: np.ndarray, changes: dict[int, RadialChange], cellsize: float, reach_m: float
) -> np.ndarray:
    """Sum over features of their change of MAGT [degC] at each cell's distance from their edge.

    ``index`` is the feature number of every cell (-1 none); ``changes`` the run of each feature.
    Cells farther than ``reach_m`` from a feature get nothing from it.
    """
    delta = np.zeros(index.shape, dtype=np.float64)
    halo = int(np.ceil(reach_m / cellsize))
    for i, ch in changes.items():
        mask = index == i
        if not mask.any():
            continue
        w = window_of(mask, halo)
        d = signed_distance(mask[w], cellsize)
        r = np.clip(ch.radius_m + d, 0.0, None)
        near = d <= reach_m
        delta[w] += np.where(near, np.interp(r, ch.r, ch.delta_magt, right=0.0), 0.0)
    return delta
