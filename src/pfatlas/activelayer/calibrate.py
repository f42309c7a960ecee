"""Edaphic factor: calibration of the modelled ALT on measured ALT, and its leave-one-out error.

The model is ``ALT = E x ALT_0`` with ALT_0 the uncalibrated Stefan (or Kudryavtsev) depth. ALT
errors are multiplicative (a wrong conductivity or water content scales the depth), so E is fitted
by least squares in log space: ``ln E = mean(ln ALT_obs - ln ALT_0)`` (the geometric mean of the
ratios), per land-cover class or overall. A class with fewer than ``min_per_class`` boreholes takes
the overall factor (one or two boreholes are too few to trust a class of their own). A class factor
is partially pooled towards the overall one (empirical-Bayes shrinkage, as if the overall mean were
``PRIOR_BOREHOLES`` extra boreholes of the class)::

    ln E_c = (n_c mean_c(ln r) + n_0 mean(ln r)) / (n_c + n_0),    n_0 = PRIOR_BOREHOLES

so a class sampled by a handful of boreholes in untypical ground does not get an extreme factor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["EdaphicFit", "fit_edaphic", "loo_predictions", "error_stats", "MIN_PER_CLASS", "PRIOR_BOREHOLES"]

MIN_PER_CLASS = 3  # boreholes a class needs for a factor of its own
PRIOR_BOREHOLES = 3.0  # weight of the overall factor in a class factor [boreholes]


@dataclass(frozen=True)
class EdaphicFit:
    """Fitted edaphic factors: ``factors[code]`` [-], ``source[code]`` in {"class", "overall", "none"}."""

    overall: float
    factors: dict[int, float]
    source: dict[int, str]
    n: dict[int, int]

    def factor_for(self, code: int) -> float:
        return self.factors.get(int(code), self.overall)


def fit_edaphic(
    observed_m: np.ndarray,
    modelled_m: np.ndarray,
    classes: np.ndarray,
    codes: Sequence[int],
    mode: str = "per_class",
    min_per_class: int = MIN_PER_CLASS,
) -> EdaphicFit:
    """Fit the edaphic factor(s).

    Parameters
    ----------
    observed_m, modelled_m
        Measured and uncalibrated modelled ALT at the boreholes [m] (finite, > 0).
    classes
        Land-cover code at each borehole.
    codes
        Every class code that gets a factor (the classes with soil parameters).
    mode
        "per_class", "overall" or "none" (E = 1).
    min_per_class
        Boreholes a class needs for its own factor; fewer: the overall factor.

    Examples
    --------
    >>> fit = fit_edaphic(np.array([2.0, 4.0]), np.array([1.0, 2.0]), np.array([1, 1]), [1, 2], "overall")
    >>> fit.overall, fit.factors[2]
    (2.0, 2.0)
    """
    obs = np.asarray(observed_m, dtype="float64")
    mod = np.asarray(modelled_m, dtype="float64")
    cls = np.asarray(classes).astype(int)
    if mode == "none" or obs.size == 0:
        return EdaphicFit(
            1.0, {int(c): 1.0 for c in codes}, {int(c): "none" for c in codes}, {int(c): 0 for c in codes}
        )
    logr = np.log(obs) - np.log(mod)
    overall = float(np.exp(logr.mean()))
    factors, source, n = {}, {}, {}
    for c in codes:
        sel = cls == int(c)
        n[int(c)] = int(sel.sum())
        if mode == "per_class" and sel.sum() >= min_per_class:
            pooled = (sel.sum() * logr[sel].mean() + PRIOR_BOREHOLES * logr.mean()) / (
                sel.sum() + PRIOR_BOREHOLES
            )
            factors[int(c)] = float(np.exp(pooled))
            source[int(c)] = "class"
        else:
            factors[int(c)] = overall
            source[int(c)] = "overall"
    return EdaphicFit(overall, factors, source, n)


def loo_predictions(
    observed_m: np.ndarray,
    modelled_m: np.ndarray,
    classes: np.ndarray,
    codes: Sequence[int],
    mode: str = "per_class",
    min_per_class: int = MIN_PER_CLASS,
) -> np.ndarray:
    """Leave-one-out calibrated ALT [m]: each borehole predicted by a fit without it."""
    obs = np.asarray(observed_m, dtype="float64")
    mod = np.asarray(modelled_m, dtype="float64")
    cls = np.asarray(classes).astype(int)
    out = np.full(obs.shape, np.nan)
    for i in range(obs.size):
        keep = np.arange(obs.size) != i
        fit = fit_edaphic(obs[keep], mod[keep], cls[keep], codes, mode, min_per_class)
        out[i] = fit.factor_for(cls[i]) * mod[i]
    return out


def error_stats(predicted_m: np.ndarray, observed_m: np.ndarray) -> dict[str, float]:
    """n, RMSE [m], bias (predicted - observed) [m] and median absolute relative error [-]."""
    p = np.asarray(predicted_m, dtype="float64")
    o = np.asarray(observed_m, dtype="float64")
    ok = np.isfinite(p) & np.isfinite(o)
    if not ok.any():
        return {"n": 0, "rmse_m": float("nan"), "bias_m": float("nan"), "median_abs_rel_error": float("nan")}
    d = p[ok] - o[ok]
    return {
        "n": int(ok.sum()),
        "rmse_m": float(np.sqrt(np.mean(d * d))),
        "bias_m": float(d.mean()),
        "median_abs_rel_error": float(np.median(np.abs(d) / o[ok])),
    }


def calibration_table(
    observed_m: np.ndarray,
    modelled_m: np.ndarray,
    classes: np.ndarray,
    fit: EdaphicFit,
    names: Sequence[str],
) -> pd.DataFrame:
    """One row per class with a factor, plus "all": factor, n, RMSE and bias before/after."""
    obs = np.asarray(observed_m, dtype="float64")
    mod = np.asarray(modelled_m, dtype="float64")
    cls = np.asarray(classes).astype(int)
    cal = np.array([fit.factor_for(c) for c in cls]) * mod
    rows = []
    for code in sorted(fit.factors):
        sel = cls == code
        before, after = error_stats(mod[sel], obs[sel]), error_stats(cal[sel], obs[sel])
        rows.append(
            {
                "class_code": code,
                "class_name": names[code],
                "edaphic_factor": fit.factors[code],
                "factor_source": fit.source[code],
                "n_boreholes": int(sel.sum()),
                "rmse_before_m": before["rmse_m"],
                "bias_before_m": before["bias_m"],
                "rmse_after_m": after["rmse_m"],
                "bias_after_m": after["bias_m"],
            }
        )
    before, after = error_stats(mod, obs), error_stats(cal, obs)
    rows.append(
        {
            "class_code": -1,
            "class_name": "all",
            "edaphic_factor": fit.overall,
            "factor_source": "overall",
            "n_boreholes": int(obs.size),
            "rmse_before_m": before["rmse_m"],
            "bias_before_m": before["bias_m"],
            "rmse_after_m": after["rmse_m"],
            "bias_after_m": after["bias_m"],
        }
    )
    return pd.DataFrame(rows)


__all__ += ["calibration_table"]
