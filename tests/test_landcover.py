"""Land cover (stage 4): features, forests, accuracy measures and the build stage."""

import importlib
import json
import shutil
import warnings

import dask.array as dsa
import numpy as np
import pandas as pd
import pytest
import rasterio
import xarray as xr

from pfatlas.errors import InputError, PfatlasWarning
from pfatlas.grid import grid_from_bbox, wrap_on_grid
from pfatlas.landcover import (
    SPECTRAL_FEATURES,
    assess_accuracy,
    check_training,
    classify,
    features_at,
    fit_landcover_model,
    landcover_features,
    plot_cells,
    predict_features,
    split_samples,
)
from pfatlas.landcover.classify import class_probabilities, forest_predict
from pfatlas.landcover.features import (
    LstTrend,
    add_lst_anomaly,
    fit_lst_trend,
    point_features,
    window_features_kernel,
    window_radius_cells,
)

classify_module = importlib.import_module("pfatlas.landcover.classify")  # the name is the function

G = grid_from_bbox((99.0, 38.0, 99.06, 38.04))  # about 180 x 150 cells of 30 m


# --- sample split ---------------------------------------------------------------------------


def test_split_is_stratified_seeded_and_keeps_one_for_training():
    codes = np.array([1] * 20 + [2] * 10 + [3] * 3 + [4])
    tr, va = split_samples(codes, 0.3, seed=5)
    assert sorted(np.concatenate([tr, va]).tolist()) == list(range(codes.size))
    # round(0.3 n) per class: 6 of 20, 3 of 10, 1 of 3; a single sample is only trained on
    assert [int(np.sum(codes[va] == c)) for c in (1, 2, 3, 4)] == [6, 3, 1, 0]
    tr2, va2 = split_samples(codes, 0.3, seed=5)
    assert np.array_equal(va, va2) and np.array_equal(tr, tr2)
    assert not np.array_equal(va, split_samples(codes, 0.3, seed=6)[1])
    tr0, va0 = split_samples(np.array([], dtype=int), 0.3, 0)
    assert tr0.size == 0 and va0.size == 0


def test_plot_cells_cover_the_square_around_each_point_inside_the_grid():
    r, c, owner = plot_cells([5.2, 0.5, 9.9], [5.8, 3.1, 9.0], 1, (10, 10))
    # point 0: the full 3 x 3 around cell (5, 5); point 1 at the top edge: 2 x 3; point 2 in the
    # corner: 2 x 2 (row 9, col 9 is the last cell)
    assert owner.tolist() == [0] * 9 + [1] * 6 + [2] * 4
    assert sorted(zip(r[owner == 0].tolist(), c[owner == 0].tolist(), strict=True)) == [
        (i, j) for i in (4, 5, 6) for j in (4, 5, 6)
    ]
    assert set(r[owner == 1].tolist()) == {0, 1} and set(c[owner == 1].tolist()) == {2, 3, 4}
    assert set(zip(r[owner == 2].tolist(), c[owner == 2].tolist(), strict=True)) == {
        (8, 8),
        (8, 9),
        (9, 8),
        (9, 9),
    }
    r0, c0, o0 = plot_cells([5.2], [5.8], 0, (10, 10))  # radius 0: the point's own cell
    assert (r0.tolist(), c0.tolist(), o0.tolist()) == ([5], [5], [0])
    with pytest.raises(ValueError, match="radius"):
        plot_cells([1], [1], -1, (10, 10))


# --- accuracy -------------------------------------------------------------------------------


