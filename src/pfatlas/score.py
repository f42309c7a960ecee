"""Scoring an atlas against the hidden truth of the synthetic demo (``pfatlas score OUT``).

This is the only code that reads ``OUT/inputs/truth/``; the pipeline never does. Each metric is
computed from the rasters over the cells where both the atlas and the truth have a value, and
compared with the target the issues set.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import rasterio
from scipy import ndimage

from pfatlas.errors import MissingInputError

__all__ = ["Score", "score_atlas"]


@dataclass(frozen=True)
class Score:
    epoch: str
    metric: str
    value: float
    target: str
    passed: bool | None
    cells: int


def _read(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        a = src.read(1, masked=True)
        return a.astype("float64").filled(np.nan)


def _pairs(out: Path, truth: Path, epoch: str, layer: str):
    p, t = out / epoch / f"{layer}.tif", truth / epoch / f"{layer}.tif"
    if not (p.exists() and t.exists()):
        return None
    a, b = _read(p), _read(t)
    ok = np.isfinite(a) & np.isfinite(b)
    return a, b, ok


def _agreement(a, b, ok):
    return float(np.mean(a[ok] == b[ok]))


def _rmse(a, b, ok):
    return float(np.sqrt(np.mean((a[ok] - b[ok]) ** 2)))


def _bias(a, b, ok):
    return float(np.mean(a[ok] - b[ok]))


def _median_rel(a, b, ok):
    ok = ok & (b > 0)
    return float(np.median(np.abs(a[ok] - b[ok]) / b[ok]))


# (layer, metric name, function, target text, pass test)
_METRICS: list[tuple[str, str, Callable, str, Callable[[float], bool] | None]] = [
    ("landcover", "land cover overall accuracy vs truth map", _agreement, ">= 0.90", lambda v: v >= 0.90),
    ("magt", "MAGT RMSE vs truth map [degC]", _rmse, "<= 0.5", lambda v: v <= 0.5),
    ("magt", "MAGT bias vs truth map [degC]", _bias, "-", None),
    ("permafrost", "permafrost yes/no agreement", _agreement, ">= 0.95", lambda v: v >= 0.95),
    ("thermal_stability", "thermal stability class agreement", _agreement, "-", None),
    ("alt", "ALT median absolute relative error", _median_rel, "<= 0.15", lambda v: v <= 0.15),
    ("ice_class", "ice class agreement", _agreement, "-", None),
]


def _feature_means(p, t, labels, n):
    """Mean of the pipeline's and of the truth's layer over each truth feature footprint (the
    cells where both have a value), and the number of such cells per feature."""
    idx = np.arange(1, n + 1)
    ok = np.isfinite(p) & np.isfinite(t)
    lab = np.where(ok, labels, 0)
    count = ndimage.sum(np.ones_like(p), lab, idx)
    mp = ndimage.sum(np.where(ok, p, 0.0), lab, idx) / np.maximum(count, 1)
    mt = ndimage.sum(np.where(ok, t, 0.0), lab, idx) / np.maximum(count, 1)
    return mp, mt, count


def _feature_changes(delta_p, delta_t, labels, n):
    """Mean change of the pipeline and of the truth over each truth feature footprint, for the
    features whose truth changed (|mean| > 0.05), and those features' labels."""
    mp, mt, count = _feature_means(delta_p, delta_t, labels, n)
    keep = (count > 0) & (np.abs(mt) > 0.05)
    return mp[keep], mt[keep], np.arange(1, n + 1)[keep]


