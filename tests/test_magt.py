"""MAGT stage: regression recovers known coefficients, LOOCV identity, the forest SE by hand, lazy prediction,
the build stage on a hand-made world, and its bad-input errors."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest
import rasterio
from sklearn.ensemble import RandomForestRegressor

from pfatlas.build.context import make_context
from pfatlas.build.stage_magt import run_magt, stages
from pfatlas.config.schema import Config
from pfatlas.errors import InputError, PfatlasWarning
from pfatlas.grid import grid_from_bbox, lonlat_arrays, wrap_on_grid
from pfatlas.io.cog import ClassInfo, write_cog
from pfatlas.magt import (
    MagtModel,
    block_labels,
    cv_predictions,
    design_matrix,
    fit_mlr,
    fit_rf,
    loocv_mlr,
    make_spec,
    predict_magt,
    predict_mlr,
    predict_rf,
    scores,
    train_magt,
)
from pfatlas.magt.models import forest_mean_var
from pfatlas.magt.validation import check_enough_boreholes, mlr_fit_predict, rf_fit_predict
from pfatlas.terrain import terrain_attributes

BBOX = (99.25, 38.05, 99.30, 38.09)  # ~4.4 x 4.4 km in UTM 47N, ~147 x 149 cells
LC_EFFECT = {1: -0.5, 2: 0.0, 3: 0.3}  # [degC] known land-cover offsets of the test law


def _law(z, northness, lc):
    """The known MAGT law of the test world [degC]: lapse -4 degC/km, north slopes -0.3 degC."""
    return -1.5 - 4.0e-3 * (z - 3900.0) - 0.3 * northness + np.vectorize(LC_EFFECT.get)(lc)


# --- the regression ------------------------------------------------------------------------------


def test_mlr_recovers_known_coefficients_and_their_standard_errors():
    rng = np.random.default_rng(42)
    n, sigma = 400, 0.2
    X = np.column_stack([np.ones(n), rng.uniform(-0.3, 0.3, n), rng.normal(size=n), rng.integers(0, 2, n)])
    beta = np.array([-1.4, -3.8, 0.25, -0.5])
    y = X @ beta + rng.normal(0, sigma, n)
    fit = fit_mlr(X, y, ("intercept", "elevation", "northness", "lc_1"))
    # same coefficients as numpy's least squares (round-off only)
    np.testing.assert_allclose(fit.coef, np.linalg.lstsq(X, y, rcond=None)[0], rtol=1e-10, atol=1e-12)
    # each estimate within 4 of its standard errors of the truth (false alarm ~6e-5 per term)
    assert np.all(np.abs(fit.coef - beta) < 4 * fit.se)
    # SE against the exact sampling SD sigma sqrt(diag((X'X)^-1)): s/sigma has relative SD
    # 1/sqrt(2 (n - p)) = 3.5 %, so 15 % is > 4 SD
    exact = sigma * np.sqrt(np.diag(np.linalg.inv(X.T @ X)))
    np.testing.assert_allclose(fit.se, exact, rtol=0.15)
    # t and p: strong effects are significant
    assert fit.dof == n - 4 and np.all(fit.p[:4] < 1e-6)
    np.testing.assert_allclose(fit.t, fit.coef / fit.se)


def test_mlr_coefficient_se_matches_monte_carlo_spread():
    """The SE formula is the SD of the estimate over repeated samples (200 replicates)."""
    rng = np.random.default_rng(1)
    n, sigma = 30, 0.3
    X = np.column_stack([np.ones(n), rng.uniform(-0.5, 0.5, n), rng.normal(size=n)])
    beta = np.array([-1.0, -4.0, 0.2])
    coefs, ses = [], []
    for _ in range(200):
        fit = fit_mlr(X, X @ beta + rng.normal(0, sigma, n))
        coefs.append(fit.coef)
        ses.append(fit.se)
    # SD of 200 replicates has a relative sampling error of 1/sqrt(400) = 5 %: 20 % is 4 SD
    np.testing.assert_allclose(np.std(coefs, axis=0), np.mean(ses, axis=0), rtol=0.2)
    assert np.all(np.abs(np.mean(coefs, axis=0) - beta) < 4 * np.mean(ses, axis=0) / np.sqrt(200))  # unbiased


def test_mlr_prediction_se_formula():
    rng = np.random.default_rng(3)
    X = np.column_stack([np.ones(20), rng.normal(size=20)])
    fit = fit_mlr(X, 1.0 + X[:, 1] + rng.normal(0, 0.1, 20))
    x0 = np.array([[1.0, 5.0]])  # far outside the data: larger SE
    mean, se = predict_mlr(fit, x0)
    expected = np.sqrt(fit.sigma2 * (1 + x0[0] @ np.linalg.inv(X.T @ X) @ x0[0]))
    np.testing.assert_allclose(se[0], expected, rtol=1e-10)
    assert se[0] > np.sqrt(fit.sigma2) and predict_mlr(fit, X)[1].max() < se[0]


def test_loocv_identity_equals_brute_force_loop_also_with_a_singleton_class():
    rng = np.random.default_rng(7)
    n = 25
    lc = np.array([1] * 12 + [2] * 12 + [3])  # class 3 at a single borehole: leverage 1
    spec = make_spec(lc, [1, 2, 3], centre_lon=99.3, centre_lat=38.0, elevation_ref_m=4000.0)
    X, valid = design_matrix(
        spec, rng.uniform(3700, 4300, n), 99.3 + rng.normal(0, 0.05, n), 38 + rng.normal(0, 0.05, n),
        rng.uniform(0, 20, n), rng.uniform(0, 360, n), lc,
    )  # fmt: skip
    assert valid.all()
    y = X @ rng.normal(size=X.shape[1]) + rng.normal(0, 0.2, n)
    brute = cv_predictions(lambda a, b, c: mlr_fit_predict(a, b, c), X, y, np.arange(n))
    np.testing.assert_allclose(loocv_mlr(X, y), brute, rtol=1e-9, atol=1e-9)  # round-off only
    # the singleton's held-out prediction uses the reference effect (its column is all zero)
    i = n - 1
    train = np.arange(n) != i
    no3 = [j for j, t in enumerate(spec.terms) if t != "lc_3"]
    coef = np.linalg.lstsq(X[train][:, no3], y[train], rcond=None)[0]
    np.testing.assert_allclose(brute[i], X[i, no3] @ coef, rtol=1e-9)


def test_scores_and_blocks():
    s = scores(np.array([1.0, 2.0, 3.0, np.nan]), np.array([1.5, 2.0, 2.5, 0.0]))
    assert s["n"] == 3 and s["bias_degC"] == 0.0
    np.testing.assert_allclose(s["rmse_degC"], np.sqrt(0.5 / 3))
    np.testing.assert_allclose(s["r2"], 1 - 0.5 / 2.0)
    labels = block_labels(np.array([0.0, 4999.0, 5001.0, -1.0]), np.array([0.0, 0.0, 0.0, 0.0]), 5.0)
    assert labels[0] == labels[1] and len(set(labels)) == 3


def _walk(tree, x):
    """The leaf value of one fitted tree at x, by following its split arrays (the test's oracle)."""
    t, node = tree.tree_, 0
    while t.children_left[node] >= 0:
        go_left = np.float32(x[t.feature[node]]) <= t.threshold[node]
        node = t.children_left[node] if go_left else t.children_right[node]
    return t.value[node, 0, 0]


def test_rf_standard_error_by_hand_from_three_trees():
    """SE(x0)^2 = RMSE_cv^2 + max(0, v(x0) - mean_i v(x_i)), v the variance of the trees at x.

    With 3 trees, each tree's prediction is read off its own split arrays, and the mean, the
    variances at the training rows and at new points, and the SE are formed by hand.
    """
    rng = np.random.default_rng(0)
    X = np.column_stack([np.ones(12), rng.normal(size=(12, 2))])
    y = 2 * X[:, 1] - X[:, 2] + rng.normal(0, 0.1, 12)
    fit = fit_rf(X, y, n_estimators=3, seed=5, cv_rmse=0.25)
    trees = fit.forest.estimators_
    assert len(trees) == 3

    def by_hand(rows):
        f = np.array([[_walk(t, x) for x in rows] for t in trees])  # (tree, row) [degC]
        m = (f[0] + f[1] + f[2]) / 3
        return m, ((f[0] - m) ** 2 + (f[1] - m) ** 2 + (f[2] - m) ** 2) / 3

    _, v_train = by_hand(X[:, 1:])
    np.testing.assert_allclose(fit.train_tree_var, v_train.mean(), rtol=1e-12)
    Xn = np.column_stack([np.ones(40), 3 * rng.normal(size=(40, 2))])  # some far outside the data
    m, v = by_hand(Xn[:, 1:])
    mean, se = predict_rf(fit, Xn)
    # sums of 3 leaf values in another order: equal to round-off
    np.testing.assert_allclose(mean, m, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(se, np.sqrt(0.25**2 + np.maximum(v - v_train.mean(), 0)), rtol=1e-12)
    assert np.any(se > 0.25) and np.all(se >= 0.25)  # the floor holds; extrapolation raises it
    # the mean is the forest's own predict, exactly
    np.testing.assert_array_equal(forest_mean_var(fit.forest, Xn[:, 1:])[0], fit.forest.predict(Xn[:, 1:]))
    Xn[0, 2] = np.nan
    Xn[1, 1] = np.inf
    mean, se = predict_rf(fit, Xn)
    assert np.isnan(mean[:2]).all() and np.isnan(se[:2]).all() and np.isfinite(mean[2:]).all()


def test_rf_loocv_by_refits():
    rng = np.random.default_rng(2)
    X = np.column_stack([np.ones(15), rng.normal(size=(15, 2))])
    y = X[:, 1] + rng.normal(0, 0.1, 15)
    pred = cv_predictions(rf_fit_predict(20, 0), X, y, np.arange(15))
    i = 4
    keep = np.arange(15) != i
    alone = RandomForestRegressor(20, random_state=0).fit(X[keep, 1:], y[keep]).predict(X[i : i + 1, 1:])
    np.testing.assert_allclose(pred[i], alone[0], rtol=1e-12)


def test_rf_cv_folds_as_tasks_equal_the_serial_loop_and_run_on_a_cluster():
    from distributed import Client, LocalCluster

    from pfatlas.parallel import on_cluster

    rng = np.random.default_rng(3)
    X = np.column_stack([np.ones(20), rng.normal(size=(20, 3))])
    y = X[:, 1] - 0.5 * X[:, 2] + rng.normal(0, 0.1, 20)
    folds = np.repeat(np.arange(5), 4)
    fp = rf_fit_predict(20, 0)
    serial = cv_predictions(fp, X, y, folds)
    assert not on_cluster()
    np.testing.assert_array_equal(cv_predictions(fp, X, y, folds, tasks=True), serial)  # threads
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster,
        Client(cluster),
    ):
        assert not on_cluster()  # workers are threads of this process: train_magt keeps the folds serial
        np.testing.assert_array_equal(cv_predictions(fp, X, y, folds, tasks=True), serial)
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                     dashboard_address=None) as cluster,
        Client(cluster),
    ):  # fmt: skip
        assert on_cluster()  # worker processes: train_magt fits the folds on them
        np.testing.assert_array_equal(cv_predictions(fp, X, y, folds, tasks=True), serial)


