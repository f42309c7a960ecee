"""Mining impact (stage 10): the feature model against the half-space solution, the map of the
change by distance from the edge, the stage on the demo, and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from pfatlas.config.schema import MiningConfig
from pfatlas.errors import InputError
from pfatlas.mining.apply import delta_magt_map, ring_values, signed_distance
from pfatlas.mining.model import FeatureRun, GroundModel, RadialChange, check_run, run_feature
from pfatlas.thermal import Material

DRY = Material("rock", 2.0, 2.0, 2.0e6, 2.0e6)  # kappa = 1e-6 m2 s-1, no water: linear conduction


def test_shallow_pit_tends_to_the_disc_solution_on_the_axis():
    # A pit 1 m deep whose floor is held dT above the natural surface, run for 3000 years: the
    # change at depth z below the floor tends to the steady half-space value on the axis of a disc of
    # radius a, dT (1 - z / sqrt(z^2 + a^2)) (the floor 1 m down is the plane to within 1 m in 15 m).
    model = GroundModel(DRY, DRY, domain_depth_m=1500.0, reach_m=1500.0, dt_days=3650.0)
    a, dts = 120.0, 1.0
    ch = run_feature(FeatureRun("pit", a, 1.0, 0.0, 3000.0, -1.0, -1.0 + dts), model)
    exact = dts * (1 - 15.0 / np.hypot(15.0, a))
    # 2 %: the floor 1 m below the plane moves the point by at most the axis gradient x 1 m
    # (0.009 dT here), the 1500 m domain adds a^2 / (2 L^2) = 0.3 %, the grid (10 m at the edge,
    # a / 12) < 0.1 % (section 10 verification); measured 1.0 %
    assert ch.delta_magt[0] == pytest.approx(exact, rel=0.02)
    # far outside, nothing; just outside the edge, some
    assert abs(np.interp(a + 1000.0, ch.r, ch.delta_magt)) < 0.02 * dts
    assert 0.05 < np.interp(a + 10.0, ch.r, ch.delta_magt) < 0.5


def test_young_deep_pit_keeps_its_geothermal_excess():
    # Removing d of ground brings up rock q d / k warmer. With the floor held at the old MAGT, that
    # excess decays from the floor down as in a 1-D half-space whose surface steps by -q d / k:
    # on the axis of a wide pit, 15 m below the floor, q d / k erf(z / (2 sqrt(kappa t))).
    from scipy.special import erf

    model = GroundModel(DRY, DRY)
    ch = run_feature(FeatureRun("pit", 600.0, 60.0, 0.0, 1.0, -2.0, -2.0), model)
    exact = 0.06 * 60.0 / 2.0 * erf(15.0 / (2 * np.sqrt(1e-6 * 365.25 * 86400.0)))
    assert ch.delta_magt[0] == pytest.approx(exact, rel=0.01)


def test_dump_warms_under_a_warmer_surface_and_cools_with_height():
    model = GroundModel(DRY, DRY)
    warm = run_feature(FeatureRun("dump", 300.0, 0.0, 20.0, 15.0, -1.5, -0.5), model)
    cold = run_feature(FeatureRun("dump", 300.0, 0.0, 20.0, 15.0, -1.5, -2.5), model)
    assert warm.delta_magt[0] > 0.3 and cold.delta_magt[0] < -0.3


def test_change_is_laid_by_distance_from_the_edge():
    # a 3 x 3 footprint; the change falls linearly from 2 at the centre to 0 at 100 m beyond a
    index = np.full((21, 21), -1)
    index[9:12, 9:12] = 0
    a = np.sqrt(9 * 900.0 / np.pi)
    ch = RadialChange(r=np.array([0.0, a, a + 100.0]), delta_magt=np.array([2.0, 1.0, 0.0]), radius_m=a)
    d = delta_magt_map(index, {0: ch}, 30.0, 1000.0)
    sd = signed_distance(index == 0, 30.0)
    np.testing.assert_allclose(d, np.interp(np.clip(a + sd, 0, None), ch.r, ch.delta_magt, right=0.0))
    assert d[10, 10] > d[10, 11] > d[10, 12] > d[10, 13] > d[10, 15] == 0.0
    # the ring values around the footprint leave out other features
    vals = np.arange(441.0).reshape(21, 21)
    other = np.zeros((21, 21), bool)
    other[10, 14] = True
    ring = ring_values(vals, index == 0, other, 30.0, 20.0, 50.0)
    assert vals[10, 13] in ring and vals[10, 14] not in ring and vals[10, 10] not in ring


@pytest.mark.parametrize(
    ("run", "field", "text"),
    [
        (
            FeatureRun("pit", 300.0, 190.0, 0.0, 10.0, -1.0, 0.5),
            "depth_m",
            "does not fit in the model domain",
        ),
        (FeatureRun("dump", 300.0, 0.0, 0.0, 10.0, -1.0, 0.5), "height_m", "height > 0"),
        (FeatureRun("pit", 0.0, 50.0, 0.0, 10.0, -1.0, 0.5), "geometry", "no area"),
        (FeatureRun("pit", 300.0, 50.0, 0.0, -3.0, -1.0, 0.5), "start_year", "start before the epoch"),
    ],
)
def test_runs_that_cannot_be_modelled_are_refused(run, field, text):
    with pytest.raises(InputError, match=text) as exc:
        check_run(run, GroundModel(DRY, DRY))
    assert exc.value.field == field


def test_negative_conductivity_is_refused_by_the_config():
    with pytest.raises(ValueError, match="waste_rock_conductivity"):
        MiningConfig(waste_rock_conductivity=-1.0)
    with pytest.raises(ValueError, match="ground_conductivity"):
        MiningConfig(ground_conductivity=0.0)


def _mining_ctx(tmp_path, start_years, epochs=(2000, 2020), chunk=1024):
    import geopandas as gpd
    from shapely.geometry import box

    from pfatlas.build.context import make_context
    from pfatlas.config.schema import Config

    bbox = (99.0, 38.0, 99.06, 38.04)
    cfg = Config.model_validate({
        "area": {"bbox": list(bbox), "name": "test"},
        "inputs": {"dem": str(tmp_path / "dem.tif"), "mining": str(tmp_path / "m.gpkg")},
        "epochs": [{"label": str(y), "start": f"{y}-06-01", "end": f"{y}-09-30", "year": y} for y in epochs],
        "compute": {"chunk": chunk},
    })  # fmt: skip
    ctx = make_context(cfg, tmp_path / "out")
    x0, y0 = ctx.gbox.affine * (20, 20)
    gdf = gpd.GeoDataFrame(
        {"kind": ["pit", "dump"], "start_year": start_years, "depth_m": [40.0, None], "height_m": [None, 20.0],
         "name": ["p", "d"]},
        geometry=[box(x0, y0 - 300, x0 + 300, y0), box(x0 + 600, y0 - 300, x0 + 900, y0)],
        crs=ctx.gbox.crs.to_wkt(),
    )  # fmt: skip
    gdf.to_file(tmp_path / "m.gpkg", driver="GPKG")
    return ctx


def test_features_of_an_epoch_and_a_start_after_the_last_epoch(tmp_path):
    from pfatlas.build.stage_mining import epoch_features

    ctx = _mining_ctx(tmp_path, [2010, 2015])
    whole = (slice(0, ctx.gbox.shape[0]), slice(0, ctx.gbox.shape[1]))
    feats = epoch_features(ctx, "2000", 2000)
    assert (
        feats.table.empty and feats.empty and (feats.index(*whole) == -1).all()
    )  # nothing acts before it starts
    feats = epoch_features(ctx, "2020", 2020)
    index = feats.index(*whole)
    assert list(feats.table["name"]) == ["p", "d"] and (index == 0).sum() == 100 and (index == 1).sum() == 100
    ctx = _mining_ctx(tmp_path, [2010, 2030])
    with pytest.raises(InputError, match="starts in 2030, after the last epoch") as exc:
        epoch_features(ctx, "2020", 2020)
    assert exc.value.row == 2 and exc.value.field == "start_year" and "m.gpkg" in str(exc.value)


@pytest.mark.parametrize("chunk", [1024, 64])
def test_natural_land_cover_is_the_ground_as_last_seen_before_mining(tmp_path, chunk):
    """A cell mined in 2020 takes its 2000 class when it was unmined in 2000, else the nearest
    unmined class of 2020 (the same whatever the chunks)."""
    from pfatlas.build.layout import natural_landcover
    from pfatlas.build.stage_mining import epoch_features, run_natural_landcover
    from pfatlas.grid import wrap_on_grid
    from pfatlas.io.cog import ClassInfo, Layer, write_cogs
    from pfatlas.io.raster import read_array

    ctx = _mining_ctx(tmp_path, [1995, 2015], chunk=chunk)  # the pit acts in both epochs, the dump from 2015
    classes = [ClassInfo(c.code, c.name, c.rgb) for c in ctx.cfg.landcover.classes]
    code = {c.name: c.code for c in ctx.cfg.landcover.classes}
    pit_c, dump_c = code[ctx.cfg.mining.pit_class], code[ctx.cfg.mining.dump_class]
    whole = (slice(0, ctx.gbox.shape[0]), slice(0, ctx.gbox.shape[1]))
    i2000 = epoch_features(ctx, "2000", 2000).index(*whole)
    i2020 = epoch_features(ctx, "2020", 2020).index(*whole)
    lc2000 = np.full(ctx.gbox.shape, code["alpine steppe"], dtype=np.uint8)
    lc2000[i2000 == 0] = pit_c
    lc2000[i2020 == 1] = code["alpine swamp meadow"]  # the dump's ground before it was built
    lc2020 = lc2000.copy()
    lc2020[i2020 == 1] = dump_c
    for label, lc in (("2000", lc2000), ("2020", lc2020)):
        da = wrap_on_grid(lc, ctx.gbox, "landcover", units="class", long_name="landcover")
        write_cogs(
            [Layer(da, ctx.path(label, "landcover.tif"), "class", "test", classes=classes)], gbox=ctx.gbox
        )
    run_natural_landcover(ctx, "2020")
    nat = read_array(natural_landcover(ctx, "2020"))
    assert (nat[i2020 == 1] == code["alpine swamp meadow"]).all()  # as seen in 2000
    assert (nat[i2020 == 0] == code["alpine steppe"]).all()  # mined in 2000 too: the nearest class
    assert not np.isin(nat, [pit_c, dump_c]).any()
    lc2020[i2020 == 0] = pit_c  # the pit again, now with a patch of meadow beside it: the nearest class
    rows, cols = np.nonzero(i2020 == 0)
    lc2020[rows.min() - 5 : rows.max() + 6, cols.max() + 1 : cols.max() + 4] = code[
        "alpine meadow"
    ]  # on its right
    write_cogs([Layer(wrap_on_grid(lc2020, ctx.gbox, "landcover", units="class", long_name="landcover"),
                      ctx.path("2020", "landcover.tif"), "class", "test", classes=classes)], gbox=ctx.gbox)  # fmt: skip
    run_natural_landcover(ctx, "2020")
    nat = read_array(natural_landcover(ctx, "2020"))
    edge = np.stack([rows - rows.min(), rows.max() - rows, cols - cols.min(), cols.max() - cols])
    right = edge[3] < edge[:3].min(axis=0)  # pit cells nearer to the meadow than to any other side
    left = edge[2] < np.delete(edge, 2, axis=0).min(axis=0)
    assert right.sum() > 10 and (nat[rows[right], cols[right]] == code["alpine meadow"]).all()
    assert left.sum() > 10 and (nat[rows[left], cols[left]] == code["alpine steppe"]).all()


def test_features_from_the_land_cover_classes_without_polygons(tmp_path):
    """Without mining polygons every 4-connected pit or dump patch of >= 3 cells is a feature:
    dumps first, then pits, each in raster order of their first cell, whatever the chunks."""
    from pfatlas.build.context import make_context
    from pfatlas.build.stage_mining import epoch_features
    from pfatlas.config.schema import Config
    from pfatlas.grid import wrap_on_grid
    from pfatlas.io.cog import ClassInfo, Layer, write_cogs

    cfg = Config.model_validate({
        "area": {"bbox": [99.0, 38.0, 99.06, 38.04], "name": "test"},
        "inputs": {"dem": str(tmp_path / "dem.tif")},
        "epochs": [{"label": "2020", "start": "2020-06-01", "end": "2020-09-30", "year": 2020}],
        "compute": {"chunk": 64},
    })  # fmt: skip
    ctx = make_context(cfg, tmp_path / "out")
    code = {c.name: c.code for c in cfg.landcover.classes}
    pit, dump = code[cfg.mining.pit_class], code[cfg.mining.dump_class]
    lc = np.full(ctx.gbox.shape, code["alpine steppe"], dtype=np.uint8)
    lc[60:70, 50:80] = dump  # across the chunk edges at row 64 and column 64
    lc[10:14, 100:103] = dump
    lc[5:20, 5:9] = pit
    lc[30, 30:32] = pit  # 2 cells: left out
    classes = [ClassInfo(c.code, c.name, c.rgb) for c in cfg.landcover.classes]
    da = wrap_on_grid(lc, ctx.gbox, "landcover", units="class", long_name="landcover")
    write_cogs(
        [Layer(da, ctx.path("2020", "landcover.tif"), "class", "test", classes=classes)], gbox=ctx.gbox
    )
    feats = epoch_features(ctx, "2020", 2020)
    t = feats.table
    assert list(t["name"]) == ["dump 1 (land cover)", "dump 2 (land cover)", "pit 3 (land cover)"]
    assert list(t["kind"]) == ["dump", "dump", "pit"]
    assert (t["start_year"] == 2020 - cfg.mining.default_age_years).all()
    assert [fp.cells for fp in feats.footprints] == [12, 300, 60]
    index = feats.index(slice(0, lc.shape[0]), slice(0, lc.shape[1]))
    assert (
        (index[60:70, 50:80] == 1).all() and (index[5:20, 5:9] == 2).all() and (index[30, 30:32] == -1).all()
    )
