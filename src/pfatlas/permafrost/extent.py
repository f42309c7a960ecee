"""Permafrost extent and its probability from a MAGT prediction and its standard error.

Permafrost is ground whose mean annual temperature stays below 0 degC, so a cell is permafrost
when its MAGT (at the depth of zero annual amplitude) is below 0 degC. With a Gaussian prediction
error of standard deviation ``se`` about the predicted MAGT ``m``,

    P(MAGT < 0) = Phi((0 - m) / se) = Phi(-m / se)                                    [1]

with Phi the standard normal distribution function. ``se = 0`` gives the step 1 (m < 0),
1/2 (m = 0), 0 (m > 0). The yes/no map is ``m < 0``, i.e. P > 1/2 for any positive ``se``.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy.special import ndtr

from pfatlas.errors import InputError
from pfatlas.io.cog import CLASS_NODATA, ClassInfo

__all__ = [
    "permafrost_probability_kernel",
    "permafrost_mask_kernel",
    "permafrost_extent",
    "PERMAFROST_CLASSES",
]

PERMAFROST_CLASSES = (
    ClassInfo(0, "no permafrost", (230, 200, 150)),
    ClassInfo(1, "permafrost", (70, 130, 200)),
)


def permafrost_probability_kernel(magt: np.ndarray, se: np.ndarray) -> np.ndarray:
    """P(MAGT < 0) [1] for a Gaussian MAGT [degC] of standard error ``se`` [degC] (kernel).

    NaN where either input is NaN or ``se`` is negative.

    Examples
    --------
    >>> p = permafrost_probability_kernel(np.array([-1.0, 0.0, 1.0]), np.array([1.0, 1.0, 0.0]))
    >>> [round(float(v), 4) for v in p]
    [0.8413, 0.5, 0.0]
    """
    m = np.asarray(magt, dtype=np.float64)
    s = np.asarray(se, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(s > 0, -m / np.where(s > 0, s, 1.0), -np.sign(m) * np.inf)
        p = ndtr(z)
    p = np.where(s == 0, np.where(m < 0, 1.0, np.where(m > 0, 0.0, 0.5)), p)
    p = np.where(np.isnan(m) | np.isnan(s) | (s < 0), np.nan, p)
    return p.astype(np.float32)


def permafrost_mask_kernel(magt: np.ndarray) -> np.ndarray:
    """uint8 permafrost map: 1 where MAGT < 0 degC, 0 where MAGT >= 0, 255 where NaN (kernel)."""
    m = np.asarray(magt)
    out = np.where(m < 0, 1, 0).astype(np.uint8)
    out[np.isnan(m)] = CLASS_NODATA
    return out


def permafrost_extent(magt: xr.DataArray, magt_se: xr.DataArray) -> xr.Dataset:
    """Permafrost yes/no and P(MAGT < 0) from a MAGT map and its standard error (lazy on dask).

    Parameters
    ----------
    magt
        Predicted MAGT [degC] on the grid.
    magt_se
        Its standard error [degC], same grid.

    Returns
    -------
    xarray.Dataset
        ``permafrost`` (uint8: 0 no, 1 yes, 255 no data) and ``permafrost_probability``
        (float32 [1], NaN no data).
    """
    for name, da in (("magt", magt), ("magt_se", magt_se)):
        if not isinstance(da, xr.DataArray):
            raise InputError(f"expected a DataArray, got {type(da).__name__}", field=name)
    if magt.shape != magt_se.shape:
        raise InputError(f"magt {magt.shape} and magt_se {magt_se.shape} differ in shape", field="magt_se")
    prob = xr.apply_ufunc(
        permafrost_probability_kernel, magt, magt_se, dask="parallelized", output_dtypes=[np.float32]
    )
    prob.attrs = {"units": "1", "long_name": "probability of permafrost, P(MAGT < 0 degC)"}
    mask = xr.apply_ufunc(permafrost_mask_kernel, magt, dask="parallelized", output_dtypes=[np.uint8])
    mask.attrs = {"units": "class", "long_name": "permafrost (MAGT < 0 degC): 1 yes, 0 no"}
    return xr.Dataset({"permafrost": mask, "permafrost_probability": prob})