def test_too_few_boreholes_error_names_counts_file_and_field():
    spec = make_spec([1, 2, 2], [1, 2], centre_lon=99.3, centre_lat=38.0, elevation_ref_m=4000.0)
    need = len(spec.terms) + 2
    with pytest.raises(InputError) as exc:
        check_enough_boreholes(need - 1, spec, "/data/boreholes.csv")
    msg = str(exc.value)
    assert "/data/boreholes.csv" in msg and "magt_c" in msg
    assert f"{need - 1} natural borehole" in msg and f"at least {need}" in msg and "terms + 2" in msg
    check_enough_boreholes(need, spec)  # enough: no error


def test_collinear_boreholes_error_names_file():
    n = 12
    spec = make_spec([2] * n, [2], centre_lon=99.3, centre_lat=38.0, elevation_ref_m=4000.0)
    X, _ = design_matrix(spec, np.full(n, 4000.0), np.full(n, 99.3), np.full(n, 38.0), np.zeros(n),
                         np.full(n, np.nan), np.full(n, 2))  # fmt: skip
    with pytest.raises(InputError, match=r"bh\.csv.*magt_c.*collinear"):
        train_magt(X, np.zeros(n), np.zeros(n), np.zeros(n), spec, source="bh.csv")


# --- a hand-made world ------------------------------------------------------------------------------


