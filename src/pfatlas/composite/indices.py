"""Spectral indices from surface reflectance (pure functions).

Every function takes reflectance arrays [1] (numpy, dask or xarray; NaN = no data) and returns the
index as float32 of the same kind. A zero denominator gives NaN, never a warning or an infinity.
numpy inputs are computed directly; dask arrays block by block; xarray DataArrays through
:func:`xarray.apply_ufunc`, so lazy inputs stay lazy.

MNDWI and NDSI share one formula (green - swir1) / (green + swir1): only MNDWI is provided.
"""

from __future__ import annotations

import dask.array as dsa
import numpy as np
import xarray as xr

__all__ = ["ndvi", "evi", "savi", "ndwi", "mndwi", "ndmi", "nbr", "normalized_difference", "INDICES"]

# EVI coefficients (MODIS / Landsat), Huete et al. (2002)
EVI_G = 2.5  # [1] gain
EVI_C1 = 6.0  # [1] red aerosol-resistance coefficient
EVI_C2 = 7.5  # [1] blue aerosol-resistance coefficient
EVI_L = 1.0  # [1] canopy background adjustment
SAVI_L = 0.5  # [1] soil adjustment, Huete (1988)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den as float32, NaN where den == 0 (no warning)."""
    num = np.asarray(num, dtype="float64")
    den = np.asarray(den, dtype="float64")
    out = np.full(np.broadcast_shapes(num.shape, den.shape), np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out.astype("float32")


def _apply(kernel, *bands):
    """Run a numpy kernel on numpy, dask or xarray inputs, keeping laziness."""
    if any(isinstance(b, xr.DataArray) for b in bands):
        return xr.apply_ufunc(kernel, *bands, dask="parallelized", output_dtypes=[np.float32])
    if any(isinstance(b, dsa.Array) for b in bands):
        return dsa.map_blocks(kernel, *bands, dtype=np.float32)
    return kernel(*bands)


def _nd(a, b):
    a = np.asarray(a, dtype="float64")
    b = np.asarray(b, dtype="float64")
    return _ratio(a - b, a + b)


def normalized_difference(a, b):
    """(a - b) / (a + b) [1]; in [-1, 1] for non-negative a, b; NaN where a + b == 0.

    >>> float(normalized_difference(np.array(0.3), np.array(0.1)))
    0.5
    """
    return _apply(_nd, a, b)


def ndvi(red, nir):
    """Normalized difference vegetation index (nir - red) / (nir + red) [1].

    Rouse, J. W. et al. (1974), Monitoring vegetation systems in the Great Plains with ERTS,
    NASA SP-351, 309-317.
    """
    return _apply(_nd, nir, red)


def _evi(blue, red, nir):
    blue, red, nir = (np.asarray(v, dtype="float64") for v in (blue, red, nir))
    return _ratio(EVI_G * (nir - red), nir + EVI_C1 * red - EVI_C2 * blue + EVI_L)


def evi(blue, red, nir):
    """Enhanced vegetation index G (nir - red) / (nir + C1 red - C2 blue + L) [1].

    G = 2.5, C1 = 6, C2 = 7.5, L = 1. Huete, A. et al. (2002), Overview of the radiometric and
    biophysical performance of the MODIS vegetation indices, Remote Sens. Environ. 83, 195-213.

    >>> round(float(evi(np.array(0.05), np.array(0.08), np.array(0.40))), 4)
    0.5316
    """
    return _apply(_evi, blue, red, nir)


def _savi(red, nir):
    red, nir = (np.asarray(v, dtype="float64") for v in (red, nir))
    return _ratio((1.0 + SAVI_L) * (nir - red), nir + red + SAVI_L)


def savi(red, nir):
    """Soil-adjusted vegetation index (1 + L)(nir - red) / (nir + red + L) [1], L = 0.5.

    Huete, A. R. (1988), A soil-adjusted vegetation index (SAVI), Remote Sens. Environ. 25, 295-309.
    """
    return _apply(_savi, red, nir)


def ndwi(green, nir):
    """Normalized difference water index (green - nir) / (green + nir) [1].

    McFeeters, S. K. (1996), The use of the normalized difference water index (NDWI) in the
    delineation of open water features, Int. J. Remote Sens. 17, 1425-1432.
    """
    return _apply(_nd, green, nir)


def mndwi(green, swir1):
    """Modified NDWI (green - swir1) / (green + swir1) [1] (the same formula as NDSI).

    Xu, H. (2006), Modification of normalised difference water index (NDWI) to enhance open water
    features in remotely sensed imagery, Int. J. Remote Sens. 27, 3025-3033.
    """
    return _apply(_nd, green, swir1)


def ndmi(nir, swir1):
    """Normalized difference moisture index (nir - swir1) / (nir + swir1) [1].

    Gao, B.-C. (1996), NDWI - a normalized difference water index for remote sensing of vegetation
    liquid water from space, Remote Sens. Environ. 58, 257-266 (there called NDWI).
    """
    return _apply(_nd, nir, swir1)


def nbr(nir, swir2):
    """Normalized burn ratio (nir - swir2) / (nir + swir2) [1].

    Key, C. H. and Benson, N. C. (2006), Landscape assessment: ground measure of severity, the
    Composite Burn Index; and remote sensing of severity, the Normalized Burn Ratio, USDA Forest
    Service RMRS-GTR-164-CD.
    """
    return _apply(_nd, nir, swir2)


#: index name -> (function, bands in argument order, long name)
INDICES = {
    "ndvi": (ndvi, ("red", "nir"), "normalized difference vegetation index"),
    "evi": (evi, ("blue", "red", "nir"), "enhanced vegetation index"),
    "savi": (savi, ("red", "nir"), "soil-adjusted vegetation index (L=0.5)"),
    "ndwi": (ndwi, ("green", "nir"), "normalized difference water index (McFeeters)"),
    "mndwi": (mndwi, ("green", "swir1"), "modified normalized difference water index"),
    "ndmi": (ndmi, ("nir", "swir1"), "normalized difference moisture index"),
    "nbr": (nbr, ("nir", "swir2"), "normalized burn ratio"),
}
