"""Cross-validation of the MAGT models: leave-one-out and spatially blocked.

Scores of predictions p_i against measurements y_i [degC] over n held-out boreholes:

    RMSE = sqrt(mean((p - y)^2))                                           [degC]
    bias = mean(p - y)                                                     [degC] (positive: too warm)
    R2   = 1 - sum((p - y)^2) / sum((y - mean(y))^2)                        [-] (predictive; can be < 0)

Leave-one-out (LOOCV) refits without each borehole in turn. For the linear regression the
refit is not needed: the held-out residual is e_i / (1 - h_ii), with e the full-fit residual
and h_ii the leverage (the PRESS identity, Allen 1974); a borehole whose leverage is 1 (the only
one in its land-cover class) is refitted without that class's column, as a brute-force loop does.

Spatially blocked CV (Roberts et al. 2017) holds out all the boreholes of one square block of
side ``block_km`` at a time (blocks aligned to the grid CRS origin), so neighbouring boreholes,
whose MAGT residuals are correlated, do not score each other.

Within any fold a one-hot land-cover column that is all zero in the training part is dropped
(that class is predicted with the reference effect), as for the final model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pfatlas.errors import InputError
from pfatlas.magt.features import BASE_TERMS, FeatureSpec
from pfatlas.magt.models import MLRFit, RFFit, fit_mlr, fit_rf, forest_mean_var
from pfatlas.magt.predict import MagtModel
from pfatlas.parallel import on_cluster

__all__ = [
    "scores",
    "mlr_fit_predict",
    "rf_fit_predict",
    "cv_predictions",
    "loocv_mlr",
    "block_labels",
    "MagtTraining",
    "train_magt",
    "choose_model",
    "coefficient_table",
    "min_boreholes",
    "check_enough_boreholes",
]

FitPredict = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def scores(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """n, RMSE [degC], bias [degC] and R2 [-] of predictions against observations (NaN skipped).

    >>> scores(np.array([0.0, 1.0, 2.0]), np.array([0.5, 1.0, 2.5]))["bias_degC"]
    0.3333333333333333
    """
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(pred, dtype=np.float64)
    ok = np.isfinite(y) & np.isfinite(p)
    y, p = y[ok], p[ok]
    n = int(y.size)
    if n == 0:
        return {"n": 0, "rmse_degC": np.nan, "bias_degC": np.nan, "r2": np.nan}
    d = p - y
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - float(np.sum(d**2)) / ss_tot if ss_tot > 0 else np.nan
    return {
        "n": n,
        "rmse_degC": float(np.sqrt(np.mean(d**2))),
        "bias_degC": float(np.mean(d)),
        "r2": r2,
    }


def _usable_columns(Xtr: np.ndarray, n_base: int) -> np.ndarray:
    """Columns to keep: the base terms, and the one-hot columns not all zero in training."""
    keep = np.ones(Xtr.shape[1], dtype=bool)
    keep[n_base:] = np.any(Xtr[:, n_base:] != 0, axis=0)
    return keep


def mlr_fit_predict(Xtr: np.ndarray, ytr: np.ndarray, Xte: np.ndarray, n_base: int = 7) -> np.ndarray:
    """Least-squares fit on a training fold, predictions at the test rows [degC].

    One-hot columns (after the first ``n_base``) all zero in the fold are dropped; a fold too
    small or collinear still gets the minimum-norm least-squares solution.
    """
    keep = _usable_columns(Xtr, n_base)
    coef, *_ = np.linalg.lstsq(Xtr[:, keep], ytr, rcond=None)
    return Xte[:, keep] @ coef


def rf_fit_predict(n_estimators: int, seed: int) -> FitPredict:
    """A fit-and-predict function of the Random Forest for :func:`cv_predictions`."""

    def fp(Xtr: np.ndarray, ytr: np.ndarray, Xte: np.ndarray) -> np.ndarray:
        fit = fit_rf(Xtr, ytr, n_estimators=n_estimators, seed=seed)
        mean, _ = forest_mean_var(fit.forest, np.asarray(Xte, dtype=np.float64)[:, 1:])
        return mean

    return fp


def cv_predictions(
    fit_predict: FitPredict, X: np.ndarray, y: np.ndarray, folds: np.ndarray, *, tasks: bool = False
) -> np.ndarray:
    """Held-out predictions [degC]: each fold label in turn is predicted from all the others.

    ``folds`` gives each row's fold label; ``np.arange(n)`` is leave-one-out. With ``tasks`` the
    folds are fitted as dask tasks on the current scheduler: each fold's fit is the same whoever
    runs it, so the predictions are too.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    folds = np.asarray(folds)
    pred = np.full(y.shape, np.nan)
    tests = [t for t in (folds == label for label in np.unique(folds)) if not t.all()]
    if tasks:
        import dask

        fit = dask.delayed(fit_predict, pure=True)
        done = dask.compute(*(fit(X[~t], y[~t], X[t]) for t in tests))
    else:
        done = [fit_predict(X[~t], y[~t], X[t]) for t in tests]
    for t, p in zip(tests, done, strict=True):
        pred[t] = p
    return pred


