"""Horn (1981) 3x3 terrain kernels (numba; plain arrays in SI units, no I/O, no xarray).

Every kernel takes a 2-D elevation array ``z`` [m] that already carries a one-cell halo on all four
sides and returns the interior only, so an input of shape ``(ny + 2, nx + 2)`` gives outputs of
shape ``(ny, nx)``. Callers (:mod:`pfatlas.terrain.attributes`) provide the halo: the neighbouring
chunk's cells inside a grid, NaN around the outside of the grid.

Window and sign conventions (row 0 is north, column 0 is west)::

    a b c        dz/dx = ((c + 2 f + i) - (a + 2 d + g)) / (8 dx)    east positive
    d e f        dz/dy = ((a + 2 b + c) - (g + 2 h + i)) / (8 dy)    north positive
    g h i

``dx`` is the ground distance [m] from one column to the next (eastwards) and ``dy`` the ground
distance [m] from one row to the one above it (northwards). For the usual north-up grid both are
the positive cell sizes; a grid whose rows run south to north passes a negative ``dy`` (and one
whose columns run east to west a negative ``dx``), which keeps the signs right.

NaN policy: a cell whose 3x3 window holds any NaN (itself or a neighbour) gives NaN, like
``gdaldem`` without ``-compute_edges``. Aspect of a flat cell (both gradient components exactly
zero) is NaN: the direction is undefined (``gdaldem aspect`` writes its nodata value, -9999, there
unless ``-zero_for_flat`` is given).

The arithmetic is done in float64 whatever the input dtype (float32 or float64); outputs are
float32, the dtype of every continuous layer pfatlas writes.

Reference: Horn, B.K.P. (1981) Hill shading and the reflectance map. Proc. IEEE 69(1): 14-47.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["horn_gradient", "slope_kernel", "aspect_kernel", "slope_aspect_kernel"]

_RAD2DEG = 180.0 / math.pi  # [deg rad-1]


@njit(cache=True, nogil=True, inline="always")
def _window_gradient(z, i, j, inv8dx, inv8dy):
    """(dz/dx, dz/dy) [m m-1] at interior cell (i, j) of ``z`` (halo indices), NaN if any NaN."""
    a = np.float64(z[i - 1, j - 1])
    b = np.float64(z[i - 1, j])
    c = np.float64(z[i - 1, j + 1])
    d = np.float64(z[i, j - 1])
    e = np.float64(z[i, j])
    f = np.float64(z[i, j + 1])
    g = np.float64(z[i + 1, j - 1])
    h = np.float64(z[i + 1, j])
    k = np.float64(z[i + 1, j + 1])
    # a NaN anywhere in the window makes the sum NaN (no comparison with NaN needed)
    if math.isnan(a + b + c + d + e + f + g + h + k):
        return math.nan, math.nan
    p = ((c + 2.0 * f + k) - (a + 2.0 * d + g)) * inv8dx
    q = ((a + 2.0 * b + c) - (g + 2.0 * h + k)) * inv8dy
    return p, q


@njit(cache=True, nogil=True, inline="always")
def _slope_deg(p, q):
    """Slope [deg] from the gradient components [m m-1]."""
    return math.atan(math.sqrt(p * p + q * q)) * _RAD2DEG


@njit(cache=True, nogil=True, inline="always")
def _aspect_deg(p, q):
    """Azimuth [deg clockwise from north, 0..360) of the downslope direction; NaN if flat."""
    if math.isnan(p) or (p == 0.0 and q == 0.0):
        return math.nan
    # the surface faces down the gradient: downslope vector (east, north) = (-p, -q)
    az = math.atan2(-p, -q) * _RAD2DEG
    if az < 0.0:
        az += 360.0
    return az


@njit(cache=True, nogil=True, inline="always")
def _to_float32_azimuth(az):
    """Cast an azimuth to float32, folding a value that rounds up to 360 back to 0."""
    out = np.float32(az)
    if out >= np.float32(360.0):
        out = np.float32(0.0)
    return out


@njit(cache=True, nogil=True)
def horn_gradient(z, dx, dy):
    """Horn gradient of a haloed elevation array.

    Parameters
    ----------
    z : ndarray, shape (ny + 2, nx + 2), float32 or float64
        Elevation [m] with a one-cell halo.
    dx, dy : float
        Ground distance [m] between columns (eastwards) and between rows (northwards).

    Returns
    -------
    dzdx, dzdy : ndarray, shape (ny, nx), float64
        dz/dx (east positive) and dz/dy (north positive) [m m-1]; NaN where the window has a NaN.
    """
    ny = z.shape[0] - 2
    nx = z.shape[1] - 2
    inv8dx = 1.0 / (8.0 * dx)
    inv8dy = 1.0 / (8.0 * dy)
    dzdx = np.empty((ny, nx), dtype=np.float64)
    dzdy = np.empty((ny, nx), dtype=np.float64)
    for r in range(ny):
        for c in range(nx):
            p, q = _window_gradient(z, r + 1, c + 1, inv8dx, inv8dy)
            dzdx[r, c] = p
            dzdy[r, c] = q
    return dzdx, dzdy


@njit(cache=True, nogil=True)
def slope_kernel(z, dx, dy):
    """Slope [deg] (0 flat .. 90 vertical) of a haloed elevation array (see :func:`horn_gradient`).

    Returns a float32 array of shape ``(ny, nx)``; NaN where the window has a NaN.
    """
    ny = z.shape[0] - 2
    nx = z.shape[1] - 2
    inv8dx = 1.0 / (8.0 * dx)
    inv8dy = 1.0 / (8.0 * dy)
    out = np.empty((ny, nx), dtype=np.float32)
    for r in range(ny):
        for c in range(nx):
            p, q = _window_gradient(z, r + 1, c + 1, inv8dx, inv8dy)
            out[r, c] = np.float32(_slope_deg(p, q))
    return out


@njit(cache=True, nogil=True)
def aspect_kernel(z, dx, dy):
    """Aspect [deg clockwise from north, 0..360) of a haloed elevation array.

    The direction the slope faces (downslope azimuth): 0 north-facing, 90 east-facing,
    180 south, 270 west. Returns float32, shape ``(ny, nx)``; NaN where the window has a NaN and
    on flat cells (zero gradient), whose facing direction is undefined.
    """
    ny = z.shape[0] - 2
    nx = z.shape[1] - 2
    inv8dx = 1.0 / (8.0 * dx)
    inv8dy = 1.0 / (8.0 * dy)
    out = np.empty((ny, nx), dtype=np.float32)
    for r in range(ny):
        for c in range(nx):
            p, q = _window_gradient(z, r + 1, c + 1, inv8dx, inv8dy)
            out[r, c] = _to_float32_azimuth(_aspect_deg(p, q))
    return out


@njit(cache=True, nogil=True)
def slope_aspect_kernel(z, dx, dy):
    """Slope [deg] and aspect [deg from north] in one pass (same values as the two kernels).

    Returns a float32 array of shape ``(2, ny, nx)``: ``[0]`` slope, ``[1]`` aspect.
    """
    ny = z.shape[0] - 2
    nx = z.shape[1] - 2
    inv8dx = 1.0 / (8.0 * dx)
    inv8dy = 1.0 / (8.0 * dy)
    out = np.empty((2, ny, nx), dtype=np.float32)
    for r in range(ny):
        for c in range(nx):
            p, q = _window_gradient(z, r + 1, c + 1, inv8dx, inv8dy)
            out[0, r, c] = np.float32(_slope_deg(p, q))
            out[1, r, c] = _to_float32_azimuth(_aspect_deg(p, q))
    return out
