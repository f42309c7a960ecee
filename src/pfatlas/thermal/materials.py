"""Thermal properties of ground materials, and their values at the nodes of a mesh.

A :class:`Material` holds frozen and thawed conductivity and volumetric heat capacity, its total
water content and an unfrozen-water curve: the liquid water content falls linearly from the total
``water_content`` at the freezing point to ``unfrozen_water`` at ``freezing_point - freezing_range``
and stays there below. The latent heat released over that range is

    L_v = rho_w L (water_content - unfrozen_water)                 [J m-3]

Parameters are checked when a material is made: a bad value raises
:class:`pfatlas.errors.InputError` naming the material and the field.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pfatlas.errors import InputError

RHO_WATER = 1000.0  # [kg m-3]
RHO_ICE = 917.0  # [kg m-3]
LATENT_HEAT_FUSION = 3.34e5  # [J kg-1]


@dataclass(frozen=True)
class Material:
    """One ground material.

    Parameters
    ----------
    name
        Name used in messages.
    k_thawed, k_frozen
        Thermal conductivity of the thawed and of the frozen material [W m-1 K-1].
    c_thawed, c_frozen
        Volumetric heat capacity of the thawed and of the frozen material [J m-3 K-1].
    water_content
        Total volumetric water content (liquid + ice) [m3 m-3].
    unfrozen_water
        Liquid water content left at and below ``freezing_point - freezing_range`` [m3 m-3].
    freezing_range
        Width of the freezing interval below the freezing point [K]; > 0.
    freezing_point
        Temperature at which freezing starts [degC].

    Examples
    --------
    >>> silt = Material("silt", 1.4, 1.9, 2.6e6, 1.9e6, water_content=0.3)
    >>> round(silt.latent_heat / 1e6, 1)  # [MJ m-3]
    100.2
    """

    name: str
    k_thawed: float
    k_frozen: float
    c_thawed: float
    c_frozen: float
    water_content: float = 0.0
    unfrozen_water: float = 0.0
    freezing_range: float = 0.05
    freezing_point: float = 0.0

    def __post_init__(self) -> None:
        for field in ("k_thawed", "k_frozen", "c_thawed", "c_frozen", "freezing_range"):
            value = getattr(self, field)
            if not np.isfinite(value) or value <= 0:
                raise InputError(
                    f"material '{self.name}': {field} must be a positive number, got {value!r}",
                    field=field,
                )
        for field in ("water_content", "unfrozen_water"):
            value = getattr(self, field)
            if not np.isfinite(value) or not 0 <= value <= 1:
                raise InputError(
                    f"material '{self.name}': {field} must be in [0, 1] m3 m-3, got {value!r}",
                    field=field,
                )
        if self.unfrozen_water > self.water_content:
            raise InputError(
                f"material '{self.name}': unfrozen_water ({self.unfrozen_water}) exceeds "
                f"water_content ({self.water_content})",
                field="unfrozen_water",
            )
        if not np.isfinite(self.freezing_point):
            raise InputError(f"material '{self.name}': freezing_point must be finite", field="freezing_point")

    @property
    def latent_heat(self) -> float:
        """Latent heat released over the freezing range [J m-3]."""
        return RHO_WATER * LATENT_HEAT_FUSION * (self.water_content - self.unfrozen_water)


@dataclass(frozen=True)
class NodeProperties:
    """Material properties at each node of a mesh, as arrays (SI units, see :class:`Material`)."""

    k_thawed: np.ndarray
    k_frozen: np.ndarray
    c_thawed: np.ndarray
    c_frozen: np.ndarray
    latent_heat: np.ndarray
    freezing_point: np.ndarray
    freezing_range: np.ndarray
    water_content: np.ndarray
    unfrozen_water: np.ndarray

    @classmethod
    def from_materials(cls, materials: Sequence[Material], index: np.ndarray) -> NodeProperties:
        """Properties at nodes from a material list and the material index of each node."""
        index = np.asarray(index)
        if index.size and (index.min() < 0 or index.max() >= len(materials)):
            raise InputError("material index out of range", field="material_index")

        def take(attr: str) -> np.ndarray:
            return np.array([getattr(m, attr) for m in materials], dtype=float)[index]

        return cls(
            *(
                take(a)
                for a in (
                    "k_thawed",
                    "k_frozen",
                    "c_thawed",
                    "c_frozen",
                    "latent_heat",
                    "freezing_point",
                    "freezing_range",
                    "water_content",
                    "unfrozen_water",
                )
            )
        )