def _world():
    gbox = grid_from_bbox(BBOX, 30.0)
    ny, nx = gbox.shape
    yy, xx = np.mgrid[0:ny, 0:nx]
    z = 3800.0 + 3.0 * yy[::-1] + 80 * np.sin(xx / 9.0) * np.cos(yy / 13.0)  # [m], rises northwards
    dem = wrap_on_grid(z.astype("float32"), gbox, "dem", units="m", long_name="elevation")
    terr = terrain_attributes(dem)
    lc = np.where(z < 3950, 1, np.where(z < 4100, 2, 3)).astype("uint8")
    lc[10:20, 10:30] = 5  # water: in the map, at no borehole
    return gbox, dem, terr["slope"], terr["aspect"], lc


def _boreholes(gbox, dem, aspect, lc, n=40, seed=0):
    rng = np.random.default_rng(seed)
    ny, nx = gbox.shape
    rows, cols = [], []
    while len(rows) < n:
        r, c = rng.integers(2, ny - 2), rng.integers(2, nx - 2)
        if lc[r, c] != 5 and (r, c) not in zip(rows, cols, strict=False):
            rows.append(r)
            cols.append(c)
    rows, cols = np.array(rows), np.array(cols)
    lon, lat = lonlat_arrays(gbox)
    z = dem.values[rows, cols].astype(float)
    asp = aspect.values[rows, cols]
    north = np.where(np.isnan(asp), 0.0, np.cos(np.deg2rad(asp)))
    magt = _law(z, north, lc[rows, cols]) + rng.normal(0, 0.05, n)
    xs, ys = gbox.affine @ (cols + 0.5, rows + 0.5)
    return pd.DataFrame(
        {"id": [f"B{i:02d}" for i in range(n)], "x": xs, "y": ys, "lon": lon[rows, cols],
         "lat": lat[rows, cols], "elevation_m": z, "magt_c": magt, "alt_m": np.nan, "year": 2005,
         "setting": "natural", "row": rows, "col": cols}
    )  # fmt: skip