def test_accuracy_of_a_hand_computed_matrix():
    # Congalton & Green style example: rows reference, columns map
    cm = np.array([[45, 4, 1], [6, 30, 4], [0, 2, 8]])
    ref, pred = [], []
    for i in range(3):
        for j in range(3):
            ref += [i + 1] * cm[i, j]
            pred += [j + 1] * cm[i, j]
    r = assess_accuracy(ref, pred, [1, 2, 3, 9], ["a", "b", "c", "never"])
    assert r.matrix[:3, :3].tolist() == cm.tolist() and r.matrix[3].sum() == 0 and r.matrix[:, 3].sum() == 0
    n = 100
    oa = 83 / n
    pe = (50 * 51 + 40 * 36 + 10 * 13) / n**2  # row x column sums
    np.testing.assert_allclose(r.overall_accuracy, oa, rtol=1e-12)
    np.testing.assert_allclose(r.kappa, (oa - pe) / (1 - pe), rtol=1e-12)
    np.testing.assert_allclose(r.overall_accuracy_se, np.sqrt(oa * (1 - oa) / n), rtol=1e-12)
    np.testing.assert_allclose(r.producers_accuracy[:3], [45 / 50, 30 / 40, 8 / 10], rtol=1e-12)
    np.testing.assert_allclose(r.users_accuracy[:3], [45 / 51, 30 / 36, 8 / 13], rtol=1e-12)
    np.testing.assert_allclose(r.users_accuracy_se[0], np.sqrt((45 / 51) * (6 / 51) / 50), rtol=1e-12)
    # a class with no reference and no mapped point: undefined, not zero
    assert np.isnan(r.producers_accuracy[3]) and np.isnan(r.users_accuracy[3])
    conf = r.confusion_table()
    assert list(conf.columns) == ["reference_code", "reference_class", "a", "b", "c", "never"]
    assert conf["reference_code"].tolist() == [1, 2, 3, 9]
    summary = r.summary_table(n_train=200).set_index("statistic")["value"]
    assert summary["n_validation"] == 100 and summary["n_train"] == 200


def test_perfect_and_chance_agreement():
    r = assess_accuracy([1, 2, 3], [1, 2, 3], [1, 2, 3], list("abc"))
    assert r.overall_accuracy == 1.0 and r.kappa == 1.0
    # map independent of reference with equal margins: p_o = p_e -> kappa 0
    r = assess_accuracy([1, 1, 2, 2], [1, 2, 1, 2], [1, 2], list("ab"))
    assert r.overall_accuracy == 0.5 and r.kappa == 0.0
    # points mapped as nodata (255) are not counted
    r = assess_accuracy([1, 2, 2], [1, 255, 2], [1, 2], list("ab"))
    assert r.n == 2


# --- training checks ------------------------------------------------------------------------


def test_too_few_samples_or_classes_is_an_input_error_naming_epoch_and_counts():
    names = {1: "meadow", 2: "steppe", 3: "water"}
    with pytest.raises(
        InputError, match=r"samples.csv.*epoch '2000' has 6 training sample\(s\) in 2 class"
    ) as e:
        check_training([1, 1, 1, 2, 2, 2], names, "2000", path="samples.csv")
    assert "'meadow': 3" in str(e.value) and "'steppe': 3" in str(e.value) and e.value.field == "class"
    with pytest.raises(InputError, match=r"epoch '2020' has 12 training sample\(s\) in 1 class"):
        check_training([1] * 12, names, "2020")


def test_a_config_class_without_training_sample_warns():
    with pytest.warns(PfatlasWarning, match=r"epoch '2000': no training sample of class\(es\) 'water'"):
        check_training([1] * 6 + [2] * 6, {1: "meadow", 2: "steppe", 3: "water"}, "2000")


# --- prediction: scikit-learn's forests, routed by which features a cell has -----------------


