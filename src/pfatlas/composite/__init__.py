"""Stage 3: growing-season Landsat composites and spectral indices."""

from pfatlas.composite.indices import INDICES, evi, mndwi, nbr, ndmi, ndvi, ndwi, savi
from pfatlas.composite.seasonal import require_clear, seasonal_composite, select_scenes

__all__ = [
    "INDICES",
    "evi",
    "mndwi",
    "nbr",
    "ndmi",
    "ndvi",
    "ndwi",
    "savi",
    "require_clear",
    "seasonal_composite",
    "select_scenes",
]
