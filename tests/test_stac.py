"""The STAC catalog of the tiny atlas: structure, values read back from the rasters, offline validation.

What is schema-validated offline: the catalog and every item against the STAC 1.1.0 core JSON
schemas bundled in pystac (catalog, item, and the GeoJSON Feature/Geometry schemas they use), with
the network blocked. The extension schemas (projection v2.0.0, raster v1.1.0, classification
v2.0.0) are not bundled: their fields are checked here structurally instead
(:func:`_check_extension_fields`, written from the extensions' field definitions), and against the
rasters' own values in the other tests.
"""

import datetime as dt
import json
import math
import re
import socket
from pathlib import Path

import numpy as np
import pandas as pd
import pystac
import pytest
import rasterio
from pystac.serialization.identify import identify_stac_object
from pystac.validation.stac_validator import JsonSchemaSTACValidator
from shapely.geometry import Point, shape

import pfatlas.atlas.stac as stac
from atlas_fixture import make_atlas
from pfatlas.atlas.qgis import write_qml_styles
from pfatlas.atlas.stac import COG_MEDIA_TYPE, write_catalog
from pfatlas.errors import MissingInputError

EXT = {
    "proj": "https://stac-extensions.github.io/projection/v2.0.0/schema.json",
    "raster": "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
    "classification": "https://stac-extensions.github.io/classification/v2.0.0/schema.json",
}
DATA_TYPES = {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float16", "float32",
              "float64", "cint16", "cint32", "cfloat32", "cfloat64", "other"}  # fmt: skip


@pytest.fixture(scope="module")
def atlas(tmp_path_factory):
    out = make_atlas(tmp_path_factory.mktemp("stac") / "atlas")
    write_qml_styles(out)
    (out / "plates").mkdir()
    for name in ("2000_magt.png", "compare_magt_2000_2020.png"):
        (out / "plates" / name).write_bytes(b"\x89PNG\r\n\x1a\n")  # stand-in plates
    write_catalog(out)
    return out


def _docs(out):
    return {
        p: json.loads(p.read_text(encoding="utf-8"))
        for p in [out / "catalog.json", *sorted((out / "stac").glob("*.json"))]
    }


def _items(out):
    return {d["id"]: (p, d) for p, d in _docs(out).items() if d["type"] == "Feature"}