@pytest.mark.parametrize("nan_in_training", [False, True])
def test_prediction_routes_cells_to_the_forest_their_features_allow(nan_in_training):
    rng = np.random.default_rng(1)
    n, m = 300, 6
    spectral = ("s0", "s1", "s2")
    X = rng.normal(size=(n, m)).astype("f4")
    y = (X[:, 0] + 0.5 * X[:, 3] > 0).astype(int) + 2 * (X[:, 4] > 0.8) + 1
    if nan_in_training:
        X[rng.random((n, m)) < 0.1] = np.nan  # forests learn where missing values go
    model = fit_landcover_model(X, y, [*spectral, "t0", "t1", "t2"], spectral, n_estimators=40, seed=0)
    assert model.spectral == (0, 1, 2) and model.terrain == (3, 4, 5)
    assert model.rf.n_jobs == 1 and model.rf_terrain.n_jobs == 1  # dask threads give the parallelism
    Xt = rng.normal(size=(5000, m)).astype("f4")
    Xt[rng.random(Xt.shape) < 0.15] = np.nan  # some cells miss some features
    Xt[:400, :3] = np.nan  # composite holes: terrain features only
    Xt[400:450] = np.nan  # outside the DEM: no feature at all
    index, prob = forest_predict(Xt, model)
    code, prob2 = predict_features(Xt, model)
    np.testing.assert_array_equal(prob, prob2)
    none = np.isnan(Xt).all(axis=1)  # rows 400-449, and holes whose terrain features are NaN too
    assert none[400:450].all()
    hole = np.isnan(Xt[:, :3]).all(axis=1) & ~none
    main = ~hole & ~none
    assert (hole | none)[:400].all() and hole[
        450:
    ].sum() > 0  # a few random cells lose every spectral feature
    # no feature: nodata, NaN probability
    assert np.all(index[none] == -1) and np.all(code[none] == 255) and np.all(np.isnan(prob[none]))
    # a spectral feature (even one): the main forest, on all features, NaN sent where it learned
    pm = model.rf.predict_proba(Xt[main])
    np.testing.assert_allclose(pm.sum(axis=1), 1, rtol=1e-12)  # a distribution per cell
    assert np.array_equal(code[main], model.rf.predict(Xt[main]))
    np.testing.assert_array_equal(prob[main], pm.max(axis=1).astype("f4"))
    # terrain features only: the terrain forest, on the terrain columns
    ph = model.rf_terrain.predict_proba(Xt[hole][:, 3:])
    np.testing.assert_allclose(ph.sum(axis=1), 1, rtol=1e-12)
    assert np.array_equal(code[hole], model.rf_terrain.predict(Xt[hole][:, 3:]))
    np.testing.assert_array_equal(prob[hole], ph.max(axis=1).astype("f4"))
    # the winner of k classes has at least 1/k of the votes (1e-6: float32 rounding of the mean)
    assert len(model.codes) == 4
    assert np.all((prob[~none] >= 1 / 4 - 1e-6) & (prob[~none] <= 1))


def test_model_sent_to_the_tasks_pickles_small_and_predicts_the_same():
    import pickle

    rng = np.random.default_rng(2)
    X = rng.normal(size=(130, 21)).astype("f4")  # the demo's size: ~130 training points, 21 features
    y = rng.integers(1, 9, 130)
    model = fit_landcover_model(X, y, [f"f{i}" for i in range(21)], ["f0", "f1"], n_estimators=300)
    blob = pickle.dumps(model)
    assert len(blob) < 8e6  # a few MB at most, once per task on the threaded scheduler
    Xt = rng.normal(size=(1000, 21)).astype("f4")
    a, b = forest_predict(Xt, model), forest_predict(Xt, pickle.loads(blob))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


# --- features -------------------------------------------------------------------------------


def test_window_features_of_a_plane_are_analytic():
    # z = 4000 + 0.1 x (x [m], 30 m cells): the window mean of a plane is its centre value, so
    # the relief is 0 inside; the lowest cell in the window is R cells to the west: z - min = 0.1*30*R
    ny, nx, R = 40, 50, 6
    x = np.arange(nx) * 30.0
    z = np.broadcast_to(4000.0 + 0.1 * x, (ny, nx)).astype("f4")
    out = window_features_kernel(z, (2, R))
    inner = (slice(R, ny - R), slice(R, nx - R))
    np.testing.assert_allclose(out[0][inner], 0, atol=4e-3)  # elevation rounded to 1/256 m
    np.testing.assert_allclose(out[1][inner], 0, atol=4e-3)
    np.testing.assert_allclose(out[2][inner], 0.1 * 30 * R, atol=4e-3)
    # at the west edge the window is clipped: the cell is its window's minimum
    assert np.all(out[2][:, 0] == 0)
    z2 = z.copy()
    z2[5, 5] = np.nan
    assert np.isnan(window_features_kernel(z2, (2, R))[:, 5, 5]).all()


def _inputs(seed=0, holes=True):
    rng = np.random.default_rng(seed)
    ny, nx = G.shape
    yy, xx = np.mgrid[0:ny, 0:nx]
    dem = 3800 + 200 * np.sin(xx / 25.0) * np.cos(yy / 30.0) + rng.normal(0, 2, (ny, nx))
    comp = {}
    for k, name in enumerate(SPECTRAL_FEATURES):
        v = 0.1 + 0.05 * np.sin(xx / (10.0 + k)) + rng.normal(0, 0.01, (ny, nx))
        if holes:
            v[20:45, 30:70] = np.nan  # a persistent cloud: no clear look
        comp[name] = v.astype("f4")
    from pfatlas.terrain.attributes import terrain_attributes

    dem_da = wrap_on_grid(dem.astype("f4"), G, "dem", units="m", long_name="elevation")
    ta = terrain_attributes(dem_da)
    return comp, dem_da, ta["slope"].values, ta["aspect"].values