def _mining_scores(out: Path, truth: Path, epoch: str) -> list[Score]:
    """Mining impact: per feature (connected pit or dump footprint of the truth) the mean change
    of MAGT and ALT against the truth's, and the change far from every feature."""
    zone_t = truth / epoch / "mining_zone.tif"
    if not zone_t.exists() or not (out / epoch / "mining_delta_magt.tif").exists():
        return []
    zt = _read(zone_t)
    labels, n = ndimage.label((zt == 1) | (zt == 2))
    if n == 0:
        return []
    res = []
    for layer, what in (("mining_delta_magt", "MAGT"), ("mining_delta_alt", "ALT")):
        mp, mt, feats = _feature_changes(_read(out / epoch / f"{layer}.tif"),
                                         _read(truth / epoch / f"{layer}.tif"), labels, n)  # fmt: skip
        if mt.size == 0:
            continue
        rel = np.abs(mp - mt) / np.abs(mt)
        res.append(Score(epoch, f"mining: {what} change per feature, median relative error vs truth",
                         float(np.median(rel)), "<= 0.20", bool(np.median(rel) <= 0.20), int(mt.size)))  # fmt: skip
        res.append(Score(epoch, f"mining: share of features with {what} change within 20 % of truth",
                         float(np.mean(rel <= 0.20)), "-", None, int(mt.size)))  # fmt: skip
        unit = "degC" if what == "MAGT" else "m"
        res.append(Score(epoch, f"mining: {what} change per feature, median absolute error vs truth [{unit}]",
                         float(np.median(np.abs(mp - mt))), "-", None, int(mt.size)))  # fmt: skip
        if what == "ALT" and (out / epoch / "alt.tif").exists() and (truth / epoch / "alt.tif").exists():
            # the post-mining ALT itself over the same features: the change is a difference of two
            # ALTs of ~3 m, so its relative error is several times theirs
            pp, pt, _ = _feature_means(_read(out / epoch / "alt.tif"), _read(truth / epoch / "alt.tif"),
                                       labels, n)  # fmt: skip
            post = np.abs(pp[feats - 1] - pt[feats - 1]) / pt[feats - 1]
            res.append(Score(epoch, "mining: post-mining ALT per feature, median relative error vs truth",
                             float(np.median(post)), "-", None, int(mt.size)))  # fmt: skip
    far = ndimage.distance_transform_edt(~((zt == 1) | (zt == 2))) * 30.0 > 500.0
    d = _read(out / epoch / "mining_delta_magt.tif")
    ok = far & np.isfinite(d)
    v = float(np.max(np.abs(d[ok]))) if ok.any() else float("nan")
    res.append(Score(epoch, "mining: max |MAGT change| > 500 m from any feature [degC]", v, "<= 0.05",
                     bool(v <= 0.05), int(ok.sum())))  # fmt: skip
    return res


def score_atlas(out: str | Path) -> list[Score]:
    """Score the layers of the atlas in ``out`` that have a truth in ``out/inputs/truth``.

    Returns one :class:`Score` per metric and epoch; also writes them to ``out/score.json``.
    """
    out = Path(out)
    truth = out / "inputs" / "truth"
    if not truth.is_dir():
        raise MissingInputError(
            "no truth folder: scoring needs the output of `pfatlas demo` (synthetic inputs with truth)",
            path=truth,
        )
    epochs = sorted(p.name for p in truth.iterdir() if p.is_dir())
    scores: list[Score] = []
    for epoch in epochs:
        for layer, name, fn, target, test in _METRICS:
            pair = _pairs(out, truth, epoch, layer)
            if pair is None:
                continue
            a, b, ok = pair
            if not ok.any():
                continue
            v = fn(a, b, ok)
            scores.append(
                Score(epoch, name, v, target, None if test is None else bool(test(v)), int(ok.sum()))
            )
        pair = _pairs(out, truth, epoch, "ice_volume")
        if pair is not None:
            a, b, _ = pair
            total_a, total_b = float(np.nansum(a)), float(np.nansum(b))
            rel = (total_a - total_b) / total_b if total_b else float("nan")
            scores.append(
                Score(
                    epoch,
                    "total ground-ice volume, relative difference",
                    rel,
                    "within +-0.15",
                    abs(rel) <= 0.15,
                    0,
                )
            )
        scores += _mining_scores(out, truth, epoch)
    tmp = out / ".score.json.tmp"
    tmp.write_text(json.dumps([asdict(s) for s in scores], indent=1))
    os.replace(tmp, out / "score.json")
    return scores
