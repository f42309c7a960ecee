"""Area by class tables: checked against cell counts made directly on the tiny atlas."""

import json

import numpy as np
import pandas as pd
import pytest
import rasterio
from odc.geo.geobox import GeoBox

from atlas_fixture import DUMP, PIT, SHAPE, gbox, make_atlas
from pfatlas import SYNTHETIC_LABEL
from pfatlas.atlas.tables import (
    AREA_COLUMNS,
    atlas_rasters,
    class_counts,
    read_atlas_config,
    write_area_tables,
)
from pfatlas.errors import ConfigError, InputError, MissingInputError
from pfatlas.grid import wrap_on_grid
from pfatlas.io.cog import ClassInfo, write_cog

CELL_KM2 = 30.0 * 30.0 / 1e6
EXPECTED = {"area_landcover_2000.csv", "area_permafrost_2000.csv", "area_thermal_stability_2000.csv",
            "area_ice_class_2000.csv", "area_landcover_2020.csv", "area_permafrost_2020.csv",
            "area_thermal_stability_2020.csv", "area_ice_class_2020.csv", "area_mining_zone_2020.csv",
            "area_permafrost_transition_2000_2020.csv", "area_geomorphology_grid.csv",
            "area_by_class.csv"}  # fmt: skip


@pytest.fixture(scope="module")
def atlas(tmp_path_factory):
    out = make_atlas(tmp_path_factory.mktemp("area") / "atlas")
    return out, write_area_tables(out)


def test_files_and_columns(atlas):
    out, written = atlas
    assert {p.name for p in written} == EXPECTED
    assert written[-1].name == "area_by_class.csv"
    assert all(p.parent == out / "tables" for p in written)
    for p in written:
        head = list(pd.read_csv(p, nrows=0).columns)
        extra = ["layer", "epoch"] if p.name == "area_by_class.csv" else []
        assert head == [*extra, *AREA_COLUMNS, "source"], p  # synthetic atlas: labelled
    assert not list((out / "tables").glob(".*"))  # no temporary file left


def test_areas_equal_direct_counts(atlas):
    out, _ = atlas
    for group in atlas_rasters(out):
        for name, tif in group.layers.items():
            with rasterio.open(tif) as src:
                if src.dtypes[0] != "uint8":
                    continue
                a = src.read(1)
                names = {int(k): v for k, v in json.loads(src.tags()["CLASS_NAMES"]).items()}
            df = pd.read_csv(out / "tables" / f"area_{name}_{group.label}.csv", keep_default_na=False)
            body, total = df.iloc[:-1], df.iloc[-1]
            assert body["code"].astype(int).tolist() == sorted(names)  # every named class, absent ones too
            assert body["class"].tolist() == [names[c] for c in sorted(names)]
            valid = int((a != 255).sum())
            n = np.array([(a == c).sum() for c in sorted(names)])
            # areas rounded to 1 m2 (1e-6 km2), shares to 1e-4 %: half a unit apart at most (+ float eps)
            np.testing.assert_allclose(body["area [km2]"], n * CELL_KM2, rtol=0, atol=5.001e-7)
            np.testing.assert_allclose(body["share [%]"], 100.0 * n / valid, rtol=0, atol=5.001e-5)
            assert total["code"] == "" and total["class"] == "total" and total["share [%]"] == 100.0
            assert total["area [km2]"] == pytest.approx(valid * CELL_KM2, abs=5e-7)
            assert (df["source"] == SYNTHETIC_LABEL).all()


def test_known_areas_of_the_tiny_atlas(atlas):
    out, _ = atlas
    zone = pd.read_csv(out / "tables" / "area_mining_zone_2020.csv").set_index("class")
    pit_cells = (PIT[0].stop - PIT[0].start) * (PIT[1].stop - PIT[1].start)  # 10 x 12
    dump_cells = (DUMP[0].stop - DUMP[0].start) * (DUMP[1].stop - DUMP[1].start)  # 10 x 14
    assert zone.loc["open pit", "area [km2]"] == pytest.approx(pit_cells * CELL_KM2)
    assert zone.loc["waste dump", "area [km2]"] == pytest.approx(dump_cells * CELL_KM2)
    assert zone.loc["total", "area [km2]"] == pytest.approx(SHAPE[0] * SHAPE[1] * CELL_KM2)
    assert zone.loc["open pit", "share [%]"] == pytest.approx(
        100.0 * pit_cells / (SHAPE[0] * SHAPE[1]), abs=1e-4
    )
    units = pd.read_csv(out / "tables" / "area_geomorphology_grid.csv").set_index("class")
    assert units.loc["alluvial plain", "area [km2]"] == pytest.approx(32 * SHAPE[1] * CELL_KM2)  # rows < 32
    lc = pd.read_csv(out / "tables" / "area_landcover_2000.csv").set_index("class")
    assert lc.loc["open pit", "area [km2]"] == 0.0 and lc.loc["water", "area [km2]"] == pytest.approx(
        6 * 16 * CELL_KM2
    )


