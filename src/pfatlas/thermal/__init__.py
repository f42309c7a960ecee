"""Heat conduction with phase change (SPEC section 5): materials, enthalpy relations, solvers.

Kernels are numpy with scipy sparse linear algebra (a column's Newton step: a numba kernel,
:mod:`pfatlas.thermal.chain`), SI units, no I/O. Geometries: the 1-D
column (:func:`simulate_column`), the x-z section and the axisymmetric r-z mesh
(:func:`simulate_section`); one stepper assembles its operator from each mesh's edge list.
"""

from pfatlas.thermal.column import (
    DAY,
    YEAR,
    ColumnMesh,
    ColumnResult,
    FixedTemperatureBase,
    HeatFluxBase,
    SeriesSurface,
    SinusoidalSurface,
    simulate_column,
)
from pfatlas.thermal.materials import Material, NodeProperties
from pfatlas.thermal.mesh2d import AxisymmetricMesh, SectionMesh, SectionResult, simulate_section

__all__ = [
    "AxisymmetricMesh",
    "DAY",
    "YEAR",
    "ColumnMesh",
    "ColumnResult",
    "FixedTemperatureBase",
    "HeatFluxBase",
    "Material",
    "NodeProperties",
    "SectionMesh",
    "SectionResult",
    "SeriesSurface",
    "SinusoidalSurface",
    "simulate_column",
    "simulate_section",
]