def loocv_mlr(X: np.ndarray, y: np.ndarray, n_base: int = 7) -> np.ndarray:
    """Leave-one-out predictions of the linear regression by the PRESS identity [degC].

    Equal to refitting without each row (:func:`cv_predictions` with
    :func:`mlr_fit_predict` and ``np.arange(n)``), at the cost of one fit. Rows of leverage 1
    are refitted explicitly.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    keep = _usable_columns(X, n_base)
    Xk = X[:, keep]
    pinv = np.linalg.pinv(Xk)
    coef = pinv @ y
    resid = y - Xk @ coef
    lev = np.einsum("ij,ji->i", Xk, pinv)
    pred = np.empty_like(y)
    tol = 1e-8
    easy = lev < 1.0 - tol
    pred[easy] = y[easy] - resid[easy] / (1.0 - lev[easy])
    for i in np.flatnonzero(~easy):
        train = np.ones(y.size, dtype=bool)
        train[i] = False
        pred[i] = mlr_fit_predict(X[train], y[train], X[i : i + 1], n_base)[0]
    return pred


def block_labels(x_m: np.ndarray, y_m: np.ndarray, block_km: float) -> np.ndarray:
    """Fold label of each borehole: the square block [``block_km`` side] of its x, y [m].

    >>> block_labels(np.array([100.0, 4900.0, 5100.0]), np.array([0.0, 0.0, 0.0]), 5.0).tolist()
    [0, 0, 1]
    """
    size = float(block_km) * 1000.0
    bx = np.floor(np.asarray(x_m, dtype=np.float64) / size).astype(np.int64)
    by = np.floor(np.asarray(y_m, dtype=np.float64) / size).astype(np.int64)
    _, labels = np.unique(np.stack([bx, by], axis=1), axis=0, return_inverse=True)
    return labels.ravel()


# --- training: both models, both CV schemes, the choice -----------------------------------------


@dataclass(frozen=True)
class MagtTraining:
    """Both fitted models, their cross-validation and the chosen one.

    Attributes
    ----------
    model
        The chosen model, ready for :func:`~pfatlas.magt.predict.predict_magt`.
    mlr, rf
        Both fits (``rf`` is None when the forest was not requested).
    cv
        One row per model and scheme: model, scheme, folds, n, rmse_degC, bias_degC, r2.
    loo
        Leave-one-out predictions per model [degC].
    reason
        Why the chosen model was chosen, in words.
    """

    model: MagtModel
    mlr: MLRFit
    rf: RFFit | None
    cv: pd.DataFrame
    loo: dict[str, np.ndarray]
    reason: str


def train_magt(
    X: np.ndarray,
    y: np.ndarray,
    x_m: np.ndarray,
    y_m: np.ndarray,
    spec: FeatureSpec,
    *,
    model: str = "auto",
    n_estimators: int = 500,
    seed: int = 0,
    cv_block_km: float = 5.0,
    cv_n_estimators: int | None = None,
    source: str | Path | None = None,
) -> MagtTraining:
    """Fit both models, cross-validate them (LOO and blocked) and choose one.

    Parameters
    ----------
    X
        Design matrix of the training boreholes (columns ``spec.terms``).
    y
        Their MAGT [degC].
    x_m, y_m
        Their projected coordinates [m] (for the blocks).
    spec
        The feature spec of ``X``.
    model
        ``"auto"`` (see :func:`choose_model`), ``"mlr"`` or ``"rf"``.
    n_estimators, seed
        Random Forest size and seed.
    cv_block_km
        Block side of the spatially blocked CV [km].
    cv_n_estimators
        Trees of the forests refitted in the CV folds (default ``n_estimators``).
    source
        The boreholes file, named in errors.

    Returns
    -------
    MagtTraining

    Raises
    ------
    InputError
        Fewer boreholes than the regression's terms + 2, or collinear factors at the boreholes.
    """
    n_base = len(BASE_TERMS)
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    check_enough_boreholes(y.size, spec, source)
    try:
        mlr = fit_mlr(X, y, spec.terms)
    except ValueError as exc:
        raise InputError(
            f"the MAGT regression cannot be fitted on these {y.size} boreholes: {exc}; the boreholes "
            "must differ in elevation, position, aspect, slope and land cover",
            path=source,
            field="magt_c",
        ) from None
    blocks = block_labels(x_m, y_m, cv_block_km)
    loo = {"mlr": loocv_mlr(X, y, n_base)}
    blocked = {
        "mlr": cv_predictions(lambda a, b, c: mlr_fit_predict(a, b, c, n_base), X, y, blocks),
    }
    rf_cv = rf_fit_predict(cv_n_estimators or n_estimators, seed)
    # on a dask.distributed cluster the folds' forests are fitted by the worker processes; in one
    # process they stay serial (a 50-tree forest on ~50 boreholes is Python overhead that holds the
    # GIL: measured no faster on 2 threads)
    cluster = on_cluster()
    loo["rf"] = cv_predictions(rf_cv, X, y, np.arange(y.size), tasks=cluster)
    blocked["rf"] = cv_predictions(rf_cv, X, y, blocks, tasks=cluster)
    rows = []
    nblocks = int(np.unique(blocks).size)
    for name in ("mlr", "rf"):
        for scheme, pred, folds in (
            ("leave-one-out", loo[name], y.size),
            (f"blocked {cv_block_km:g} km", blocked[name], nblocks),
        ):
            rows.append({"model": name, "scheme": scheme, "folds": folds, **scores(y, pred)})
    cv = pd.DataFrame(rows)
    loo_rmse = {m: scores(y, loo[m])["rmse_degC"] for m in loo}
    if model == "auto":
        chosen, reason = choose_model(y, loo)
    elif model in ("mlr", "rf"):
        chosen = model
        reason = f"named by the config (magt.model = {model!r})"
    else:
        raise ValueError(f"model must be 'auto', 'mlr' or 'rf', got {model!r}")
    rf = fit_rf(X, y, n_estimators=n_estimators, seed=seed, cv_rmse=loo_rmse["rf"])
    chosen_model = MagtModel(chosen, spec, mlr=mlr, rf=rf if chosen == "rf" else None)
    return MagtTraining(chosen_model, mlr, rf, cv, loo, reason)


def choose_model(y, loo: dict[str, np.ndarray]) -> tuple[str, str]:
    """The model to map with, from the leave-one-out predictions ``loo["mlr"]``, ``loo["rf"]``.

    The regression is simpler and its coefficients can be read; the forest is chosen only when
    it predicts the left-out boreholes clearly better: when its mean squared error is lower than
    the regression's by more than one standard error of the paired difference of squared errors
    (the one-standard-error rule, Hastie, Tibshirani & Friedman 2009, sect. 7.10). A difference
    within that is noise of the n boreholes, not skill.

    Returns
    -------
    (model, reason)
        ``"mlr"`` or ``"rf"`` and a sentence for the model table.

    Examples
    --------
    >>> y = np.zeros(4)
    >>> choose_model(y, {"mlr": np.array([0.3, -0.3, 0.3, -0.3]), "rf": np.array([0.29, -0.3, 0.3, -0.3])})[0]
    'mlr'
    >>> choose_model(y, {"mlr": np.array([0.3, -0.3, 0.3, -0.3]), "rf": np.array([0.1, -0.1, 0.1, -0.1])})[0]
    'rf'
    """
    y = np.asarray(y, dtype=np.float64)
    se2 = {m: (np.asarray(loo[m], dtype=np.float64) - y) ** 2 for m in ("mlr", "rf")}
    rmse = {m: float(np.sqrt(se2[m].mean())) for m in se2}
    d = se2["rf"] - se2["mlr"]
    d_se = float(d.std(ddof=1) / np.sqrt(d.size)) if d.size > 1 else 0.0
    better = float(-d.mean())  # MSE the forest saves [degC2]
    if better > d_se:
        return "rf", (
            f"leave-one-out RMSE rf {rmse['rf']:.3f} degC vs mlr {rmse['mlr']:.3f} degC: the forest's "
            f"MSE is lower by {better:.4f} degC2, more than one standard error ({d_se:.4f})"
        )
    return "mlr", (
        f"leave-one-out RMSE mlr {rmse['mlr']:.3f} degC vs rf {rmse['rf']:.3f} degC: the forest is "
        f"not better by more than one standard error of the MSE difference ({d_se:.4f} degC2), so "
        "the simpler regression"
    )


def min_boreholes(spec: FeatureSpec) -> int:
    """Boreholes needed to fit and cross-validate the regression: its terms + 2."""
    return len(spec.terms) + 2


def check_enough_boreholes(n: int, spec: FeatureSpec, source: str | Path | None = None) -> None:
    """Raise :class:`InputError` unless ``n`` natural boreholes can fit the model (terms + 2)."""
    need = min_boreholes(spec)
    if n < need:
        raise InputError(
            f"{n} natural borehole(s) with a MAGT can be used, but the MAGT regression has "
            f"{len(spec.terms)} terms ({', '.join(spec.terms)}) and needs at least {need} "
            "(terms + 2, so that the residual variance and leave-one-out CV are defined); "
            "add boreholes or use fewer land-cover classes",
            path=source,
            field="magt_c",
        )


def coefficient_table(fit: MLRFit, spec: FeatureSpec) -> pd.DataFrame:
    """The regression coefficients as a scientist reports them.

    Columns: term, description, coefficient, std_error, t, p_value, unit (of the coefficient).
    """
    desc = {
        "intercept": (
            f"MAGT of '{spec.name_of(spec.reference_class)}' (reference class) on flat ground at "
            f"{spec.elevation_ref_m:.0f} m, lon {spec.centre_lon:.4f}, lat {spec.centre_lat:.4f}"
        ),
        "elevation": f"per km above {spec.elevation_ref_m:.0f} m",
        "lon": f"per degree of longitude east of {spec.centre_lon:.4f}",
        "lat": f"per degree of latitude north of {spec.centre_lat:.4f}",
        "northness": "cos(aspect): +1 north-facing, -1 south-facing",
        "eastness": "sin(aspect): +1 east-facing, -1 west-facing",
        "slope": "per degree of slope",
    }
    for c in spec.classes:
        desc[f"lc_{c}"] = (
            f"land cover '{spec.name_of(c)}' (code {c}) minus '{spec.name_of(spec.reference_class)}'"
        )
    return pd.DataFrame(
        {
            "term": list(fit.terms),
            "description": [desc.get(t, t) for t in fit.terms],
            "coefficient": fit.coef,
            "std_error": fit.se,
            "t": fit.t,
            "p_value": fit.p,
            "unit": list(spec.units),
        }
    )
