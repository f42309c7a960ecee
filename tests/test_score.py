"""Scoring against the truth: metrics computed as defined, on known differences."""

import json

import numpy as np
import pytest

from pfatlas.cli.main import main
from pfatlas.errors import MissingInputError
from pfatlas.grid import grid_from_bbox, wrap_on_grid
from pfatlas.io.cog import ClassInfo, write_cog
from pfatlas.score import score_atlas

G = grid_from_bbox((99.0, 38.0, 99.05, 38.03))
CLASSES = [ClassInfo(i, f"c{i}", (i * 20, 0, 0)) for i in range(1, 6)]


def _write(path, data, classes=None):
    da = wrap_on_grid(data, G, "x", units="1", long_name="x")
    write_cog(da, path, gbox=G, units="1", description="x", classes=classes)


def test_scores_of_known_differences(tmp_path, capsys):
    rng = np.random.default_rng(0)
    ny, nx = G.shape
    truth, out = tmp_path / "inputs" / "truth" / "2000", tmp_path / "2000"
    magt = rng.normal(-1.0, 1.0, G.shape).astype("f4")
    _write(truth / "magt.tif", magt)
    _write(out / "magt.tif", magt + 0.3)  # RMSE 0.3, bias 0.3
    lc = rng.integers(1, 6, G.shape).astype("u1")
    wrong = lc.copy()
    wrong[: ny // 10] = np.where(wrong[: ny // 10] == 1, 2, 1)  # first tenth of the rows all wrong
    _write(truth / "landcover.tif", lc, CLASSES)
    _write(out / "landcover.tif", wrong, CLASSES)
    alt = np.full(G.shape, 2.0, "f4")
    _write(truth / "alt.tif", alt)
    _write(out / "alt.tif", alt * 1.1)  # 10 % everywhere
    vol = np.full(G.shape, 100.0, "f4")
    _write(truth / "ice_volume.tif", vol)
    _write(out / "ice_volume.tif", vol * 0.8)  # -20 %
    scores = {s.metric: s for s in score_atlas(tmp_path)}
    assert scores["MAGT RMSE vs truth map [degC]"].value == pytest.approx(0.3, abs=1e-5)
    assert scores["MAGT bias vs truth map [degC]"].value == pytest.approx(0.3, abs=1e-5)
    oa = scores["land cover overall accuracy vs truth map"]
    assert oa.value == pytest.approx(1 - (ny // 10) / ny) and oa.passed is (oa.value >= 0.9)
    assert scores["ALT median absolute relative error"].value == pytest.approx(0.1, abs=1e-6)
    ice = scores["total ground-ice volume, relative difference"]
    assert ice.value == pytest.approx(-0.2, abs=1e-6) and ice.passed is False
    assert len(json.loads((tmp_path / "score.json").read_text())) == len(scores)
    assert main(["score", str(tmp_path)]) == 0
    assert "MISS" in capsys.readouterr().out


def test_no_truth_is_a_clear_error(tmp_path):
    with pytest.raises(MissingInputError, match="no truth folder"):
        score_atlas(tmp_path)


def test_mining_scores_per_feature(tmp_path):
    # three truth features (pit, dump, dump) with known mean changes; the third changes by less
    # than 0.05 and is not scored; a cell far from every feature carries a small spurious change
    ny, nx = G.shape
    truth, out = tmp_path / "inputs" / "truth" / "2020", tmp_path / "2020"
    zone = np.zeros(G.shape, "u1")
    a, b, c = (
        (slice(5, 15), slice(5, 15)),
        (slice(ny - 15, ny - 5), slice(nx - 15, nx - 5)),
        (slice(5, 15), slice(nx - 15, nx - 5)),
    )
    zone[a], zone[b], zone[c] = 1, 2, 2
    _write(truth / "mining_zone.tif", zone)
    nan = np.full(G.shape, np.nan, "f4")
    dm_t, dm_p, da_t, da_p, alt_t, alt_p = (nan.copy() for _ in range(6))
    for feat, (mt, mp, at, ap) in zip(
        (a, b, c), ((1.0, 1.1, 0.5, 0.45), (2.0, 2.8, 1.0, 1.05), (0.01, 0.5, 0.02, 0.5)), strict=True
    ):
        dm_t[feat], dm_p[feat], da_t[feat], da_p[feat] = mt, mp, at, ap
        alt_t[feat], alt_p[feat] = 3.0, 3.3
    dm_p[ny // 2, nx // 2] = 0.02  # > 500 m (17 cells) from every feature
    for name, t, p in (
        ("mining_delta_magt", dm_t, dm_p),
        ("mining_delta_alt", da_t, da_p),
        ("alt", alt_t, alt_p),
    ):
        _write(truth / f"{name}.tif", t)
        _write(out / f"{name}.tif", p)
    scores = {s.metric: s for s in score_atlas(tmp_path)}
    magt = scores["mining: MAGT change per feature, median relative error vs truth"]
    assert magt.cells == 2 and magt.value == pytest.approx(0.25) and magt.passed is False  # 0.1, 0.4
    assert scores["mining: share of features with MAGT change within 20 % of truth"].value == 0.5
    assert scores[
        "mining: MAGT change per feature, median absolute error vs truth [degC]"
    ].value == pytest.approx(0.45)
    alt = scores["mining: ALT change per feature, median relative error vs truth"]
    assert alt.value == pytest.approx(0.075) and alt.passed is True  # 0.1, 0.05
    assert scores[
        "mining: ALT change per feature, median absolute error vs truth [m]"
    ].value == pytest.approx(0.05)
    assert scores[
        "mining: post-mining ALT per feature, median relative error vs truth"
    ].value == pytest.approx(0.1)
    far = scores["mining: max |MAGT change| > 500 m from any feature [degC]"]
    assert far.value == pytest.approx(0.02) and far.passed is True
