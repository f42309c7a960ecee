"""Ice profiles on a depth grid and their exact window integrals.

A profile holds piecewise-constant values on depth bins ``edges[0] = 0 < edges[1] < ...`` [m]:
volumetric ice content theta_i [m3 m-3], dry-mass per volume rho_d [kg m-3], dry-mass-weighted
total water ``rho_d w`` [kg m-3] and the share of each soil type [-]. Their running integrals are
piecewise linear, so the mean over any window [a, a + D] is exact with linear interpolation::

    theta_mean(a) = (Theta(a + D) - Theta(a)) / D,    Theta(z) = int_0^z theta_i dz'

The bins below the deepest data keep the last value (the profile is extended at constant value).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pfatlas.groundice.classes import ice_class_code

__all__ = ["IceProfile", "window_mean", "window_class", "ground_ice_block", "ProfileSet"]


@dataclass(frozen=True)
class IceProfile:
    """Piecewise-constant profile on depth bins (see the module docstring)."""

    edges: np.ndarray  # [m], n + 1 increasing from 0
    theta: np.ndarray  # [m3 m-3] volumetric ice content per bin
    rho_d: np.ndarray  # [kg m-3] dry density per bin
    rho_w: np.ndarray  # [kg m-3] rho_d x total gravimetric water content per bin
    soil_share: np.ndarray  # [-] (n_soils, n) share of each soil of SOILS per bin

    def cumulative(self, values: np.ndarray) -> np.ndarray:
        """Running integral of per-bin ``values`` at the edges [values x m]."""
        v = np.asarray(values, dtype="float64")
        c = np.cumsum(v * np.diff(self.edges), axis=-1)
        return np.concatenate([np.zeros(v.shape[:-1] + (1,)), c], axis=-1)

    def window_integrals(self, top_m, depth_m: float) -> dict[str, np.ndarray]:
        """Integrals over [top, top + depth] of theta, rho_d, rho_d w and each soil share."""
        top = np.asarray(top_m, dtype="float64")
        bot = top + depth_m
        e = self.edges

        def integ(v):
            c = self.cumulative(v)
            return np.interp(bot, e, c) - np.interp(top, e, c)

        return {
            "theta": integ(self.theta),
            "rho_d": integ(self.rho_d),
            "rho_w": integ(self.rho_w),
            "soil": np.stack([integ(s) for s in self.soil_share]),
        }


def window_mean(profile: IceProfile, top_m, depth_m: float) -> np.ndarray:
    """Mean volumetric ice content [m3 m-3] over [top, top + depth] (exact, see module).

    Examples
    --------
    Two layers, 0.2 over 0-3 m and 0.5 below: the window 2-12 m holds 1 m x 0.2 + 9 m x 0.5.

    >>> edges = np.array([0.0, 3.0, 100.0])
    >>> p = IceProfile(edges, np.array([0.2, 0.5]), np.ones(2), np.ones(2), np.zeros((7, 2)))
    >>> round(float(window_mean(p, 2.0, 10.0)), 6)
    0.47
    """
    return profile.window_integrals(top_m, depth_m)["theta"] / depth_m


def window_class(integrals: dict[str, np.ndarray]) -> np.ndarray:
    """GB 50324 class from the dominant soil (by thickness) and the dry-mass-weighted water [%]."""
    w_pct = 100.0 * integrals["rho_w"] / np.where(integrals["rho_d"] > 0, integrals["rho_d"], np.nan)
    soil = np.argmax(integrals["soil"], axis=0)
    return ice_class_code(soil, w_pct)


@dataclass(frozen=True)
class ProfileSet:
    """One profile per geomorphology unit code, plus the fallback for cells of no known unit."""

    profiles: dict[int, IceProfile]
    fallback: IceProfile

    def for_code(self, code: int) -> IceProfile:
        return self.profiles.get(int(code), self.fallback)


def ground_ice_block(
    unit: np.ndarray,
    alt: np.ndarray,
    permafrost: np.ndarray,
    *,
    profiles: ProfileSet,
    depth_m: float,
    cell_area_m2: float,
) -> np.ndarray:
    """Ground ice of one block (kernel): stacked (3, ny, nx) float32 of mean theta_i [m3 m-3],
    ice volume [m3 per cell] and the ice class code (as float; 255 nodata).

    Non-permafrost cells: theta NaN, volume 0, class 0. Permafrost cells without an ALT (e.g. water
    classes without soil parameters): theta and volume NaN, class 255.
    """
    shape = unit.shape
    theta = np.full(shape, np.nan)
    cls = np.full(shape, 255.0)
    pf = permafrost == 1
    has_alt = pf & np.isfinite(alt)
    for code in np.unique(unit[has_alt]):
        sel = has_alt & (unit == code)
        integ = profiles.for_code(int(code)).window_integrals(alt[sel], depth_m)
        theta[sel] = integ["theta"] / depth_m
        cls[sel] = window_class(integ)
    volume = theta * depth_m * cell_area_m2
    nopf = permafrost == 0
    theta[nopf] = np.nan
    volume[nopf] = 0.0
    cls[nopf] = 0.0
    return np.stack([theta, volume, cls]).astype("float32")
