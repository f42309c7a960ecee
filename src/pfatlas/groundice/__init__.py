"""Ground ice (SPEC stage 9): stratigraphy statistics per geomorphology unit, ice profiles and their
window integrals, GB 50324-2014 ice-content classes. Build step: :mod:`pfatlas.build.stage_groundice`.
"""

from pfatlas.groundice.classes import ICE_CLASSES, ice_class_code, ice_class_infos
from pfatlas.groundice.profile import IceProfile, ProfileSet, ground_ice_block, window_mean
from pfatlas.groundice.stratigraphy import profile_from_samples, sample_ice, unit_profiles

__all__ = [
    "ICE_CLASSES",
    "IceProfile",
    "ProfileSet",
    "ground_ice_block",
    "ice_class_code",
    "ice_class_infos",
    "profile_from_samples",
    "sample_ice",
    "unit_profiles",
    "window_mean",
]
