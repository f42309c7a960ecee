"""Stage 5: mean annual ground temperature (MAGT) from boreholes and the six factors.

- :mod:`pfatlas.magt.features`: the factors (elevation, longitude, latitude, land cover, aspect,
  slope) as regression terms (northness/eastness, one-hot land cover);
- :mod:`pfatlas.magt.models`: multiple linear regression with coefficient standard errors, and
  Random Forest regression (scikit-learn; mean and between-tree spread per cell);
- :mod:`pfatlas.magt.validation`: leave-one-out and spatially blocked cross-validation, the choice
  of model, the coefficient table;
- :mod:`pfatlas.magt.predict`: MAGT and its standard error on every cell, lazily.
"""

from pfatlas.magt.features import FeatureSpec, design_matrix, make_spec
from pfatlas.magt.models import MLRFit, RFFit, fit_mlr, fit_rf, predict_mlr, predict_rf
from pfatlas.magt.predict import MagtModel, predict_magt, predict_points
from pfatlas.magt.validation import (
    MagtTraining,
    block_labels,
    coefficient_table,
    cv_predictions,
    loocv_mlr,
    scores,
    train_magt,
)

__all__ = [
    "FeatureSpec",
    "MLRFit",
    "MagtModel",
    "MagtTraining",
    "RFFit",
    "block_labels",
    "coefficient_table",
    "cv_predictions",
    "design_matrix",
    "fit_mlr",
    "fit_rf",
    "loocv_mlr",
    "make_spec",
    "predict_magt",
    "predict_mlr",
    "predict_points",
    "predict_rf",
    "scores",
    "train_magt",
]
