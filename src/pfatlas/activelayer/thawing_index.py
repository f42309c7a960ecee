"""Thawing indices: air (reference station + lapse rate) and surface (Landsat LST).

The annual air temperature is modelled as a sinusoid ``T(t) = M + A cos(2 pi (t - t_max) / P)``.
Its thawing index (the integral of the positive part over one year) has the closed form

    I = (P / pi) (M arccos(-M / A) + sqrt(A^2 - M^2))        for |M| < A,

``I = P M`` when ``M >= A`` (never freezes) and ``I = 0`` when ``M <= -A`` (never thaws). The amplitude
``A`` is fitted once to the reference station's mean annual air temperature and thawing index; at each
cell the mean follows the air lapse rate and the amplitude is kept (the annual range changes little
with elevation over a few hundred metres).

Thawing indices are kept in degC day everywhere in this module; the one conversion to the SI unit
used by the Stefan and Kudryavtsev kernels (degC s) is :func:`cdays_to_cseconds`.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "SECONDS_PER_DAY",
    "DAYS_PER_YEAR",
    "cdays_to_cseconds",
    "sinusoid_thawing_index_cdays",
    "sinusoid_freezing_index_cdays",
    "fit_amplitude_c",
    "air_maat_c",
    "air_thawing_index_cdays",
    "mean_over_months_factor",
    "lst_thawing_index_cdays",
]

SECONDS_PER_DAY = 86400.0  # [s day-1]
DAYS_PER_YEAR = 365.0  # [day] period P of the annual wave
WARMEST_DAY = 200.0  # [day of year] phase of the annual maximum (late July, Qilian stations)


def cdays_to_cseconds(index_cdays):
    """Degree-days to degree-seconds: the ONLY place thawing indices change unit.

    Parameters
    ----------
    index_cdays
        Thawing (or freezing) index [degC day].

    Returns
    -------
    Same shape [degC s] (x 86400).

    Examples
    --------
    >>> cdays_to_cseconds(1.0)
    86400.0
    """
    return index_cdays * SECONDS_PER_DAY


def sinusoid_thawing_index_cdays(mean_c, amplitude_c, period_days: float = DAYS_PER_YEAR):
    """Thawing index of a sinusoidal year [degC day] (closed form, see the module docstring).

    Parameters
    ----------
    mean_c
        Annual mean temperature M [degC] (array or scalar).
    amplitude_c
        Half the annual range A [degC], > 0.
    period_days
        Period P [day].

    Examples
    --------
    >>> round(float(sinusoid_thawing_index_cdays(0.0, 10.0)), 3)  # (365 / pi) x 10
    1161.831
    """
    m = np.asarray(mean_c, dtype="float64")
    a = np.asarray(amplitude_c, dtype="float64")
    r = np.clip(m / a, -1.0, 1.0)
    inside = (period_days / np.pi) * (m * np.arccos(-r) + a * np.sqrt(1.0 - r * r))
    out = np.where(m >= a, period_days * m, np.where(m <= -a, 0.0, inside))
    return out if out.ndim else float(out)


def sinusoid_freezing_index_cdays(mean_c, amplitude_c, period_days: float = DAYS_PER_YEAR):
    """Freezing index of a sinusoidal year [degC day], positive: ``I_f = I_t - P M``."""
    return sinusoid_thawing_index_cdays(mean_c, amplitude_c, period_days) - period_days * np.asarray(
        mean_c, dtype="float64"
    )


def fit_amplitude_c(mean_c: float, thawing_index_cdays: float, period_days: float = DAYS_PER_YEAR) -> float:
    """The amplitude A [degC] whose sinusoid of mean ``mean_c`` has the given thawing index.

    The thawing index grows monotonically with A (for fixed M), so a bisection is exact to 1e-10.

    Raises
    ------
    ValueError
        No sinusoid of that mean has that thawing index (index <= max(0, P M)).
    """
    floor = max(0.0, period_days * mean_c)
    if not thawing_index_cdays > floor:
        raise ValueError(
            f"a sinusoidal year with mean {mean_c:g} degC has a thawing index above {floor:g} degC day; "
            f"{thawing_index_cdays:g} degC day is impossible"
        )
    lo, hi = abs(mean_c), abs(mean_c) + 1.0
    while sinusoid_thawing_index_cdays(mean_c, hi, period_days) < thawing_index_cdays:
        hi *= 2.0
        if hi > 1e4:
            raise ValueError(f"thawing index {thawing_index_cdays:g} degC day needs an amplitude > 1e4 degC")
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if sinusoid_thawing_index_cdays(mean_c, mid, period_days) < thawing_index_cdays:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-10:
            break
    return 0.5 * (lo + hi)


def air_maat_c(elevation_m, station_elevation_m: float, station_maat_c: float, lapse_c_per_km: float):
    """Mean annual air temperature at ``elevation_m`` [degC]: the station's minus the lapse rate."""
    return (
        station_maat_c
        - lapse_c_per_km * (np.asarray(elevation_m, dtype="float64") - station_elevation_m) / 1000.0
    )


