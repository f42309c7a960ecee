"""Newton iteration of one backward-Euler enthalpy step on a chain of nodes (numba kernel).

A 1-D column is a chain: node i exchanges heat with i - 1 and i + 1 only, so the Newton Jacobian
``diag(V/dt) + L diag(dT/dH)`` is tridiagonal and each iteration is a pass of the Thomas algorithm.
This kernel does what :meth:`pfatlas.thermal.column._Stepper._newton` does with numpy for any mesh
(same equations, same kink limiting, same convergence test), in one compiled loop: on a 141-node
column the numpy version spends its time in the overhead of ~20 small array operations per
iteration. The Jacobian is diagonally dominant (``V/dt > 0``, ``dT/dH > 0``, conductances > 0), so
the Thomas algorithm needs no pivoting.

Plain arrays in SI units: enthalpy [J m-3], node volumes [m3 per unit area], edge half-lengths
[m], edge areas [-], the node properties of :class:`pfatlas.thermal.materials.NodeProperties`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["chain_newton"]


@njit(cache=True, nogil=True)
def _residual(h, h_old, dt, vol, h1, h2, area, p, fixed, source, temp, g, r):
    """Temperature, edge conductances and residual [W] of the step; returns max |r dt / V| [J m-3]."""
    kt, kf, ct, cf, lat, tf, dtf = p
    n = h.size
    for i in range(n):
        ramp = cf[i] + lat[i] / dtf[i]
        if h[i] >= 0.0:
            temp[i] = tf[i] + h[i] / ct[i]
        elif h[i] > -ramp * dtf[i]:
            temp[i] = tf[i] + h[i] / ramp
        else:
            temp[i] = tf[i] + (h[i] + lat[i]) / cf[i]
        r[i] = vol[i] * (h[i] - h_old[i]) / dt - source[i]
    k_prev = 0.0
    for i in range(n):
        w = min(max(1.0 + (temp[i] - tf[i]) / dtf[i], 0.0), 1.0)
        k = kf[i] + (kt[i] - kf[i]) * w
        if i > 0:
            e = i - 1
            g[e] = area[e] / (h1[e] / k_prev + h2[e] / k)
            flow = g[e] * (temp[i] - temp[e])  # from node i into node e
            r[e] -= flow
            r[i] += flow
        k_prev = k
    norm = 0.0
    for i in range(n):
        if fixed[i]:
            r[i] = 0.0
        else:
            norm = max(norm, abs(r[i] * dt / vol[i]))
    return norm


@njit(cache=True, nogil=True)
def chain_newton(h, h_old, dt, vol, h1, h2, area, p, fixed, source, tol, max_iter, kink_solidus, kink_scale):
    """Iterate Newton on ``h`` (in place) until max |residual| x dt / V < ``tol`` [J m-3].

    ``p`` is the tuple (k_thawed, k_frozen, c_thawed, c_frozen, latent_heat, freezing_point,
    freezing_range) of per-node arrays; ``h`` holds the fixed nodes' enthalpy already. Returns
    (converged, iterations, boundary heat flow into the free nodes [W per unit area]).
    """
    kt, kf, ct, cf, lat, tf, dtf = p
    n = h.size
    temp = np.empty(n)
    g = np.empty(n - 1)
    r = np.empty(n)
    lower = np.empty(n)  # A[i, i - 1]
    diag = np.empty(n)
    upper = np.empty(n)  # A[i, i + 1]
    rhs = np.empty(n)
    s = np.empty(n)
    norm = _residual(h, h_old, dt, vol, h1, h2, area, p, fixed, source, temp, g, r)
    iterations = 0
    while iterations < max_iter and norm >= tol:
        for i in range(n):  # dT/dH, one-sided (warm side) at a kink; 0 on fixed nodes
            if fixed[i]:
                s[i] = 0.0
            else:
                ramp = cf[i] + lat[i] / dtf[i]
                if h[i] >= 0.0:
                    s[i] = 1.0 / ct[i]
                elif h[i] > -ramp * dtf[i]:
                    s[i] = 1.0 / ramp
                else:
                    s[i] = 1.0 / cf[i]
        for i in range(n):
            diag[i] = vol[i] / dt
            lower[i] = 0.0
            upper[i] = 0.0
        for e in range(n - 1):
            diag[e] += g[e] * s[e]
            diag[e + 1] += g[e] * s[e + 1]
            upper[e] = -g[e] * s[e + 1]
            lower[e + 1] = -g[e] * s[e]
        for i in range(n):
            if fixed[i]:
                diag[i] = 1.0
                lower[i] = 0.0
                upper[i] = 0.0
                rhs[i] = 0.0
            else:
                rhs[i] = r[i]
        # Thomas algorithm: forward elimination, then back substitution (rhs becomes x)
        for i in range(1, n):
            m = lower[i] / diag[i - 1]
            diag[i] -= m * upper[i - 1]
            rhs[i] -= m * rhs[i - 1]
        rhs[n - 1] /= diag[n - 1]
        for i in range(n - 2, -1, -1):
            rhs[i] = (rhs[i] - upper[i] * rhs[i + 1]) / diag[i]
        # update, stopped just past the first kink of T(H) it crosses (see _Stepper._limit_to_kinks)
        for i in range(n):
            old = h[i]
            new = old - rhs[i]
            out = new
            eps = 1e-9 * kink_scale[i]
            for hk in (-kink_solidus[i], 0.0):
                if old < hk and new > hk:
                    out = min(out, hk + eps)
                elif old >= hk and new < hk:
                    out = max(out, hk - eps)
            h[i] = out
        norm = _residual(h, h_old, dt, vol, h1, h2, area, p, fixed, source, temp, g, r)
        iterations += 1
    q = 0.0
    for i in range(n):
        if not fixed[i]:
            q += source[i]
    for e in range(n - 1):
        into_a = g[e] * (temp[e + 1] - temp[e])
        if not fixed[e] and fixed[e + 1]:
            q += into_a
        elif fixed[e] and not fixed[e + 1]:
            q -= into_a
    return norm < tol, iterations, q