def _stack(comp, dem_da, slope, aspect, chunk=None, trend=None):
    def da(a, name):
        d = wrap_on_grid(a, G, name, units="1", long_name=name)
        return d.chunk(chunk) if chunk else d

    c = {n: da(v, n) for n, v in comp.items()}
    dem = dem_da.chunk(chunk) if chunk else dem_da
    return landcover_features(
        c, dem, da(slope, "slope"), da(aspect, "aspect"), relief_radii_m=(90.0, 300.0), lst_trend=trend
    )


TREND = LstTrend(intercept_c=34.0, lapse_c_per_m=-0.0065, n_cells=1000)


@pytest.mark.parametrize("trend", [None, TREND], ids=["no-anomaly", "lst-anomaly"])
def test_feature_stack_numpy_equals_dask_at_odd_chunks_and_points_equal_stack(trend):
    comp, dem, slope, aspect = _inputs()
    eager = _stack(comp, dem, slope, aspect, trend=trend)
    lazy = _stack(comp, dem, slope, aspect, chunk=37, trend=trend)  # odd chunks, wider than the 10-cell halo
    assert isinstance(lazy.data, dsa.Array)
    assert list(eager["feature"].values) == list(SPECTRAL_FEATURES) + ["lst_anomaly"] * (trend is not None) + [
        "elevation", "slope", "northness", "eastness", "relief_90m", "relief_300m", "height_above_min_300m",
    ]  # fmt: skip
    # window sums are exact (elevation on a 1/256 m lattice), so chunking changes nothing
    np.testing.assert_array_equal(eager.values, lazy.values)
    lazy7 = _stack(comp, dem, slope, aspect, chunk={"y": 7, "x": 53}, trend=trend)  # thinner than the halo
    np.testing.assert_array_equal(eager.values, lazy7.values)
    if trend is not None:  # LST minus the trend at the cell's elevation, NaN under the cloud
        k = list(eager["feature"].values).index("lst_anomaly")
        want = comp["lst"] - (34.0 - 0.0065 * dem.values)
        np.testing.assert_allclose(eager.values[k], want, rtol=0, atol=1e-4)
        assert np.isnan(eager.values[k, 30, 50])
    rng = np.random.default_rng(3)
    rows = np.r_[0, rng.integers(0, G.shape[0], 30), G.shape[0] - 1]
    cols = np.r_[0, rng.integers(0, G.shape[1], 30), G.shape[1] - 1]
    R = window_radius_cells(300.0, 30.0)
    zp = np.pad(dem.values.astype("f8"), R, constant_values=np.nan)
    windows = np.stack([zp[r : r + 2 * R + 1, c : c + 2 * R + 1] for r, c in zip(rows, cols, strict=True)])
    pts = point_features(
        {n: comp[n][rows, cols] for n in SPECTRAL_FEATURES},
        dem.values[rows, cols],
        slope[rows, cols],
        aspect[rows, cols],
        windows,
        relief_radii_m=(90.0, 300.0),
        cell_m=30.0,
        lst_trend=trend,
    )
    np.testing.assert_array_equal(pts, features_at(lazy, rows, cols))
    np.testing.assert_array_equal(pts, features_at(eager, rows, cols))


