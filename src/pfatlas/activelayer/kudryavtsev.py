"""Kudryavtsev's active-layer thickness (Kudryavtsev et al. 1974), written from the papers.

Forms used (Romanovsky & Osterkamp 1997, Permafrost Periglac. Process. 8:1-22; Anisimov, Shiklomanov
& Nelson 1997, Global Planet. Change 15:61-77), SI units, P = 365 x 86400 s:

Surface forcing. The surface temperature is a sinusoid (mean T_s, amplitude A_s) with the surface
thawing index ``n_t I_t(air)`` and freezing index ``n_f I_f(air)``; mean ``T_s = (I_t,s - I_f,s) / P``
and ``A_s`` fitted to ``I_t,s``. Simplifications (documented in docs/methods.md): the snow and
vegetation terms of Anisimov et al. (1997) are not modelled separately. Their effect in summer is
the thawing n-factor of the soil table; in winter ``n_f = 1`` (snow on the Qilian/QTP is thin and
patchy and wind-blown, so it barely insulates).

Temperature at the top of permafrost (TTOP), from the balance of the conductive heat over a year
(``k_t I_t,s = k_f I_f,s`` at zero net heat) -- for a sinusoid this is Kudryavtsev's closed form::

    T_z = [0.5 T_s (k_f + k_t) + A_s (k_t - k_f)/pi (r arcsin r + sqrt(1 - r^2))] / k*,  r = T_s/A_s

with ``k* = k_f`` if the bracket is negative, else ``k_t``.

Amplitude at the permafrost table and the thaw depth (C: thawed volumetric heat capacity
[J m-3 K-1], Q_L = L rho_d (w - w_u) [J m-3], k = k_t)::

    A_z = (A_s - T_z) / ln((A_s + Q_L/2C) / (T_z + Q_L/2C)) - Q_L/2C
    Z_c = 2 (A_s - T_z) sqrt(k P C / pi) / (2 A_z C + Q_L)
    Z   = [2 (A_s - T_z) sqrt(k P C / pi)
           + (2 A_z C + Q_L) Z_c Q_L sqrt(k P / (pi C)) / ((2 A_z C + Q_L)(Z_c + sqrt(k P / (pi C))))]
          / (2 A_z C + Q_L)

Soil thermal properties not in the soil table are derived: ``C = rho_d (c_m + w c_w)`` and
``k_f = k_t (k_ice / k_water)^theta`` with theta = (w - w_u) rho_d / rho_w, the volume fraction of
pore water that freezes (a geometric-mean mixing rule).
"""

from __future__ import annotations

import numpy as np

from pfatlas.activelayer.thawing_index import (
    DAYS_PER_YEAR,
    SECONDS_PER_DAY,
    sinusoid_freezing_index_cdays,
    sinusoid_thawing_index_cdays,
)

__all__ = [
    "ttop_c",
    "kudryavtsev_depth_m",
    "fit_amplitude_array_c",
    "surface_wave",
    "kudryavtsev_from_air",
    "frozen_conductivity",
    "thawed_heat_capacity",
]

PERIOD_S = DAYS_PER_YEAR * SECONDS_PER_DAY  # [s]
C_MINERAL = 840.0  # [J kg-1 K-1] specific heat of soil solids
C_WATER = 4186.0  # [J kg-1 K-1]
K_ICE = 2.22  # [W m-1 K-1]
K_WATER = 0.57  # [W m-1 K-1]
RHO_WATER = 1000.0  # [kg m-3]


def ttop_c(mean_c, amplitude_c, k_t, k_f):
    """Mean annual temperature at the top of permafrost [degC] (Kudryavtsev's TTOP, see module)."""
    m = np.asarray(mean_c, dtype="float64")
    a = np.asarray(amplitude_c, dtype="float64")
    r = np.clip(m / a, -1.0, 1.0)
    num = 0.5 * m * (k_f + k_t) + a * (k_t - k_f) / np.pi * (r * np.arcsin(r) + np.sqrt(1.0 - r * r))
    return np.where(num < 0, num / k_f, num / k_t)


