"""Differences of a continuous layer between two epochs, and their means.

For epochs A (earlier) and B (later) and a layer v of unit [u],

    delta(x) = v_B(x) - v_A(x)                                          [u]

NaN where either epoch is NaN (plain IEEE arithmetic: no cell is compared with ``==``). The mean
change over the cells valid in both epochs is ``sum(delta) / n`` with n the number of such cells;
:func:`valid_sum_count` returns the two lazy terms so the caller computes them with everything
else in one pass, and :func:`mean_from_sum_count` divides them (NaN when n = 0).

Library code on xarray (numpy- or dask-backed): nothing here opens a file or computes a dask graph.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from pfatlas.errors import GridMismatchError
from pfatlas.grid import check_on_grid

__all__ = [
    "ChangeLayer",
    "CONTINUOUS_LAYERS",
    "difference_kernel",
    "layer_difference",
    "check_same_grid",
    "valid_sum_count",
    "mean_from_sum_count",
]


@dataclass(frozen=True)
class ChangeLayer:
    """A continuous epoch layer that is differenced: file stem, unit, what it is."""

    name: str
    units: str
    long_name: str


#: The continuous layers of an epoch folder that are differenced, with the unit of the difference.
CONTINUOUS_LAYERS = (
    ChangeLayer("magt", "degC", "mean annual ground temperature (MAGT)"),
    ChangeLayer("alt", "m", "active-layer thickness (ALT)"),
    ChangeLayer("ground_ice", "m3 m-3", "volumetric ground-ice content below the permafrost table"),
    ChangeLayer("ice_volume", "m3", "ground-ice volume per cell below the permafrost table"),
    ChangeLayer("permafrost_probability", "1", "permafrost probability P(MAGT < 0 degC)"),
)


def difference_kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``b - a`` as float32, NaN where either is NaN (kernel, any unit).

    Examples
    --------
    >>> difference_kernel(np.array([1.0, np.nan, 2.0]), np.array([0.5, 1.0, np.nan])).tolist()
    [-0.5, nan, nan]
    """
    return np.subtract(np.asarray(b, dtype=np.float32), np.asarray(a, dtype=np.float32))


def layer_difference(
    a: xr.DataArray, b: xr.DataArray, *, units: str, long_name: str, name: str = "delta"
) -> xr.DataArray:
    """Lazy ``b - a`` [``units``] of one layer of two epochs on the same grid.

    Parameters
    ----------
    a, b
        The layer in epoch A and epoch B (numpy or dask), on one grid (``spatial_ref``).
    units, long_name
        Set on the result (never copied from the inputs).

    Returns
    -------
    xarray.DataArray
        float32, NaN where either input is NaN; dask-backed when the inputs are.

    Raises
    ------
    GridMismatchError
        When ``b`` is not on the grid of ``a``.
    """
    check_same_grid(a, b)
    out = xr.apply_ufunc(difference_kernel, a, b, dask="parallelized", output_dtypes=[np.float32])
    out.attrs = {"units": units, "long_name": long_name}
    return out.rename(name)


def check_same_grid(a: xr.DataArray, b: xr.DataArray) -> None:
    """Raise :class:`GridMismatchError` unless ``a`` carries a grid and ``b`` lies on it."""
    gbox = getattr(getattr(a, "odc", None), "geobox", None)
    if gbox is None:
        raise GridMismatchError("epoch A layer carries no grid (no spatial_ref / x,y coordinates)")
    check_on_grid(b, gbox, "epoch B layer")


def valid_sum_count(delta: xr.DataArray) -> tuple:
    """Lazy (sum [delta's unit] as float64, number of non-NaN cells) of a difference layer.

    0-d dask arrays for a dask-backed ``delta`` (numpy scalars otherwise): compute them together
    with the rest of a stage's reductions.
    """
    valid = delta.notnull()
    total = delta.astype(np.float64).where(valid, 0.0).sum(skipna=False)
    return total.data, valid.sum().data


def mean_from_sum_count(total: float, count: int) -> float:
    """Mean change over the valid cells, NaN when there is none.

    >>> mean_from_sum_count(3.0, 4), mean_from_sum_count(0.0, 0)
    (0.75, nan)
    """
    return float(total) / int(count) if int(count) > 0 else float("nan")
