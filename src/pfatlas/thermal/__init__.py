"""Heat conduction with phase change (SPEC section 5): materials, enthalpy relations, solvers.

Kernels are numpy with scipy sparse/banded linear algebra, SI units, no I/O. Only the 1-D column
(:func:`simulate_column`) exists so far; the operator is assembled from a mesh's edge list so 2-D
section and axisymmetric meshes can reuse the stepper.
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

__all__ = [
    "DAY",
    "YEAR",
    "ColumnMesh",
    "ColumnResult",
    "FixedTemperatureBase",
    "HeatFluxBase",
    "Material",
    "NodeProperties",
    "SeriesSurface",
    "SinusoidalSurface",
    "simulate_column",
]
