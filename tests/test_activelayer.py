"""Active layer (SPEC stage 8): thawing index, Stefan, Kudryavtsev, calibration and the build stage.

Every expected number is derived in the test (closed forms, hand-computed cases or brute force), not
copied from a run of the code.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from pfatlas.activelayer import (
    SoilTable,
    active_layer_map,
    alt_block,
    fit_edaphic,
    loo_predictions,
    stefan_depth_m,
)
from pfatlas.activelayer.calibrate import MODES, PRIOR_BOREHOLES, UNIT_MODES
from pfatlas.activelayer.kudryavtsev import kudryavtsev_depth_m, surface_wave, ttop_c
from pfatlas.activelayer.thawing_index import (
    air_thawing_index_cdays,
    cdays_to_cseconds,
    fit_amplitude_c,
    mean_over_months_factor,
    sinusoid_thawing_index_cdays,
)
from pfatlas.build.context import make_context
from pfatlas.build.stage_activelayer import apply_unit_factors, run_active_layer, stages
from pfatlas.config.schema import Config
from pfatlas.errors import ConfigError, InputError, PfatlasWarning
from pfatlas.grid import wrap_on_grid
from pfatlas.io.cog import ClassInfo, write_cog

BBOX = (99.30, 38.05, 99.31, 38.056)
UNITS = {0: "alluvial plain", 1: "colluvial slope", 2: "moraine"}


def make_world(root: Path, *, climate: dict | None = None, boreholes: pd.DataFrame | None = None,
               logs: pd.DataFrame | None = None):  # fmt: skip
    """Write the tiny world under ``root`` and return its BuildContext."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "dem_in.tif").write_bytes(b"")  # the config needs an existing-looking path only
    cfg = Config.model_validate(
        {
            "area": {"name": "tiny", "bbox": list(BBOX), "synthetic": True},
            "inputs": {
                "dem": str(root / "dem_in.tif"),
                "boreholes": str(root / "boreholes_in.csv"),
                "geomorphology": str(root / "geomorphology_in.gpkg"),  # grid/geomorphology.tif below
            },
            "epochs": [{"label": "2000", "start": "2000-06-01", "end": "2000-09-30", "year": 2000}],
            "climate": climate
            if climate is not None
            else {
                "station_elevation_m": 3320.0,
                "station_maat_c": -2.57,
                "station_thawing_index_cdays": 1071.0,
            },
            "compute": {"chunk": 64},
        }
    )
    ctx = make_context(cfg, root)
    ny, nx = ctx.gbox.shape
    rows, cols = np.mgrid[0:ny, 0:nx]
    dem = 3800.0 + 5.0 * rows + 2.0 * cols
    lc = np.where(cols < nx // 3, 1, np.where(cols < 2 * nx // 3, 2, 3)).astype("uint8")
    lc[0, 0] = 5  # water: no soil entry
    pf = np.ones((ny, nx), dtype="uint8")
    pf[:, -2:] = 0  # a strip without permafrost
    unit = np.where(rows < ny // 2, 0, 1).astype("uint8")
    unit[-3:, :] = 2
    tags = ctx.tags
    w = lambda a, p, u, **k: write_cog(wrap_on_grid(a, ctx.gbox, p.stem, units=u, long_name=p.stem), p,  # noqa: E731
                                       gbox=ctx.gbox, units=u, description=p.stem, tags=tags, **k)  # fmt: skip
    w(dem.astype("float32"), ctx.path("grid", "dem.tif"), "m")
    lc_classes = [ClassInfo(c.code, c.name, c.rgb) for c in cfg.landcover.classes]
    w(lc, ctx.path("2000", "landcover.tif"), "class", classes=lc_classes)
    w(
        pf,
        ctx.path("2000", "permafrost.tif"),
        "class",
        classes=[ClassInfo(0, "no", (0, 0, 0)), ClassInfo(1, "yes", (9, 9, 9))],
    )
    w((-1.0 - 0.001 * (dem - 3800)).astype("float32"), ctx.path("2000", "magt.tif"), "degC")
    w(unit, ctx.path("grid", "geomorphology.tif"), "class",
      classes=[ClassInfo(k, v, (100, 100, 100)) for k, v in UNITS.items()])  # fmt: skip
    if boreholes is None:
        r = np.array([3, 5, 8, 10, 12, 14, 16, 6, 9, 11])
        c = np.array([1, 3, 5, 2, 4, 12, 14, 16, 13, 11]) % (nx - 2)
        boreholes = pd.DataFrame(
            {
                "id": [f"B{i:02d}" for i in range(r.size)],
                "row": r % ny,
                "col": c,
                "elevation_m": dem[r % ny, c],
                "magt_c": -1.0,
                "alt_m": np.linspace(1.8, 2.6, r.size),
                "setting": "natural",
            }
        )
    tables = ctx.path("tables")
    tables.mkdir(parents=True, exist_ok=True)
    boreholes.to_csv(tables / "boreholes.csv", index=False)
    if logs is None:
        logs = pd.DataFrame(
            [
                (b, top, bot, soil, wc, rho)
                for b in boreholes["id"]
                for top, bot, soil, wc, rho in [
                    (0.0, 3.0, "silt", 25.0, 1400.0),
                    (3.0, 8.0, "gravel", 15.0, 1900.0),
                    (8.0, 20.0, "bedrock", 5.0, 2400.0),
                ]
            ],
            columns=["borehole_id", "top_m", "bottom_m", "soil", "water_content_pct", "dry_density_kg_m3"],
        )
    logs.to_csv(tables / "borehole_logs.csv", index=False)
    return ctx


def read(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read(1)


def tags(path: Path) -> dict:
    with rasterio.open(path) as src:
        return src.tags()


# --- thawing index -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mean, amp", [(-2.57, 13.0), (0.0, 10.0), (-8.0, 9.0), (3.0, 12.0), (12.0, 10.0), (-12.0, 10.0)]
)
def test_sinusoid_thawing_index_matches_numerical_integral(mean, amp):
    # brute force: the positive part of M + A cos(2 pi t / 365) summed over 365,000 steps;
    # midpoint rule error ~1e-6 degC day, so 1e-6 relative is generous
    t = (np.arange(365_000) + 0.5) / 1000.0
    temp = mean + amp * np.cos(2 * np.pi * t / 365.0)
    expected = np.clip(temp, 0, None).sum() / 1000.0
    assert sinusoid_thawing_index_cdays(mean, amp) == pytest.approx(expected, rel=1e-6, abs=1e-6)


def test_fit_amplitude_recovers_the_amplitude():
    index = sinusoid_thawing_index_cdays(-2.57, 13.0)
    assert fit_amplitude_c(-2.57, index) == pytest.approx(13.0, abs=1e-8)
    with pytest.raises(ValueError, match="impossible"):
        fit_amplitude_c(5.0, 100.0)  # a year averaging +5 degC thaws at least 1825 degC day


def test_air_index_follows_the_lapse_rate():
    # 1000 m above the station the mean is 5.6 degC colder with the station's amplitude
    amp = fit_amplitude_c(-2.57, 1071.0)
    i = air_thawing_index_cdays(np.array([3320.0, 4320.0, np.nan]), station_elevation_m=3320.0,
                                station_maat_c=-2.57, station_thawing_index_cdays=1071.0, lapse_c_per_km=5.6)  # fmt: skip
    assert i[0] == pytest.approx(1071.0, rel=1e-9)
    assert i[1] == pytest.approx(sinusoid_thawing_index_cdays(-2.57 - 5.6, amp), rel=1e-12)
    assert np.isnan(i[2])


def test_months_factor_is_the_mean_of_the_cosine():
    # brute force over the days of June-September (day of year 151..273) with the maximum on day 200
    days = np.arange(151 * 100, 273 * 100) / 100.0 + 0.005
    expected = np.cos(2 * np.pi * (days - 200.0) / 365.0).mean()
    assert mean_over_months_factor([6, 7, 8, 9]) == pytest.approx(expected, abs=1e-5)


# --- Stefan ------------------------------------------------------------------------------------


def test_stefan_hand_computed_case_in_si_units():
    # k 1.5 W/m/K, n 1.6, I 1000 degC day = 8.64e7 degC s, L 3.34e5 J/kg, rho_d 1300 kg/m3, w - w_u 0.22:
    # 2 x 1.5 x 1.6 x 8.64e7 = 4.1472e8 ; 3.34e5 x 1300 x 0.22 = 9.5524e7 ; sqrt(4.34153) = 2.08363 m
    assert stefan_depth_m(1.5, 1.6, 8.64e7, 3.34e5, 1300.0, 0.28, 0.06) == pytest.approx(2.08363, abs=1e-5)
    # the conversion is 86400 once: feeding degree-days would give a depth sqrt(86400) = 294x too small
    assert cdays_to_cseconds(1000.0) == 8.64e7


@settings(max_examples=60, deadline=None)
@given(
    k=st.floats(0.1, 3.0), n=st.floats(0.5, 3.0), index=st.floats(10.0, 3000.0),
    rho=st.floats(200.0, 2500.0), w=st.floats(0.05, 1.5), scale=st.floats(1.01, 50.0),
)  # fmt: skip
def test_stefan_alt_grows_as_the_square_root_of_the_thawing_index(k, n, index, rho, w, scale):
    a = stefan_depth_m(k, n, cdays_to_cseconds(index), 3.34e5, rho, w, 0.3 * w)
    b = stefan_depth_m(k, n, cdays_to_cseconds(index * scale), 3.34e5, rho, w, 0.3 * w)
    assert b / a == pytest.approx(math.sqrt(scale), rel=1e-12)


def _table():
    from pfatlas.config.schema import DEFAULT_CLASSES, ActiveLayerConfig

    return SoilTable.from_config(ActiveLayerConfig().soils, {c.code: c.name for c in DEFAULT_CLASSES})


def test_alt_block_uses_the_class_soil_and_degree_seconds():
    table = _table()
    amp = fit_amplitude_c(-2.57, 1071.0)
    lc = np.array([2, 5, 2], dtype="uint8")  # meadow, water (no soil entry), meadow
    out = alt_block(lc, np.array([-5.0, -5.0, -5.0]), np.array([1, 1, 0], dtype="uint8"), None,
                    params=table.params(), amplitude_c=amp, surface=False, latent_heat_j_kg=3.34e5)  # fmt: skip
    index_cs = sinusoid_thawing_index_cdays(-5.0, amp) * 86400.0
    expected = math.sqrt(2 * 1.5 * 1.6 * index_cs / (3.34e5 * 1300.0 * (0.28 - 0.06)))
    assert out[0] == pytest.approx(expected, rel=1e-6)  # float32 output
    assert np.isnan(out[1]) and np.isnan(out[2])  # water; no permafrost


def test_alt_map_numpy_equals_dask_at_odd_chunks():
    table = _table().with_factors({2: 1.3})
    rng = np.random.default_rng(1)
    shape = (53, 71)
    lc = rng.integers(1, 9, shape).astype("uint8")
    mean = rng.uniform(-8, -1, shape).astype("float32")
    pf = (rng.random(shape) > 0.2).astype("uint8")
    magt = rng.uniform(-3, 0.5, shape).astype("float32")
    da = lambda a: xr.DataArray(a, dims=("y", "x"))  # noqa: E731
    for method in ("stefan", "kudryavtsev"):
        kw = dict(amplitude_c=13.0, surface=False, latent_heat_j_kg=3.34e5, method=method)
        eager = active_layer_map(da(lc), da(mean), da(pf), table, magt=da(magt), **kw)
        lazy = active_layer_map(
            *(da(a).chunk(17) for a in (lc, mean, pf)), table, magt=da(magt).chunk(17), **kw
        )
        assert lazy.chunks is not None
        np.testing.assert_array_equal(lazy.compute().values, eager.values)  # same kernel: bit-identical


# --- Kudryavtsev -------------------------------------------------------------------------------


def test_ttop_closed_form_equals_the_conductive_balance():
    # TTOP = (k_t I_t - k_f I_f) / (k* P), integrated by brute force over the surface sinusoid
    for mean, amp, kt, kf in [(-1.0, 15.0, 1.5, 2.1), (0.5, 12.0, 1.2, 2.0), (-4.0, 10.0, 1.0, 1.0)]:
        t = (np.arange(365_000) + 0.5) / 1000.0
        temp = mean + amp * np.cos(2 * np.pi * t / 365.0)
        it, fi = np.clip(temp, 0, None).sum() / 1000.0, np.clip(-temp, 0, None).sum() / 1000.0
        num = (kt * it - kf * fi) / 365.0
        expected = num / (kf if num < 0 else kt)
        assert ttop_c(mean, amp, kt, kf) == pytest.approx(expected, abs=1e-6)


def test_kudryavtsev_hand_computed_case():
    # A_s 15 degC, T_z -1 degC, k 1.5 W/m/K, C 2.5e6 J/m3/K, Q_L 9.5524e7 J/m3, P 3.1536e7 s, step by step:
    # Q/2C = 19.1048 ; ln(34.1048 / 18.1048) = 0.633261 ; A_z = 16 / 0.633261 - 19.1048 = 6.16124 degC
    # sqrt(k P C / pi) = 6.13542e6 ; h = sqrt(k P / (pi C)) = 2.45417 m
    # 2 A_z C + Q = 3.08062e7 + 9.5524e7 = 1.263302e8 ; Z_c = 2 x 16 x 6.13542e6 / 1.263302e8 = 1.55413 m
    # Z = Z_c (1 + Q h / ((Z_c + h)(2 A_z C + Q))) = 1.55413 x (1 + 2.34432e8 / 5.06382e8) = 1.55413 x 1.46297
    #   = 2.27364 m
    z = kudryavtsev_depth_m(15.0, -1.0, 1.5, 2.5e6, 9.5524e7)
    assert z == pytest.approx(2.27364, rel=1e-5)  # hand arithmetic kept to 6 digits
    assert np.isnan(kudryavtsev_depth_m(15.0, 0.5, 1.5, 2.5e6, 9.5524e7))  # no permafrost: undefined


def test_kudryavtsev_approaches_stefan_for_moist_soils():
    # Where latent heat dominates the sensible heat moderately (Stefan number C A / Q_L of 0.3-1.5, the
    # range of moist mineral soils) and TTOP is near 0 degC, Kudryavtsev's depth is within 10 % of
    # Stefan's with the same surface thawing index; it departs outside that range by construction
    # (it includes the heat exchanged with the frozen ground below).
    amp, k, c = 15.0, 1.5, 2.5e6
    for q in (2.5e7, 5e7, 1e8):
        ste = c * amp / q
        assert 0.3 <= ste <= 1.5
        stefan = stefan_depth_m(
            k, 1.0, cdays_to_cseconds(sinusoid_thawing_index_cdays(-0.01, amp)), 1.0, 1.0, q, 0.0
        )
        assert kudryavtsev_depth_m(amp, -0.01, k, c, q) == pytest.approx(stefan, rel=0.10)


def test_surface_wave_keeps_an_unscaled_air_wave():
    mean, amp = surface_wave(np.array([-3.0]), 13.0, np.array([1.0]))
    assert mean[0] == pytest.approx(-3.0, abs=1e-9) and amp[0] == pytest.approx(13.0, abs=1e-6)


# --- calibration -------------------------------------------------------------------------------


def test_calibration_recovers_known_factors():
    rng = np.random.default_rng(3)
    classes = np.repeat([1, 2, 3], [300, 300, 2])
    model = rng.uniform(1.0, 2.5, classes.size)
    true = {1: 1.4, 2: 1.9, 3: 1.0}
    noise = np.exp(rng.normal(0, 0.02, classes.size))  # 2 % multiplicative noise
    obs = np.array([true[c] for c in classes]) * model * noise
    fit = fit_edaphic(obs, model, classes, [1, 2, 3, 4], "per_class")
    # 300 boreholes per class: the pooling towards the overall factor (weight 3 / 303) moves ln E by
    # < 0.004 and the noise (sd 0.02 / sqrt(300)) by ~0.001, so 1 % is a safe tolerance
    assert fit.factors[1] == pytest.approx(1.4, rel=0.01)
    assert fit.factors[2] == pytest.approx(1.9, rel=0.01)
    assert fit.source[3] == "overall" and fit.factors[4] == fit.overall  # too few / none: overall
    overall = fit_edaphic(obs, model, classes, [1, 2, 3], "overall")
    assert overall.overall == pytest.approx(np.exp(np.mean(np.log(obs / model))), rel=1e-12)
    assert fit_edaphic(obs, model, classes, [1], "none").factors[1] == 1.0


def test_loo_equals_a_brute_force_loop():
    rng = np.random.default_rng(4)
    classes = np.repeat([1, 2], [5, 4])
    model = rng.uniform(1, 3, 9)
    obs = model * rng.uniform(1.2, 2.0, 9)
    loo = loo_predictions(obs, model, classes, [1, 2], "per_class")
    for i in range(9):
        keep = np.arange(9) != i
        sub_c = classes[keep][classes[keep] == classes[i]]
        ratio = np.log(obs[keep] / model[keep])
        n_c = sub_c.size
        f = (
            (n_c * ratio[classes[keep] == classes[i]].mean() + 3.0 * ratio.mean()) / (n_c + 3.0)
            if n_c >= 3
            else ratio.mean()
        )
        assert loo[i] == pytest.approx(np.exp(f) * model[i], rel=1e-12)


# --- the build stage ---------------------------------------------------------------------------


def test_stage_writes_alt_and_tables(tmp_path):
    ctx = make_world(tmp_path / "out")
    (stage,) = stages(ctx)
    assert stage.name == "active_layer/2000"
    assert set(stage.depends) == {"dem", "boreholes", "landcover/2000", "magt/2000", "geomorphology"}
    assert ctx.cfg.active_layer.calibration == "per_class_and_unit"  # the default
    files = stage.run(ctx)
    names = {p.name for p in files}
    assert {
        "alt.tif",
        "alt_calibration_2000.csv",
        "alt_cv_2000.csv",
        "metrics_active_layer_2000.json",
    } <= names
    alt = read(ctx.path("2000", "alt.tif"))
    assert tags(ctx.path("2000", "alt.tif"))["units"] == "m"
    assert np.isnan(alt[:, -2:]).all() and np.isnan(alt[0, 0])  # no permafrost; water
    assert np.nanmin(alt) > 0.5 and np.nanmax(alt) < 6.0
    cv = pd.read_csv(ctx.path("tables", "alt_cv_2000.csv"))
    assert len(cv) == 10 and {"alt_loo_m", "error_loo_m", "unit_code"} <= set(cv.columns)
    assert {f"alt_loo_{m}_m" for m in MODES} <= set(cv.columns)  # one LOOCV column per mode
    np.testing.assert_array_equal(cv["alt_loo_m"], cv["alt_loo_per_class_and_unit_m"])
    # the calibrated map at the boreholes reproduces the fitted values (same cells, same factors)
    np.testing.assert_allclose(alt[cv_rows(ctx), cv_cols(ctx)], cv["alt_fitted_m"], rtol=1e-4)


def cv_rows(ctx):
    return pd.read_csv(ctx.path("tables", "boreholes.csv"))["row"].to_numpy()


def cv_cols(ctx):
    return pd.read_csv(ctx.path("tables", "boreholes.csv"))["col"].to_numpy()


def test_kudryavtsev_stage_runs(tmp_path):
    ctx = make_world(tmp_path / "out")
    cfg = ctx.cfg.model_copy(
        update={"active_layer": ctx.cfg.active_layer.model_copy(update={"method": "kudryavtsev"})}
    )
    ctx = type(ctx)(cfg, ctx.out, ctx.gbox, ctx.chunk)
    run_active_layer(ctx, "2000")
    alt = read(ctx.path("2000", "alt.tif"))
    assert np.isfinite(alt[:, :-2][1:, :]).all()


def test_missing_station_thawing_index_is_a_config_error(tmp_path):
    ctx = make_world(tmp_path / "out", climate={"station_elevation_m": 3320.0, "station_maat_c": -2.57})
    with pytest.raises(ConfigError, match="climate.station_thawing_index_cdays"):
        run_active_layer(ctx, "2000")


def test_no_borehole_with_measured_alt_is_a_clear_error(tmp_path):
    bh = pd.DataFrame({"id": ["B1", "B2"], "row": [2, 3], "col": [2, 3], "elevation_m": [3810.0, 3815.0],
                       "magt_c": [-1.0, 0.5], "alt_m": [np.nan, 2.0], "setting": ["natural", "natural"]})  # fmt: skip
    ctx = make_world(tmp_path / "out", boreholes=bh)
    with pytest.raises(InputError) as err:
        run_active_layer(ctx, "2000")
    msg = str(err.value)
    assert "boreholes_in.csv" in msg and "field 'alt_m'" in msg and "calibration" in msg


def test_unexpected_holes_in_the_map_warn(tmp_path):
    # Kudryavtsev is undefined where TTOP is not below 0 and the mapped MAGT is not either: a
    # permafrost map that disagrees with MAGT must not become silent NaN
    ctx = make_world(tmp_path / "out")
    from pfatlas.io.cog import write_cog

    write_cog(wrap_on_grid(np.full(ctx.gbox.shape, 2.0, dtype="float32"), ctx.gbox, "magt", units="degC",
                           long_name="magt"), ctx.path("2000", "magt.tif"), gbox=ctx.gbox, units="degC",
              description="magt")  # fmt: skip
    cfg = ctx.cfg.model_copy(
        update={
            "active_layer": ctx.cfg.active_layer.model_copy(
                update={"method": "kudryavtsev", "calibration": "none"}
            ),
            "climate": ctx.cfg.climate.model_copy(
                update={"station_maat_c": 6.0, "station_thawing_index_cdays": 3000.0}
            ),
        }
    )
    ctx = type(ctx)(cfg, ctx.out, ctx.gbox, ctx.chunk)
    with pytest.warns(PfatlasWarning) as record:
        run_active_layer(ctx, "2000")
    assert any("got no ALT" in str(w.message) for w in record)


# --- calibration by geomorphology unit ---------------------------------------------------------


def _crossed_boreholes(true_class, true_unit, per_cell=60, sd=0.02, seed=5):
    """Boreholes on every (class, unit) pair, ALT_obs = E_c E_u ALT_0 x lognormal noise."""
    rng = np.random.default_rng(seed)
    pairs = [(c, u) for c in true_class for u in true_unit]
    classes = np.repeat([c for c, _ in pairs], per_cell)
    units = np.repeat([u for _, u in pairs], per_cell).astype("float64")
    model = rng.uniform(1.0, 2.5, classes.size)
    e = np.array([true_class[c] * true_unit[int(u)] for c, u in zip(classes, units, strict=True)])
    return model * e * np.exp(rng.normal(0, sd, classes.size)), model, classes, units


def test_per_class_and_unit_recovers_known_factors():
    # ln E = ln E_c + ln E_u is identifiable only up to a constant shared between the two, so the
    # products E_c E_u are compared. 180 boreholes per class and 120 per unit: the pooling (weight
    # 3) moves each effect by < 3 / 120 of its size (< 0.011 in ln E for effects of |ln E| < 0.45)
    # and the 2 % noise by ~0.002, so 2 % on the product is a safe tolerance.
    true_class, true_unit = {1: 1.3, 2: 1.8}, {0: 0.7, 1: 1.0, 2: 1.4}
    obs, model, classes, units = _crossed_boreholes(true_class, true_unit)
    fit = fit_edaphic(
        obs, model, classes, [1, 2, 3], "per_class_and_unit", units=units, unit_codes=[0, 1, 2, 4]
    )
    for c in true_class:
        for u in true_unit:
            assert fit.factor_for(c, u) == pytest.approx(true_class[c] * true_unit[u], rel=0.02)
    assert fit.source[1] == "class" and fit.unit_source[0] == "unit"
    # unit 4 has no borehole, class 3 neither: no effect of their own, i.e. the overall factor
    assert fit.unit_source[4] == "overall" and fit.unit_factors[4] == 1.0
    assert fit.factor_for(3, 4) == fit.overall and fit.factor_for(1, 4) == fit.factors[1]
    assert fit.factor_for(1, np.nan) == fit.factors[1]  # a borehole off the units map


def test_per_unit_recovers_known_factors_and_pools_like_per_class():
    true_unit = {0: 0.7, 1: 1.1, 2: 1.5}
    obs, model, classes, units = _crossed_boreholes({1: 1.0, 2: 1.0}, true_unit, per_cell=150)
    units[:2] = 3  # two boreholes on unit 3: too few for a factor of its own
    fit = fit_edaphic(obs, model, classes, [1, 2], "per_unit", units=units, unit_codes=[0, 1, 2, 3, 5])
    assert all(s == "overall" for s in fit.source.values())  # no class effect in this mode
    # 298-300 boreholes per unit: pooling shifts ln E_u by < 3/300 x 0.45, so 1 % is safe
    for u, e in true_unit.items():
        assert fit.factor_for(1, u) == pytest.approx(e, rel=0.01)
    for u in (3, 5):  # too few boreholes / none: the overall factor
        assert fit.unit_source[u] == "overall" and fit.factor_for(2, u) == fit.overall
    # with one grouping the penalised least squares has the closed form of the module docstring
    logr = np.log(obs / model)
    for u in (0, 1, 2):
        sel = units == u
        expected = (sel.sum() * logr[sel].mean() + PRIOR_BOREHOLES * logr.mean()) / (
            sel.sum() + PRIOR_BOREHOLES
        )
        assert np.log(fit.factor_for(1, u)) == pytest.approx(expected, abs=1e-12)


def test_unit_modes_need_units():
    with pytest.raises(ValueError, match="geomorphology unit"):
        fit_edaphic(np.array([2.0]), np.array([1.0]), np.array([1]), [1], "per_unit")


@pytest.mark.parametrize("mode", UNIT_MODES)
def test_loo_of_unit_modes_equals_a_brute_force_loop(mode):
    rng = np.random.default_rng(6)
    classes = np.tile([1, 2, 2], 6)
    units = np.repeat([0.0, 1.0, 2.0], 6)
    units[-1] = np.nan  # one borehole off the units map
    model = rng.uniform(1, 3, classes.size)
    obs = model * rng.uniform(1.2, 2.0, classes.size)
    loo = loo_predictions(obs, model, classes, [1, 2], mode, units=units, unit_codes=[0, 1, 2])
    for i in range(classes.size):
        keep = np.arange(classes.size) != i
        f = fit_edaphic(
            obs[keep], model[keep], classes[keep], [1, 2], mode, units=units[keep], unit_codes=[0, 1, 2]
        )
        assert loo[i] == pytest.approx(f.factor_for(classes[i], units[i]) * model[i], rel=1e-12)
    # and it differs from per-class LOO (the unit is used)
    assert not np.allclose(loo, loo_predictions(obs, model, classes, [1, 2], "per_class"))


def test_apply_unit_factors_numpy_equals_dask():
    obs, model, classes, units = _crossed_boreholes({1: 1.0}, {0: 0.8, 1: 1.2}, per_cell=10)
    fit = fit_edaphic(obs, model, classes, [1], "per_unit", units=units, unit_codes=[0, 1])
    rng = np.random.default_rng(7)
    alt = rng.uniform(1, 3, (41, 29)).astype("float32")
    unit = rng.choice(np.array([0, 1, 255], dtype="uint8"), alt.shape)
    da = lambda a: xr.DataArray(a, dims=("y", "x"), attrs={"units": "m"})  # noqa: E731
    eager = apply_unit_factors(da(alt), da(unit), fit)
    lazy = apply_unit_factors(da(alt).chunk(13), da(unit).chunk(13), fit)
    np.testing.assert_array_equal(lazy.compute().values, eager.values)
    np.testing.assert_allclose(eager.values[unit == 255], alt[unit == 255])  # no unit: multiplier 1
    assert eager.attrs["units"] == "m"


def _with_calibration(ctx, mode, **inputs):
    cfg = ctx.cfg.model_copy(
        update={
            "active_layer": ctx.cfg.active_layer.model_copy(update={"calibration": mode}),
            "inputs": ctx.cfg.inputs.model_copy(update=inputs),
        }
    )
    return type(ctx)(cfg, ctx.out, ctx.gbox, ctx.chunk)


@pytest.mark.parametrize("mode", ["per_unit", "per_class_and_unit", "per_class"])
def test_stage_map_applies_the_unit_factors(tmp_path, mode):
    # boreholes whose measured ALT carries a unit effect: the map at the boreholes must reproduce
    # the fitted values, which need the unit multipliers in the unit modes
    ctx = make_world(tmp_path / "out")
    bh = pd.read_csv(ctx.path("tables", "boreholes.csv"))
    unit = read(ctx.path("grid", "geomorphology.tif"))[bh["row"], bh["col"]]
    bh["alt_m"] = np.where(unit == 0, 1.6, 2.6) * np.linspace(0.95, 1.05, len(bh))
    bh.to_csv(ctx.path("tables", "boreholes.csv"), index=False)
    ctx = _with_calibration(ctx, mode)
    run_active_layer(ctx, "2000")
    cv = pd.read_csv(ctx.path("tables", "alt_cv_2000.csv"))
    alt = read(ctx.path("2000", "alt.tif"))
    np.testing.assert_allclose(alt[bh["row"], bh["col"]], cv["alt_fitted_m"], rtol=1e-4)  # float32 map
    np.testing.assert_array_equal(cv["alt_loo_m"], cv[f"alt_loo_{mode}_m"])
    cal = pd.read_csv(ctx.path("tables", "alt_calibration_2000.csv"))
    assert set(cal["level"]) == {"class", "unit", "all"}
    f = cal.set_index(["level", "unit_code"]).loc["unit", "edaphic_factor"]
    if mode == "per_class":
        assert (f == 1.0).all()
    else:  # shallower unit 0 than unit 1 (unit 2 has < 3 boreholes: multiplier 1)
        assert f.loc[0] < f.loc[1]


def test_unit_mode_without_geomorphology_is_a_config_error(tmp_path):
    ctx = _with_calibration(make_world(tmp_path / "out"), "per_unit", geomorphology=None)
    assert "geomorphology" not in stages(ctx)[0].depends
    with pytest.raises(ConfigError, match="active_layer.calibration"):
        run_active_layer(ctx, "2000")
    ctx = _with_calibration(ctx, "per_class", geomorphology=None)
    run_active_layer(ctx, "2000")  # per class needs no units; no unit-mode LOOCV column then
    cv = pd.read_csv(ctx.path("tables", "alt_cv_2000.csv"))
    assert "alt_loo_per_class_m" in cv and "alt_loo_per_unit_m" not in cv
