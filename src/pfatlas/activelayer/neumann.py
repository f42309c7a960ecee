"""The two-phase Neumann thaw front: how the active layer answers a warmer permafrost below it.

Stefan's depth (:mod:`pfatlas.activelayer.stefan`) ignores the frozen ground: all the heat that
enters the surface melts ice. Neumann's two-phase solution (Carslaw & Jaeger 1959, section 11.2;
Lunardini 1981, chapter 3) keeps the heat conducted on into the permafrost: a half-space of frozen
ground at T_i < 0 whose surface is held at T_s > 0 thaws to X(t) = 2 lam sqrt(alpha_t t), where lam
solves

    Q_L lam sqrt(alpha_t) = k_t T_s exp(-lam^2) / (erf(lam) sqrt(pi alpha_t))
                            - k_f |T_i| exp(-mu^2) / (erfc(mu) sqrt(pi alpha_f)),
    mu = lam sqrt(alpha_t / alpha_f),

(alpha = k / C per phase, Q_L = L rho_d (w - w_u) [J m-3]). The colder the permafrost, the more heat
it draws from the front and the shallower the thaw; with T_i = 0 the equation is the one-phase
Stefan problem, whose small-Stefan-number limit is Stefan's formula.

:func:`warming_ratio` uses it as a sensitivity: the active layer of ground whose permafrost is
warmed by dT from the side or below (next to a pit or a dump) while its surface is unchanged is
the natural ALT times lam(T_i + dT) / lam(T_i), with T_i the natural MAGT and T_s the mean surface
temperature of the thaw season. The ratio needs no thaw duration (it cancels) and leaves the
calibrated natural ALT as the reference.
"""

from __future__ import annotations

import numpy as np
from scipy.special import erf, erfcx

__all__ = ["neumann_lambda", "warming_ratio", "frozen_heat_capacity", "thaw_season_mean_c"]

C_ICE = 2100.0  # [J kg-1 K-1]
_ITER = 80  # bisection steps on log(lam): 1e-6 .. 10 to a relative width below 1e-9


def neumann_lambda(k_t, c_t, k_f, c_f, latent_j_m3, t_surface_c, t_initial_c):
    """Root lam of the two-phase Neumann equation (module docstring), elementwise.

    Parameters
    ----------
    k_t, c_t
        Thawed conductivity [W m-1 K-1] and volumetric heat capacity [J m-3 K-1].
    k_f, c_f
        Frozen conductivity and volumetric heat capacity.
    latent_j_m3
        Volumetric latent heat Q_L [J m-3] (> 0).
    t_surface_c
        Surface temperature T_s [degC] (> 0).
    t_initial_c
        Temperature of the frozen half-space T_i [degC] (<= 0).

    Returns
    -------
    lam [-]; NaN where T_s <= 0, T_i > 0, Q_L <= 0 or an input is NaN.
    """
    k_t, c_t, k_f, c_f, q, t_s, t_i = np.broadcast_arrays(
        *(np.asarray(a, dtype="float64") for a in (k_t, c_t, k_f, c_f, latent_j_m3, t_surface_c, t_initial_c))
    )
    ok = (t_s > 0) & (t_i <= 0) & (q > 0) & (k_t > 0) & (k_f > 0) & (c_t > 0) & (c_f > 0)
    a_t = np.where(ok, k_t / c_t, 1.0)
    a_f = np.where(ok, k_f / c_f, 1.0)
    cold = np.where(ok, -t_i, 0.0)

    def f(lam):  # increasing in lam, -inf at 0+
        mu = lam * np.sqrt(a_t / a_f)
        near = k_t * t_s * np.exp(-(lam**2)) / (erf(lam) * np.sqrt(np.pi * a_t))
        far = k_f * cold / (erfcx(mu) * np.sqrt(np.pi * a_f))  # exp(-mu^2) / erfc(mu) = 1 / erfcx(mu)
        return q * lam * np.sqrt(a_t) - near + far

    lo = np.full(t_s.shape, np.log(1e-6))
    hi = np.full(t_s.shape, np.log(10.0))
    with np.errstate(all="ignore"):
        for _ in range(_ITER):
            mid = 0.5 * (lo + hi)
            neg = f(np.exp(mid)) < 0
            lo = np.where(neg, mid, lo)
            hi = np.where(neg, hi, mid)
    return np.where(ok, np.exp(0.5 * (lo + hi)), np.nan)


def frozen_heat_capacity(rho_d, w, w_u, c_mineral=840.0, c_water=4186.0):
    """Frozen volumetric heat capacity [J m-3 K-1]: solids, unfrozen water and ice."""
    return rho_d * (c_mineral + w_u * c_water + (w - w_u) * C_ICE)


def thaw_season_mean_c(mean_c, amplitude_c):
    """Mean temperature [degC] of the days above 0 degC of a sinusoidal year (mean, amplitude).

    Thawing index over thaw duration: for |M| < A the year is above 0 for P/pi arccos(-M/A) days
    and the mean over them is M + A sqrt(1 - (M/A)^2) / arccos(-M/A); M + 0 when never freezing
    (M >= A), NaN when never thawing (M <= -A).
    """
    m = np.asarray(mean_c, dtype="float64")
    a = np.asarray(amplitude_c, dtype="float64")
    r = np.clip(-m / np.where(a > 0, a, np.nan), -1.0, 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = m + a * np.sqrt(1.0 - r**2) / np.arccos(r)
    return np.where(m <= -a, np.nan, np.where(m >= a, m, mean))


def warming_ratio(t_surface_c, ttop_c, d_ttop_c, k_t, rho_d, w, w_u, latent_heat_j_kg):
    """Thaw depth with the permafrost ``d_ttop_c`` warmer over the depth at ``ttop_c`` (elementwise).

    Two-phase Neumann under the same thaw-season surface temperature ``t_surface_c`` (> 0); soil
    from the soil-table row (thawed conductivity ``k_t``, dry density, total and unfrozen water
    contents), the frozen conductivity and heat capacities derived as in
    :mod:`pfatlas.activelayer.kudryavtsev`. NaN where ``ttop_c + d_ttop_c >= 0`` (no permafrost
    left) or an input is undefined.
    """
    from pfatlas.activelayer.kudryavtsev import frozen_conductivity, thawed_heat_capacity

    k_f = frozen_conductivity(k_t, rho_d, w, w_u)
    c_t = thawed_heat_capacity(rho_d, w)
    c_f = frozen_heat_capacity(rho_d, w, w_u)
    q = latent_heat_j_kg * np.asarray(rho_d, dtype="float64") * (np.asarray(w) - np.asarray(w_u))
    t0 = np.minimum(np.asarray(ttop_c, dtype="float64"), 0.0)
    t1 = np.asarray(ttop_c, dtype="float64") + np.asarray(d_ttop_c, dtype="float64")
    lam0 = neumann_lambda(k_t, c_t, k_f, c_f, q, t_surface_c, t0)
    lam1 = neumann_lambda(k_t, c_t, k_f, c_f, q, t_surface_c, np.minimum(t1, 0.0))
    return np.where(t1 < 0, lam1 / lam0, np.nan)
