"""Ground ice (SPEC stage 9): window integrals, GB 50324-2014 classes, per-unit statistics, stage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pfatlas.build.stage_activelayer import run_active_layer
from pfatlas.build.stage_groundice import stages
from pfatlas.errors import InputError, PfatlasWarning
from pfatlas.groundice.classes import SOILS, ice_class_code
from pfatlas.groundice.profile import ProfileSet, ground_ice_block, window_mean
from pfatlas.groundice.stratigraphy import profile_from_samples, sample_ice, unit_profiles
from test_activelayer import make_world, read, tags

RHO_ICE = 917.0


def _logs(rows):
    return pd.DataFrame(
        rows, columns=["borehole_id", "top_m", "bottom_m", "soil", "water_content_pct", "dry_density_kg_m3"]
    )


def test_integral_against_a_hand_computed_profile():
    # One log, table at 1.5 m: silt 0-3 m (w 40 %, rho 1400), gravel 3-8 m (w 15 %, 1900), bedrock below
    # (w 5 %, 2400). theta = (w - w_u) rho_d / 917 with w_u silt 0.06, gravel 0.01, bedrock 0.005:
    #   silt    (0.40 - 0.06) x 1400 / 917 = 0.519084
    #   gravel  (0.15 - 0.01) x 1900 / 917 = 0.290076
    #   bedrock (0.05 - 0.005) x 2400 / 917 = 0.117775
    # Window 2.0 .. 12.0 m: 1 m silt + 5 m gravel + 4 m bedrock
    #   = (0.519084 + 1.450380 + 0.471100) / 10 = 0.244056 m3 m-3
    logs = _logs([("A", 0.0, 3.0, "silt", 40.0, 1400.0), ("A", 3.0, 8.0, "gravel", 15.0, 1900.0),
                  ("A", 8.0, 20.0, "bedrock", 5.0, 2400.0)])  # fmt: skip
    prof = profile_from_samples(sample_ice(logs, RHO_ICE), {"A": 1.5})
    assert window_mean(prof, 2.0, 10.0) == pytest.approx(0.244056, abs=2e-6)  # 6-digit hand arithmetic
    # above the table the profile takes the nearest frozen bin (silt): window 0.5 .. 10.5
    #   = (2.5 x 0.519084 + 5 x 0.290076 + 2.5 x 0.117775) / 10 = 0.304253
    assert window_mean(prof, 0.5, 10.0) == pytest.approx(0.304253, abs=2e-6)


def test_two_logs_average_by_overlap():
    logs = _logs([("A", 0.0, 20.0, "silt", 30.0, 1400.0), ("B", 0.0, 20.0, "silt", 50.0, 1400.0)])
    prof = profile_from_samples(sample_ice(logs, RHO_ICE), {"A": 2.0, "B": 2.0})
    expected = ((0.30 - 0.06) + (0.50 - 0.06)) / 2 * 1400 / RHO_ICE
    assert window_mean(prof, 3.0, 10.0) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize(
    "soil, w, code",
    [("gravel", 9.99, 1), ("gravel", 10.0, 2), ("gravel", 25.0, 4), ("gravel", 44.0, 5), ("sand", 17.9, 2),
     ("sand", 18.0, 3), ("silt", 31.9, 3), ("silt", 32.0, 4), ("clay", 19.9, 1), ("clay", 24.0, 3),
     ("clay", 55.0, 5), ("peat", 20.0, 2), ("bedrock", 5.0, 1), ("ice", 1.0, 5)],
)  # fmt: skip
def test_gb50324_classes_at_the_breaks(soil, w, code):
    assert ice_class_code(np.array([SOILS.index(soil)]), np.array([w]))[0] == code


def test_block_non_permafrost_and_nodata():
    logs = _logs([("A", 0.0, 20.0, "silt", 30.0, 1400.0)])
    prof = profile_from_samples(sample_ice(logs, RHO_ICE), {"A": 1.0})
    out = ground_ice_block(np.zeros((1, 3), "uint8"), np.array([[2.0, 2.0, np.nan]]), np.array([[1, 0, 1]], "uint8"),
                           profiles=ProfileSet({0: prof}, prof), depth_m=10.0, cell_area_m2=900.0)  # fmt: skip
    theta = (0.30 - 0.06) * 1400 / RHO_ICE
    assert out[0, 0, 0] == pytest.approx(theta, rel=1e-6)
    assert out[1, 0, 0] == pytest.approx(theta * 10 * 900, rel=1e-6)  # m3 per 30 m cell
    assert out[2, 0, 0] == 3  # silt, 30 %: ice-rich (21..32)
    assert np.isnan(out[0, 0, 1]) and out[1, 0, 1] == 0 and out[2, 0, 1] == 0  # no permafrost
    assert np.isnan(out[0, 0, 2]) and out[2, 0, 2] == 255  # permafrost without ALT: unknown


def test_unit_without_log_falls_back_with_a_warning_naming_it():
    logs = _logs([("A", 0.0, 20.0, "silt", 30.0, 1400.0), ("B", 0.0, 20.0, "gravel", 12.0, 1900.0)])
    samples = sample_ice(logs, RHO_ICE)
    with pytest.warns(PfatlasWarning, match="'moraine'"):
        ps, table = unit_profiles(
            samples, {"A": 0, "B": 1}, {"A": 1.0, "B": 1.0}, {0: "plain", 1: "slope", 2: "moraine"}
        )
    assert 2 not in ps.profiles and ps.for_code(2) is ps.fallback
    assert table.set_index("unit").loc["moraine", "profile_source"] == "all logs (fallback)"
    both = ((0.30 - 0.06) * 1400 + (0.12 - 0.01) * 1900) / 2 / RHO_ICE
    assert window_mean(ps.for_code(2), 2.0, 10.0) == pytest.approx(both, rel=1e-9)


def test_blank_water_content_allowed_for_bedrock_only():
    ok = sample_ice(_logs([("A", 5.0, 9.0, "bedrock", np.nan, np.nan)]), RHO_ICE)
    assert ok["theta_i"].iloc[0] == 0.0 and ok["rho_d"].iloc[0] == 2400.0  # ice-free, typical density
    with pytest.raises(InputError) as err:
        sample_ice(_logs([("A", 0.0, 1.0, "silt", 20.0, 1400.0), ("A", 1.0, 3.0, "silt", np.nan, 1400.0)]),
                   RHO_ICE, path="logs.csv")  # fmt: skip
    msg = str(err.value)
    assert "logs.csv" in msg and "row 3" in msg and "field 'water_content_pct'" in msg


def test_stage_writes_layers_and_tables(tmp_path):
    ctx = make_world(tmp_path / "out")
    run_active_layer(ctx, "2000")
    (stage,) = stages(ctx)
    assert set(stage.depends) == {"active_layer/2000", "geomorphology", "boreholes", "magt/2000"}
    with pytest.warns(PfatlasWarning, match="'moraine'"):  # no borehole of the tiny world is in it
        files = stage.run(ctx)
    assert {"ground_ice.tif", "ice_volume.tif", "ice_class.tif", "ground_ice_units_2000.csv",
            "ground_ice_totals_2000.csv", "metrics_ground_ice_2000.json"} <= {p.name for p in files}  # fmt: skip
    theta, vol, cls = (read(ctx.path("2000", f"{n}.tif")) for n in ("ground_ice", "ice_volume", "ice_class"))
    alt = read(ctx.path("2000", "alt.tif"))
    assert np.isnan(theta[:, -2:]).all() and (vol[:, -2:] == 0).all() and (cls[:, -2:] == 0).all()
    ok = np.isfinite(alt)
    assert np.isfinite(theta[ok]).all() and ((theta[ok] > 0.05) & (theta[ok] < 0.6)).all()
    np.testing.assert_allclose(vol[ok], theta[ok] * 10.0 * 900.0, rtol=1e-5)
    assert "CLASS_NAMES" in tags(ctx.path("2000", "ice_class.tif"))
    units = pd.read_csv(ctx.path("tables", "ground_ice_units_2000.csv"))
    assert units["ice_volume_m3"].sum() == pytest.approx(np.nansum(vol), rel=1e-6)


def test_numpy_equals_dask_at_odd_chunks(tmp_path):
    import xarray as xr

    from pfatlas.build.stage_groundice import ground_ice_layers

    logs = _logs([("A", 0.0, 4.0, "silt", 35.0, 1400.0), ("A", 4.0, 30.0, "gravel", 14.0, 1900.0)])
    prof = profile_from_samples(sample_ice(logs, RHO_ICE), {"A": 1.2})
    rng = np.random.default_rng(2)
    unit = rng.integers(0, 3, (41, 59)).astype("uint8")
    alt = rng.uniform(1, 4, (41, 59))
    pf = (rng.random((41, 59)) > 0.3).astype("uint8")
    da = lambda a: xr.DataArray(a, dims=("y", "x"))  # noqa: E731
    ps = ProfileSet({1: prof}, prof)
    eager = ground_ice_layers(da(unit), da(alt), da(pf), ps, depth_m=10.0, cell_area_m2=900.0)
    lazy = ground_ice_layers(
        da(unit).chunk(13), da(alt).chunk(13), da(pf).chunk(13), ps, depth_m=10.0, cell_area_m2=900.0
    )
    for e, lz in zip(eager, lazy, strict=True):
        np.testing.assert_array_equal(lz.compute().values, e.values)