def test_combined_table_is_all_class_rows(atlas):
    out, written = atlas
    combined = pd.read_csv(out / "tables" / "area_by_class.csv", dtype={"epoch": str})
    parts = []
    for group in atlas_rasters(out):
        for name in group.layers:
            p = out / "tables" / f"area_{name}_{group.label}.csv"
            if p.exists():
                df = pd.read_csv(p, keep_default_na=False).iloc[:-1]
                parts.append(df.assign(layer=name, epoch=group.label, code=df["code"].astype(int)))
    assert len(parts) == len(written) - 1
    expect = pd.concat(parts, ignore_index=True)[combined.columns]
    pd.testing.assert_frame_equal(combined, expect, check_dtype=False)
    assert set(combined["layer"]) == {"landcover", "permafrost", "thermal_stability", "ice_class", "mining_zone",
                                      "permafrost_transition", "geomorphology"}  # fmt: skip
    assert set(combined["epoch"]) == {"2000", "2020", "2000_2020", "grid"}
    assert "total" not in set(combined["class"])


def test_real_atlas_has_no_source_column(tmp_path):
    out = make_atlas(tmp_path / "atlas")
    cfg = out / "config.toml"
    cfg.write_text(cfg.read_text().replace("synthetic = true", "synthetic = false"))
    assert read_atlas_config(out).synthetic is False
    p = write_area_tables(out)[0]
    assert list(pd.read_csv(p, nrows=0).columns) == AREA_COLUMNS


def test_counts_read_tile_by_tile(tmp_path):
    # 300 x 400 cells in 128-cell tiles: the counts come from 12 tiles, partial ones at the edges
    g = GeoBox((300, 400), gbox().affine, gbox().crs)
    a = np.random.default_rng(1).integers(0, 4, g.shape).astype("u1")
    a[a == 3] = 255
    classes = [ClassInfo(0, "a", (1, 2, 3)), ClassInfo(1, "b", (4, 5, 6)), ClassInfo(2, "c", (7, 8, 9))]
    p = write_cog(wrap_on_grid(a, g, "a", units="class", long_name="a"), tmp_path / "a.tif", gbox=g,
                  units="class", description="a", classes=classes, blocksize=128)  # fmt: skip
    with rasterio.open(p) as src:
        assert len(list(src.block_windows(1))) == 12
    counts, cell = class_counts(p)
    np.testing.assert_array_equal(counts, np.bincount(a.ravel(), minlength=256))
    assert cell == 900.0


def test_errors_name_the_file(tmp_path):
    with pytest.raises(MissingInputError, match="config.toml"):
        write_area_tables(tmp_path)
    (tmp_path / "config.toml").write_text("[area]\nname = 'x'\n")
    with pytest.raises(ConfigError, match="no epochs"):
        read_atlas_config(tmp_path)
    (tmp_path / "config.toml").write_text(
        "epochs = [{ label = '2000', start = 'June' , end = 2000-09-30 }]\n"
    )
    with pytest.raises(ConfigError, match="epochs\\[0\\].start"):
        read_atlas_config(tmp_path)
    # a class raster in degrees: no cell area in m2
    geo = tmp_path / "geo.tif"
    with rasterio.open(geo, "w", driver="GTiff", width=4, height=4, count=1, dtype="uint8", crs="EPSG:4326",
                       transform=rasterio.transform.from_origin(99.0, 38.0, 0.001, 0.001), nodata=255) as dst:  # fmt: skip
        dst.write(np.zeros((1, 4, 4), "u1"))
    with pytest.raises(InputError, match="projected CRS in metres") as err:
        class_counts(geo)
    assert err.value.path == str(geo)