def test_lst_trend_is_the_within_class_lapse_and_degrades_gracefully():
    rng = np.random.default_rng(5)
    z = rng.uniform(3700.0, 4400.0, 6000)
    # a warm cover (+4 K) on the heights, a cool one (-3 K) low down: the covers' mix alone makes
    # LST rise with elevation over the area, while each cover cools at 6.5 K/km
    warm = (z > 4150.0) & (rng.uniform(size=z.size) < 0.8)
    cool = (z < 3900.0) & (rng.uniform(size=z.size) < 0.8)
    cls = np.where(warm, 4, np.where(cool, 1, 2))
    lst = 30.0 - 0.0065 * z + 4.0 * warm - 3.0 * cool + rng.normal(0.0, 0.6, z.size)
    lst[:50] = np.nan  # cells with no clear look are left out
    plain = fit_lst_trend(lst, z)
    assert plain.lapse_c_per_m > -0.003  # the mix flattens the plain slope by more than half
    t = fit_lst_trend(lst, z, cls)
    # within-class OLS: 0.6 K noise over ~200 m sd of elevation in 5950 cells -> se ~4e-5 K/m
    assert t.lapse_c_per_m == pytest.approx(-0.0065, abs=2e-4) and t.n_cells == 5950
    a = t.anomaly(lst.astype(np.float32), z.astype(np.float32))
    assert a.dtype == np.float32 and abs(float(np.nanmean(a))) < 1e-3  # zero on the fitted cells
    ok = np.isfinite(a)
    assert float(np.mean(a[ok & warm]) - np.mean(a[ok & cool])) == pytest.approx(7.0, abs=0.1)
    flat = fit_lst_trend(np.full(20, 12.0), np.full(20, 4000.0), np.arange(20) % 2)
    assert flat.lapse_c_per_m == 0.0 and flat.intercept_c == 12.0
    none = fit_lst_trend(np.full(5, np.nan), np.full(5, 4000.0))
    assert (none.intercept_c, none.lapse_c_per_m, none.n_cells) == (0.0, 0.0, 0)
    X = np.arange(2 * (len(SPECTRAL_FEATURES) + 3), dtype=np.float32).reshape(2, -1)
    Xa = add_lst_anomaly(X, TREND)  # the column goes after the composite's, from lst and elevation
    k = len(SPECTRAL_FEATURES)
    np.testing.assert_array_equal(np.delete(Xa, k, axis=1), X)
    np.testing.assert_allclose(Xa[:, k], X[:, k - 1] - (34.0 - 0.0065 * X[:, k]), rtol=1e-6)


def test_feature_errors_name_the_layer():
    comp, dem, slope, aspect = _inputs()
    del comp["nbr"]
    with pytest.raises(InputError, match="composite lacks layer.*nbr"):
        _stack(comp, dem, slope, aspect)
    comp, dem, slope, aspect = _inputs()
    c = {n: wrap_on_grid(v, G, n, units="1", long_name=n) for n, v in comp.items()}
    s = wrap_on_grid(slope, G, "s", units="degree", long_name="s")
    with pytest.raises(InputError, match="landcover.relief_radii_m"):
        landcover_features(c, dem, s, s, relief_radii_m=(0.0,))


# --- classification of a whole grid ---------------------------------------------------------


def _trained(comp, dem, slope, aspect, stack):
    # classes from the synthetic spectra and terrain: a fixed rule, sampled at random cells
    rng = np.random.default_rng(7)
    ny, nx = G.shape
    rows, cols = rng.integers(1, ny - 1, 150), rng.integers(1, nx - 1, 150)
    X = features_at(stack, rows, cols)
    e = dem.values[rows, cols]
    y = np.where(e > 3900, 4, np.where(comp["red"][rows, cols] > 0.1, 2, 3))
    ok = ~np.isnan(X[:, 0])  # samples under the cloud are not trained on here
    return fit_landcover_model(
        X[ok], y[ok], list(stack["feature"].values), SPECTRAL_FEATURES, n_estimators=20
    )