def air_thawing_index_cdays(
    elevation_m,
    *,
    station_elevation_m: float,
    station_maat_c: float,
    station_thawing_index_cdays: float,
    lapse_c_per_km: float,
):
    """Air thawing index at each elevation [degC day] from the reference station.

    The station's sinusoid amplitude is fitted to its MAAT and thawing index
    (:func:`fit_amplitude_c`); each cell keeps that amplitude with its own MAAT
    (:func:`air_maat_c`). NaN elevations give NaN.

    Examples
    --------
    >>> i = air_thawing_index_cdays([3320.0], station_elevation_m=3320.0, station_maat_c=-2.57,
    ...                             station_thawing_index_cdays=1071.0, lapse_c_per_km=5.6)
    >>> round(float(i[0]), 6)  # at the station's own elevation: its own index
    1071.0
    """
    amp = fit_amplitude_c(station_maat_c, station_thawing_index_cdays)
    maat = air_maat_c(elevation_m, station_elevation_m, station_maat_c, lapse_c_per_km)
    out = sinusoid_thawing_index_cdays(maat, amp)
    return np.where(np.isfinite(maat), out, np.nan)


def mean_over_months_factor(
    months, warmest_day: float = WARMEST_DAY, period_days: float = DAYS_PER_YEAR
) -> float:
    """Mean of ``cos(2 pi (t - t_max) / P)`` over the given calendar months (non-leap year) [-].

    The Jun-Sep mean of the annual wave is ``M + A x this factor`` (about 0.81 for Jun-Sep and a late-July maximum).
    """
    starts = np.cumsum([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
    w = 2.0 * np.pi / period_days
    total, days = 0.0, 0.0
    for m in months:
        t0, t1 = float(starts[m - 1]), float(starts[m])
        total += (np.sin(w * (t1 - warmest_day)) - np.sin(w * (t0 - warmest_day))) / w
        days += t1 - t0
    return total / days


def lst_thawing_index_cdays(lst_c, amplitude_c: float, months) -> np.ndarray:
    """Surface thawing index [degC day] from a growing-season LST composite.

    The surface year is a sinusoid of the station's fitted amplitude ``amplitude_c`` whose mean over
    the composite ``months`` equals the composite LST: ``M_s = LST - A f(months)``
    (:func:`mean_over_months_factor`); the index is that sinusoid's thawing index. Landsat sees clear
    mornings (~10:30 local time), warmer than the daily mean, so this index is biased high; the edaphic
    factor calibrated on measured ALT absorbs the bias.

    Parameters
    ----------
    lst_c
        Growing-season LST [degC].
    amplitude_c
        Annual half-range [degC].
    months
        Calendar months of the composite (1-12).
    """
    lst = np.asarray(lst_c, dtype="float64")
    mean_s = lst - amplitude_c * mean_over_months_factor(months)
    return np.where(np.isfinite(lst), sinusoid_thawing_index_cdays(mean_s, amplitude_c), np.nan)
