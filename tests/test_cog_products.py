"""Every atlas raster is a valid COG with the atlas conventions; class sidecars; QGIS styles."""

import json
import shutil
import subprocess
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import rasterio
from odc.geo.geobox import GeoBox
from rio_cogeo.cogeo import cog_validate

from atlas_fixture import ICE, LANDCOVER, PERMAFROST, STABILITY, TRANSITION, UNITS, ZONES, gbox, make_atlas
from pfatlas.atlas.qgis import N_STOPS, qml_path, write_class_sidecars, write_qml_styles
from pfatlas.atlas.style import colorize, resolve_styles
from pfatlas.atlas.validate_cog import check_cog, read_pam_classes
from pfatlas.grid import wrap_on_grid
from pfatlas.io.cog import ClassInfo, Layer, pam_sidecar, write_cog, write_cogs

CLASSES = {"landcover": LANDCOVER, "permafrost": PERMAFROST, "thermal_stability": STABILITY, "ice_class": ICE,
           "mining_zone": ZONES, "permafrost_transition": TRANSITION, "geomorphology": UNITS}  # fmt: skip
UNITS_OF = {"magt": "degC", "magt_se": "degC", "alt": "m", "ground_ice": "m3 m-3", "ice_volume": "m3",
            "permafrost_probability": "1", "mining_delta_magt": "degC", "mining_delta_alt": "m", "dem": "m",
            "delta_magt": "degC", "delta_alt": "m"}  # fmt: skip


@pytest.fixture(scope="module")
def atlas(tmp_path_factory):
    return make_atlas(tmp_path_factory.mktemp("cog") / "atlas")


def _rasters(out):
    return sorted(p for p in out.rglob("*.tif") if not p.name.startswith("."))


def test_every_atlas_raster_is_a_valid_cog_with_its_metadata(atlas):
    paths = _rasters(atlas)
    assert len(paths) == 28
    for p in paths:
        # rio-cogeo: (valid, errors, warnings). Its warnings would flag a large image without
        # overviews or odd overview decimations; the writer must give none.
        assert cog_validate(str(p), quiet=True) == (True, [], []), p
        assert check_cog(p) == [], p
        with rasterio.open(p) as src:
            assert src.crs.to_epsg() == 32647 and src.count == 1
            assert src.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
            tags = src.tags()
            if p.stem in CLASSES:
                assert src.dtypes[0] == "uint8" and src.nodata == 255
                assert tags["units"] == "class" and tags["OVERVIEW_RESAMPLING"] == "MODE"
                classes = CLASSES[p.stem]
                assert json.loads(tags["CLASS_NAMES"]) == {str(c.value): c.name for c in classes}
                cmap = src.colormap(1)
                assert all(cmap[c.value][:3] == c.color for c in classes)
            else:
                assert src.dtypes[0] == "float32" and np.isnan(src.nodata)
                assert tags["units"] == UNITS_OF[p.stem] and tags["OVERVIEW_RESAMPLING"] == "AVERAGE"
            assert tags["description"]


def test_class_sidecar_holds_names_and_colours_and_gdal_reads_it(atlas):
    p = atlas / "2000" / "landcover.tif"
    cats, rows = read_pam_classes(p)
    assert cats == [
        "",
        "alpine swamp meadow",
        "alpine meadow",
        "alpine steppe",
        "",
        "water",
        "open pit",
        "waste dump",
    ]
    assert rows == [(c.value, c.name, (*c.color, 255)) for c in LANDCOVER]
    # rasterio's own GDAL finds the sidecar (it lists it among the dataset's files) ...
    with rasterio.open(p) as src:
        assert str(pam_sidecar(p)) in src.files
    # ... the COG stays valid beside it, and no continuous layer has one
    assert cog_validate(str(p), quiet=True) == (True, [], [])
    assert not pam_sidecar(atlas / "2000" / "magt.tif").exists()
    # ... and GDAL's command line shows the categories and the attribute table, where installed
    gdalinfo = shutil.which("gdalinfo")
    if gdalinfo is None:
        return
    info = json.loads(
        subprocess.run([gdalinfo, "-json", str(p)], capture_output=True, check=True, text=True).stdout
    )
    assert info["bands"][0]["categories"] == cats
    rat = info["rat"]
    assert [f["name"] for f in rat["fieldDefn"]] == ["value", "class", "red", "green", "blue", "alpha"]
    assert [r["f"][:2] for r in rat["row"]] == [[c.value, c.name] for c in LANDCOVER]


