"""Edaphic factor: calibration of the modelled ALT on measured ALT, and its leave-one-out error.

The model is ``ALT = E x ALT_0`` with ALT_0 the uncalibrated Stefan (or Kudryavtsev) depth. ALT
errors are multiplicative (a wrong conductivity or water content scales the depth), so E is fitted
by least squares in log space on the log ratios ``ln r = ln ALT_obs - ln ALT_0``. With
``a = mean(ln r)`` (the overall factor ``exp(a)``, the geometric mean of the ratios), a land-cover
class effect ``b_c`` and a geomorphology unit effect ``g_u``::

    ln E(c, u) = a + b_c + g_u

``b`` and ``g`` minimise ``sum_i (ln r_i - a - b_c(i) - g_u(i))^2 + n_0 (sum_c b_c^2 + sum_u g_u^2)``
with ``n_0 = PRIOR_BOREHOLES``: the penalty is partial pooling towards the overall factor
(empirical-Bayes shrinkage, as if the overall mean were ``n_0`` extra boreholes of each class and of
each unit). With one grouping alone it has the closed form::

    ln E_c = (n_c mean_c(ln r) + n_0 mean(ln r)) / (n_c + n_0)

so a class sampled by a handful of boreholes in untypical ground does not get an extreme factor.
A class or unit with fewer than ``min_per_class`` boreholes has no effect of its own (it takes the
overall factor): one or two boreholes are too few to trust. Modes: "per_class" (``g = 0``),
"per_unit" (``b = 0``), "per_class_and_unit" (both, fitted jointly), "overall" (``b = g = 0``) and
"none" (E = 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = [
    "EdaphicFit",
    "fit_edaphic",
    "loo_predictions",
    "error_stats",
    "MIN_PER_CLASS",
    "PRIOR_BOREHOLES",
    "MODES",
    "UNIT_MODES",
]

MIN_PER_CLASS = 3  # boreholes a class (or unit) needs for a factor of its own
PRIOR_BOREHOLES = 3.0  # weight of the overall factor in a class or unit factor [boreholes]
MODES = ("per_class", "per_unit", "per_class_and_unit", "overall", "none")
UNIT_MODES = ("per_unit", "per_class_and_unit")  # the modes that need the geomorphology units


@dataclass(frozen=True)
class EdaphicFit:
    """Fitted edaphic factors [-]: ``E(class, unit) = factors[class] x unit_factors[unit]``.

    ``factors[code]`` is the class factor (``exp(a + b_c)``, the overall factor where the class has
    no effect of its own), ``source[code]`` in {"class", "overall", "none"}; ``unit_factors[code]``
    is the unit's multiplier relative to it (``exp(g_u)``; 1 for a unit with no effect of its own, no
    borehole, or an unknown unit), ``unit_source[code]`` in {"unit", "overall"}.
    """

    overall: float
    factors: dict[int, float]
    source: dict[int, str]
    n: dict[int, int]
    unit_factors: dict[int, float] = field(default_factory=dict)
    unit_source: dict[int, str] = field(default_factory=dict)
    unit_n: dict[int, int] = field(default_factory=dict)

    def factor_for(self, code: int, unit: int | None = None) -> float:
        """E of a land-cover class (and geomorphology unit; None or unknown: no unit effect)."""
        f = self.factors.get(int(code), self.overall)
        if unit is not None and np.isfinite(unit):
            f *= self.unit_factors.get(int(unit), 1.0)
        return f

    def unit_lookup(self, size: int = 256) -> np.ndarray:
        """Unit multipliers as an array indexed by the uint8 unit code (1 where none, e.g. 255)."""
        lut = np.ones(size, dtype="float64")
        for u, v in self.unit_factors.items():
            lut[int(u)] = v
        return lut


def _effects(logr: np.ndarray, groups: list[np.ndarray], n_0: float) -> list[np.ndarray]:
    """Pooled effects of each grouping on ``logr - mean(logr)`` (ridge least squares, penalty n_0).

    ``groups[k]`` is an (n, m_k) 0/1 membership matrix; returns one effect vector per grouping.
    """
    x = np.hstack(groups) if groups else np.zeros((logr.size, 0))
    out = []
    if x.shape[1]:
        resid = logr - logr.mean()
        # normal equations of the penalised problem: (X'X + n_0 I) beta = X' resid
        beta = np.linalg.solve(x.T @ x + n_0 * np.eye(x.shape[1]), x.T @ resid)
    else:
        beta = np.zeros(0)
    start = 0
    for g in groups:
        out.append(beta[start : start + g.shape[1]])
        start += g.shape[1]
    return out


def fit_edaphic(
    observed_m: np.ndarray,
    modelled_m: np.ndarray,
    classes: np.ndarray,
    codes: Sequence[int],
    mode: str = "per_class",
    min_per_class: int = MIN_PER_CLASS,
    units: np.ndarray | None = None,
    unit_codes: Sequence[int] = (),
) -> EdaphicFit:
    """Fit the edaphic factor(s) (see the module docstring).

    Parameters
    ----------
    observed_m, modelled_m
        Measured and uncalibrated modelled ALT at the boreholes [m] (finite, > 0).
    classes
        Land-cover code at each borehole.
    codes
        Every class code that gets a factor (the classes with soil parameters).
    mode
        One of :data:`MODES`.
    min_per_class
        Boreholes a class or unit needs for its own effect; fewer: the overall factor.
    units
        Geomorphology unit code at each borehole (needed by the unit modes; NaN or 255: no unit).
    unit_codes
        Every unit code of the map (a unit with no borehole gets the overall factor).

    Examples
    --------
    >>> fit = fit_edaphic(np.array([2.0, 4.0]), np.array([1.0, 2.0]), np.array([1, 1]), [1, 2], "overall")
    >>> fit.overall, fit.factors[2]
    (2.0, 2.0)
    """
    if mode not in MODES:
        raise ValueError(f"unknown calibration mode '{mode}' (one of {', '.join(MODES)})")
    obs = np.asarray(observed_m, dtype="float64")
    mod = np.asarray(modelled_m, dtype="float64")
    cls = np.asarray(classes).astype(int)
    use_units = mode in UNIT_MODES
    if use_units and units is None:
        raise ValueError(f"calibration mode '{mode}' needs the geomorphology unit of each borehole")
    unit_codes = [int(u) for u in unit_codes]
    if use_units:
        u_raw = np.asarray(units, dtype="float64")
        unt = np.where(np.isfinite(u_raw), u_raw, 255).astype(int)
    else:
        unt = np.full(cls.shape, 255)
    n = {int(c): int((cls == int(c)).sum()) for c in codes}
    unit_n = {u: int((unt == u).sum()) for u in unit_codes}
    if mode == "none" or obs.size == 0:
        return EdaphicFit(
            1.0,
            {int(c): 1.0 for c in codes},
            {int(c): "none" for c in codes},
            n,
            {u: 1.0 for u in unit_codes},
            {u: "none" for u in unit_codes},
            unit_n,
        )
    logr = np.log(obs) - np.log(mod)
    a = float(logr.mean())
    fit_cls = (
        [int(c) for c in codes if n[int(c)] >= min_per_class]
        if mode in ("per_class", "per_class_and_unit")
        else []
    )
    fit_unt = [u for u in unit_codes if unit_n[u] >= min_per_class and u != 255] if use_units else []
    groups = [
        (cls[:, None] == np.array(fit_cls, dtype=int)[None, :]).astype("float64"),
        (unt[:, None] == np.array(fit_unt, dtype=int)[None, :]).astype("float64"),
    ]
    b, g = _effects(logr, groups, PRIOR_BOREHOLES)
    b_of, g_of = dict(zip(fit_cls, b, strict=True)), dict(zip(fit_unt, g, strict=True))
    factors = {int(c): float(np.exp(a + b_of.get(int(c), 0.0))) for c in codes}
    source = {int(c): "class" if int(c) in b_of else "overall" for c in codes}
    unit_factors = {u: float(np.exp(g_of.get(u, 0.0))) for u in unit_codes}
    unit_source = {u: "unit" if u in g_of else "overall" for u in unit_codes}
    return EdaphicFit(float(np.exp(a)), factors, source, n, unit_factors, unit_source, unit_n)


def loo_predictions(
    observed_m: np.ndarray,
    modelled_m: np.ndarray,
    classes: np.ndarray,
    codes: Sequence[int],
    mode: str = "per_class",
    min_per_class: int = MIN_PER_CLASS,
    units: np.ndarray | None = None,
    unit_codes: Sequence[int] = (),
) -> np.ndarray:
    """Leave-one-out calibrated ALT [m]: each borehole predicted by a fit without it.

    Parameters as :func:`fit_edaphic`; the unit of the left-out borehole is used only in the unit
    modes.
    """
    obs = np.asarray(observed_m, dtype="float64")
    mod = np.asarray(modelled_m, dtype="float64")
    cls = np.asarray(classes).astype(int)
    unt = None if units is None else np.asarray(units, dtype="float64")
    out = np.full(obs.shape, np.nan)
    for i in range(obs.size):
        keep = np.arange(obs.size) != i
        fit = fit_edaphic(
            obs[keep], mod[keep], cls[keep], codes, mode, min_per_class,
            units=None if unt is None else unt[keep], unit_codes=unit_codes,
        )  # fmt: skip
        out[i] = fit.factor_for(cls[i], None if unt is None or mode not in UNIT_MODES else unt[i]) * mod[i]
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
    units: np.ndarray | None = None,
    unit_names: dict[int, str] | None = None,
) -> pd.DataFrame:
    """One row per class ("level" class), per geomorphology unit ("unit") and "all".

    ``edaphic_factor`` is the class factor on class rows, the unit multiplier on unit rows and the
    overall factor on the "all" row; n boreholes, RMSE and bias [m] before/after calibration.
    """
    obs = np.asarray(observed_m, dtype="float64")
    mod = np.asarray(modelled_m, dtype="float64")
    cls = np.asarray(classes).astype(int)
    unt = np.full(obs.shape, np.nan) if units is None else np.asarray(units, dtype="float64")
    unit_names = unit_names or {}
    cal = np.array([fit.factor_for(c, u) for c, u in zip(cls, unt, strict=True)]) * mod

    def row(level, sel, factor, source, class_code=None, class_name="", unit_code=None, unit_name=""):
        before, after = error_stats(mod[sel], obs[sel]), error_stats(cal[sel], obs[sel])
        return {
            "level": level,
            "class_code": class_code,
            "class_name": class_name,
            "unit_code": unit_code,
            "unit_name": unit_name,
            "edaphic_factor": factor,
            "factor_source": source,
            "n_boreholes": int(sel.sum()),
            "rmse_before_m": before["rmse_m"],
            "bias_before_m": before["bias_m"],
            "rmse_after_m": after["rmse_m"],
            "bias_after_m": after["bias_m"],
        }

    rows = [
        row(
            "class", cls == code, fit.factors[code], fit.source[code], class_code=code, class_name=names[code]
        )
        for code in sorted(fit.factors)
    ]
    rows += [
        row(
            "unit",
            unt == u,
            fit.unit_factors[u],
            fit.unit_source[u],
            unit_code=u,
            unit_name=unit_names.get(u, ""),
        )
        for u in sorted(fit.unit_factors)
    ]
    rows.append(row("all", np.ones(obs.shape, bool), fit.overall, "overall", class_code=-1, class_name="all"))
    out = pd.DataFrame(rows)
    for col in ("class_code", "unit_code"):
        out[col] = out[col].astype("Int64")
    return out


__all__ += ["calibration_table"]
