"""Tests of the virtual-Muli ground truth, mining impact, boreholes and logs (SYNTHETIC).

The worlds are built here, small and coarse (150 m cells over ~44 x 33 km for the regional
statistics, 30 m cells over 6 x 6 km for mining), with land cover and units independent of
elevation so the regressions isolate the effects they test.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.integrate import quad

from pfatlas.errors import InputError
from pfatlas.grid import grid_from_bbox
from pfatlas.synth import ground as g
from pfatlas.synth import mining as mm
from pfatlas.synth.ground import UNIT_NAMES, ground_truth, make_boreholes, make_logs, mining_truth

BBOX = (99.0, 37.9, 99.5, 38.2)


def _centres(gbox):
    a = gbox.affine
    ny, nx = gbox.shape
    return a.c + a.a * (np.arange(nx) + 0.5), a.f + a.e * (np.arange(ny) + 0.5)


def _slope_aspect(elev, cell):
    gy, gx = np.gradient(elev.astype(np.float64), cell)
    gy = -gy  # rows run south
    slope = np.rad2deg(np.arctan(np.hypot(gx, gy))).astype(np.float32)
    aspect = (np.rad2deg(np.arctan2(-gx, -gy)) % 360).astype(np.float32)
    aspect[slope < 0.5] = np.nan
    return slope, aspect


def _world(resolution=150.0, bbox=BBOX, seed=5):
    gbox = grid_from_bbox(bbox, resolution)
    x, y = _centres(gbox)
    ny, nx = gbox.shape
    xx, yy = np.meshgrid((x - x[0]) / (x[-1] - x[0]), (y - y[-1]) / (y[0] - y[-1]))
    elev = (3550.0 + 900.0 * (0.6 * xx + 0.4 * yy) + 60.0 * np.sin(xx * 40) * np.cos(yy * 25)).astype(
        np.float32
    )
    slope, aspect = _slope_aspect(elev, resolution)
    rng = np.random.default_rng(seed)
    # land cover and units in 1.5 km blocks, independent of elevation
    blk = max(1, int(1500 / resolution))
    nby, nbx = -(-ny // blk), -(-nx // blk)
    lc = np.repeat(np.repeat(rng.choice([1, 2, 3, 4], (nby, nbx)), blk, 0), blk, 1)[:ny, :nx].astype(np.uint8)
    units = np.repeat(np.repeat(rng.integers(0, 6, (nby, nbx)), blk, 0), blk, 1)[:ny, :nx].astype(np.uint8)
    lc[ny // 2, :] = 5  # a river
    return dict(
        gbox=gbox, x=x, y=y, elevation=elev, slope_deg=slope, aspect_deg=aspect, landcover=lc, units=units
    )


def _truth(w, seed=0):
    keys = ("elevation", "slope_deg", "aspect_deg", "landcover", "units", "x", "y")
    return ground_truth(**{k: w[k] for k in keys}, seed=seed)


@pytest.fixture(scope="module")
def world():
    return _world()


@pytest.fixture(scope="module")
def pre(world):
    return _truth(world)


@pytest.fixture(scope="module")
def mworld():
    """A 30 m world of ~6 x 6 km with a pit (lake-free), a pit lake, a dump and a future dump."""
    w = _world(30.0, (99.30, 38.00, 99.37, 38.055))
    ny, nx = w["gbox"].shape
    rr, cc = np.mgrid[0:ny, 0:nx]

    def disc(r0, c0, rad):
        return (rr - r0) ** 2 + (cc - c0) ** 2 <= rad**2

    feats = [
        dict(kind="pit", start_year=2005, depth_m=100.0, height_m=None, pit_lake=False, name="pit A"),
        dict(kind="pit", start_year=2008, depth_m=60.0, height_m=None, pit_lake=True, name="pit B"),
        dict(kind="dump", start_year=2006, depth_m=None, height_m=50.0, pit_lake=False, name="dump A"),
        dict(kind="dump", start_year=2030, depth_m=None, height_m=40.0, pit_lake=False, name="dump future"),
    ]
    masks = [
        disc(ny // 3, nx // 3, 20),
        disc(ny // 3, 2 * nx // 3, 15),
        disc(2 * ny // 3, nx // 3, 25),
        disc(2 * ny // 3, 2 * nx // 3, 15),
    ]
    w["landcover"] = np.where(w["landcover"] == 5, 2, w["landcover"]).astype(np.uint8)
    pre = _truth(w)
    post = mining_truth(pre, features=feats, feature_masks=masks, epoch_year=2020, cellsize=30.0, seed=0)
    lc_post = w["landcover"].copy()
    for f, m in zip(feats[:3], masks[:3], strict=True):
        lc_post[m] = 5 if f["pit_lake"] else (6 if f["kind"] == "pit" else 7)
    return dict(w=w, pre=pre, post=post, feats=feats, masks=masks, lc_post=lc_post)


# --- MAGT ------------------------------------------------------------------------------------------
def test_magt_lapse_recovered(world, pre):
    land = (world["landcover"] != 5) & np.isfinite(pre["magt"])
    north = np.sin(np.deg2rad(world["slope_deg"])) * np.cos(np.deg2rad(np.nan_to_num(world["aspect_deg"])))
    cols = [np.ones(land.sum()), world["elevation"][land], north[land]]
    cols += [(world["landcover"][land] == k).astype(float) for k in (1, 3, 4)]
    coef = np.linalg.lstsq(np.column_stack(cols), pre["magt"][land].astype(np.float64), rcond=None)[0]
    # the residual (0.29 degC, correlation 3 km) over ~15 x 11 correlation lengths and a 900 m
    # relief leaves a standard error of ~0.05 degC/km on the lapse: 0.25 degC/km is ~5 sigma;
    # the talik warming of the river banks is a small, elevation-independent extra
    assert coef[1] * 1000 == pytest.approx(-3.82, abs=0.25)
    # anchor: about -1.7 degC at 4130 m under meadow on flat ground (residual mean over the area
    # is within ~0.15 degC of 0)
    assert coef[0] + coef[1] * 4130 == pytest.approx(-1.7, abs=0.2)


def test_residual_std_correlated_not_lonlat(world, pre):
    r = pre["_magt_residual"].astype(np.float64)
    # nominal sqrt(0.25^2 + 0.15^2) = 0.29 degC; a finite area under-samples the largest scales
    assert 0.2 <= np.nanstd(r) <= 0.4

    # variogram rises from 150 m to 3 km lags (correlated, not white)
    def gamma(lag):
        return 0.5 * np.nanmean((r[:, lag:] - r[:, :-lag]) ** 2)

    assert gamma(20) > 1.5 * gamma(1)
    # not explained by a linear function of x, y (the six factors include lon and lat)
    xx, yy = np.meshgrid(world["x"], world["y"])
    ok = np.isfinite(r)
    a = np.column_stack([np.ones(ok.sum()), xx[ok], yy[ok]])
    fit = a @ np.linalg.lstsq(a, r[ok], rcond=None)[0]
    r2 = 1 - np.sum((r[ok] - fit) ** 2) / np.sum((r[ok] - r[ok].mean()) ** 2)
    assert r2 < 0.1
    # the residual really is in the MAGT: MAGT minus its deterministic part (away from the river)
    far = np.abs(np.arange(r.shape[0]) - r.shape[0] // 2)[:, None] > 5
    det = (
        g.MAGT_ANCHOR
        + g.MAGT_LAPSE * (world["elevation"] - g.MAGT_ANCHOR_ELEV)
        + g.MAGT_COVER_OFFSET[world["landcover"]]
        - g.ASPECT_AMPLITUDE
        * np.nan_to_num(np.sin(np.deg2rad(world["slope_deg"])) * np.cos(np.deg2rad(world["aspect_deg"])))
    )
    np.testing.assert_allclose((pre["magt"] - det)[far & ok], r[far & ok], atol=1e-4)  # float32 rounding


def test_field_is_a_function_of_map_coordinates():
    x = np.arange(0.0, 6000.0, 30.0) + 400_000.0
    y = np.arange(4_200_000.0, 4_194_000.0, -30.0)
    ss = g.sub_seed(3, 0)
    full = g.spectral_random_field(x, y, length=3000.0, seed=ss)
    part = g.spectral_random_field(x[50:120], y[20:90], length=3000.0, seed=g.sub_seed(3, 0))
    np.testing.assert_allclose(part, full[20:90, 50:120], atol=1e-5)  # float32 matmul sums


def test_permafrost_lower_limit(world, pre):
    land = (world["landcover"] != 5) & np.isfinite(pre["magt"])
    edges = np.arange(3550.0, 4450.0, 25.0)
    frac = np.array(
        [
            np.mean(pre["permafrost"][land & (world["elevation"] >= e) & (world["elevation"] < e + 25)] == 1)
            for e in edges
        ]
    )
    limit = edges[np.argmax(frac >= 0.5)] + 12.5
    assert 3650.0 <= limit <= 3750.0  # Cheng et al. 2013; Wu et al. 2009
    assert (pre["permafrost"][world["landcover"] == 5] == 0).all()  # taliks under water
    np.testing.assert_array_equal(pre["permafrost"] == 1, pre["magt"] < 0)


def test_thermal_stability_matches_breaks(pre):
    m, s = pre["magt"], pre["thermal_stability"]
    ok = np.isfinite(m)
    expect = np.select([m < -5, m < -3, m < -1.5, m < -0.5, m < 0], [1, 2, 3, 4, 5], 6)
    np.testing.assert_array_equal(s[ok], expect[ok])


# --- ALT and ice ---------------------------------------------------------------------------------
def test_alt_range(pre):
    a = pre["alt"]
    np.testing.assert_array_equal(np.isfinite(a), pre["permafrost"] == 1)
    p5, p50, p95 = np.nanpercentile(a, [5, 50, 95])
    # Qilian GPR ALT 1.07-4.88 m (median 2.61, Liu et al. 2022 compile); upper Heihe 1.6-4 m
    assert 1.0 <= p5 and p95 <= 5.0
    assert 1.5 <= p50 <= 4.0


def test_stefan_single_layer_is_classic():
    n = 3
    soil = np.full(n, g.SILT, dtype=np.int8)
    layer = (np.zeros(n), np.full(n, np.inf), soil, np.zeros(n, np.float32), np.full(n, np.nan, np.float32))
    sat = np.full(n, 0.5)
    i_s = np.array([5e7, 1e8, 2e8])  # [degC s]
    wa, rho = g.active_water(soil, sat, np.full(n, np.nan))
    lv = g.L_FUSION * rho * (wa - g.SOIL_WU1[soil])
    k = g.SOIL_K_DRY[soil] + (g.SOIL_K_WET[soil] - g.SOIL_K_DRY[soil]) * sat
    np.testing.assert_allclose(g.stefan_multilayer(i_s, [layer], sat), np.sqrt(2 * k * i_s / lv), rtol=1e-6)
    # splitting the same soil into two layers does not change the front
    top = (np.zeros(n), np.full(n, 0.7), soil, layer[3], layer[4])
    bot = (np.full(n, 0.7), np.full(n, np.inf), soil, layer[3], layer[4])
    np.testing.assert_allclose(
        g.stefan_multilayer(i_s, [top, bot], sat), np.sqrt(2 * k * i_s / lv), rtol=1e-6
    )


def test_air_thawing_index_by_quadrature():
    for m, a in ((-2.57, 13.0), (-8.0, 13.0), (1.0, 9.0)):
        ref = quad(lambda t, m=m, a=a: max(m + a * np.cos(2 * np.pi * t / 365.0), 0.0), 0, 365.0, limit=200)[
            0
        ]
        assert g.air_thawing_index(m, a) == pytest.approx(ref, rel=1e-6)
    assert float(_truth(_world(600.0))["_station_thawing_index_cdays"]) == pytest.approx(
        g.station_thawing_index()
    )


def test_ground_ice_band(world, pre):
    gi = pre["ground_ice"]
    pf = pre["permafrost"] == 1
    np.testing.assert_array_equal(np.isfinite(gi), pf)
    # Wang S. et al. 2017, Yellow River source, 3-10 m: 0.293 +- 0.107 m3 m-3
    assert 0.18 <= np.nanmean(gi) <= 0.40
    assert np.nanmin(gi) >= 0 and np.nanmax(gi) < 0.9
    area = abs(np.diff(world["x"][:2])[0] * np.diff(world["y"][:2])[0])
    np.testing.assert_allclose(pre["ice_volume"][pf], gi[pf] * 10.0 * area, rtol=1e-6)
    assert (pre["ice_class"][~pf & np.isfinite(pre["magt"])] == 0).all()
    assert set(np.unique(pre["ice_class"][pf])) <= {1, 2, 3, 4, 5}
    # marsh lowland is icier than bedrock hills
    assert np.nanmean(gi[world["units"] == 1]) > np.nanmean(gi[world["units"] == 5]) + 0.1


def test_ice_class_breaks_gb50324():
    w = np.array([9.9, 10.0, 14.9, 15.0, 24.9, 25.0, 43.9, 44.0], dtype=np.float32)
    np.testing.assert_array_equal(g.ice_class_from_water(w, np.zeros(8, np.int8)), [1, 2, 2, 3, 3, 4, 4, 5])
    np.testing.assert_array_equal(
        g.ice_class_from_water(np.float32([16.9, 17.0, 32.0]), np.full(3, 3)), [1, 2, 4]
    )


def test_determinism(world, pre):
    again = _truth(world, seed=0)
    for k, v in pre.items():
        np.testing.assert_array_equal(np.asarray(v), np.asarray(again[k]), err_msg=k)
    other = _truth(world, seed=1)
    assert not np.allclose(other["_magt_residual"], pre["_magt_residual"], equal_nan=True)
    ss = np.random.SeedSequence(7)
    a = _truth(world, seed=ss)["magt"]
    np.testing.assert_array_equal(a, _truth(world, seed=ss)["magt"])  # a SeedSequence is not consumed


# --- mining --------------------------------------------------------------------------------------
@pytest.mark.parametrize("depth", [15.0, 50.0, 150.0])
def test_kernel_disc_centreline(depth):
    cell, a = 10.0, 300.0
    n = 2 * int(1200 / cell) + 1
    c = (np.arange(n) - n // 2) * cell
    xx, yy = np.meshgrid(c, c)
    disc = (np.hypot(xx, yy) <= a).astype(float)
    got = mm.surface_response(disc, depth=depth, cellsize=cell, radius=1200.0)[n // 2, n // 2]
    # rasterising the disc moves its edge by < cell / 2, which changes z / sqrt(z^2 + a^2) by
    # at most z a / (z^2 + a^2)^1.5 * 5 m <= 0.005
    assert got == pytest.approx(mm.disc_centreline(1.0, a, depth), abs=0.005)


def test_mining_delta_zero_far_and_largest_inside(mworld):
    pre, post, masks = mworld["pre"], mworld["post"], mworld["masks"]
    d = post["mining_delta_magt"]
    inside = masks[0] | masks[1] | masks[2]
    from scipy.ndimage import distance_transform_edt

    dist = distance_transform_edt(~inside) * 30.0
    far = dist > mm.KERNEL_RADIUS
    assert (d[far] == 0).all()
    for k in ("magt", "alt", "ground_ice", "ice_volume", "ice_class", "permafrost"):
        np.testing.assert_array_equal(post[k][far], pre[k][far], err_msg=k)
    assert np.nanmax(d[inside]) > np.nanmax(np.abs(d[~inside]))  # largest inside the features
    for m in masks[:3]:  # and, feature by feature, inside versus its own surroundings
        near = ~inside & (distance_transform_edt(~m) * 30.0 <= mm.KERNEL_RADIUS)
        assert np.nanmean(d[m]) > np.nanmax(np.abs(d[near]))
    # the future dump changes nothing
    assert (post["mining_zone"][masks[3]] == 0).all() and (d[masks[3]] == 0).all()
    zone = post["mining_zone"]
    assert (zone[masks[0]] == 1).all() and (zone[masks[2]] == 2).all()
    ring = zone == 3
    assert ring.any() and (np.abs(d[ring]) > mm.RING_THRESHOLD).all() and not (ring & inside).any()
    assert dist[ring].max() <= 300.0  # the ring is tens of metres to a few cells wide


def test_mining_pit_centre_analytic(mworld):
    """Centre of pit A: dT_s erfc + G d erf, times the truncated-kernel weight of its disc."""
    post, pre, f = mworld["post"], mworld["pre"], mworld["feats"][0]
    rng = np.random.default_rng(g.sub_seed(0, 10))
    dts = mm.PIT_FLOOR_DTS + rng.normal(0, mm.DTS_JITTER, 4)[0]
    e_c, e_f = mm._transient(2020 - f["start_year"])
    ny, nx = post["magt"].shape
    r0, c0 = ny // 3, nx // 3
    weight = mm.disc_centreline(1.0, 20.5 * 30.0, mm.ZAA_DEPTH)  # disc of 20 cells, equal-area radius
    expect = dts * e_c * weight + mm.GEOTHERMAL_GRADIENT * f["depth_m"] * e_f
    # the raster disc differs from the analytic one by < 0.5 cell at its edge: < 0.002 degC here
    assert post["mining_delta_magt"][r0, c0] == pytest.approx(expect, abs=0.01)
    assert post["magt"][r0, c0] == pytest.approx(pre["magt"][r0, c0] + expect, abs=0.01)


def test_mining_post_layers(mworld):
    post, masks = mworld["post"], mworld["masks"]
    lake = masks[1]
    assert (post["magt"][lake] > 0).all()  # a pit lake 12 years old makes a talik
    assert np.isnan(post["alt"][lake]).all()
    dump = masks[2] & (post["permafrost"] == 1)
    assert dump.any()
    assert (post["alt"][dump] > 1.0).all() and (post["alt"][dump] < 8.0).all()
    np.testing.assert_array_equal(np.isfinite(post["ground_ice"]), post["permafrost"] == 1)
    assert set(np.unique(post["mining_zone"])) <= {0, 1, 2, 3}


def test_mining_bad_feature_errors(mworld):
    pre, masks = mworld["pre"], mworld["masks"]
    good = dict(kind="pit", start_year=2005, depth_m=80.0, pit_lake=False, name="p")
    cases = [
        (dict(good, kind="quarry"), "kind"),
        (dict(good, depth_m=None), "depth_m"),
        (dict(good, start_year="2005"), "start_year"),
        (dict(good, kind="dump", height_m=-3.0), "height_m"),
    ]
    for feat, field in cases:
        with pytest.raises(InputError) as e:
            mining_truth(
                pre, features=[good, feat], feature_masks=masks[:2], epoch_year=2020, cellsize=30.0, seed=0
            )
        assert e.value.row == 2 and e.value.field == field
        assert "row 2" in str(e.value) and field in str(e.value)
    with pytest.raises(InputError, match="feature_masks"):
        mining_truth(pre, features=[good], feature_masks=masks[:2], epoch_year=2020, cellsize=30.0, seed=0)


def test_ground_truth_bad_input_errors(world):
    keys = ("elevation", "slope_deg", "aspect_deg", "landcover", "units", "x", "y")
    base = {k: world[k] for k in keys}
    bad_lc = world["landcover"].copy()
    bad_lc[3, 4] = 9
    with pytest.raises(InputError, match=r"field 'landcover'.*code 9 at row 3, column 4"):
        ground_truth(**dict(base, landcover=bad_lc), seed=0)
    with pytest.raises(InputError, match="field 'units'"):
        ground_truth(**dict(base, units=world["units"] + 10), seed=0)
    with pytest.raises(InputError, match="field 'slope_deg'"):
        ground_truth(**dict(base, slope_deg=world["slope_deg"][:-1]), seed=0)
    with pytest.raises(InputError, match="field 'x'"):
        ground_truth(**dict(base, x=world["x"][:-1]), seed=0)


# --- boreholes and logs --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def boreholes(mworld):
    w, pre, post = mworld["w"], mworld["pre"], mworld["post"]
    return make_boreholes(
        pre,
        post,
        landcover_pre=w["landcover"],
        landcover_post=mworld["lc_post"],
        elevation=w["elevation"],
        units=w["units"],
        gbox=w["gbox"],
        features=mworld["feats"],
        seed=0,
    )


def test_borehole_counts_and_columns(mworld, boreholes):
    train, val = boreholes
    cols = ["id", "lon", "lat", "elevation_m", "magt_c", "alt_m", "year", "setting"]
    assert list(train.columns) == cols and list(val.columns) == cols
    nat = train[train.setting == "natural"]
    assert len(nat) == 20 and len(val) == 10  # small grid: 20 + 10 (at least 15 natural)
    mined = train[train.setting != "natural"]
    assert 1 <= len(mined) <= 4 and set(mined.setting) <= {"pit", "dump"}
    assert (
        (mined.year == 2020).all()
        and nat.year.between(2000, 2012).all()
        and val.year.between(2000, 2012).all()
    )
    ids = pd.concat([train.id, val.id])
    assert ids.is_unique
    gb = mworld["w"]["gbox"]
    from pyproj import Transformer

    xs, ys = (
        np.array([gb.extent.boundingbox[i] for i in (0, 2, 0, 2)]),
        np.array([gb.extent.boundingbox[i] for i in (1, 1, 3, 3)]),
    )
    lon, lat = Transformer.from_crs("EPSG:32647", "EPSG:4326", always_xy=True).transform(xs, ys)
    lon0, lat0, lon1, lat1 = lon.min() - 0.01, lat.min() - 0.01, lon.max() + 0.01, lat.max() + 0.01
    both = pd.concat([train, val])
    assert both.lon.between(lon0, lon1).all() and both.lat.between(lat0, lat1).all()
    # noise: MAGT 0.15 degC and elevation 1 m (1 sigma): all within 5 sigma of the truth
    logs_pre = mworld["pre"]
    rows, cols_ = _cells(both[both.setting == "natural"], logs_pre)
    assert np.all(np.abs(both[both.setting == "natural"].magt_c - logs_pre["magt"][rows, cols_]) < 0.75)
    assert np.all(
        np.abs(both[both.setting == "natural"].elevation_m - mworld["w"]["elevation"][rows, cols_]) < 5
    )


def _cells(df, pre):
    from pyproj import Transformer

    x, y = Transformer.from_crs("EPSG:4326", "EPSG:32647", always_xy=True).transform(
        df.lon.to_numpy(), df.lat.to_numpy()
    )
    col = np.rint((x - pre["_x"][0]) / (pre["_x"][1] - pre["_x"][0])).astype(int)
    row = np.rint((y - pre["_y"][0]) / (pre["_y"][1] - pre["_y"][0])).astype(int)
    return row, col


def test_boreholes_deterministic(mworld, boreholes):
    again = make_boreholes(
        mworld["pre"],
        mworld["post"],
        landcover_pre=mworld["w"]["landcover"],
        landcover_post=mworld["lc_post"],
        elevation=mworld["w"]["elevation"],
        units=mworld["w"]["units"],
        gbox=mworld["w"]["gbox"],
        features=mworld["feats"],
        seed=0,
    )
    pd.testing.assert_frame_equal(again[0], boreholes[0])
    pd.testing.assert_frame_equal(again[1], boreholes[1])


def test_logs_layers(mworld, boreholes):
    both = pd.concat(boreholes, ignore_index=True)
    logs = make_logs(both, mworld["pre"], mworld["w"]["units"], UNIT_NAMES, 0)
    assert list(logs.columns) == [
        "borehole_id",
        "top_m",
        "bottom_m",
        "soil",
        "water_content_pct",
        "dry_density_kg_m3",
    ]
    nat = set(both.id[both.setting == "natural"])
    assert set(logs.borehole_id) == nat
    assert (logs.top_m < logs.bottom_m).all()
    assert set(logs.soil) <= {"gravel", "sand", "silt", "clay", "peat", "bedrock", "ice"}
    assert (logs.water_content_pct > 0).all() and logs.dry_density_kg_m3.between(100, 2800).all()
    for _, lg in logs.groupby("borehole_id"):
        top, bot = lg.top_m.to_numpy(), lg.bottom_m.to_numpy()
        assert top[0] == 0.0 and np.all(top[1:] == bot[:-1])  # contiguous, never overlapping
        assert 15.0 <= bot[-1] <= 20.0
    again = make_logs(both, mworld["pre"], mworld["w"]["units"], UNIT_NAMES, 0)
    pd.testing.assert_frame_equal(logs, again)


def test_logs_bad_input_errors(mworld, boreholes):
    both = pd.concat(boreholes, ignore_index=True)
    off = both.copy()
    off.loc[2, "lon"] = 101.0
    with pytest.raises(InputError) as e:
        make_logs(off, mworld["pre"], mworld["w"]["units"], UNIT_NAMES, 0)
    assert e.value.row == 3 and e.value.field == "lon" and "outside the grid" in str(e.value)
    with pytest.raises(InputError, match=r"row 2, field 'unit_names'.*'swamp'"):
        make_logs(both, mworld["pre"], mworld["w"]["units"], ["alluvial plain", "swamp"], 0)
    txt = both.copy()
    txt["lat"] = txt["lat"].astype(object)
    txt.loc[0, "lat"] = "n/a"
    with pytest.raises(InputError, match=r"row 1, field 'lat'"):
        make_logs(txt, mworld["pre"], mworld["w"]["units"], UNIT_NAMES, 0)


def test_remaining_bad_input_errors(world, mworld, boreholes):
    """Every other bad-input error names its field (and row where there is one)."""
    keys = ("elevation", "slope_deg", "aspect_deg", "landcover", "units", "x", "y")
    base = {k: world[k] for k in keys}
    x_nan = world["x"].copy()
    x_nan[3] = np.nan
    with pytest.raises(InputError, match="field 'x'.*NaN"):
        ground_truth(**dict(base, x=x_nan), seed=0)
    with pytest.raises(InputError, match="field 'elevation'.*2-D"):
        ground_truth(**dict(base, elevation=world["elevation"].ravel()), seed=0)
    pre, masks = mworld["pre"], mworld["masks"]
    good = dict(kind="pit", start_year=2005, depth_m=80.0, pit_lake=False, name="p")
    for feat, mask, field in (
        (dict(good, pit_lake="yes"), masks[0], "pit_lake"),
        (good, masks[0].astype(np.uint8), "feature_masks"),
        (["pit"], masks[0], "features"),
    ):
        with pytest.raises(InputError) as e:
            mining_truth(pre, features=[feat], feature_masks=[mask], epoch_year=2020, cellsize=30.0, seed=0)
        assert e.value.row == 1 and e.value.field == field and field in str(e.value)
    with pytest.raises(InputError, match="field 'cellsize'"):
        mining_truth(pre, features=[good], feature_masks=masks[:1], epoch_year=2020, cellsize=0.0, seed=0)
    w, post = mworld["w"], mworld["post"]
    kw = dict(
        landcover_pre=w["landcover"],
        landcover_post=mworld["lc_post"],
        elevation=w["elevation"],
        units=w["units"],
        gbox=w["gbox"],
        features=mworld["feats"],
        seed=0,
    )
    with pytest.raises(InputError, match="field 'units'"):
        make_boreholes(pre, post, **dict(kw, units=w["units"][1:]))
    with pytest.raises(InputError, match="field 'landcover_pre'.*natural borehole"):
        make_boreholes(pre, post, **dict(kw, landcover_pre=np.full_like(w["landcover"], 5)))
    both = pd.concat(boreholes, ignore_index=True)
    with pytest.raises(InputError, match="field 'setting'.*missing"):
        make_logs(both.drop(columns="setting"), pre, w["units"], UNIT_NAMES, 0)
    with pytest.raises(InputError, match="field 'units'"):
        make_logs(both, pre, w["units"][1:], UNIT_NAMES, 0)
