"""Change between epochs (SPEC stage 11): differences of the continuous layers, class transition
matrices in km2, the permafrost transition map and the change totals. Library functions on xarray
(numpy or dask), no file I/O; build step: :mod:`pfatlas.build.stage_change`.
"""

from pfatlas.change.difference import (
    CONTINUOUS_LAYERS,
    ChangeLayer,
    difference_kernel,
    layer_difference,
    mean_from_sum_count,
    valid_sum_count,
)
from pfatlas.change.totals import change_summary, ice_volume_sums, permafrost_totals
from pfatlas.change.transition import (
    PERMAFROST_TRANSITION_CLASSES,
    class_lut,
    permafrost_transition,
    permafrost_transition_kernel,
    transition_counts,
    transition_counts_kernel,
    transition_table,
    unlisted_cells,
)

__all__ = [
    "CONTINUOUS_LAYERS",
    "ChangeLayer",
    "PERMAFROST_TRANSITION_CLASSES",
    "change_summary",
    "class_lut",
    "difference_kernel",
    "ice_volume_sums",
    "layer_difference",
    "mean_from_sum_count",
    "permafrost_totals",
    "permafrost_transition",
    "permafrost_transition_kernel",
    "transition_counts",
    "transition_counts_kernel",
    "transition_table",
    "unlisted_cells",
    "valid_sum_count",
]
