"""Active-layer thickness (SPEC stage 8): thawing indices, Stefan, Kudryavtsev, edaphic calibration.

Kernels are numpy (SI units, no I/O); :func:`active_layer_map` is the lazy xarray wrapper; the build
step is :mod:`pfatlas.build.stage_activelayer`.
"""

from pfatlas.activelayer.calibrate import (
    EdaphicFit,
    calibration_table,
    error_stats,
    fit_edaphic,
    loo_predictions,
)
from pfatlas.activelayer.kudryavtsev import kudryavtsev_depth_m, kudryavtsev_from_air, ttop_c
from pfatlas.activelayer.stefan import SoilTable, active_layer_map, alt_block, stefan_depth_m
from pfatlas.activelayer.thawing_index import (
    air_thawing_index_cdays,
    cdays_to_cseconds,
    fit_amplitude_c,
    lst_thawing_index_cdays,
    sinusoid_thawing_index_cdays,
)

__all__ = [
    "EdaphicFit",
    "SoilTable",
    "active_layer_map",
    "air_thawing_index_cdays",
    "alt_block",
    "calibration_table",
    "cdays_to_cseconds",
    "error_stats",
    "fit_amplitude_c",
    "fit_edaphic",
    "kudryavtsev_depth_m",
    "kudryavtsev_from_air",
    "loo_predictions",
    "lst_thawing_index_cdays",
    "sinusoid_thawing_index_cdays",
    "stefan_depth_m",
    "ttop_c",
]