def test_predict_magt_numpy_equals_dask_at_odd_chunks():
    gbox, dem, slope, aspect, lc = _world()
    bh = _boreholes(gbox, dem, aspect, lc)
    f = {
        "elevation_m": bh["elevation_m"].to_numpy(), "lon_deg": bh["lon"].to_numpy(),
        "lat_deg": bh["lat"].to_numpy(), "slope_deg": slope.values[bh["row"], bh["col"]],
        "aspect_deg": aspect.values[bh["row"], bh["col"]], "landcover": lc[bh["row"], bh["col"]],
    }  # fmt: skip
    spec = make_spec(
        f["landcover"], [1, 2, 3, 5], centre_lon=99.275, centre_lat=38.07, elevation_ref_m=4000.0
    )
    X, _ = design_matrix(spec, **f)
    y = bh["magt_c"].to_numpy()
    mlr = MagtModel("mlr", spec, mlr=fit_mlr(X, y, spec.terms))
    rf = MagtModel("rf", spec, rf=fit_rf(X, y, n_estimators=30, seed=0, cv_rmse=0.1))
    lcda = wrap_on_grid(lc, gbox, "landcover", units="class", long_name="land cover")
    for model in (mlr, rf):
        eager = predict_magt(model, dem, slope, aspect, lcda)
        assert isinstance(eager["magt"].data, np.ndarray)
        for chunks in ((37, 53), (64, 29)):
            lazy = predict_magt(
                model, dem.chunk(dict(zip(("y", "x"), chunks, strict=True))), slope.chunk(41), aspect.chunk(41),
                lcda.chunk(23),
            )  # fmt: skip
            assert lazy["magt"].chunks is not None
            for v in ("magt", "magt_se"):
                np.testing.assert_array_equal(lazy[v].values, eager[v].values)  # bit-identical
    m = eager["magt"].values
    assert np.isnan(m[0]).all() and np.isfinite(m[5:-5, 5:-5]).all()  # grid edge: no slope
    assert eager["magt"].attrs["units"] == "degC" and eager["magt_se"].attrs["units"] == "degC"