@pytest.mark.parametrize("chunk", [41, {"y": 17, "x": 113}])
def test_classify_fills_composite_holes_and_is_chunk_independent(chunk, monkeypatch):
    comp, dem, slope, aspect = _inputs()
    eager = _stack(comp, dem, slope, aspect)
    model = _trained(comp, dem, slope, aspect, eager)
    out = classify(eager, model)
    lc = out["landcover"].values
    pr = out["landcover_probability"].values
    assert lc.dtype == np.uint8 and set(np.unique(lc)) <= {2, 3, 4}
    # under the cloud (no spectral feature) the terrain forest still gives a class
    assert np.all(lc[20:45, 30:70] != 255) and np.all(np.isfinite(pr[20:45, 30:70]))
    assert np.all((pr >= 1 / 3 - 1e-6) & (pr <= 1))  # the winner of 3 classes has at least 1/3
    # the hole is classified by the terrain forest: compare with it directly
    Xh = eager.values[:, 30, 50][None, :]
    t_idx = np.asarray(model.terrain)
    assert predict_features(Xh, model)[0][0] == model.rf_terrain.predict(Xh[:, t_idx])[0]
    lazy = classify(_stack(comp, dem, slope, aspect, chunk=chunk), model)
    assert isinstance(lazy["landcover"].data, dsa.Array)
    # bit-identical: each cell's probability is the same sum over the same trees in the same order
    np.testing.assert_array_equal(lazy["landcover"].values, lc)
    np.testing.assert_array_equal(lazy["landcover_probability"].values, pr)
    # and so is a task that predicts its cells in several predict_proba calls
    monkeypatch.setattr(classify_module, "_BATCH", 997)
    np.testing.assert_array_equal(classify(eager, model)["landcover_probability"].values, pr)
    # outside the cloud the map is scikit-learn's prediction with all features
    X = eager.values.reshape(eager.shape[0], -1).T
    clear = ~np.isnan(X[:, 0])
    assert np.array_equal(lc.reshape(-1)[clear], model.rf.predict(X[clear]))
    # the class probabilities the build writes: chunk-independent, and their winner is the map
    probs = class_probabilities(_stack(comp, dem, slope, aspect, chunk=chunk), model)
    assert isinstance(probs.data, dsa.Array) and probs["class"].values.tolist() == list(model.codes)
    P = probs.values
    np.testing.assert_array_equal(P, class_probabilities(eager, model).values)
    np.testing.assert_array_equal(np.asarray(model.codes)[P.argmax(axis=0)], lc)
    np.testing.assert_allclose(P.max(axis=0), pr, rtol=1e-6)


def test_only_cells_without_any_feature_are_nodata():
    comp, dem, slope, aspect = _inputs()
    eager = _stack(comp, dem, slope, aspect)
    model = _trained(comp, dem, slope, aspect, eager)
    data = eager.values.copy()
    data[:, 5, 5] = np.nan
    lc = classify(xr.DataArray(data, dims=eager.dims, coords=eager.coords), model)["landcover"].values
    assert lc[5, 5] == 255 and np.sum(lc == 255) == 1
    bad = eager.assign_coords(feature=[f"x{i}" for i in range(eager.shape[0])])
    with pytest.raises(InputError, match="does not match the model's features"):
        classify(bad, model)


# --- the build stage on the small virtual Muli ----------------------------------------------


@pytest.fixture(scope="module")
def small_demo(tmp_path_factory):
    from pfatlas.cli.main import main

    out = tmp_path_factory.mktemp("lc") / "demo"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PfatlasWarning)  # classes absent from an epoch's samples
        assert main(["-q", "demo", str(out), "--size", "small"]) == 0
    return out


