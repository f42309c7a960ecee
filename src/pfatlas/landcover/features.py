"""The feature stack the land-cover classifier sees: spectra, surface temperature and terrain.

Per cell, in this order (names in :data:`SPECTRAL_FEATURES` and from :func:`terrain_feature_names`):

- the growing-season composite's six reflectance bands [1], its seven indices [1] and its land
  surface temperature LST [degC];
- the LST anomaly [degC]: LST minus its within-class linear trend with elevation
  (:class:`LstTrend`, fitted per epoch on the training cells). Surface temperature falls with height
  by several K km-1, so raw LST mixes the cover's own warmth (dry steppe and bare ground warm, wet
  swamp meadow cool) with elevation; a forest on a few hundred points learns that interaction
  poorly, the anomaly hands it the cover's part directly (docs/methods.md section 4);
- elevation [m], slope [deg], northness = cos(aspect) and eastness = sin(aspect) [1] (0 on flat
  cells, which face nowhere);
- local relief at each configured radius r: elevation minus the mean elevation of the
  (2 r/dx + 1)^2 square window around the cell [m] (a topographic position index: negative in
  valley bottoms and hollows, positive on ridges and knolls);
- height above the lowest cell within the largest radius [m] (a wetness / valley-floor proxy: near
  zero on the valley floor where water collects, large on slopes and crests).

The window features are computed with a halo (``dask.array.map_overlap``, the grid's outside
padded with NaN and left out of the window). Window sums are taken on the elevation rounded to
1/256 m (4 mm, far below any DEM's accuracy): every partial sum is then an exact multiple of 2^-8
in float64, so the mean does not depend on the order of summation, and numpy and any chunking give
bit-identical features.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import dask.array as dsa
import numpy as np
import xarray as xr
from scipy.ndimage import minimum_filter

from pfatlas.errors import InputError
from pfatlas.grid import check_on_grid, grid_coords

__all__ = [
    "SPECTRAL_FEATURES",
    "LST_ANOMALY",
    "LstTrend",
    "fit_lst_trend",
    "add_lst_anomaly",
    "spectral_feature_names",
    "window_radius_cells",
    "terrain_feature_names",
    "window_features_kernel",
    "landcover_features",
    "features_at",
    "point_features",
]

#: Composite layers used as features (reflectance and indices [1], LST [degC]).
SPECTRAL_FEATURES = (
    "blue", "green", "red", "nir", "swir1", "swir2",
    "ndvi", "evi", "savi", "ndwi", "mndwi", "ndmi", "nbr", "lst",
)  # fmt: skip

#: The derived feature after :data:`SPECTRAL_FEATURES` when an LST trend is given.
LST_ANOMALY = "lst_anomaly"

_QUANTUM = 256.0  # [m-1] elevation rounded to 1/256 m for exact window sums


@dataclass(frozen=True)
class LstTrend:
    """Linear trend of land surface temperature with elevation (from :func:`fit_lst_trend`).

    ``lst ~ intercept_c + lapse_c_per_m * elevation``; the anomaly of a cell is its LST minus the
    trend at its elevation [degC].
    """

    intercept_c: float  # [degC] at 0 m
    lapse_c_per_m: float  # [degC m-1] (negative: colder with height)
    n_cells: int  # cells the trend was fitted on

    def anomaly(self, lst, elevation):
        """LST anomaly [degC] (float32; NaN where either input is NaN); numpy or dask arrays.

        In float32 throughout, so the stack and the point reads give the same bits.
        """
        lst, elevation = lst.astype(np.float32), elevation.astype(np.float32)
        return lst - (np.float32(self.intercept_c) + np.float32(self.lapse_c_per_m) * elevation)


def fit_lst_trend(lst, elevation, classes=None) -> LstTrend:
    """Least-squares trend of LST [degC] with elevation [m], within classes when they are given.

    With ``classes`` (the training cells' land-cover codes) the lapse is the pooled within-class
    slope (each class its own intercept): how a given cover's surface temperature changes with
    height, not how the covers' mix does (over an area, warm bare ground often sits high and cool
    wet meadow low, which can even turn the plain slope positive). The trend's intercept is then set
    so the anomalies of the fitted cells average zero.

    Parameters
    ----------
    lst, elevation
        Values at the same cells, 1-D (NaN where unknown: left out). Float64 in numpy's fixed
        order: the same cells give the same trend.
    classes
        Class code of each cell, or None for one ordinary least-squares line.

    Returns
    -------
    LstTrend
        Zero lapse when no class spans two elevations (too few or flat cells), intercept 0 when no
        cell has both values (the anomaly is then LST itself).
    """
    t = np.asarray(lst, dtype=np.float64).ravel()
    z = np.asarray(elevation, dtype=np.float64).ravel()
    g = np.zeros(t.shape, dtype=np.int64) if classes is None else np.asarray(classes).ravel()
    ok = np.isfinite(t) & np.isfinite(z)
    n = int(ok.sum())
    if n == 0:
        return LstTrend(intercept_c=0.0, lapse_c_per_m=0.0, n_cells=0)
    t, z, g = t[ok], z[ok], g[ok]
    dt, dz = t.copy(), z.copy()
    for c in np.unique(g):
        m = g == c
        dt[m] -= t[m].mean()
        dz[m] -= z[m].mean()
    szz = float(np.dot(dz, dz))
    lapse = float(np.dot(dz, dt) / szz) if szz > 0 else 0.0
    return LstTrend(intercept_c=float(t.mean() - lapse * z.mean()), lapse_c_per_m=lapse, n_cells=n)


def add_lst_anomaly(X: np.ndarray, trend: LstTrend) -> np.ndarray:
    """Insert the :data:`LST_ANOMALY` column into a point-feature table that lacks it.

    ``X`` has the columns of :func:`point_features` without a trend (composite layers, then
    elevation first among the terrain); the anomaly goes right after the composite's layers.
    """
    k = len(SPECTRAL_FEATURES)
    a = trend.anomaly(X[:, SPECTRAL_FEATURES.index("lst")], X[:, k])
    return np.insert(np.asarray(X, dtype=np.float32), k, a, axis=1)


def spectral_feature_names(with_lst_anomaly: bool) -> tuple[str, ...]:
    """The features that come from the composite (NaN together under persistent cloud)."""
    return (*SPECTRAL_FEATURES, LST_ANOMALY) if with_lst_anomaly else SPECTRAL_FEATURES


def window_radius_cells(radius_m: float, cell_m: float) -> int:
    """Half-width [cells] of the square window for a radius [m] (at least 1)."""
    return max(1, int(round(float(radius_m) / float(cell_m))))


def terrain_feature_names(relief_radii_m: Sequence[float]) -> tuple[str, ...]:
    """Names of the terrain features for the given relief radii [m]."""
    radii = [int(round(r)) for r in relief_radii_m]
    return (
        "elevation",
        "slope",
        "northness",
        "eastness",
        *(f"relief_{r}m" for r in radii),
        f"height_above_min_{max(radii)}m",
    )


def _window_sum(a: np.ndarray, r: int) -> np.ndarray:
    """Sum of ``a`` over the (2r+1)^2 window of each cell, the window clipped to the array."""
    ny, nx = a.shape
    c = np.zeros((ny + 1, nx + 1), dtype=np.float64)
    np.cumsum(np.cumsum(a, axis=0, dtype=np.float64), axis=1, out=c[1:, 1:])
    i = np.arange(ny)
    j = np.arange(nx)
    i0 = np.clip(i - r, 0, ny)[:, None]
    i1 = np.clip(i + r + 1, 0, ny)[:, None]
    j0 = np.clip(j - r, 0, nx)[None, :]
    j1 = np.clip(j + r + 1, 0, nx)[None, :]
    return c[i1, j1] - c[i0, j1] - c[i1, j0] + c[i0, j0]


def window_features_kernel(z: np.ndarray, radii: Sequence[int]) -> np.ndarray:
    """Relief at each radius and height above the window minimum at the largest radius.

    Parameters
    ----------
    z
        Elevation [m], 2-D, NaN where unknown. Windows are clipped to the array: the caller gives a
        halo of ``max(radii)`` cells (NaN outside the grid) and keeps the interior.
    radii
        Window half-widths [cells].

    Returns
    -------
    numpy.ndarray
        float32, shape ``(len(radii) + 1, *z.shape)``: ``z - mean(z in window)`` for each radius
        [m], then ``z - min(z in window of max(radii))`` [m]; NaN where ``z`` is NaN.
    """
    z64 = np.asarray(z, dtype=np.float64)
    valid = np.isfinite(z64)
    zq = np.where(valid, np.round(z64 * _QUANTUM) / _QUANTUM, 0.0)  # exact multiples of 2^-8
    out = np.empty((len(radii) + 1, *z64.shape), dtype=np.float32)
    for k, r in enumerate(radii):
        n = _window_sum(valid.astype(np.float64), r)
        s = _window_sum(zq, r)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[k] = np.where(valid, zq - s / n, np.nan)
    lowest = minimum_filter(
        np.where(valid, zq, np.inf), size=2 * max(radii) + 1, mode="constant", cval=np.inf
    )
    out[-1] = np.where(valid, zq - lowest, np.nan)
    return out


def _centre_window_features(windows: np.ndarray, radii: Sequence[int]) -> np.ndarray:
    """:func:`window_features_kernel` at the centre of each window, for many windows at once.

    ``windows`` (n, 2R+1, 2R+1), R = max(radii), NaN outside the grid; returns (n, len(radii) + 1)
    float32. The same quantised elevations and exact sums as the kernel, so the same bits.
    """
    R = max(radii)
    z = np.asarray(windows, dtype=np.float64)
    valid = np.isfinite(z)
    zq = np.where(valid, np.round(z * _QUANTUM) / _QUANTUM, 0.0)
    centre = zq[:, R, R]
    ok = valid[:, R, R]
    out = np.empty((z.shape[0], len(radii) + 1), dtype=np.float32)
    for k, r in enumerate(radii):
        sub = (slice(None), slice(R - r, R + r + 1), slice(R - r, R + r + 1))
        n = valid[sub].sum(axis=(1, 2)).astype(np.float64)
        total = zq[sub].sum(axis=(1, 2))
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, k] = np.where(ok, centre - total / n, np.nan)
    lowest = np.where(valid, zq, np.inf).min(axis=(1, 2), initial=np.inf)
    out[:, -1] = np.where(ok, centre - lowest, np.nan)
    return out


def _window_features(dem_data, radii: tuple[int, ...]):
    depth = max(radii)
    if isinstance(dem_data, dsa.Array):
        from dask.array.overlap import ensure_minimum_chunksize

        chunks = dem_data.chunks
        # every chunk must be at least as wide as the halo; merge thin edge chunks, split back after
        data = dem_data.rechunk(tuple(ensure_minimum_chunksize(depth, c) for c in chunks))

        def block(z):
            return window_features_kernel(z, radii)[:, depth:-depth, depth:-depth]

        out = dsa.map_overlap(
            block,
            data,
            depth=depth,
            boundary=np.nan,
            trim=False,
            align_arrays=False,
            dtype=np.float32,
            meta=np.array((), dtype=np.float32).reshape((0, 0, 0)),
            chunks=((len(radii) + 1,), *data.chunks),
            new_axis=0,
        )
        return out if data.chunks == chunks else out.rechunk(((len(radii) + 1,), *chunks))
    z = np.pad(np.asarray(dem_data, dtype=np.float64), depth, mode="constant", constant_values=np.nan)
    return window_features_kernel(z, radii)[:, depth:-depth, depth:-depth]


def _orientation(aspect_data, slope_data):
    """(northness, eastness) [1]; 0 on flat cells (aspect NaN, slope known), NaN where slope is NaN."""
    rad = np.deg2rad(aspect_data)
    flat = np.isnan(aspect_data) & np.isfinite(slope_data)
    return np.where(flat, 0.0, np.cos(rad)), np.where(flat, 0.0, np.sin(rad))


def landcover_features(
    composite: Mapping[str, xr.DataArray] | xr.Dataset,
    dem: xr.DataArray,
    slope: xr.DataArray,
    aspect: xr.DataArray,
    *,
    relief_radii_m: Sequence[float] = (150.0, 1000.0),
    lst_trend: LstTrend | None = None,
) -> xr.DataArray:
    """Stack the classifier's features, lazily for dask-backed inputs.

    Parameters
    ----------
    composite
        The epoch's composite layers on the grid, at least :data:`SPECTRAL_FEATURES` (reflectance
        and indices [1], ``lst`` [degC]); NaN where no clear look.
    dem, slope, aspect
        Elevation [m], slope [deg], aspect [deg clockwise from north, NaN on flat cells], on the
        same grid.
    relief_radii_m
        Radii [m] of the local-relief windows; the largest also sets the height-above-minimum
        window.
    lst_trend
        The epoch's LST trend with elevation (:func:`fit_lst_trend`); adds the
        :data:`LST_ANOMALY` feature after the composite's layers. None: no anomaly feature.

    Returns
    -------
    xarray.DataArray
        float32, dims ``(feature, y, x)``, one chunk along ``feature``; the ``feature``
        coordinate names the layers (spectral first, then terrain).

    Raises
    ------
    InputError
        A composite layer is missing, or a relief radius is not positive.
    """
    gbox = dem.odc.geobox
    missing = [n for n in SPECTRAL_FEATURES if n not in composite]
    if missing:
        raise InputError(f"the composite lacks layer(s) {', '.join(missing)}", field="composite")
    if not relief_radii_m or any(not r > 0 for r in relief_radii_m):
        raise InputError(
            f"relief radii must be positive [m], got {list(relief_radii_m)}", field="landcover.relief_radii_m"
        )
    for name, da in (("slope", slope), ("aspect", aspect), *((n, composite[n]) for n in SPECTRAL_FEATURES)):
        check_on_grid(da, gbox, name)
    cell = abs(float(gbox.resolution.x))
    radii = tuple(window_radius_cells(r, cell) for r in relief_radii_m)
    north, east = _orientation(aspect.data, slope.data)
    window = _window_features(dem.data, radii)
    layers = [composite[n].data for n in SPECTRAL_FEATURES]
    if lst_trend is not None:
        layers.append(lst_trend.anomaly(composite["lst"].data, dem.data))
    layers += [dem.data, slope.data, north, east]
    layers += [window[k] for k in range(window.shape[0])]
    names = (*spectral_feature_names(lst_trend is not None), *terrain_feature_names(relief_radii_m))
    if any(isinstance(a, dsa.Array) for a in layers):
        chunks = dem.data.chunks if isinstance(dem.data, dsa.Array) else "auto"
        layers = [
            (a if isinstance(a, dsa.Array) else dsa.from_array(a, chunks=chunks)).astype(np.float32)
            for a in layers
        ]
        stack = dsa.stack(layers, axis=0).rechunk({0: -1})
    else:
        stack = np.stack([np.asarray(a, dtype=np.float32) for a in layers], axis=0)
    return xr.DataArray(
        stack,
        dims=("feature", "y", "x"),
        coords={"feature": list(names), **grid_coords(gbox)},
        name="landcover_features",
        attrs={"long_name": "land-cover classifier features", "relief_radii_cells": list(radii)},
    )


def features_at(stack: xr.DataArray, rows, cols) -> np.ndarray:
    """Feature vectors at grid cells (row, col): a small table, shape ``(n, n_features)`` float32.

    Only the chunks that hold the points are computed.
    """
    rows = np.asarray(rows, dtype=np.int64)
    cols = np.asarray(cols, dtype=np.int64)
    data = stack.data
    if isinstance(data, dsa.Array):
        return np.asarray(data.transpose(1, 2, 0).vindex[rows, cols].compute(), dtype=np.float32)
    return np.asarray(data[:, rows, cols].T, dtype=np.float32)


def point_features(
    spectral: Mapping[str, np.ndarray],
    elevation: np.ndarray,
    slope: np.ndarray,
    aspect: np.ndarray,
    dem_windows: np.ndarray,
    *,
    relief_radii_m: Sequence[float],
    cell_m: float,
    lst_trend: LstTrend | None = None,
) -> np.ndarray:
    """The same features as :func:`landcover_features`, for a few points, from values read there.

    Used for the training samples so the whole stack need not be computed twice. Equal to the
    stack's values at those cells (the window sums are exact, see the module docstring).

    Parameters
    ----------
    spectral
        Each of :data:`SPECTRAL_FEATURES` -> values at the points, shape ``(n,)``.
    elevation, slope, aspect
        Values at the points [m, deg, deg].
    dem_windows
        Elevation [m] in the square window of half-width ``R = window_radius_cells(max radius)``
        centred on each point, shape ``(n, 2R + 1, 2R + 1)``, NaN outside the grid.
    relief_radii_m, cell_m, lst_trend
        As for :func:`landcover_features`; the grid's cell size [m].

    Returns
    -------
    numpy.ndarray
        float32, shape ``(n, n_features)``, columns in the order of the stack's ``feature``.
    """
    radii = tuple(window_radius_cells(r, cell_m) for r in relief_radii_m)
    R = max(radii)
    dem_windows = np.asarray(dem_windows)
    if dem_windows.ndim != 3 or dem_windows.shape[1:] != (2 * R + 1, 2 * R + 1):
        raise ValueError(
            f"dem_windows must have shape (n, {2 * R + 1}, {2 * R + 1}), got {dem_windows.shape}"
        )
    window = _centre_window_features(dem_windows, radii)
    north, east = _orientation(np.asarray(aspect, dtype=np.float32), np.asarray(slope, dtype=np.float32))
    cols = [np.asarray(spectral[n], dtype=np.float32) for n in SPECTRAL_FEATURES]
    cols += [np.asarray(elevation, dtype=np.float32), np.asarray(slope, dtype=np.float32), north, east]
    cols += [window[:, k] for k in range(window.shape[1])]
    X = np.stack([np.asarray(c, dtype=np.float32) for c in cols], axis=1)
    return X if lst_trend is None else add_lst_anomaly(X, lst_trend)
