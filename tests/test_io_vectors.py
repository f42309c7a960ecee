"""Tests of the vector readers: samples, geomorphology, mining (pfatlas.io.vectors).

Inputs are written here with geopandas/pyogrio into tmp_path. Polygons used for rasterising follow
cell edges of the grid (multiples of 30 m), so the expected rasters are known exactly.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from pyproj import Transformer

from pfatlas.errors import CoverageError, CRSError, InputError, MissingInputError, PfatlasWarning
from pfatlas.grid import grid_from_bbox
from pfatlas.io.vectors import (
    rasterize_mining,
    rasterize_units,
    read_geomorphology,
    read_mining,
    read_samples,
)

# odc-geo 0.5 builds GeoBox affines with `Affine * Affine`, which affine 3.0 flags as pending
# deprecation; the warning is raised inside odc.geo (grid_from_bbox), not in pfatlas.io.vectors.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Use `@` matmul instead of `\\*` mul:PendingDeprecationWarning"
)

BBOX = (99.0, 38.0, 99.1, 38.05)
CLASSES = {1: "alpine swamp meadow", 2: "alpine meadow", 3: "alpine steppe", 7: "open pit"}
EPOCHS = ["2000", "2020"]
UTM = "EPSG:32647"


@pytest.fixture(scope="module")
def gbox():
    return grid_from_bbox(BBOX)


def cell_box(gbox, r0: int, c0: int, r1: int, c1: int):
    """Polygon covering cells rows r0..r1-1, cols c0..c1-1 exactly (grid CRS)."""
    a = gbox.affine
    return shapely.box(a.c + 30 * c0, a.f - 30 * r1, a.c + 30 * c1, a.f - 30 * r0)


def cell_centre(gbox, r: int, c: int):
    a = gbox.affine
    return shapely.Point(a.c + 30 * (c + 0.5), a.f - 30 * (r + 0.5))


def save(gdf: gpd.GeoDataFrame, path: Path) -> Path:
    with warnings.catch_warnings():
        # writing a layer without CRS on purpose makes pyogrio warn; the readers are under test
        warnings.filterwarnings("ignore", "'crs' was not provided", UserWarning)
        gdf.to_file(path, engine="pyogrio")
    return path


def to_wgs84(geoms):
    return gpd.GeoSeries(geoms, crs=UTM).to_crs("EPSG:4326")


# ------------------------------------------------------------------------------------------------
# samples
# ------------------------------------------------------------------------------------------------


def sample_gdf(gbox, classes, epochs, crs="EPSG:4326"):
    cells = [(1, 1), (50, 100), (150, 250), (10, 20)][: len(classes)]
    pts = [cell_centre(gbox, r, c) for r, c in cells]
    geom = to_wgs84(pts) if crs == "EPSG:4326" else gpd.GeoSeries(pts, crs=UTM)
    return gpd.GeoDataFrame({"class": classes, "epoch": epochs}, geometry=geom.values, crs=crs), cells


@pytest.mark.parametrize("suffix", [".gpkg", ".geojson"])
def test_samples_vector_happy(tmp_path, gbox, suffix):
    gdf, cells = sample_gdf(
        gbox, [" Alpine Meadow ", "alpine_swamp_meadow", "3", "OPEN PIT"], ["2000", "2020", "2000", "2020"]
    )
    df = read_samples(save(gdf, tmp_path / f"s{suffix}"), gbox, CLASSES, EPOCHS)
    assert list(df.columns) == ["x", "y", "row", "col", "class_code", "class_name", "epoch"]
    assert list(df["class_code"]) == [2, 1, 3, 7]
    assert list(df["class_name"]) == ["alpine meadow", "alpine swamp meadow", "alpine steppe", "open pit"]
    assert list(df["epoch"]) == ["2000", "2020", "2000", "2020"]
    # points at cell centres (via WGS84 and back) land in their cell
    assert list(zip(df["row"], df["col"], strict=True)) == cells
    # x, y in metres of the grid CRS: back at the cell centres to 1 mm (pyproj round trip << 1 mm)
    np.testing.assert_allclose(df["x"], [cell_centre(gbox, r, c).x for r, c in cells], atol=1e-3)


def test_samples_integer_codes_and_epochs(tmp_path, gbox):
    gdf, _ = sample_gdf(gbox, [2, 1, 7], [2000, 2020, 2000], crs=UTM)
    df = read_samples(save(gdf, tmp_path / "s.gpkg"), gbox, CLASSES, EPOCHS)
    assert list(df["class_code"]) == [2, 1, 7]
    assert list(df["epoch"]) == ["2000", "2020", "2000"]  # integers read as labels


def test_samples_single_point_multipoint_is_accepted(tmp_path, gbox):
    pts = [shapely.MultiPoint([cell_centre(gbox, 3, 4)]), shapely.MultiPoint([cell_centre(gbox, 5, 6)])]
    gdf = gpd.GeoDataFrame({"class": ["alpine meadow"] * 2, "epoch": ["2000"] * 2}, geometry=pts, crs=UTM)
    df = read_samples(save(gdf, tmp_path / "s.gpkg"), gbox, CLASSES, EPOCHS)
    assert list(df["row"]) == [3, 5] and list(df["col"]) == [4, 6]


def test_samples_csv_lonlat_and_xy(tmp_path, gbox):
    tr = Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)
    c = cell_centre(gbox, 7, 9)
    lon, lat = tr.transform(c.x, c.y)
    p = tmp_path / "s.csv"
    p.write_text(f"lon,lat,class,epoch\n{lon!r},{lat!r},Alpine Steppe,2000\n{lon!r},{lat!r},1,2020\n")
    df = read_samples(p, gbox, CLASSES, EPOCHS)
    assert list(df["row"]) == [7, 7] and list(df["col"]) == [9, 9]
    assert list(df["class_code"]) == [3, 1]
    far = tmp_path / "far.csv"
    far.write_text(f"lon,lat,class,epoch\n{lon!r},{lat!r},1,2000\n99.5,38.02,1,2000\n")
    with pytest.warns(PfatlasWarning, match="1 of 2 samples outside the study area dropped: row 3"):
        assert len(read_samples(far, gbox, CLASSES, EPOCHS)) == 1
    q = tmp_path / "s2.csv"
    q.write_text(f"x,y,class,epoch\n{c.x},{c.y},alpine meadow,2020\n")
    df = read_samples(q, gbox, CLASSES, EPOCHS)
    assert (df["row"][0], df["col"][0], df["class_name"][0]) == (7, 9, "alpine meadow")


def test_samples_unknown_class_names_feature_and_known_classes(tmp_path, gbox):
    gdf, _ = sample_gdf(gbox, ["alpine meadow", "glacier"], ["2000", "2000"])
    p = save(gdf, tmp_path / "s.gpkg")
    with pytest.raises(InputError) as e:
        read_samples(p, gbox, CLASSES, EPOCHS)
    msg = str(e.value)
    assert "feature 2: unknown class 'glacier'" in msg
    assert "1 alpine swamp meadow; 2 alpine meadow; 3 alpine steppe; 7 open pit" in msg
    assert e.value.row == 2 and e.value.field == "class" and e.value.path == str(p)


def test_samples_geojson_feature_ids_count_from_zero(tmp_path, gbox):
    gdf, _ = sample_gdf(gbox, ["alpine meadow", "glacier"], ["2000", "2000"])
    with pytest.raises(InputError, match=r"feature 2 \(fid 1\): unknown class 'glacier'"):
        read_samples(save(gdf, tmp_path / "s.geojson"), gbox, CLASSES, EPOCHS)


def test_samples_unknown_class_code_in_csv(tmp_path, gbox):
    c = cell_centre(gbox, 7, 9)
    p = tmp_path / "s.csv"
    p.write_text(f"x,y,class,epoch\n{c.x},{c.y},2,2000\n{c.x},{c.y},5,2000\n")
    with pytest.raises(InputError, match="unknown class '5'; known classes") as e:
        read_samples(p, gbox, CLASSES, EPOCHS)
    assert e.value.row == 3 and e.value.field == "class"  # spreadsheet row: header is row 1


def test_samples_unknown_epoch(tmp_path, gbox):
    gdf, _ = sample_gdf(gbox, ["alpine meadow", "alpine meadow"], ["2000", "2010"])
    p = save(gdf, tmp_path / "s.gpkg")
    with pytest.raises(
        InputError, match="feature 2: unknown epoch '2010'; epochs of the config: 2000, 2020"
    ) as e:
        read_samples(p, gbox, CLASSES, EPOCHS)
    assert e.value.row == 2 and e.value.field == "epoch"


def test_samples_non_point(tmp_path, gbox):
    geoms = [cell_centre(gbox, 1, 1), cell_box(gbox, 2, 2, 4, 4)]
    gdf = gpd.GeoDataFrame({"class": ["alpine meadow"] * 2, "epoch": ["2000"] * 2}, geometry=geoms, crs=UTM)
    p = save(gdf, tmp_path / "s.geojson")
    with pytest.raises(InputError, match="is a Polygon, not a point") as e:
        read_samples(p, gbox, CLASSES, EPOCHS)
    assert e.value.row == 2 and e.value.field == "geometry"


def test_samples_no_crs(tmp_path, gbox):
    gdf, _ = sample_gdf(gbox, ["alpine meadow"], ["2000"], crs=UTM)
    p = save(gdf.set_crs(None, allow_override=True), tmp_path / "s.gpkg")
    with pytest.raises(CRSError, match="no coordinate reference system") as e:
        read_samples(p, gbox, CLASSES, EPOCHS)
    assert e.value.path == str(p)


def test_samples_missing_attribute(tmp_path, gbox):
    gdf, _ = sample_gdf(gbox, ["alpine meadow"], ["2000"])
    p = save(gdf.rename(columns={"class": "landcover"}), tmp_path / "s.gpkg")
    with pytest.raises(
        InputError, match="missing attribute 'class'; attributes found: landcover, epoch"
    ) as e:
        read_samples(p, gbox, CLASSES, EPOCHS)
    assert e.value.field == "class"


def test_samples_outside_warn_and_drop(tmp_path, gbox):
    gdf, _ = sample_gdf(gbox, ["alpine meadow"] * 3, ["2000"] * 3)
    far = gpd.GeoDataFrame(
        {"class": ["alpine meadow"], "epoch": ["2000"]},
        geometry=[shapely.Point(99.5, 38.02)],
        crs="EPSG:4326",
    )
    p = save(gpd.pd.concat([gdf, far], ignore_index=True), tmp_path / "s.gpkg")
    with pytest.warns(PfatlasWarning, match="1 of 4 samples outside the study area dropped: feature 4"):
        df = read_samples(p, gbox, CLASSES, EPOCHS)
    assert len(df) == 3
    only_far = save(far, tmp_path / "far.gpkg")
    with pytest.raises(InputError, match="none of the 1 samples lies inside"):
        read_samples(only_far, gbox, CLASSES, EPOCHS)


def test_samples_missing_file_and_unreadable(tmp_path, gbox):
    with pytest.raises(MissingInputError):
        read_samples(tmp_path / "none.gpkg", gbox, CLASSES, EPOCHS)
    bad = tmp_path / "bad.gpkg"
    bad.write_text("not a geopackage")
    with pytest.raises(InputError, match="cannot be read as a vector file") as e:
        read_samples(bad, gbox, CLASSES, EPOCHS)
    assert e.value.path == str(bad)


# ------------------------------------------------------------------------------------------------
# geomorphology
# ------------------------------------------------------------------------------------------------


def geomorph(gbox):
    ny, nx = gbox.shape
    # west half: moraine (two polygons), east half: alluvial plain; the last row left empty
    geoms = [
        cell_box(gbox, 0, 0, 50, 100),
        cell_box(gbox, 0, 100, ny - 1, nx),
        cell_box(gbox, 50, 0, ny - 1, 100),
    ]
    return gpd.GeoDataFrame(
        {"unit": ["moraine ", "alluvial plain", "moraine"], "note": ["a", "b", "c"]}, geometry=geoms, crs=UTM
    )


@pytest.mark.parametrize("suffix", [".gpkg", ".shp", ".geojson"])
def test_geomorphology_happy_and_rasterize(tmp_path, gbox, suffix):
    gdf = geomorph(gbox)
    if suffix == ".geojson":  # GeoJSON is WGS84: reprojected on reading
        gdf = gdf.to_crs("EPSG:4326")
    out = read_geomorphology(save(gdf, tmp_path / f"g{suffix}"), gbox)
    assert list(out.columns) == ["unit", "geometry"]
    assert list(out["unit"]) == ["moraine", "alluvial plain", "moraine"]
    assert out.crs.to_epsg() == 32647
    codes, names = rasterize_units(out, gbox)
    assert names == ["alluvial plain", "moraine"]
    assert codes.dtype == np.uint8 and codes.shape == gbox.shape
    expected = np.full(gbox.shape, 255, np.uint8)
    expected[:-1, :100] = 1
    expected[:-1, 100:] = 0
    # for GeoJSON the edges went through WGS84 and back (error << 1 mm): a cell centre 15 m from
    # an edge cannot change side, so the comparison stays exact
    np.testing.assert_array_equal(codes, expected)
    for chunk in (7, 64, 1000):  # burnt chunk by chunk: the same cells
        lazy, _ = rasterize_units(out, gbox, chunks=chunk)
        np.testing.assert_array_equal(lazy.compute(), expected)


def test_rasterize_units_reprojects_and_other_column(gbox):
    gdf = geomorph(gbox).to_crs("EPSG:4326")
    codes, names = rasterize_units(gdf, gbox, column="note")
    assert names == ["a", "b", "c"]
    assert codes[0, 0] == 0 and codes[0, -1] == 1 and codes[60, 0] == 2 and codes[-1, 0] == 255


@pytest.mark.parametrize("what", ["none", "no_unit", "blank_unit", "bowtie", "line", "far"])
def test_geomorphology_errors(tmp_path, gbox, what):
    gdf = geomorph(gbox)
    path = tmp_path / "g.gpkg"
    if what == "none":
        with pytest.raises(CRSError, match="no coordinate reference system") as e:
            read_geomorphology(save(gdf.set_crs(None, allow_override=True), path), gbox)
        assert e.value.path == str(path)
        return
    if what == "no_unit":
        with pytest.raises(InputError, match="missing attribute 'unit'; attributes found: type, note") as e:
            read_geomorphology(save(gdf.rename(columns={"unit": "TYPE"}), path), gbox)
        assert e.value.field == "unit"
        return
    if what == "far":
        far = gdf.copy()
        far["geometry"] = far.geometry.translate(xoff=1e5)
        with pytest.raises(CoverageError, match="no polygon intersects the study area") as e:
            read_geomorphology(save(far, path), gbox)
        assert e.value.path == str(path)
        return
    a = gbox.affine
    geom, field, match = {
        "blank_unit": (gdf.geometry[1], "unit", "feature 2: is blank"),
        "bowtie": (
            shapely.Polygon([(a.c, a.f), (a.c + 300, a.f - 300), (a.c + 300, a.f), (a.c, a.f - 300)]),
            "geometry",
            r"feature 2: invalid polygon \(Self-intersection",
        ),
        "line": (
            shapely.LineString([(a.c, a.f), (a.c + 300, a.f - 300)]),
            "geometry",
            "feature 2: is a LineString, not a polygon",
        ),
    }[what]
    bad = gdf.copy()
    bad.loc[1, "geometry"] = geom
    if what == "blank_unit":
        bad.loc[1, "unit"] = "  "
    p = save(bad, path)
    with pytest.raises(InputError, match=match) as e:
        read_geomorphology(p, gbox)
    assert e.value.row == 2 and e.value.field == field and e.value.path == str(p)


# ------------------------------------------------------------------------------------------------
# mining
# ------------------------------------------------------------------------------------------------


def mining(gbox):
    return gpd.GeoDataFrame(
        {
            "kind": ["pit", "Dump", "pit"],
            "start_year": [2005, 2008, 2012],
            "depth_m": [60.0, None, 40.0],
            "height_m": [None, 35.0, None],
            "pit_lake": ["yes", None, "0"],
            "name": ["North pit", None, ""],
        },
        geometry=[
            cell_box(gbox, 10, 10, 30, 40),
            cell_box(gbox, 20, 35, 60, 80),
            cell_box(gbox, 100, 200, 120, 230),
        ],
        crs=UTM,
    )


@pytest.mark.parametrize("suffix", [".gpkg", ".geojson"])
def test_mining_happy(tmp_path, gbox, suffix):
    gdf = mining(gbox)
    out = read_mining(
        save(gdf.to_crs("EPSG:4326") if suffix == ".geojson" else gdf, tmp_path / f"m{suffix}"), gbox
    )
    assert list(out.columns) == ["name", "kind", "start_year", "depth_m", "height_m", "pit_lake", "geometry"]
    assert list(out["name"]) == ["North pit", "dump-2", "pit-3"]
    assert list(out["kind"]) == ["pit", "dump", "pit"]
    assert list(out["start_year"]) == [2005, 2008, 2012]
    np.testing.assert_array_equal(out["depth_m"], [60, np.nan, 40])
    np.testing.assert_array_equal(out["height_m"], [np.nan, 35, np.nan])
    assert list(out["pit_lake"]) == [True, False, False]
    assert out.crs.to_epsg() == 32647
    # area of the first pit: 20 x 30 cells of 900 m2 (via WGS84 for geojson: < 1e-3 m2 error)
    np.testing.assert_allclose(out.geometry.area[0], 20 * 30 * 900.0, rtol=1e-9)


def test_mining_without_optional_columns(tmp_path, gbox):
    gdf = mining(gbox).drop(columns=["pit_lake", "name"])
    out = read_mining(save(gdf, tmp_path / "m.gpkg"), gbox)
    assert not out["pit_lake"].any() and list(out["name"]) == ["pit-1", "dump-2", "pit-3"]


def test_rasterize_mining(tmp_path, gbox):
    out = read_mining(save(mining(gbox), tmp_path / "m.gpkg"), gbox)
    m = rasterize_mining(out, gbox)
    expected = np.zeros(gbox.shape, np.uint8)
    expected[10:30, 10:40] = 1
    expected[20:60, 35:80] = 2  # the dump (2008) started after the pit (2005): drawn over it
    expected[100:120, 200:230] = 1
    assert m.dtype == np.uint8
    np.testing.assert_array_equal(m, expected)
    # by 2006 only the first pit existed
    early = np.zeros(gbox.shape, np.uint8)
    early[10:30, 10:40] = 1
    np.testing.assert_array_equal(rasterize_mining(out, gbox, year=2006), early)


def test_rasterize_mining_pit_wins_at_equal_years(gbox):
    gdf = gpd.GeoDataFrame(
        {"kind": ["pit", "dump"], "start_year": [2010, 2010]},
        geometry=[cell_box(gbox, 0, 0, 10, 10), cell_box(gbox, 5, 5, 15, 15)],
        crs=UTM,
    )
    m = rasterize_mining(gdf, gbox)
    assert m[7, 7] == 1 and m[12, 12] == 2 and m[2, 2] == 1 and m[20, 20] == 0


@pytest.mark.parametrize(
    ("change", "field", "match"),
    [
        ({"kind": "quarry"}, "kind", "feature 2: unknown kind 'quarry'; expected one of: pit, dump"),
        ({"kind": "pit", "depth_m": None}, "depth_m", "feature 2: pit without depth_m"),
        ({"kind": "pit", "depth_m": 0.0}, "depth_m", "feature 2: pit with depth_m = 0 m"),
        ({"height_m": 0.0}, "height_m", "feature 2: dump with height_m = 0 m"),
        ({"height_m": -5.0}, "height_m", "feature 2: dump with height_m = -5 m"),
        ({"height_m": None}, "height_m", "feature 2: dump without height_m"),
        ({"start_year": None}, "start_year", "blank where a year is required"),
        ({"pit_lake": "maybe"}, "pit_lake", "feature 2: 'maybe' is not true/false"),
    ],
)
def test_mining_bad_attributes(tmp_path, gbox, change, field, match):
    gdf = mining(gbox)
    for k, v in change.items():
        gdf[k] = gdf[k].astype(object)
        gdf.at[1, k] = v
    p = save(gdf, tmp_path / "m.gpkg")
    with pytest.raises(InputError, match=match) as e:
        read_mining(p, gbox)
    assert e.value.row == 2 and e.value.field == field and e.value.path == str(p)


def test_mining_pits_need_the_depth_column(tmp_path, gbox):
    p = save(mining(gbox).drop(columns="depth_m"), tmp_path / "m.gpkg")
    with pytest.raises(InputError, match="missing attribute 'depth_m'") as e:
        read_mining(p, gbox)
    assert e.value.field == "depth_m"


@pytest.mark.parametrize(
    ("geom", "match"),
    [
        ("flat", "feature 2: polygon has no area"),
        ("bowtie", r"feature 2: invalid polygon \(Self-intersection"),
        ("point", "feature 2: is a Point, not a polygon"),
    ],
)
def test_mining_bad_geometry(tmp_path, gbox, geom, match):
    a = gbox.affine
    g = {
        "flat": shapely.Polygon([(a.c, a.f - 30), (a.c + 300, a.f - 30), (a.c + 600, a.f - 30)]),
        "bowtie": shapely.Polygon([(a.c, a.f), (a.c + 300, a.f - 300), (a.c + 300, a.f), (a.c, a.f - 300)]),
        "point": shapely.Point(a.c + 45, a.f - 45),
    }[geom]
    gdf = mining(gbox)
    gdf.loc[1, "geometry"] = g
    p = save(gdf, tmp_path / "m.gpkg")
    with pytest.raises(InputError, match=match) as e:
        read_mining(p, gbox)
    assert e.value.row == 2 and e.value.field == "geometry" and e.value.path == str(p)


def test_mining_no_crs(tmp_path, gbox):
    p = save(mining(gbox).set_crs(None, allow_override=True), tmp_path / "m.shp")
    with pytest.raises(CRSError, match="no coordinate reference system") as e:
        read_mining(p, gbox)
    assert e.value.path == str(p)


def test_mining_outside_warn_and_drop(tmp_path, gbox):
    gdf = mining(gbox)
    gdf.loc[2, "geometry"] = shapely.affinity.translate(gdf.geometry[2], xoff=1e5)
    p = save(gdf, tmp_path / "m.gpkg")
    with pytest.warns(
        PfatlasWarning, match=r"1 of 3 mining features outside the study area dropped: pit-3 \(feature 3\)"
    ):
        out = read_mining(p, gbox)
    assert list(out["name"]) == ["North pit", "dump-2"]
    gdf["geometry"] = gdf.geometry.translate(xoff=1e5)
    with pytest.raises(CoverageError, match="no mining feature intersects the study area"):
        read_mining(save(gdf, tmp_path / "far.gpkg"), gbox)


def test_several_layers_need_a_name(tmp_path, gbox):
    p = tmp_path / "both.gpkg"
    mining(gbox).to_file(p, layer="mining", engine="pyogrio")
    geomorph(gbox).to_file(p, layer="geomorphology", engine="pyogrio")
    with pytest.raises(InputError, match="has 2 layers .*name the one to read") as e:
        read_mining(p, gbox)
    assert e.value.path == str(p)
    assert len(read_mining(p, gbox, layer="mining")) == 3
    assert len(read_geomorphology(p, gbox, layer="geomorphology")) == 3


def test_table_without_geometry_is_refused(tmp_path, gbox):
    p = tmp_path / "g.csv"
    p.write_text("unit,area\nmoraine,3\n")
    with pytest.raises(InputError, match="has no geometry") as e:
        read_geomorphology(p, gbox)
    assert e.value.path == str(p)


def test_empty_layer(tmp_path, gbox):
    p = save(mining(gbox).iloc[:0], tmp_path / "m.gpkg")
    with pytest.raises(InputError, match="has no features") as e:
        read_mining(p, gbox)
    assert e.value.path == str(p)