@pytest.mark.slow
def test_stage_writes_maps_tables_and_is_accurate_on_small_virtual_muli(small_demo):
    from pfatlas.build.context import make_context
    from pfatlas.build.stage_landcover import stages
    from pfatlas.config import load_config

    ctx = make_context(load_config(small_demo / "inputs" / "config.toml"), small_demo)
    st = {s.name: s for s in stages(ctx)}
    assert set(st) == {"landcover_forest/2000", "landcover_forest/2020", "landcover/2000", "landcover/2020"}
    # pooled training: each epoch's forest also learns from the other epoch's training plots
    assert st["landcover_forest/2000"].depends == ("terrain", "samples", "composite/2000", "composite/2020")
    assert ctx.path("2020", "composite", "lst.tif") in st["landcover_forest/2000"].inputs(ctx)
    # compound classification: each epoch's map from the forests of both
    assert st["landcover/2000"].depends == ("samples", "landcover_forest/2000", "landcover_forest/2020")
    with pytest.warns(PfatlasWarning, match="no training sample"):  # 2000: no pits or dumps yet
        forest = st["landcover_forest/2000"].run(ctx)
    assert ctx.path("2000", "landcover_forest", "probability_1.tif") in forest
    files = st["landcover/2000"].run(ctx)
    assert ctx.path("2000", "landcover.tif") in files
    with rasterio.open(ctx.path("2000", "landcover.tif")) as src:
        lc = src.read(1)
        assert src.dtypes[0] == "uint8" and src.nodata == 255
        names = json.loads(src.tags()["CLASS_NAMES"])
        assert names["1"] == "alpine swamp meadow" and len(names) == 8
        assert src.colormap(1)[2][:3] == ctx.cfg.landcover.classes[1].rgb
        assert "synthetic" in src.tags()["source"]
    with rasterio.open(ctx.path("2000", "landcover_probability.tif")) as src:
        prob = src.read(1)
    assert np.all(lc != 255) and np.all((prob > 0) & (prob <= 1))
    with rasterio.open(small_demo / "inputs" / "truth" / "2000" / "landcover.tif") as src:
        truth = src.read(1)
    # measured 0.87 on this area (seed 0, 77 samples); 0.8 leaves room for sampling noise
    assert np.mean(lc == truth) > 0.8
    conf = pd.read_csv(ctx.path("tables", "landcover_confusion_2000.csv"))
    assert conf["reference_code"].tolist() == [1, 2, 3, 4, 5, 6, 7, 8]  # every class, stable order
    acc = pd.read_csv(ctx.path("tables", "landcover_accuracy_2000.csv"))
    assert {"producers_accuracy", "users_accuracy", "n_validation_reference", "n_train"} <= set(acc.columns)
    m = json.loads(ctx.path("tables", "metrics_landcover_2000.json").read_text())
    samples = pd.read_csv(ctx.path("tables", "samples.csv"), dtype={"epoch": str})
    assert m["n_train_by_epoch"]["2000"] + m["n_validation"] == int((samples["epoch"] == "2000").sum())
    # the 2020 points of the classes 2000 has (no pits or dumps), training split only
    s20 = samples[samples["epoch"] == "2020"]
    n20 = int(s20["class_code"].isin([1, 2, 3, 4, 5, 8]).sum())
    assert 0.6 * n20 < m["n_train_by_epoch"]["2020"] < n20
    assert m["n_train"] == sum(m["n_train_by_epoch"].values()) == acc["n_train"].sum()
    assert acc.set_index("class_code").loc[[6, 7], "n_train"].tolist() == [0, 0]
    # the within-class LST trend is fitted on the epoch's own training plot cells with an LST
    t = m["lst_trend"]
    assert np.isfinite(t["lapse_c_per_km"]) and 0 < t["n_cells"] <= 9 * m["n_train_by_epoch"]["2000"]
    assert 0.5 < m["overall_accuracy"] <= 1 and -1 <= m["kappa"] <= 1


@pytest.mark.slow
def test_pooling_off_trains_on_the_epochs_own_samples_only(small_demo):
    from pfatlas.build.context import make_context
    from pfatlas.build.stage_landcover import fit_epoch_model, stages
    from pfatlas.config import load_config

    cfg = load_config(small_demo / "inputs" / "config.toml")
    cfg = cfg.model_copy(update={"landcover": cfg.landcover.model_copy(update={"pool_epochs": False})})
    ctx = make_context(cfg, small_demo)
    st = {s.name: s for s in stages(ctx)}
    assert st["landcover_forest/2020"].depends == ("terrain", "samples", "composite/2020")
    assert ctx.path("2000", "composite", "lst.tif") not in st["landcover_forest/2020"].inputs(ctx)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PfatlasWarning)  # a class the small world's 2020 lacks
        fitted = fit_epoch_model(ctx, "2020")
    assert fitted.points_by_epoch == {"2020": fitted.train.size}
    assert sum(fitted.points_by_class.values()) == fitted.train.size
    # 3 x 3 plots, but built-up / road (config plot_radius_m = 0) on the point's cell only
    s = pd.read_csv(small_demo / "tables" / "samples.csv", dtype={"epoch": str})
    s = s[s["epoch"] == "2020"].reset_index(drop=True).iloc[fitted.train]
    road = s["class_code"].to_numpy() == 8
    assert 0 < road.sum() < road.size
    n = [plot_cells(s["row"][m], s["col"][m], r, ctx.gbox.shape)[0].size for m, r in ((road, 0), (~road, 1))]
    assert n[0] == road.sum() and fitted.n_cells == sum(n)
    assert fitted.model.codes == tuple(sorted(set(fitted.codes.tolist())))  # pits and dumps too


@pytest.mark.slow
def test_stage_refuses_an_epoch_with_too_few_samples(small_demo, tmp_path):
    from pfatlas.build.context import make_context
    from pfatlas.build.stage_landcover import run_forest
    from pfatlas.config import load_config

    out = tmp_path / "o"
    shutil.copytree(small_demo / "grid", out / "grid")
    shutil.copytree(small_demo / "2000" / "composite", out / "2000" / "composite")
    (out / "tables").mkdir()
    s = pd.read_csv(small_demo / "tables" / "samples.csv", dtype={"epoch": str})
    s[s["epoch"] == "2000"].head(8).to_csv(out / "tables" / "samples.csv", index=False)
    ctx = make_context(load_config(small_demo / "inputs" / "config.toml"), out)
    with pytest.raises(InputError, match=r"samples.csv.*epoch '2000' has \d training sample"):
        run_forest(ctx, "2000")
    assert not (out / "2000" / "landcover_forest").exists()


