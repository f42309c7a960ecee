"""Land cover (stage 4): Random Forest on composite spectra, LST and terrain; accuracy on held-out samples.

- :mod:`~pfatlas.landcover.features`: the lazy feature stack (spectra, LST, elevation, slope,
  northness, eastness, local relief, height above the local minimum);
- :mod:`~pfatlas.landcover.classify`: stratified sample split, seeded forests, lazy chunked
  prediction (terrain-only forest inside composite holes);
- :mod:`~pfatlas.landcover.accuracy`: error matrix, overall accuracy, kappa, producer's and user's
  accuracy.
"""

from pfatlas.landcover.accuracy import AccuracyReport, assess_accuracy, confusion_matrix
from pfatlas.landcover.classify import (
    LandCoverModel,
    check_training,
    classify,
    fit_landcover_model,
    plot_cells,
    predict_features,
    split_samples,
)
from pfatlas.landcover.features import SPECTRAL_FEATURES, features_at, landcover_features

__all__ = [
    "AccuracyReport",
    "LandCoverModel",
    "SPECTRAL_FEATURES",
    "assess_accuracy",
    "check_training",
    "classify",
    "confusion_matrix",
    "features_at",
    "fit_landcover_model",
    "landcover_features",
    "plot_cells",
    "predict_features",
    "split_samples",
]