def _small_tiles(tmp_path):
    """A continuous and a class layer on 256 x 384 cells in 128-cell tiles (GDAL's smallest COG
    tile), so that they get two overview levels.

    Continuous: random values, one 2 x 2 block all NaN, one with a single valid cell. Classes: in
    each 2 x 2 block the top-left cell has a code and the three others another, so the mode (the
    three) and the nearest cell (top-left) differ everywhere.
    """
    g = GeoBox((256, 384), gbox().affine, gbox().crs)
    rng = np.random.default_rng(7)
    z = rng.normal(0.0, 3.0, g.shape).astype("f4")
    z[10:12, 20:22] = np.nan
    z[30:32, 40:42] = np.nan
    z[30, 41] = 5.0
    majority = np.where(np.arange(g.shape[1])[None, :] < 190, 2, 3).repeat(g.shape[0], 0).astype("u1")
    c = majority.copy()
    c[0::2, 0::2] = 1
    c[:4, :4] = 255  # nodata
    classes = [
        ClassInfo(1, "one", (200, 0, 0)),
        ClassInfo(2, "two", (0, 200, 0)),
        ClassInfo(3, "three", (0, 0, 200)),
    ]
    w = lambda a, n: wrap_on_grid(a, g, n, units="x", long_name=n)  # noqa: E731
    paths = write_cogs([Layer(w(z, "z"), tmp_path / "z.tif", "m", "random"),
                        Layer(w(c, "c"), tmp_path / "c.tif", "class", "classes", classes=classes)],
                       gbox=g, blocksize=128)  # fmt: skip
    return paths, z, c, majority


def test_overviews_are_block_averages_and_class_modes(tmp_path):
    (zp, cp), z, c, majority = _small_tiles(tmp_path)
    for p in (zp, cp):
        assert cog_validate(str(p), quiet=True) == (True, [], [])
        assert check_cog(p) == []
        with rasterio.open(p) as src:
            assert src.overviews(1) == [2, 4]
    with rasterio.open(zp, overview_level=0) as ov:
        got = ov.read(1)
    blocks = z.astype("f8").reshape(128, 2, 192, 2)
    ok = np.isfinite(blocks)
    with np.errstate(invalid="ignore"):
        expect = np.where(ok, blocks, 0).sum(axis=(1, 3)) / ok.sum(axis=(1, 3))
    # GDAL averages the float32 cells: agreement to float32 rounding of values of order 10
    np.testing.assert_allclose(got, expect, rtol=0, atol=1e-5)
    assert np.isnan(got[5, 10]) and got[15, 20] == 5.0  # all-NaN block stays nodata; NaN cells ignored
    with rasterio.open(cp, overview_level=0) as ov:
        got = ov.read(1)
    expect = majority[0::2, 0::2].copy()
    expect[:2, :2] = 255
    np.testing.assert_array_equal(got, expect)  # the three of four, not the top-left cell
    with rasterio.open(cp, overview_level=1) as ov:
        assert set(np.unique(ov.read(1)).tolist()) <= {1, 2, 3, 255}


def test_check_cog_finds_problems(tmp_path):
    (zp, cp), _, _, _ = _small_tiles(tmp_path)
    # a plain striped float64 GeoTIFF without overviews, nodata or units
    plain = tmp_path / "plain.tif"
    with rasterio.open(plain, "w", driver="GTiff", width=600, height=600, count=1, dtype="float64",
                       crs="EPSG:32647", transform=gbox().affine) as dst:  # fmt: skip
        dst.write(np.zeros((1, 600, 600)))
    text = "\n".join(check_cog(plain))
    for s in ("COG structure", "data type float64", "no 'units' tag", "no 'description' tag",
              "OVERVIEW_RESAMPLING tag None"):  # fmt: skip
        assert s in text, s
    # a float32 layer without a NaN nodata
    f32 = tmp_path / "f32.tif"
    with rasterio.open(f32, "w", driver="GTiff", width=60, height=60, count=1, dtype="float32",
                       crs="EPSG:32647", transform=gbox().affine, nodata=-9999) as dst:  # fmt: skip
        dst.write(np.zeros((1, 60, 60), "f4"))
    assert "f32.tif: nodata -9999.0, expected NaN for a continuous layer" in check_cog(f32)
    # a class layer whose sidecar disagrees with its CLASS_NAMES, then one without a sidecar
    side = pam_sidecar(cp)
    side.write_text(side.read_text().replace(">two<", ">deux<"))
    assert any("category names differ" in p for p in check_cog(cp))
    assert any("attribute table differs" in p for p in check_cog(cp))
    side.unlink()
    assert check_cog(cp) == [f"c.tif: no {side.name} (class names for GDAL and QGIS)"]
    assert check_cog(tmp_path / "missing.tif") == [f"{tmp_path / 'missing.tif'}: no such file"]