def _map_only_copy(small_demo, out):
    """What the map stage reads: the samples and the forests of both epochs."""
    (out / "tables").mkdir(parents=True)
    shutil.copy(small_demo / "tables" / "samples.csv", out / "tables")
    for e in ("2000", "2020"):
        shutil.copy(small_demo / "tables" / f"landcover_forest_{e}.json", out / "tables")
        shutil.copytree(small_demo / e / "landcover_forest", out / e / "landcover_forest")


@pytest.mark.slow
def test_compound_maps_change_less_than_independent_ones_and_off_is_each_forests_winner(small_demo, tmp_path):
    from pfatlas.build.context import make_context
    from pfatlas.build.stage_landcover import run_landcover
    from pfatlas.config import load_config

    cfg = load_config(small_demo / "inputs" / "config.toml")
    maps = {}
    for compound in (True, False):
        out = tmp_path / str(compound)
        _map_only_copy(small_demo, out)
        lc_cfg = cfg.landcover.model_copy(update={"compound_epochs": compound})
        ctx = make_context(cfg.model_copy(update={"landcover": lc_cfg}), out)
        for e in ("2000", "2020"):
            run_landcover(ctx, e)
        maps[compound] = {}
        for e in ("2000", "2020"):
            with rasterio.open(out / e / "landcover.tif") as src:
                maps[compound][e] = src.read(1)
        m = json.loads((out / "tables" / "metrics_landcover_2000.json").read_text())
        assert m["compound_epochs"] == (["2000", "2020"] if compound else None)
    # off: each epoch's map is its own forest's most probable class (first on a tie)
    info = json.loads((small_demo / "tables" / "landcover_forest_2020.json").read_text())
    P = []
    for c in info["codes"]:
        with rasterio.open(small_demo / "2020" / "landcover_forest" / f"probability_{c}.tif") as src:
            P.append(src.read(1))
    winner = np.asarray(info["codes"])[np.argmax(np.stack(P), axis=0)]
    np.testing.assert_array_equal(maps[False]["2020"], winner)
    # on: the two epochs' evidence is combined, and two maps of mostly unchanged ground disagree
    # far less than two independent classifications (the small world changes only where mined)
    changed = {k: np.mean(v["2000"] != v["2020"]) for k, v in maps.items()}
    assert changed[True] < 0.6 * changed[False], changed
    with rasterio.open(small_demo / "inputs" / "truth" / "2020" / "mining_zone.tif") as src:
        mined = np.isin(src.read(1), [1, 2])
    # mined ground still changes class: most pits and dumps of the truth are mapped as changed
    assert np.mean(maps[True]["2000"][mined] != maps[True]["2020"][mined]) > 0.8


@pytest.mark.slow
def test_boreholes_carry_the_land_cover_of_their_year_so_the_epochs_share_their_models(small_demo):
    from pfatlas.build.context import make_context
    from pfatlas.build.layout import measurement_epochs
    from pfatlas.config import load_config

    ctx = make_context(load_config(small_demo / "inputs" / "config.toml"), small_demo)
    # nearest epoch to the measurement year, the earlier on a tie
    assert measurement_epochs(ctx, [1990, 2009, 2010, 2011, 2030]).tolist() == ["2000", "2000", "2000",
                                                                                 "2020", "2020"]  # fmt: skip
    # both epochs' MAGT regressions and ALT calibrations are fitted on the same borehole table, so
    # their coefficients and edaphic factors are the same: the maps differ only where the land cover does
    tables = small_demo / "tables"
    c0, c1 = (pd.read_csv(tables / f"magt_coefficients_{e}.csv") for e in ("2000", "2020"))
    pd.testing.assert_frame_equal(c0, c1)
    a0, a1 = (pd.read_csv(tables / f"alt_calibration_{e}.csv") for e in ("2000", "2020"))
    pd.testing.assert_frame_equal(a0, a1)
