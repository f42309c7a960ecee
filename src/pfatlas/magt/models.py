"""The two MAGT models: multiple linear regression and Random Forest regression.

Multiple linear regression (ordinary least squares) on the design matrix X (n x p, intercept
first) and the measured MAGT y [degC]:

    b      = (X'X)^-1 X'y                         coefficients [degC per term unit]
    s^2    = |y - X b|^2 / (n - p)                residual variance [degC2]
    SE(b)  = sqrt(diag(s^2 (X'X)^-1))             coefficient standard errors
    t      = b / SE(b),   p = 2 (1 - F_t(|t|; n - p))   (two-sided, Student t with n - p dof)

and the standard error of predicting a new MAGT at x0 (the prediction, not the mean, interval):

    SE(x0) = sqrt(s^2 (1 + x0' (X'X)^-1 x0))       [degC]

Random Forest regression (Breiman 2001; scikit-learn, seeded) on the same columns without the
intercept. Its per-cell standard error combines the cross-validated error with the disagreement
of the trees (Breiman's forests give no sampling distribution of their own):

    SE(x0)^2 = RMSE_cv^2 + max(0, v(x0) - mean_i v(x_i))                             [degC2]

where v(x) is the variance of the individual trees' predictions at x and the mean is over the
training boreholes. At locations like the boreholes the SE is the cross-validated RMSE; where the
trees disagree more than at the data (extrapolation in the factors) it grows. Both come from
scikit-learn: the mean is the forest's ``predict``, and v(x) = mean_t (f_t(x) - mean)^2 over the
predictions f_t of the individual trees (``estimators_``), summed tree by tree so the memory
stays one value per cell whatever the number of trees.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy import stats

from pfatlas.errors import InputError

if TYPE_CHECKING:
    from sklearn.ensemble import RandomForestRegressor

__all__ = [
    "MLRFit",
    "RFFit",
    "fit_mlr",
    "predict_mlr",
    "fit_rf",
    "predict_rf",
    "forest_mean_var",
]


# --- multiple linear regression --------------------------------------------------------------


@dataclass(frozen=True)
class MLRFit:
    """An ordinary least-squares fit with its inference.

    Attributes
    ----------
    terms
        Column names, intercept first.
    coef, se, t, p
        Coefficients, their standard errors, t statistics and two-sided p-values, per term.
    sigma2
        Residual variance s^2 [degC2].
    xtx_inv
        (X'X)^-1 (p x p).
    n, dof
        Number of observations and residual degrees of freedom n - p.
    """

    terms: tuple[str, ...]
    coef: np.ndarray
    se: np.ndarray
    t: np.ndarray
    p: np.ndarray
    sigma2: float
    xtx_inv: np.ndarray
    n: int
    dof: int


def fit_mlr(X: np.ndarray, y: np.ndarray, terms: tuple[str, ...] | None = None) -> MLRFit:
    """Ordinary least squares with coefficient standard errors, t and p.

    Parameters
    ----------
    X
        Design matrix (n, p), intercept column first.
    y
        Observations (n,) [degC].
    terms
        Column names (default ``x0..``).

    Returns
    -------
    MLRFit

    Raises
    ------
    ValueError
        Fewer than p + 1 observations, or X not of full column rank.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n, p = X.shape
    terms = tuple(terms) if terms is not None else tuple(f"x{i}" for i in range(p))
    if n <= p:
        raise ValueError(f"{n} observations for {p} terms: at least {p + 1} needed")
    if np.linalg.matrix_rank(X) < p:
        raise ValueError("the design matrix is not of full column rank (collinear terms)")
    # QR is better conditioned than forming X'X for the solve; (X'X)^-1 = R^-1 R^-T
    q, r = np.linalg.qr(X)
    coef = np.linalg.solve(r, q.T @ y)
    rinv = np.linalg.solve(r, np.eye(p))
    xtx_inv = rinv @ rinv.T
    resid = y - X @ coef
    dof = n - p
    sigma2 = float(resid @ resid / dof)
    se = np.sqrt(sigma2 * np.diag(xtx_inv))
    with np.errstate(divide="ignore", invalid="ignore"):
        t = coef / se
    pval = 2.0 * stats.t.sf(np.abs(t), dof)
    return MLRFit(terms, coef, se, t, pval, sigma2, xtx_inv, n, dof)


def predict_mlr(fit: MLRFit, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Prediction [degC] and its standard error sqrt(s^2 (1 + x0'(X'X)^-1 x0)) [degC].

    Rows of ``X`` holding NaN give NaN.
    """
    X = np.asarray(X, dtype=np.float64)
    mean = X @ fit.coef
    lev = np.einsum("ij,jk,ik->i", X, fit.xtx_inv, X)
    se = np.sqrt(fit.sigma2 * (1.0 + lev))
    return mean, se


# --- Random Forest -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RFFit:
    """A fitted Random Forest regression, with what its per-cell standard error needs.

    Attributes
    ----------
    forest
        The fitted scikit-learn ``RandomForestRegressor`` (``n_jobs=1``; picklable, so the dask
        tasks carry it).
    n_features
        Number of columns (the design matrix without its intercept).
    cv_rmse
        Cross-validated RMSE [degC] (the leave-one-out one), the floor of the SE.
    train_tree_var
        Mean over the training boreholes of the variance of the trees' predictions [degC2].
    n_estimators, seed
        As fitted.
    """

    forest: RandomForestRegressor
    n_features: int
    cv_rmse: float
    train_tree_var: float
    n_estimators: int
    seed: int


def forest_mean_var(forest: RandomForestRegressor, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean [degC] and variance [degC2] over the trees of their predictions at the rows of ``X``.

    The mean is ``forest.predict``; the variance is mean_t (f_t(x) - mean)^2 over the trees'
    own ``predict`` (``X`` in float32, as the forest gives it to its trees). Rows with a NaN or an
    infinite value give NaN.
    """
    X = np.asarray(X, dtype=np.float32)
    ok = np.isfinite(X).all(axis=1)
    mean = np.full(X.shape[0], np.nan)
    var = np.full(X.shape[0], np.nan)
    if ok.any():
        Xok = np.ascontiguousarray(X[ok])
        mu = forest.predict(Xok)
        s2 = np.zeros_like(mu)
        for tree in forest.estimators_:
            s2 += (tree.predict(Xok, check_input=False) - mu) ** 2
        mean[ok] = mu
        var[ok] = s2 / len(forest.estimators_)
    return mean, var


def fit_rf(
    X: np.ndarray, y: np.ndarray, *, n_estimators: int = 500, seed: int = 0, cv_rmse: float = np.nan
) -> RFFit:
    """Random Forest regression of MAGT on the design matrix without its intercept column.

    Parameters
    ----------
    X
        Design matrix (n, p), intercept column first (dropped here).
    y
        MAGT [degC].
    n_estimators, seed
        Number of trees, random seed.
    cv_rmse
        The cross-validated RMSE [degC] used as the floor of the per-cell standard error.
    """
    from sklearn.ensemble import RandomForestRegressor

    Xf = np.asarray(X, dtype=np.float64)[:, 1:]
    model = RandomForestRegressor(n_estimators=n_estimators, random_state=seed, n_jobs=1)
    model.fit(Xf, np.asarray(y, dtype=np.float64))
    _, var = forest_mean_var(model, Xf)
    return RFFit(model, Xf.shape[1], float(cv_rmse), float(np.mean(var)), n_estimators, seed)


def predict_rf(fit: RFFit, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Forest prediction [degC] and its standard error [degC] (see the module docstring)."""
    Xf = np.asarray(X, dtype=np.float64)[:, 1:]
    if Xf.shape[1] != fit.n_features:
        raise InputError(f"the forest was fitted on {fit.n_features} factors, got {Xf.shape[1]}")
    mean, var = forest_mean_var(fit.forest, Xf)
    se = np.sqrt(fit.cv_rmse**2 + np.maximum(var - fit.train_tree_var, 0.0))
    return mean, se