def _config(tmp_path, **magt):
    cfg = Config.model_validate(
        {
            "area": {"bbox": list(BBOX), "name": "test world"},
            "inputs": {"dem": str(tmp_path / "dem.tif"), "boreholes": str(tmp_path / "bh.csv")},
            "epochs": [{"label": "e1", "start": "2000-01-01", "end": "2000-12-31", "year": 2000}],
            "magt": {"n_estimators": 50, "cv_n_estimators": 20, **magt},
        }
    )
    return make_context(cfg, tmp_path / "out")


def _write_world(ctx, n=40, settings=None):
    gbox, dem, slope, aspect, lc = _world()
    for name, da, units in (("dem", dem, "m"), ("slope", slope, "degree"), ("aspect", aspect, "degree")):
        write_cog(da, ctx.path("grid", f"{name}.tif"), gbox=gbox, units=units, description=name)
    classes = [ClassInfo(c.code, c.name, c.rgb) for c in ctx.cfg.landcover.classes]
    write_cog(wrap_on_grid(lc, gbox, "lc", units="class", long_name="lc"), ctx.path("e1", "landcover.tif"),
              gbox=gbox, units="class", description="land cover", classes=classes)  # fmt: skip
    bh = _boreholes(gbox, dem, aspect, lc, n=n)
    if settings is not None:
        bh["setting"] = settings
    ctx.path("tables").mkdir(parents=True, exist_ok=True)
    bh.to_csv(ctx.path("tables", "boreholes.csv"), index=False)
    return gbox, dem, aspect, lc


def test_stage_on_a_known_world(tmp_path):
    ctx = _config(tmp_path)
    gbox, dem, aspect, lc = _write_world(ctx)
    (stage,) = stages(ctx)
    assert stage.name == "magt/e1" and stage.depends == ("dem", "terrain", "boreholes", "landcover/e1")
    assert ctx.path("e1", "landcover.tif") in stage.inputs(ctx) and "magt" in stage.params(ctx)
    with pytest.warns(PfatlasWarning, match=r"'water' \(code 5.*reference class 'alpine meadow'"):
        files = run_magt(ctx, "e1")
    names = {p.name for p in files}
    for n in ("magt.tif", "magt_se.tif", "permafrost.tif", "permafrost_probability.tif", "thermal_stability.tif",
              "magt_coefficients_e1.csv", "magt_cv_e1.csv", "magt_model_e1.json", "metrics_magt_e1.json",
              "thermal_stability_classes.csv", "thermal_stability_area_e1.csv"):  # fmt: skip
        assert n in names, n
    coef = pd.read_csv(ctx.path("tables", "magt_coefficients_e1.csv")).set_index("term")
    # the known law: -4 degC/km, northness -0.3, swamp -0.5 and steppe +0.3 vs meadow (the reference)
    for term, truth in (
        ("elevation", -4.0),
        ("northness", -0.3),
        ("lc_1", -0.5),
        ("lc_3", 0.3),
        ("lon", 0.0),
    ):
        assert abs(coef.loc[term, "coefficient"] - truth) < 4 * coef.loc[term, "std_error"], term
    assert coef.loc["elevation", "unit"] == "degC km-1"
    cv = pd.read_csv(ctx.path("tables", "magt_cv_e1.csv"))
    assert set(cv["model"]) == {"mlr", "rf"} and {"rmse_degC", "bias_degC", "r2", "n"} <= set(cv.columns)
    metrics = json.loads(ctx.path("tables", "metrics_magt_e1.json").read_text())
    assert metrics["chosen_model"] == "mlr"  # a linear truth: the regression wins the LOOCV
    assert metrics["loocv_rmse_degC"]["mlr"] < 0.1  # noise 0.05 degC, a few terms fitted
    info = json.loads(ctx.path("tables", "magt_model_e1.json").read_text())
    assert info["reference_class"]["name"] == "alpine meadow"
    assert [c["code"] for c in info["classes_predicted_with_reference_effect"]] == [5]
    with rasterio.open(ctx.path("e1", "magt.tif")) as src:
        magt = src.read(1)
        assert src.tags()["units"] == "degC"
    north = np.where(np.isnan(aspect.values), 0.0, np.cos(np.deg2rad(aspect.values)))
    truth = _law(dem.values.astype(float), north, np.where(lc == 5, 2, lc))  # water: reference effect
    ok = np.isfinite(magt)
    assert ok.mean() > 0.97
    assert np.sqrt(np.mean((magt[ok] - truth[ok]) ** 2)) < 0.05  # noise 0.05 over 40 boreholes
    with rasterio.open(ctx.path("e1", "thermal_stability.tif")) as src:
        assert src.dtypes[0] == "uint8" and src.nodata == 255 and "CLASS_NAMES" in src.tags()
        assert "transitional" in src.tags()["CLASS_NAMES"]


