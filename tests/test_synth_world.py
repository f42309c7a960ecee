"""Tests of the virtual-Muli generator, part 1: terrain, surface, scenes, files (small size)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import sys
import tomllib
import types

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from scipy.signal import fftconvolve
from shapely.ops import unary_union

from pfatlas.errors import InputError
from pfatlas.grid import grid_from_bbox
from pfatlas.io.landsat import QA_CLOUD, QA_FILL, QA_SHADOW, find_scenes, load_scene
from pfatlas.synth import spectra, surface
from pfatlas.synth.generate import SCENES, area_bbox, generate_virtual_muli
from pfatlas.synth.terrain import FULL_BBOX, cell_centres, synthetic_dem, terrain_fields

SYN = "synthetic (pfatlas virtual Muli)"


def _stub_ground() -> types.ModuleType:
    """Minimal stand-in for pfatlas.synth.ground, used only if the real module cannot be imported."""
    m = types.ModuleType("pfatlas.synth.ground")

    def ground_truth(*, elevation, slope_deg, aspect_deg, landcover, units, x, y, seed):
        magt = (-3.82e-3 * (elevation - 3700.0)).astype(np.float32)
        return {"magt": magt, "permafrost": (magt < 0).astype(np.uint8)}

    def mining_truth(pre, *, features, feature_masks, epoch_year, cellsize, seed):
        return {**pre, "mining_delta_magt": np.zeros_like(pre["magt"])}

    def make_boreholes(pre, post, *, landcover_pre, landcover_post, elevation, units, gbox, features, seed):
        df = pd.DataFrame(
            {
                "id": ["B1"],
                "lon": [99.3],
                "lat": [38.07],
                "magt_c": [-1.0],
                "year": [2015],
                "setting": ["natural"],
            }
        )
        return df, df.assign(id=["V1"])

    def make_logs(boreholes, pre, units, unit_names, seed):
        return pd.DataFrame(
            {
                "borehole_id": ["B1"],
                "top_m": [0.0],
                "bottom_m": [1.0],
                "soil": ["silt"],
                "water_content_pct": [20.0],
                "dry_density_kg_m3": [1500.0],
            }
        )

    for f in (ground_truth, mining_truth, make_boreholes, make_logs):
        setattr(m, f.__name__, f)
    return m


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("vm")
    with pytest.MonkeyPatch.context() as mp:
        try:
            from pfatlas.synth import ground  # noqa: F401
        except ImportError:  # part 2 not there yet: stub inside the test only
            stub = _stub_ground()
            mp.setitem(sys.modules, "pfatlas.synth.ground", stub)
            import pfatlas.synth

            mp.setattr(pfatlas.synth, "ground", stub, raising=False)
        cfg = generate_virtual_muli(out, size="small", seed=0)
    return cfg


@pytest.fixture(scope="module")
def small_gbox():
    return grid_from_bbox(area_bbox("small"), 30.0)


def test_dem_deterministic_for_a_seed(small_gbox):
    a = synthetic_dem(small_gbox, np.random.default_rng(7))
    b = synthetic_dem(small_gbox, np.random.default_rng(7))
    c = synthetic_dem(small_gbox, np.random.default_rng(8))
    assert a.dtype == np.float32 and a.shape == tuple(small_gbox.shape)
    assert a.tobytes() == b.tobytes()
    assert a.tobytes() != c.tobytes()


def test_small_area_is_a_piece_of_the_full_field(small_gbox):
    # the field is defined in map metres: evaluated on any subset of cells it gives the same values
    x, y = cell_centres(small_gbox)
    dem = terrain_fields(x, y, np.random.default_rng(3))["dem"]
    part = terrain_fields(x[5::40], y[7::40], np.random.default_rng(3))["dem"]
    np.testing.assert_array_equal(part, dem[7::40, 5::40])


def test_elevation_range_full_extent():
    # every 12th cell of the full grid: valley floor ~3750-3850 m, ridges 4200-4400 m, all in 3700-4400
    x, y = cell_centres(grid_from_bbox(FULL_BBOX, 30.0))
    f = terrain_fields(x[::12], y[::12], np.random.default_rng(0))
    z = f["dem"]
    assert 3700.0 <= z.min() and z.max() <= 4400.0
    assert np.percentile(z, 2) < 3800.0 and np.percentile(z, 98) > 4250.0
    floor = z[f["plain"]]
    assert 3720.0 < np.median(floor) < 3880.0


def test_elevation_range_small(demo):
    with rasterio.open(demo.parent / "truth" / "dem_true.tif") as src:
        z = src.read(1)
        assert SYN in src.tags()["source"]
    assert 3700.0 <= np.nanmin(z) and np.nanmax(z) <= 4400.0


def test_dem_is_geographic_one_arcsecond(demo):
    with rasterio.open(demo.parent / "dem.tif") as src:
        assert src.crs.to_epsg() == 4326
        # 1 arc-second cells; exact to float rounding of the transform
        np.testing.assert_allclose(src.res, (1 / 3600, 1 / 3600), rtol=1e-9)
        assert "synthetic" in src.tags()["source"]


def test_landcover_shares_and_classes(demo):
    shares = {}
    for epoch in ("2000", "2020"):
        with rasterio.open(demo.parent / "truth" / epoch / "landcover.tif") as src:
            lc = src.read(1)
            assert "synthetic" in src.tags()["source"]
        vals, counts = np.unique(lc, return_counts=True)
        shares[epoch] = dict(zip(vals.tolist(), (counts / lc.size).tolist(), strict=True))
        assert max(shares[epoch].values()) < 0.70
    assert {1, 2, 3, 5} <= set(shares["2000"]) and not {6, 7} & set(shares["2000"])
    assert {6, 7, 8} <= set(shares["2020"])


def test_mining_layout_full_extent():
    feats = surface.mining_features(np.random.default_rng(1), np.random.SeedSequence(2))
    pits = [f for f in feats if f["kind"] == "pit"]
    dumps = [f for f in feats if f["kind"] == "dump"]
    assert len(pits) == 11 and len(dumps) == 19
    area = unary_union([f["geometry"] for f in feats]).area / 1e6  # [km2]
    # Li F. et al. 2021: 30.47 km2; outlines are scaled to it, dump trimming removes a little
    assert 26.0 < area < 31.5
    assert all(2003 <= f["start_year"] <= 2012 for f in feats)
    assert all(40 <= f["depth_m"] <= 150 for f in pits)
    assert all(20 <= f["height_m"] <= 80 for f in dumps)


def test_mining_vector_small(demo):
    m = gpd.read_file(demo.parent / "mining.gpkg")
    assert 2 <= (m["kind"] == "pit").sum() <= 3
    assert 3 <= (m["kind"] == "dump").sum() <= 4
    assert {"kind", "start_year", "depth_m", "height_m", "pit_lake", "name", "source"} <= set(m.columns)
    assert (m["source"] == SYN).all()


def test_scene_cloud_cover_and_qa(demo):
    folders = sorted(p for p in (demo.parent / "landsat").iterdir() if p.is_dir())
    assert len(folders) == 10
    for f in folders:
        qa_path = next(f.glob("*_QA_PIXEL.TIF"))
        with rasterio.open(qa_path) as src:
            qa = src.read(1)
            assert "synthetic" in src.tags()["source"]
        valid = (qa & QA_FILL) == 0
        cloud = ((qa & QA_CLOUD) != 0) & valid
        share = cloud.sum() / valid.sum()
        assert 0.10 <= share <= 0.40, (f.name, share)
        assert ((qa & QA_SHADOW) != 0).any()
        assert not (((qa & QA_CLOUD) != 0) & ((qa & (1 << 6)) != 0)).any()  # clear excludes cloud


def test_scenes_readable_by_the_pipeline(demo, small_gbox):
    scenes = find_scenes([demo.parent / "landsat"])
    assert len(scenes) == 10
    assert {s.spacecraft for s in scenes} == {"LANDSAT_5", "LANDSAT_8"}
    months = [s.acquired.month for s in scenes]
    assert sum(m < 6 or m > 9 for m in months) == 2  # one out-of-season scene per epoch
    ds = load_scene(next(s for s in scenes if s.acquired == dt.date(2020, 7, 24)), small_gbox)
    nir = ds["nir"].where(ds["valid"]).values
    red = ds["red"].where(ds["valid"]).values
    ndvi = np.nanmedian((nir - red) / (nir + red))
    # green alpine meadow/steppe mosaic in late July: NDVI ~0.4-0.8
    assert 0.3 < ndvi < 0.85
    lst = ds["lst"].where(ds["valid"]).values
    assert 0.0 < np.nanmedian(lst) < 35.0  # summer midday surface temperature at ~3800 m [degC]


def test_samples(demo):
    s = gpd.read_file(demo.parent / "samples.gpkg")
    names = {c.name for c in surface.LANDCOVER_CLASSES}
    assert set(s["class"]) <= names
    assert set(s["epoch"]) == {"2000", "2020"}
    assert 70 <= (s["epoch"] == "2000").sum() <= 90
    assert (s["source"] == SYN).all()
    assert {"lon", "lat", "class", "epoch"} <= set(s.columns)


def test_tables_and_texts_say_synthetic(demo):
    d = demo.parent
    for name in ("boreholes.csv", "boreholes_validation.csv", "borehole_logs.csv"):
        assert (pd.read_csv(d / name)["source"] == SYN).all()
    g = gpd.read_file(d / "geomorphology.gpkg")
    assert set(g["unit"]) <= set(surface.UNIT_NAMES) and (g["source"] == SYN).all()
    assert "SYNTHETIC" in (d / "README.txt").read_text()
    assert "never reads" in (d / "truth" / "README.txt").read_text()
    cfg = tomllib.loads(demo.read_text())
    assert cfg["area"]["synthetic"] is True and "synthetic" in cfg["area"]["name"]
    assert set(cfg["inputs"]) == {
        "dem",
        "landsat",
        "boreholes",
        "validation_boreholes",
        "borehole_logs",
        "samples",
        "geomorphology",
        "mining",
    }
    assert [e["label"] for e in cfg["epochs"]] == ["2000", "2020"]
    assert 500.0 < cfg["climate"]["station_thawing_index_cdays"] < 2000.0
    for v in cfg["inputs"].values():
        for p in v if isinstance(v, list) else [v]:
            assert (d / p).exists()


def test_bad_size_names_the_field(tmp_path):
    with pytest.raises(InputError, match="field 'size'"):
        generate_virtual_muli(tmp_path, size="huge")


def test_cloud_shadow_falls_away_from_the_sun():
    # a single round cloud on a uniform surface: the shadow centroid must lie in the anti-solar
    # direction (azimuth + 180 deg) from the cloud centroid
    shape = (200, 200)
    bands = {b: np.full(shape, 0.1, np.float32) for b in spectra.BANDS}
    bands.update(
        st=np.full(shape, 290.0, np.float32),
        snow=np.zeros(shape, np.float32),
        water=np.zeros(shape, np.float32),
    )
    spec = dataclasses.replace(SCENES["2000"][1], cloud_fraction=0.03)  # isolated small clouds
    rng = np.random.default_rng(0)
    sr, qa, _, cover = spectra.add_atmosphere(bands, spec, np.ones(shape, bool), 30.0, rng)
    cloud = ((qa & QA_CLOUD) != 0).astype(float)
    shadow = ((qa & QA_SHADOW) != 0).astype(float)
    # the shift that best maps the cloud mask onto the shadow mask (peak of the cross-correlation)
    corr = fftconvolve(shadow, cloud[::-1, ::-1], mode="full")
    r, c = np.unravel_index(np.argmax(corr), corr.shape)
    drow, dcol = r - (shape[0] - 1), c - (shape[1] - 1)
    bearing = np.degrees(np.arctan2(dcol, -drow)) % 360.0
    # integer-cell peak of a 20-45 cell shift: direction good to ~3 deg; allow 5
    assert abs(((bearing - (spec.sun_azimuth + 180.0)) + 180.0) % 360.0 - 180.0) < 5.0
    # displacement = cloud base height (1.2-2.8 km) / tan(sun elevation), in 30 m cells
    dist = np.hypot(drow, dcol)
    tan_el = np.tan(np.radians(spec.sun_elevation))
    assert 1200.0 / tan_el / 30 - 1 <= dist <= 2800.0 / tan_el / 30 + 1
    np.testing.assert_allclose(cover, 100 * spec.cloud_fraction, atol=0.5)


def test_generation_deterministic_for_a_seed(demo, tmp_path):
    # a second run with the same seed writes the same pixels, QA bits and sample points
    with pytest.MonkeyPatch.context() as mp:
        try:
            from pfatlas.synth import ground  # noqa: F401
        except ImportError:
            mp.setitem(sys.modules, "pfatlas.synth.ground", _stub_ground())
        cfg2 = generate_virtual_muli(tmp_path, size="small", seed=0)
    a, b = demo.parent, cfg2.parent
    for rel in ("truth/2020/landcover.tif", "truth/dem_true.tif", "dem.tif"):
        with rasterio.open(a / rel) as s1, rasterio.open(b / rel) as s2:
            assert s1.read(1).tobytes() == s2.read(1).tobytes(), rel
    qa1 = sorted((a / "landsat").glob("*/*_QA_PIXEL.TIF"))
    qa2 = sorted((b / "landsat").glob("*/*_QA_PIXEL.TIF"))
    assert [p.name for p in qa1] == [p.name for p in qa2]
    for p1, p2 in zip(qa1, qa2, strict=True):
        with rasterio.open(p1) as s1, rasterio.open(p2) as s2:
            assert s1.read(1).tobytes() == s2.read(1).tobytes(), p1.name
    s1 = gpd.read_file(a / "samples.gpkg")
    s2 = gpd.read_file(b / "samples.gpkg")
    pd.testing.assert_frame_equal(
        pd.DataFrame(s1.drop(columns="geometry")), pd.DataFrame(s2.drop(columns="geometry"))
    )