@pytest.fixture
def offline(monkeypatch):
    """No network: any attempt to resolve or connect fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("network access during an offline test")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


def test_catalog_structure_and_hrefs(atlas):
    cat = json.loads((atlas / "catalog.json").read_text())
    assert cat["type"] == "Catalog" and cat["id"] == "tiny-test-atlas-synthetic"
    assert "SYNTHETIC" in cat["description"]
    assert sorted(link["href"] for link in cat["links"] if link["rel"] == "item") == [
        "./stac/2000.json", "./stac/2020.json", "./stac/change_2000_2020.json", "./stac/grid.json"]  # fmt: skip
    items = _items(atlas)
    folders = {"2000": atlas / "2000", "2020": atlas / "2020", "change_2000_2020": atlas / "change" / "2000_2020",
               "grid": atlas / "grid"}  # fmt: skip
    assert set(items) == set(folders)
    for item_id, (path, item) in items.items():
        data = {k for k, a in item["assets"].items() if "data" in a["roles"]}
        assert data == {p.stem for p in folders[item_id].glob("*.tif")}
        assert all(link["rel"] != "self" for link in item["links"])  # self-contained
        for key, a in item["assets"].items():
            assert not Path(a["href"]).is_absolute() and a["href"].startswith("../")
            target = (path.parent / a["href"]).resolve()
            assert target.is_file(), (item_id, key)
            if "data" in a["roles"]:
                assert (
                    a["type"] == COG_MEDIA_TYPE == "image/tiff; application=geotiff; profile=cloud-optimized"
                )
                assert target.suffix == ".tif" and target.stem == key and a["title"]
            else:
                assert set(a["roles"]) in ({"metadata"}, {"overview", "visual"})
    grid_assets = items["grid"][1]["assets"]
    assert grid_assets["geomorphology_aux"]["href"] == "../grid/geomorphology.tif.aux.xml"
    assert items["2000"][1]["assets"]["magt_qml"]["href"] == "../2000/magt.qml"
    assert items["2000"][1]["assets"]["magt_plate"]["roles"] == ["overview", "visual"]
    compare = items["change_2000_2020"][1]["assets"]["compare_magt"]
    assert compare["href"] == "../plates/compare_magt_2000_2020.png" and compare["type"] == "image/png"
    # pystac reads it back (offline: local files only)
    read = pystac.Catalog.from_file(str(atlas / "catalog.json"))
    assert sorted(i.id for i in read.get_items()) == sorted(folders)
    for item in read.get_items():
        for a in item.assets.values():
            assert Path(a.get_absolute_href()).is_file()


def test_projection_equals_the_rasters(atlas):
    for _, (path, item) in _items(atlas).items():
        props = item["properties"]
        for a in item["assets"].values():
            if "data" not in a["roles"]:
                continue
            with rasterio.open((path.parent / a["href"]).resolve()) as src:
                assert props["proj:code"] == f"EPSG:{src.crs.to_epsg()}" == "EPSG:32647"
                assert props["proj:shape"] == [src.height, src.width]
                assert props["proj:transform"] == list(src.transform)[:6]
                assert props["proj:bbox"] == list(src.bounds)
                assert props["gsd"] == src.res[0]


def test_raster_bands_and_classes_equal_the_rasters(atlas):
    n_class = 0
    for _, (path, item) in _items(atlas).items():
        for a in item["assets"].values():
            if "data" not in a["roles"]:
                continue
            (band,) = a["raster:bands"]
            with rasterio.open((path.parent / a["href"]).resolve()) as src:
                assert band["data_type"] == src.dtypes[0]
                assert band["spatial_resolution"] == src.res[0]
                tags = src.tags()
                if src.dtypes[0] == "float32":
                    assert band["nodata"] == "nan" and math.isnan(src.nodata)
                    assert band["unit"] == tags["units"]
                    assert "classification:classes" not in a
                    continue
                n_class += 1
                assert band["nodata"] == src.nodata == 255 and "unit" not in band
                names = {int(k): v for k, v in json.loads(tags["CLASS_NAMES"]).items()}
                cmap = src.colormap(1)
                counts = np.bincount(src.read(1).ravel(), minlength=256)
            classes = a["classification:classes"]
            assert classes[-1] == {"value": 255, "name": "nodata", "title": "no data", "nodata": True}
            got = {c["value"]: c for c in classes[:-1]}
            assert {v: c["title"] for v, c in got.items()} == names
            for v, c in got.items():
                assert c["description"] == names[v]
                assert c["color_hint"] == "{:02X}{:02X}{:02X}".format(*cmap[v][:3])
                assert c["count"] == counts[v]
                assert c["percentage"] == pytest.approx(100 * counts[v] / counts[:255].sum(), abs=1e-4)
    assert n_class == 11


def test_footprint_and_times(atlas):
    bh = pd.read_csv(atlas / "tables" / "boreholes.csv")
    items = _items(atlas)
    for _, (_, item) in items.items():
        x0, y0, x1, y1 = item["bbox"]
        assert ((bh.lon > x0) & (bh.lon < x1) & (bh.lat > y0) & (bh.lat < y1)).all()
        poly = shape(item["geometry"])
        assert poly.is_valid and all(
            poly.contains(Point(lon, lat)) for lon, lat in zip(bh.lon, bh.lat, strict=True)
        )
        np.testing.assert_allclose(poly.bounds, item["bbox"], rtol=0, atol=1e-9)
        assert item["properties"]["pfatlas:synthetic"] is True

    def when(item_id, key):
        return dt.datetime.fromisoformat(items[item_id][1]["properties"][key])

    utc = dt.UTC
    assert when("2000", "start_datetime") == dt.datetime(2000, 6, 1, tzinfo=utc)
    assert when("2000", "end_datetime") == dt.datetime(2000, 9, 30, 23, 59, 59, tzinfo=utc)
    assert when("2020", "datetime") == dt.datetime(2020, 7, 31, 23, 59, 59, tzinfo=utc)  # the window's middle
    assert when("change_2000_2020", "start_datetime") == dt.datetime(2000, 6, 1, tzinfo=utc)
    assert when("change_2000_2020", "end_datetime") == dt.datetime(2020, 9, 30, 23, 59, 59, tzinfo=utc)
    assert items["change_2000_2020"][1]["properties"]["datetime"] is None
    assert items["grid"][1]["properties"]["datetime"] is None


def _check_extension_fields(item: dict) -> list[str]:
    """The fields of the projection, raster and classification extensions as their schemas define
    them (types, required members, enumerations, patterns); returns what is wrong."""
    bad = []
    used = set(item.get("stac_extensions", []))
    num = (int, float)
    places = [("item", item["properties"])] + [(k, a) for k, a in item["assets"].items()]
    for where, obj in places:
        if any(k.startswith("proj:") for k in obj):
            if EXT["proj"] not in used:
                bad.append(f"{where}: proj fields without the extension")
            code = obj.get("proj:code")
            if not (code is None or (isinstance(code, str) and re.fullmatch(r"[A-Z]+:[0-9A-Za-z_.]+", code))):
                bad.append(f"{where}: proj:code {code!r}")
            shp = obj.get("proj:shape")
            if shp is not None and not (len(shp) == 2 and all(isinstance(v, int) and v >= 0 for v in shp)):
                bad.append(f"{where}: proj:shape {shp!r}")
            tr = obj.get("proj:transform")
            if tr is not None and not (len(tr) in (6, 9) and all(isinstance(v, num) for v in tr)):
                bad.append(f"{where}: proj:transform {tr!r}")
            bb = obj.get("proj:bbox")
            if bb is not None and not (len(bb) in (4, 6) and all(isinstance(v, num) for v in bb)):
                bad.append(f"{where}: proj:bbox {bb!r}")
        if "raster:bands" in obj:
            if EXT["raster"] not in used:
                bad.append(f"{where}: raster:bands without the extension")
            for b in obj["raster:bands"]:
                nd = b.get("nodata")
                if not (nd is None or isinstance(nd, num) or nd in ("nan", "inf", "-inf")):
                    bad.append(f"{where}: nodata {nd!r}")
                if b.get("data_type") not in DATA_TYPES:
                    bad.append(f"{where}: data_type {b.get('data_type')!r}")
                if "unit" in b and not isinstance(b["unit"], str):
                    bad.append(f"{where}: unit {b['unit']!r}")
                if "spatial_resolution" in b and not isinstance(b["spatial_resolution"], num):
                    bad.append(f"{where}: spatial_resolution")
        if "classification:classes" in obj:
            if EXT["classification"] not in used:
                bad.append(f"{where}: classification without the extension")
            values = [c.get("value") for c in obj["classification:classes"]]
            if len(set(values)) != len(values):
                bad.append(f"{where}: repeated class values")
            for c in obj["classification:classes"]:
                if not isinstance(c.get("value"), int) or not re.fullmatch(
                    r"[0-9A-Za-z\-_]+", str(c.get("name"))
                ):
                    bad.append(f"{where}: class {c!r} needs an integer value and a name of [0-9A-Za-z-_]")
                if "color_hint" in c and not re.fullmatch(r"[0-9A-Fa-f]{6}", c["color_hint"]):
                    bad.append(f"{where}: color_hint {c['color_hint']!r}")
                if "percentage" in c and not 0 <= c["percentage"] <= 100:
                    bad.append(f"{where}: percentage {c['percentage']!r}")
                if "count" in c and not (isinstance(c["count"], int) and c["count"] >= 0):
                    bad.append(f"{where}: count {c['count']!r}")
                if "nodata" in c and not isinstance(c["nodata"], bool):
                    bad.append(f"{where}: nodata {c['nodata']!r}")
    return bad


def test_validates_offline(atlas, offline):
    validator = JsonSchemaSTACValidator()
    docs = _docs(atlas)
    assert len(docs) == 5
    for path, doc in docs.items():
        kind = identify_stac_object(doc).object_type
        assert validator.validate_core(doc, kind, doc["stac_version"], str(path)) is not None
        if doc["type"] == "Feature":
            assert set(doc["stac_extensions"]) == set(EXT.values())
            assert _check_extension_fields(doc) == []
    # the checks catch errors: a core violation and extension field violations
    _, item = _items(atlas)["2020"]
    broken = json.loads(json.dumps(item))
    del broken["properties"]["start_datetime"]
    broken["properties"]["datetime"] = None
    with pytest.raises(pystac.STACValidationError, match="start_datetime"):
        validator.validate_core(broken, pystac.STACObjectType.ITEM, broken["stac_version"], "broken")
    broken = json.loads(json.dumps(item))
    broken["properties"]["proj:shape"] = [64.5, 96]
    broken["assets"]["landcover"]["raster:bands"][0]["nodata"] = "none"
    broken["assets"]["landcover"]["classification:classes"][0]["name"] = "alpine swamp meadow"
    assert len(_check_extension_fields(broken)) == 3


def test_failure_midway_leaves_no_catalog(tmp_path, monkeypatch):
    out = make_atlas(tmp_path / "atlas")

    def fail(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(stac, "_check_hrefs", fail)  # after the files are written, before they move
    with pytest.raises(RuntimeError, match="disk full"):
        write_catalog(out)
    assert not (out / "catalog.json").exists() and not (out / "stac").exists()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary folder left
    monkeypatch.undo()
    write_catalog(out)
    before = {p: p.read_bytes() for p in [out / "catalog.json", *(out / "stac").iterdir()]}
    monkeypatch.setattr(stac, "_item", fail)  # a failed rewrite keeps the previous catalog
    with pytest.raises(RuntimeError, match="disk full"):
        write_catalog(out)
    assert {p: p.read_bytes() for p in [out / "catalog.json", *(out / "stac").iterdir()]} == before
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_rewrite_and_missing_atlas(tmp_path):
    out = make_atlas(tmp_path / "atlas")
    write_catalog(out)
    (out / "stac" / "obsolete.json").write_text("{}")  # an item of an earlier catalog goes away
    assert write_catalog(out) == out / "catalog.json"
    assert sorted(p.name for p in (out / "stac").iterdir()) == [
        "2000.json", "2020.json", "change_2000_2020.json", "grid.json"]  # fmt: skip
    with pytest.raises(MissingInputError, match="config.toml"):
        write_catalog(tmp_path / "empty")