def kudryavtsev_depth_m(surface_amplitude_c, ttop, k_t, heat_capacity, latent_j_m3, period_s=PERIOD_S):
    """Kudryavtsev thaw depth [m] (elementwise; the module docstring gives the equations).

    Parameters
    ----------
    surface_amplitude_c
        A_s [degC].
    ttop
        T_z, mean annual temperature at the top of permafrost [degC] (< 0).
    k_t
        Thawed conductivity [W m-1 K-1].
    heat_capacity
        Thawed volumetric heat capacity C [J m-3 K-1].
    latent_j_m3
        Volumetric latent heat Q_L [J m-3].
    period_s
        P [s].

    Returns
    -------
    Depth [m]; NaN where the formula is undefined (T_z >= 0 or T_z + Q_L/2C <= 0).
    """
    a_s = np.asarray(surface_amplitude_c, dtype="float64")
    t_z = np.asarray(ttop, dtype="float64")
    c, q = heat_capacity, latent_j_m3
    half = q / (2.0 * c)  # [K]
    ok = (t_z < 0) & (t_z + half > 0) & (a_s > t_z)
    with np.errstate(invalid="ignore", divide="ignore"):
        diff = a_s - t_z
        a_z = diff / np.log((a_s + half) / (t_z + half)) - half
        g = np.sqrt(k_t * period_s * c / np.pi)  # [J m-2 K-1]
        h = np.sqrt(k_t * period_s / (np.pi * c))  # [m], damping depth of the annual wave
        den = 2.0 * a_z * c + q  # [J m-3]
        z_c = 2.0 * diff * g / den
        z = (2.0 * diff * g + den * z_c * q * h / (den * (z_c + h))) / den
    return np.where(ok, z, np.nan)


def fit_amplitude_array_c(mean_c, thawing_index_cdays, period_days: float = DAYS_PER_YEAR):
    """Vectorised :func:`~pfatlas.activelayer.thawing_index.fit_amplitude_c` (bisection, 1e-9 degC)."""
    m = np.asarray(mean_c, dtype="float64")
    target = np.asarray(thawing_index_cdays, dtype="float64")
    lo = np.abs(m)
    hi = np.abs(m) + 200.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        below = sinusoid_thawing_index_cdays(m, mid, period_days) < target
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
    return 0.5 * (lo + hi)


def surface_wave(air_mean_c, air_amplitude_c, n_t, n_f=1.0):
    """Mean and amplitude [degC] of the surface sinusoid with n-factor-scaled indices (see module)."""
    it = n_t * sinusoid_thawing_index_cdays(air_mean_c, air_amplitude_c)
    fi = n_f * sinusoid_freezing_index_cdays(air_mean_c, air_amplitude_c)
    mean_s = (it - fi) / DAYS_PER_YEAR
    return mean_s, fit_amplitude_array_c(mean_s, it)


def frozen_conductivity(k_t, rho_d, w, w_u):
    """Frozen conductivity [W m-1 K-1]: the freezing pore water replaced by ice, geometric mean."""
    theta = (w - w_u) * rho_d / RHO_WATER
    return k_t * (K_ICE / K_WATER) ** theta


def thawed_heat_capacity(rho_d, w):
    """Thawed volumetric heat capacity [J m-3 K-1]: solids plus water."""
    return rho_d * (C_MINERAL + w * C_WATER)


def kudryavtsev_from_air(mean_c, amplitude_c, n_t, k_t, rho_d, w, w_u, latent_heat_j_kg, magt=None):
    """Kudryavtsev ALT [m] from an air (or, with ``n_t = 1``, surface) sinusoid and the soil table.

    Where Kudryavtsev's own TTOP is not below 0 degC but ``magt`` (the mapped MAGT) is, the MAGT
    stands in for TTOP (the map, fitted to boreholes, decides where permafrost is).
    """
    mean_s, amp_s = surface_wave(mean_c, amplitude_c, n_t)
    k_f = frozen_conductivity(k_t, rho_d, w, w_u)
    t_z = ttop_c(mean_s, amp_s, k_t, k_f)
    if magt is not None:
        t_z = np.where((t_z >= 0) & (magt < 0), magt, t_z)
    q_l = latent_heat_j_kg * rho_d * (w - w_u)
    return kudryavtsev_depth_m(amp_s, t_z, k_t, thawed_heat_capacity(rho_d, w), q_l)
