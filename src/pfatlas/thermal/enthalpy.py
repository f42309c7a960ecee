"""Enthalpy <-> temperature relations of freezing ground (pure functions, SI units).

With the freezing point T_f, the freezing range dT, the latent heat L_v released over it [J m-3] and
the volumetric heat capacities C_t (thawed) and C_f (frozen), the volumetric enthalpy, zero for
thawed ground at T_f, is piecewise linear in temperature::

    H(T) = C_t (T - T_f)                               T >= T_f
         = (C_f + L_v / dT) (T - T_f)                  T_f - dT < T < T_f
         = C_f (T - T_f) - L_v                         T <= T_f - dT          [J m-3]

so it is continuous and strictly increasing and its inverse is exact. The thawed fraction w of
the latent heat (0 frozen, 1 thawed) is linear in T over the range, and so is
the liquid water content theta_u = theta_res + (theta_w - theta_res) w. Conductivity is the linear
mix k = k_f + (k_t - k_f) w.

Every function takes a :class:`~pfatlas.thermal.materials.NodeProperties` (or any object with the
same array attributes) that broadcasts against the temperature or enthalpy array.
"""

from __future__ import annotations

import numpy as np

from pfatlas.thermal.materials import RHO_ICE, RHO_WATER, NodeProperties


def _ramp_capacity(p: NodeProperties) -> np.ndarray:
    """Apparent heat capacity inside the freezing range [J m-3 K-1]."""
    return p.c_frozen + p.latent_heat / p.freezing_range


def enthalpy(temperature: np.ndarray, p: NodeProperties) -> np.ndarray:
    """Volumetric enthalpy [J m-3] from temperature [degC].

    Examples
    --------
    >>> from pfatlas.thermal.materials import Material, NodeProperties
    >>> m = Material("m", 1.0, 2.0, 2.0e6, 1.0e6, water_content=0.1, freezing_range=0.5)
    >>> p = NodeProperties.from_materials([m], [0])
    >>> enthalpy(np.array([1.0, 0.0, -1.0]), p) / 1e6
    array([  2. ,   0. , -34.4])
    """
    dt = np.asarray(temperature, dtype=float) - p.freezing_point
    return np.where(
        dt >= 0,
        p.c_thawed * dt,
        np.where(
            dt > -p.freezing_range,
            _ramp_capacity(p) * dt,
            p.c_frozen * dt - p.latent_heat,
        ),
    )


def temperature(h: np.ndarray, p: NodeProperties) -> np.ndarray:
    """Temperature [degC] from volumetric enthalpy [J m-3] (exact inverse of :func:`enthalpy`).

    Examples
    --------
    >>> from pfatlas.thermal.materials import Material, NodeProperties
    >>> m = Material("m", 1.0, 2.0, 2.0e6, 1.0e6, water_content=0.1, freezing_range=0.5)
    >>> p = NodeProperties.from_materials([m], [0])
    >>> temperature(enthalpy(np.array([1.0, -0.2, -1.0]), p), p)
    array([ 1. , -0.2, -1. ])
    """
    h = np.asarray(h, dtype=float)
    h_solidus = -(_ramp_capacity(p) * p.freezing_range)  # H at T_f - dT
    return p.freezing_point + np.where(
        h >= 0,
        h / p.c_thawed,
        np.where(h > h_solidus, h / _ramp_capacity(p), (h + p.latent_heat) / p.c_frozen),
    )


def dtemperature_denthalpy(h: np.ndarray, p: NodeProperties) -> np.ndarray:
    """Derivative dT/dH [K m3 J-1] (one-sided: the slope on the warm side at a kink)."""
    h = np.asarray(h, dtype=float)
    h_solidus = -(_ramp_capacity(p) * p.freezing_range)
    return np.where(
        h >= 0, 1.0 / p.c_thawed, np.where(h > h_solidus, 1.0 / _ramp_capacity(p), 1.0 / p.c_frozen)
    )


def thawed_fraction(temperature: np.ndarray, p: NodeProperties) -> np.ndarray:
    """Fraction of the latent heat held [-]: 0 fully frozen, 1 thawed, linear over the range."""
    dt = np.asarray(temperature, dtype=float) - p.freezing_point
    return np.clip(1.0 + dt / p.freezing_range, 0.0, 1.0)


def conductivity(temperature: np.ndarray, p: NodeProperties) -> np.ndarray:
    """Thermal conductivity [W m-1 K-1]: linear mix of frozen and thawed by thawed fraction."""
    w = thawed_fraction(temperature, p)
    return p.k_frozen + (p.k_thawed - p.k_frozen) * w


def ice_content(temperature: np.ndarray, p: NodeProperties) -> np.ndarray:
    """Volumetric ice content [m3 m-3] (ice volume, density 917 kg m-3, per volume of ground)."""
    w = thawed_fraction(temperature, p)
    return (p.water_content - p.unfrozen_water) * (1.0 - w) * RHO_WATER / RHO_ICE