def test_rewriting_a_layer_replaces_or_removes_its_sidecar(tmp_path):
    g = gbox()
    w = lambda a: wrap_on_grid(a, g, "a", units="x", long_name="a")  # noqa: E731
    p = tmp_path / "a.tif"
    write_cog(w(np.ones(g.shape, "u1")), p, gbox=g, units="class", description="v1", classes=PERMAFROST)
    assert [r[1] for r in read_pam_classes(p)[1]] == ["no permafrost", "permafrost"]
    write_cog(w(np.ones(g.shape, "u1")), p, gbox=g, units="class", description="v2", classes=ICE)
    assert [r[1] for r in read_pam_classes(p)[1]] == [c.name for c in ICE]
    write_cog(w(np.ones(g.shape, "f4")), p, gbox=g, units="m", description="v3")  # stale class names go
    assert not pam_sidecar(p).exists()

    def fail(_):
        raise RuntimeError("abandoned")

    with pytest.raises(RuntimeError, match="abandoned"):
        write_cogs([Layer(w(np.ones(g.shape, "u1")), tmp_path / "b.tif", "class", "b", classes=ICE)], gbox=g,
                   check=fail)  # fmt: skip
    assert sorted(x.name for x in tmp_path.iterdir()) == ["a.tif"]


def _hex(rgb):
    return "#{:02x}{:02x}{:02x}".format(*(int(v) for v in rgb[:3]))


def test_qml_styles_show_the_atlas_scales(tmp_path):
    out = make_atlas(tmp_path / "atlas")
    written = write_qml_styles(out)
    assert sorted(written) == sorted(qml_path(p) for p in _rasters(out))
    styles = resolve_styles(out)
    for q in written:
        root = ET.parse(q).getroot()  # well-formed XML
        assert root.tag == "qgis"
        renderer = root.find("pipe/rasterrenderer")
        style = styles[q.stem]
        if style.kind == "class":
            assert renderer.get("type") == "paletted"
            entries = [
                (int(e.get("value")), e.get("label"), e.get("color")) for e in renderer.iter("paletteEntry")
            ]
            assert entries == [(k, n, c) for k, (n, c) in sorted(style.classes.items())]
            with rasterio.open(q.with_suffix(".tif")) as src:  # the colours the COG itself carries
                names, cmap = json.loads(src.tags()["CLASS_NAMES"]), src.colormap(1)
            assert names.items() <= {str(k): n for k, n, _ in entries}.items()
            assert all(c == _hex(cmap[k]) for k, n, c in entries if str(k) in names)
        else:
            assert renderer.get("type") == "singlebandpseudocolor"
            shader = renderer.find("rastershader/colorrampshader")
            assert (
                float(shader.get("minimumValue")) == style.vmin
                and float(shader.get("maximumValue")) == style.vmax
            )
            assert renderer.findtext("minMaxOrigin/limits") == "None"  # fixed limits, not per file
            items = shader.findall("item")
            values = np.array([float(i.get("value")) for i in items])
            assert len(items) == N_STOPS and values[0] == style.vmin and values[-1] == style.vmax
            assert np.all(np.diff(values) > 0)
            # the plates' colours at the same values (colorize); a stop may fall one step of
            # Matplotlib's 256-colour table away by float rounding: 8 levels of 255 allowed
            rgba = colorize(values, style)
            got = np.array([[int(i.get("color")[k : k + 2], 16) for k in (1, 3, 5)] for i in items])
            assert np.abs(got - rgba[:, :3].astype(int)).max() <= 8, q
            if style.center is not None:
                assert 0.0 in values  # the centre of a diverging scale is a stop
    magt = ET.parse(out / "2000" / "magt.qml").getroot()
    assert magt.find("pipe/rasterrenderer/rastershader/colorrampshader/item").get("label").endswith("degC")


def test_class_sidecars_rewritten_for_linked_layers(tmp_path):
    # an epoch without mining gets its natural layers by hard link, without the sidecar: the
    # product step writes it from the COG's own tags, equal to what the writer writes
    out = make_atlas(tmp_path / "atlas")
    p = out / "2000" / "permafrost.tif"
    expect = pam_sidecar(p).read_text()
    pam_sidecar(p).unlink()
    stale = pam_sidecar(out / "2000" / "landcover.tif")
    stale.write_text(stale.read_text().replace("water", "old name"))
    written = write_class_sidecars(out)
    assert len(written) == 11 and all(w.name.endswith(".tif.aux.xml") for w in written)
    assert pam_sidecar(p).read_text() == expect
    assert "old name" not in stale.read_text()
    assert all(check_cog(q) == [] for q in _rasters(out))
