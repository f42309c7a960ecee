"""Thematic accuracy the practitioner's way: error matrix, overall accuracy, kappa, PA and UA.

Terms after Congalton & Green (2019) and Olofsson et al. (2014). With ``n_ij`` the number of
held-out points of reference class ``i`` mapped as class ``j`` (rows = reference, columns = map),
``n`` the total, ``n_i+`` the row and ``n_+j`` the column sums:

- overall accuracy OA = sum_i n_ii / n, standard error sqrt(OA (1 - OA) / n);
- producer's accuracy of class k (1 - omission error) PA_k = n_kk / n_k+ ;
- user's accuracy of class k (1 - commission error) UA_k = n_kk / n_+k ;
  standard errors sqrt(p (1 - p) / (m - 1)) with m the row or column sum (Olofsson et al. 2014,
  eq. 6, for simple random sampling; undefined when m < 2);
- Cohen's kappa = (p_o - p_e) / (1 - p_e), p_o = OA, p_e = sum_k n_k+ n_+k / n^2.

The matrix keeps every class of the config in a stable (code) order, also those absent from the
validation points: their rows or columns are zero and their accuracies NaN (undefined, not 0).
The held-out points are a simple random subset of the samples, so these are the unweighted
estimators; with samples stratified by map class, weight by mapped area (Olofsson et al. 2014).

References: Congalton, R.G., Green, K. (2019) Assessing the Accuracy of Remotely Sensed Data, 3rd
ed., CRC Press. Olofsson, P. et al. (2014) Good practices for estimating area and assessing
accuracy of land change. Remote Sens. Environ. 148: 42-57. Cohen, J. (1960) Educ. Psychol. Meas.
20: 37-46.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["confusion_matrix", "AccuracyReport", "assess_accuracy"]


def confusion_matrix(reference, predicted, codes: Sequence[int]) -> np.ndarray:
    """Counts ``n_ij`` of reference class ``codes[i]`` mapped as ``codes[j]`` (int64, k x k).

    Points whose reference or map value is not in ``codes`` (e.g. 255 = no map value) are not
    counted.
    """
    codes = np.asarray(codes)
    ref = np.asarray(reference)
    pred = np.asarray(predicted)
    pos = {int(c): i for i, c in enumerate(codes)}
    k = codes.size
    cm = np.zeros((k, k), dtype=np.int64)
    for r, p in zip(ref.tolist(), pred.tolist(), strict=True):
        if int(r) in pos and int(p) in pos:
            cm[pos[int(r)], pos[int(p)]] += 1
    return cm


def _ratio(num, den):
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _se(p, m):
    p = np.asarray(p, dtype=np.float64)
    m = np.asarray(m, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = (m > 1) & np.isfinite(p)
    out[ok] = np.sqrt(p[ok] * (1.0 - p[ok]) / (m[ok] - 1.0))
    return out


@dataclass(frozen=True)
class AccuracyReport:
    """Accuracy of a class map from an error matrix (see the module docstring for formulas)."""

    codes: tuple[int, ...]
    names: tuple[str, ...]
    matrix: np.ndarray  # (k, k) counts, rows reference, columns map
    overall_accuracy: float
    overall_accuracy_se: float
    kappa: float
    producers_accuracy: np.ndarray  # (k,), NaN where the class has no reference point
    users_accuracy: np.ndarray  # (k,), NaN where no point is mapped as the class
    producers_accuracy_se: np.ndarray
    users_accuracy_se: np.ndarray

    @property
    def n(self) -> int:
        """Number of points in the matrix."""
        return int(self.matrix.sum())

    def confusion_table(self) -> pd.DataFrame:
        """Rows = reference class, columns = mapped class, in code order, with the class names."""
        df = pd.DataFrame(self.matrix, columns=list(self.names))
        df.insert(0, "reference_class", list(self.names))
        df.insert(0, "reference_code", list(self.codes))
        return df

    def class_table(self, n_train=None) -> pd.DataFrame:
        """Per class: support, producer's and user's accuracy [1] with standard errors."""
        df = pd.DataFrame(
            {
                "class_code": list(self.codes),
                "class_name": list(self.names),
                "n_validation_reference": self.matrix.sum(axis=1),
                "n_validation_mapped": self.matrix.sum(axis=0),
                "producers_accuracy": self.producers_accuracy,
                "producers_accuracy_se": self.producers_accuracy_se,
                "users_accuracy": self.users_accuracy,
                "users_accuracy_se": self.users_accuracy_se,
            }
        )
        if n_train is not None:
            df.insert(2, "n_train", np.asarray(n_train, dtype=np.int64))
        return df

    def summary_table(self, n_train: int | None = None) -> pd.DataFrame:
        """Overall accuracy and kappa (with the counts behind them), one statistic per row."""
        rows = [
            ("overall_accuracy", self.overall_accuracy, self.overall_accuracy_se),
            ("kappa", self.kappa, np.nan),
            ("n_validation", float(self.n), np.nan),
        ]
        if n_train is not None:
            rows.append(("n_train", float(n_train), np.nan))
        return pd.DataFrame(rows, columns=["statistic", "value", "standard_error"])


def assess_accuracy(reference, predicted, codes: Sequence[int], names: Sequence[str]) -> AccuracyReport:
    """Error matrix and the practitioner's accuracy measures.

    Parameters
    ----------
    reference, predicted
        Class codes of the held-out points: the reference (sample) class and the map's class.
    codes, names
        All classes of the config, in the order of the matrix.

    Examples
    --------
    >>> r = assess_accuracy([1, 1, 2, 2], [1, 2, 2, 2], [1, 2, 3], ["a", "b", "c"])
    >>> float(r.overall_accuracy), float(r.kappa)
    (0.75, 0.5)
    >>> r.producers_accuracy.tolist()[:2], r.users_accuracy.tolist()[:2]
    ([0.5, 1.0], [1.0, 0.6666666666666666])
    """
    cm = confusion_matrix(reference, predicted, codes)
    n = cm.sum()
    rows = cm.sum(axis=1)
    cols = cm.sum(axis=0)
    diag = np.diag(cm)
    if n > 0:
        oa = float(diag.sum() / n)
        pe = float((rows.astype(np.float64) * cols).sum() / float(n) ** 2)
        kappa = (oa - pe) / (1.0 - pe) if pe < 1.0 else float("nan")
        oa_se = float(np.sqrt(oa * (1.0 - oa) / n))
    else:
        oa = kappa = oa_se = float("nan")
    pa = _ratio(diag, rows)
    ua = _ratio(diag, cols)
    return AccuracyReport(
        codes=tuple(int(c) for c in codes),
        names=tuple(str(s) for s in names),
        matrix=cm,
        overall_accuracy=oa,
        overall_accuracy_se=oa_se,
        kappa=float(kappa),
        producers_accuracy=pa,
        users_accuracy=ua,
        producers_accuracy_se=_se(pa, rows),
        users_accuracy_se=_se(ua, cols),
    )
