"""Thermal stability of permafrost from MAGT: the classes of Cheng (1984).

Cheng Guodong's (1984) zonation of high-altitude permafrost by mean annual ground temperature
(MAGT at the depth of zero annual amplitude), as used across the Qinghai-Tibet Plateau:

====  ====================  ==========  =====================
code  class                 name (zh)   MAGT [degC] (default)
====  ====================  ==========  =====================
1     extremely stable      极稳定型     MAGT < -5
2     stable                稳定型       -5 <= MAGT < -3
3     sub-stable            亚稳定型     -3 <= MAGT < -1.5
4     transitional          过渡型       -1.5 <= MAGT < -0.5
5     unstable              不稳定型     -0.5 <= MAGT < 0
6     no permafrost         无多年冻土   MAGT >= 0
====  ====================  ==========  =====================

A MAGT equal to a break belongs to the warmer class (each class is closed at its cold end), so a
MAGT of exactly 0 degC is "no permafrost", as the permafrost map (MAGT < 0) says. The five breaks
are config values (``thermal_stability.breaks``).

The kernel is pure numpy (no I/O, no xarray); :func:`thermal_stability` applies it lazily.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from pfatlas.errors import ConfigError, InputError
from pfatlas.io.cog import CLASS_NODATA, ClassInfo

__all__ = [
    "StabilityClass",
    "STABILITY_CLASSES",
    "DEFAULT_BREAKS",
    "stability_codes",
    "thermal_stability",
    "stability_class_info",
    "stability_class_table",
]

DEFAULT_BREAKS = (-5.0, -3.0, -1.5, -0.5, 0.0)  # [degC] Cheng (1984)


@dataclass(frozen=True)
class StabilityClass:
    """One thermal-stability class: its code, names and display colour (RGB)."""

    code: int
    name_en: str
    name_zh: str
    color: tuple[int, int, int]


STABILITY_CLASSES: tuple[StabilityClass, ...] = (
    StabilityClass(1, "extremely stable", "极稳定型", (8, 48, 107)),
    StabilityClass(2, "stable", "稳定型", (33, 113, 181)),
    StabilityClass(3, "sub-stable", "亚稳定型", (107, 174, 214)),
    StabilityClass(4, "transitional", "过渡型", (254, 217, 118)),
    StabilityClass(5, "unstable", "不稳定型", (240, 59, 32)),
    StabilityClass(6, "no permafrost", "无多年冻土", (217, 217, 217)),
)


def _check_breaks(breaks: Sequence[float]) -> np.ndarray:
    b = np.asarray(breaks, dtype=np.float64)
    if b.shape != (5,) or not np.all(np.isfinite(b)) or np.any(np.diff(b) <= 0):
        raise ConfigError(
            f"breaks must be 5 strictly increasing finite MAGT values [degC], got {list(breaks)}",
            field="thermal_stability.breaks",
        )
    return b


def stability_codes(magt: np.ndarray, breaks: Sequence[float] = DEFAULT_BREAKS) -> np.ndarray:
    """Cheng (1984) class codes of MAGT values (kernel).

    Parameters
    ----------
    magt
        Mean annual ground temperature [degC]; NaN = no data.
    breaks
        The five increasing class breaks [degC].

    Returns
    -------
    numpy.ndarray
        uint8 codes 1 (extremely stable) .. 5 (unstable), 6 (no permafrost), 255 where MAGT is NaN.

    Examples
    --------
    >>> stability_codes(np.array([-6.0, -5.0, -3.0, -1.0, -0.5, 0.0, np.nan])).tolist()
    [1, 2, 3, 4, 5, 6, 255]
    """
    b = _check_breaks(breaks)
    m = np.asarray(magt)
    codes = (np.searchsorted(b, m, side="right") + 1).astype(np.uint8)
    codes[np.isnan(m)] = CLASS_NODATA
    return codes


def thermal_stability(magt: xr.DataArray, breaks: Sequence[float] = DEFAULT_BREAKS) -> xr.DataArray:
    """Thermal-stability class map from a MAGT map (lazy on dask).

    Parameters
    ----------
    magt
        MAGT [degC] on the grid, numpy or dask backed.
    breaks
        The five increasing class breaks [degC] (config ``thermal_stability.breaks``).

    Returns
    -------
    xarray.DataArray
        uint8 codes (see :data:`STABILITY_CLASSES`), 255 where MAGT is missing; same grid and
        backing as ``magt``.
    """
    if not isinstance(magt, xr.DataArray):
        raise InputError(f"expected a DataArray of MAGT, got {type(magt).__name__}", field="magt")
    b = tuple(float(v) for v in _check_breaks(breaks))
    out = xr.apply_ufunc(
        stability_codes,
        magt,
        kwargs={"breaks": b},
        dask="parallelized",
        output_dtypes=[np.uint8],
    )
    out.name = "thermal_stability"
    out.attrs = {
        "units": "class",
        "long_name": "permafrost thermal stability, Cheng (1984) MAGT classes",
        "breaks_degC": list(b),
    }
    return out


def stability_class_info() -> list[ClassInfo]:
    """Colour table entries (English names) of the class layer."""
    return [ClassInfo(c.code, c.name_en, c.color) for c in STABILITY_CLASSES]


def _fmt(v: float) -> str:
    return f"{v:g}"


def stability_class_table(breaks: Sequence[float] = DEFAULT_BREAKS) -> pd.DataFrame:
    """The class table: code, English and Chinese names, MAGT range [degC].

    ``magt_min_degC`` is inclusive, ``magt_max_degC`` exclusive; open ends are empty.
    """
    b = _check_breaks(breaks)
    lows = [np.nan, *b]
    highs = [*b, np.nan]
    rows = []
    for c, lo, hi in zip(STABILITY_CLASSES, lows, highs, strict=True):
        if np.isnan(lo):
            rng = f"MAGT < {_fmt(hi)}"
        elif np.isnan(hi):
            rng = f"MAGT >= {_fmt(lo)}"
        else:
            rng = f"{_fmt(lo)} <= MAGT < {_fmt(hi)}"
        rows.append(
            {
                "code": c.code,
                "name_en": c.name_en,
                "name_zh": c.name_zh,
                "magt_min_degC": lo,
                "magt_max_degC": hi,
                "magt_range_degC": rng,
            }
        )
    return pd.DataFrame(rows)
