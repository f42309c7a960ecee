"""Stages 6 and 7: permafrost extent, its probability, and thermal stability (Cheng 1984).

- :mod:`pfatlas.permafrost.extent`: permafrost yes/no (MAGT < 0) and P(MAGT < 0) = Phi(-MAGT / se);
- :mod:`pfatlas.permafrost.stability`: the Cheng (1984) MAGT classes and their class table.
"""

from pfatlas.permafrost.extent import (
    PERMAFROST_CLASSES,
    permafrost_extent,
    permafrost_mask_kernel,
    permafrost_probability_kernel,
)
from pfatlas.permafrost.stability import (
    STABILITY_CLASSES,
    stability_class_info,
    stability_class_table,
    stability_codes,
    thermal_stability,
)

__all__ = [
    "PERMAFROST_CLASSES",
    "STABILITY_CLASSES",
    "permafrost_extent",
    "permafrost_mask_kernel",
    "permafrost_probability_kernel",
    "stability_class_info",
    "stability_class_table",
    "stability_codes",
    "thermal_stability",
]