def test_stage_uses_only_natural_boreholes_and_refuses_too_few(tmp_path):
    ctx = _config(tmp_path)
    settings = ["natural"] * 8 + ["pit"] * 16 + ["dump"] * 16
    _write_world(ctx, n=40, settings=settings)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PfatlasWarning)
        with pytest.raises(InputError) as exc:
            run_magt(ctx, "e1")
    msg = str(exc.value)
    assert str(tmp_path / "bh.csv") in msg and "field 'magt_c'" in msg
    assert "8 natural borehole(s)" in msg and "at least" in msg
    assert not ctx.path("e1", "magt.tif").exists()  # nothing half-written


def test_stage_model_named_by_config(tmp_path):
    ctx = _config(tmp_path, model="rf")
    _write_world(ctx)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PfatlasWarning)
        run_magt(ctx, "e1")
    info = json.loads(ctx.path("tables", "magt_model_e1.json").read_text())
    assert info["chosen_model"] == "rf" and "config" in info["reason"]
    with rasterio.open(ctx.path("e1", "magt_se.tif")) as src:
        se = src.read(1)
    loo = json.loads(ctx.path("tables", "metrics_magt_e1.json").read_text())["loocv_rmse_degC"]["rf"]
    assert np.nanmin(se) >= loo * (1 - 1e-6)  # the forest's SE is floored at its LOOCV RMSE


def test_auto_choice_takes_the_forest_only_when_clearly_better():
    # a linear law: the regression; a step in elevation (a threshold the regression cannot
    # draw): the forest, by far more than one standard error of the MSE difference
    rng = np.random.default_rng(11)
    n = 60
    z = rng.uniform(3600, 4400, n)
    spec = make_spec([2] * n, [2], centre_lon=99.3, centre_lat=38.0, elevation_ref_m=4000.0)
    X, _ = design_matrix(spec, z, rng.uniform(99.2, 99.4, n), rng.uniform(37.9, 38.1, n),
                         rng.uniform(0, 360, n), rng.uniform(0, 20, n), np.full(n, 2))  # fmt: skip
    xy = rng.uniform(0, 2e4, (2, n))
    linear = -0.004 * (z - 4000) + rng.normal(0, 0.1, n)
    t = train_magt(X, linear, *xy, spec, n_estimators=50, cv_n_estimators=20)
    assert t.model.kind == "mlr" and "one standard error" in t.reason
    step = np.where(z > 4000, -2.0, 1.0) + rng.normal(0, 0.1, n)
    t = train_magt(X, step, *xy, spec, n_estimators=50, cv_n_estimators=20)
    assert t.model.kind == "rf" and "more than one standard error" in t.reason
