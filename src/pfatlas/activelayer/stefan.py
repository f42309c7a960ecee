"""Stefan's active-layer thickness, the per-class soil table, and the lazy ALT map.

Stefan (one-phase, quasi-steady, no sensible heat)::

    ALT = E sqrt(2 k_t n_t I_a / (L rho_d (w - w_u)))                          [m]

with k_t the thawed conductivity [W m-1 K-1], n_t the thawing n-factor [-], I_a the air thawing index
[degC s] (degC day x 86400, converted once by
:func:`pfatlas.activelayer.thawing_index.cdays_to_cseconds`), L the latent heat of fusion [J kg-1],
rho_d the dry density [kg m-3], w and w_u the total and unfrozen gravimetric water contents
[kg kg-1] and E the edaphic factor calibrated on measured ALT [-]. Check of units:
W m-1 K-1 x K s / (J kg-1 x kg m-3) = J m-1 / (J m-3) = m2, so the root is in metres.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import dask.array as dsa
import numpy as np
import xarray as xr

from pfatlas.activelayer.thawing_index import cdays_to_cseconds, sinusoid_thawing_index_cdays

__all__ = ["stefan_depth_m", "SoilTable", "alt_block", "active_layer_map"]

_NCODES = 256  # uint8 class codes


def stefan_depth_m(k_t, n_t, thaw_index_c_s, latent_heat_j_kg, rho_d, w, w_u):
    """Stefan thaw depth [m] (SI inputs, see the module docstring; elementwise, NaN propagates).

    Parameters
    ----------
    k_t
        Thawed thermal conductivity [W m-1 K-1].
    n_t
        Thawing n-factor [-] (1 when the index is already a surface index).
    thaw_index_c_s
        Thawing index [degC s] (NOT degC day).
    latent_heat_j_kg
        Latent heat of fusion of water [J kg-1].
    rho_d
        Dry density [kg m-3].
    w, w_u
        Total and unfrozen gravimetric water content [kg kg-1], ``w > w_u``.

    Examples
    --------
    Meadow soil, 1000 degC day: sqrt(2 x 1.5 x 1.6 x 8.64e7 / (3.34e5 x 1300 x 0.22)) = 2.084 m

    >>> round(float(stefan_depth_m(1.5, 1.6, 1000 * 86400.0, 3.34e5, 1300.0, 0.28, 0.06)), 3)
    2.084
    """
    q_l = latent_heat_j_kg * rho_d * (w - w_u)  # volumetric latent heat [J m-3]
    return np.sqrt(2.0 * k_t * n_t * thaw_index_c_s / q_l)


@dataclass(frozen=True)
class SoilTable:
    """Per-class soil parameters as lookup arrays indexed by the uint8 class code (NaN = no soil).

    Build it with :meth:`from_config`; ``factor`` holds the edaphic factors (1 before calibration).
    """

    k_t: np.ndarray  # [W m-1 K-1]
    rho_d: np.ndarray  # [kg m-3]
    w: np.ndarray  # [kg kg-1]
    w_u: np.ndarray  # [kg kg-1]
    n_t: np.ndarray  # [-]
    factor: np.ndarray  # [-] edaphic factor E
    names: tuple[str, ...]  # class name per code ("" where the config has no class)

    @classmethod
    def from_config(cls, soils: Mapping, classes: Mapping[int, str]) -> SoilTable:
        """From ``cfg.active_layer.soils`` (name -> SoilParameters) and the class codes -> names.

        Classes without a soil entry (e.g. water) keep NaN: their ALT is NaN.
        """
        arrays = {k: np.full(_NCODES, np.nan) for k in ("k_t", "rho_d", "w", "w_u", "n_t")}
        names = [""] * _NCODES
        by_name = {str(n).strip().lower(): p for n, p in soils.items()}
        for code, name in classes.items():
            names[int(code)] = name
            p = by_name.get(name.strip().lower())
            if p is None:
                continue
            for k in arrays:
                arrays[k][int(code)] = float(getattr(p, k))
        factor = np.where(np.isfinite(arrays["k_t"]), 1.0, np.nan)
        return cls(**arrays, factor=factor, names=tuple(names))

    def with_factors(self, factors: Mapping[int, float]) -> SoilTable:
        """A copy with the edaphic factors of some class codes replaced."""
        f = self.factor.copy()
        for code, v in factors.items():
            f[int(code)] = float(v)
        return SoilTable(self.k_t, self.rho_d, self.w, self.w_u, self.n_t, f, self.names)

    def codes(self) -> list[int]:
        """Class codes that have soil parameters."""
        return [int(c) for c in np.flatnonzero(np.isfinite(self.k_t))]

    def params(self) -> tuple:
        """The lookup arrays as a plain tuple (what dask tasks carry)."""
        return (self.k_t, self.rho_d, self.w, self.w_u, self.n_t, self.factor)


def alt_block(
    landcover: np.ndarray,
    mean_c: np.ndarray,
    permafrost: np.ndarray,
    magt: np.ndarray | None,
    *,
    params: tuple,
    amplitude_c: float,
    surface: bool,
    latent_heat_j_kg: float,
    method: str = "stefan",
) -> np.ndarray:
    """ALT [m] of one block (kernel: numpy in, numpy out, no I/O).

    Parameters
    ----------
    landcover
        Class codes (uint8; 255 nodata).
    mean_c
        Annual mean temperature of the forcing sinusoid [degC]: air MAAT at the cell
        (``surface=False``) or the surface mean from LST (``surface=True``).
    permafrost
        1 where there is permafrost (uint8; other values: no ALT).
    magt
        MAGT [degC], used by Kudryavtsev where its own TTOP is not below 0 (None for Stefan).
    params
        :meth:`SoilTable.params`.
    amplitude_c
        Amplitude of the annual sinusoid [degC].
    surface
        True: the forcing is already a surface temperature (n-factor not applied).
    latent_heat_j_kg
        [J kg-1].
    method
        "stefan" or "kudryavtsev".
    """
    k_t, rho_d, w, w_u, n_t, factor = (p[landcover] for p in params)
    n = np.ones_like(n_t) if surface else n_t
    mean = mean_c.astype("float64")
    if method == "stefan":
        index_cs = cdays_to_cseconds(sinusoid_thawing_index_cdays(mean, amplitude_c))
        depth = stefan_depth_m(k_t, n, index_cs, latent_heat_j_kg, rho_d, w, w_u)
    elif method == "kudryavtsev":
        from pfatlas.activelayer.kudryavtsev import kudryavtsev_from_air

        depth = kudryavtsev_from_air(
            mean, amplitude_c, n, k_t, rho_d, w, w_u, latent_heat_j_kg,
            magt=None if magt is None else magt.astype("float64"),
        )  # fmt: skip
    else:
        raise ValueError(f"unknown active-layer method '{method}'")
    out = factor * depth
    ok = (permafrost == 1) & (landcover != 255)
    return np.where(ok, out, np.nan).astype("float32")


def active_layer_map(
    landcover: xr.DataArray,
    mean_c: xr.DataArray,
    permafrost: xr.DataArray,
    table: SoilTable,
    *,
    amplitude_c: float,
    surface: bool,
    latent_heat_j_kg: float,
    method: str = "stefan",
    magt: xr.DataArray | None = None,
) -> xr.DataArray:
    """Lazy ALT map [m] on the grid of ``landcover`` (NaN where no permafrost or no soil entry).

    All inputs must share one grid and chunking (as read by ``read_to_grid``); one dask task per
    chunk carries only the small lookup tables. See :func:`alt_block`.
    """
    args = [landcover.data, mean_c.data, permafrost.data]
    if magt is not None:
        args.append(magt.data)

    def block(lc, m, pf, *rest):
        return alt_block(
            lc, m, pf, rest[0] if rest else None,
            params=table.params(), amplitude_c=amplitude_c, surface=surface,
            latent_heat_j_kg=latent_heat_j_kg, method=method,
        )  # fmt: skip

    if isinstance(landcover.data, dsa.Array):
        data = dsa.map_blocks(block, *args, dtype="float32")
    else:
        data = block(*(np.asarray(a) for a in args))
    return xr.DataArray(
        data,
        dims=landcover.dims,
        coords=landcover.coords,
        name="alt",
        attrs={
            "units": "m",
            "long_name": f"active-layer thickness ({method}, calibrated edaphic factor)",
        },
    )
