"""Map plates (pfatlas.atlas.plates) on the tiny atlas: files, sizes, colours, overlays, errors.

Most tests read one render of the tiny atlas at 100 dpi drawn by two worker processes (the pool
path); the in-process path, the default and the 300 dpi resolution are checked on a minimal atlas
of two plates, which keeps this file fast.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import rasterio
from PIL import Image

from atlas_fixture import DUMP, EPOCHS, PIT, SHAPE, X0, Y0, make_atlas
from pfatlas import __version__
from pfatlas.atlas import cartography as C
from pfatlas.atlas import plates as P
from pfatlas.atlas.style import colorize, resolve_styles
from pfatlas.errors import InputError, MissingInputError

EPOCH_LAYERS = ["landcover", "magt", "magt_se", "permafrost", "permafrost_probability", "thermal_stability", "alt",
                "ground_ice", "ice_volume", "ice_class"]  # fmt: skip
MINING = ["mining_zone", "mining_delta_magt", "mining_delta_alt"]
EXPECTED = (
    {f"grid_{n}" for n in ("dem", "geomorphology")}
    | {f"{e}_{n}" for e in EPOCHS for n in EPOCH_LAYERS}
    | {f"2020_{n}" for n in MINING}
    | {f"change_2000_2020_{n}" for n in ("delta_magt", "delta_alt", "permafrost_transition")}
    | {f"compare_{n}_2000_2020" for n in P.KEY_LAYERS}
)


def _px(dpi: int) -> tuple[int, int]:
    """Pixel size of an A4 landscape figure as Matplotlib's Agg canvas makes it (truncated)."""
    return int(P.PAGE_IN[0] * dpi), int(P.PAGE_IN[1] * dpi)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    out = make_atlas(tmp_path_factory.mktemp("plates") / "atlas")
    (out / "plates").mkdir()
    (out / "plates" / "stale_plate.png").write_bytes(b"old")  # a plate of an earlier run
    paths = P.render_plates(out, dpi=100, workers=2)
    return out, paths


def _minimal(root: Path) -> Path:
    """The tiny atlas cut to the DEM and the 2000 MAGT: two plates."""
    out = make_atlas(root)
    for d in ("2020", "change", "tables"):
        shutil.rmtree(out / d)
    for p in [*out.glob("2000/*"), *out.glob("grid/geomorphology*")]:
        if p.name != "magt.tif":
            p.unlink()
    return out


def test_every_plate_is_written_once_in_atlas_order(rendered):
    out, paths = rendered
    pngs = [p for p in paths if p.suffix == ".png"]
    assert {p.stem for p in pngs} == EXPECTED
    assert len(pngs) == len(EXPECTED)
    assert paths[-1] == out / "plates" / P.INDEX_FILE
    assert sorted(p.name for p in (out / "plates").iterdir()) == sorted(
        [p.name for p in pngs] + [P.INDEX_FILE]
    )
    index = P.plate_index(out)
    assert [out / e["path"] for e in index] == pngs
    assert [e["number"] for e in index] == list(range(1, len(pngs) + 1))
    kinds = [e["kind"] for e in index]
    assert kinds[:2] == ["grid", "grid"] and kinds[-3:] == ["change"] * 3
    # each key layer: its epoch plates, then the side-by-side plate
    names = [Path(e["path"]).stem for e in index]
    assert names.index("compare_magt_2000_2020") == names.index("2020_magt") + 1
    assert names.index("2000_magt") < names.index("2020_magt")
    assert {e["epoch"] for e in index if e["kind"] == "compare"} == {"2000_2020"}


def test_plates_are_pngs_of_the_page_size_and_dpi(rendered):
    out, paths = rendered
    for p in paths[:-1]:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        with Image.open(p) as im:
            assert im.size == _px(100)
            np.testing.assert_allclose(
                im.info["dpi"], (100, 100), atol=0.02
            )  # pHYs stores whole dots per metre
            assert im.info["Source"].startswith("SYNTHETIC data (pfatlas virtual Muli)")
            assert im.info["Software"] == f"pfatlas {__version__}"


def test_map_box_has_the_grid_aspect(rendered):
    out, _ = rendered
    for e in P.plate_index(out):
        x0, y0, x1, y1 = e["map_box"]
        assert 0 <= x0 < x1 <= e["width"] and 0 <= y0 < y1 <= e["height"]
        # 96 x 64 cells of 30 m; within a pixel of rounding on ~500 pixels
        np.testing.assert_allclose((x1 - x0) / (y1 - y0), SHAPE[1] / SHAPE[0], rtol=0.01)


def test_class_plate_shows_the_class_colours_over_the_hillshade(rendered):
    """Every cell of the land-cover plate is drawn in its class colour shaded by the terrain.

    Expected colour of a cell: ``shade(colorize(class), hillshade(dem))`` (the map is drawn at the
    grid's own 96 x 64 cells here). Read at the pixel under each cell centre, the plate differs by
    the 256-colour palette of the PNG (median 2, 90 % within 5 units measured) and, at a few cells,
    by the graticule, outlines and boreholes drawn on top, so: the median error is <= 4 units and
    >= 95 % of the cells are nearer to their own class's shaded colour than to any other class's.
    """
    out, _ = rendered
    e = next(e for e in P.plate_index(out) if e["path"].endswith("/2020_landcover.png"))
    with Image.open(out / e["path"]) as im:
        img = np.asarray(im.convert("RGB")).astype(int)
    with rasterio.open(out / "2020" / "landcover.tif") as src:
        lc = src.read(1)
    with rasterio.open(out / "grid" / "dem.tif") as src:
        light = C.hillshade(src.read(1).astype(float), 30.0, 30.0)
    style = resolve_styles(out)["landcover"]
    x0, y0, x1, y1 = e["map_box"]
    r, c = np.mgrid[0 : SHAPE[0], 0 : SHAPE[1]]
    got = img[
        (y0 + (r + 0.5) * (y1 - y0) / SHAPE[0]).astype(int),
        (x0 + (c + 0.5) * (x1 - x0) / SHAPE[1]).astype(int),
    ]
    want = C.shade(colorize(lc, style), light).astype(int)
    assert np.median(np.abs(got - want).max(axis=-1)) <= 4
    codes = sorted(style.classes)
    per_class = np.stack(
        [C.shade(colorize(np.full(SHAPE, k, "uint8"), style), light).astype(int) for k in codes]
    )
    nearest = np.asarray(codes)[np.abs(per_class - got[None]).sum(axis=-1).argmin(axis=0)]
    assert (nearest == lc).mean() >= 0.95
    # the pit and the dump (a borehole marker and a graticule line cross the dump)
    assert (nearest[PIT] == 6).mean() >= 0.9 and (nearest[DUMP] == 7).mean() >= 0.9


def test_shade_keeps_legend_colours_on_flat_ground_and_paints_no_value_white(rendered):
    style = resolve_styles(rendered[0])["landcover"]
    codes = np.array([[1, 2, 3], [5, 6, 255]], dtype="uint8")
    rgba = colorize(codes, style)
    out = C.shade(rgba, np.full(codes.shape, math.sqrt(0.5)))  # flat ground
    np.testing.assert_array_equal(out[rgba[..., 3] > 0], rgba[rgba[..., 3] > 0][:, :3])  # exact legend colour
    np.testing.assert_array_equal(out[1, 2], [255, 255, 255])  # no value (255): white paper
    dark = C.shade(rgba, np.zeros(codes.shape))  # facing away from the sun: darker
    assert (dark[0].astype(int) <= out[0].astype(int)).all() and (dark[0] < out[0]).any()
    assert (C.shade(rgba, np.full(codes.shape, np.nan)) == 255).all()  # no terrain (outside the DEM): white


def test_hillshade_faces_the_sun_at_azimuth_315_altitude_45():
    # a plane whose normal points at the sun (north-west, 45 deg up): rises to the south-east by
    # tan(45) along the azimuth, i.e. dz/dx = +0.5 / 0.7071 east and dz/dnorth = -0.5 / 0.7071
    y, x = np.mgrid[0:5, 0:5] * 30.0  # rows run south
    z = 0.7071068 * x + 0.7071068 * y
    np.testing.assert_allclose(C.hillshade(z, 30.0, 30.0)[2, 2], 1.0, atol=1e-6)
    np.testing.assert_allclose(C.hillshade(-z, 30.0, 30.0)[2, 2], 0.0, atol=1e-6)  # facing away: shadow
    assert C.hillshade(np.full((3, 3), 100.0), 30.0, 30.0)[1, 1] == pytest.approx(math.sqrt(0.5))


def test_mining_outlines_and_boreholes(rendered):
    out, _ = rendered
    rings = P._outlines(out / "2020" / "mining_zone.tif")
    (pit,), (dump,) = rings[1], rings[2]
    # the pit rows 20-29, cols 30-41 of 30 m cells from the upper-left corner
    assert (pit[:, 0].min(), pit[:, 0].max()) == (X0 + 30 * 30.0, X0 + 42 * 30.0)
    assert (pit[:, 1].min(), pit[:, 1].max()) == (Y0 - 30 * 30.0, Y0 - 20 * 30.0)
    assert (dump[:, 0].min(), dump[:, 1].max()) == (X0 + 50 * 30.0, Y0 - 36 * 30.0)
    bh = P._boreholes(out)
    assert bh["natural"].tolist() == [True, False, True, True]
    np.testing.assert_allclose(bh["magt"], [0.3, -1.2, -0.8, -2.5])


def test_true_north_and_graticule(rendered):
    out, _ = rendered
    grat, north = P._graticule(P.atlas_meta(out))
    # UTM 47N (central meridian 99 E) at ~99.47 E, 38.03 N: true north lies west of grid north by
    # atan(tan(dlon) sin(lat)) = 0.29 deg (the convergence formula, exact to ~1e-4 deg this close)
    lon, lat = 99.4685, 38.0245
    gamma = math.degrees(math.atan(math.tan(math.radians(lon - 99.0)) * math.sin(math.radians(lat))))
    assert north == pytest.approx(-gamma, abs=0.01)
    labels = [g["label"] for g in grat["lines"]]
    assert "99°28'00\"E" in labels and "38°02'00\"N" in labels  # 30" steps on a 2.9 x 1.9 km map
    assert C.dms(99.1666667, 600 / 3600, "E", "W") == "99°10'E"


def test_default_dpi_in_process_and_rcparams_unchanged(tmp_path):
    out = _minimal(tmp_path / "atlas")
    before = dict(matplotlib.rcParams)
    paths = P.render_plates(out, workers=1)
    assert dict(matplotlib.rcParams) == before
    assert [p.name for p in paths] == ["grid_dem.png", "2000_magt.png", P.INDEX_FILE]
    with Image.open(paths[1]) as im:
        assert im.size == _px(150)
        np.testing.assert_allclose(im.info["dpi"], (150, 150), atol=0.02)  # whole dots per metre


def test_300_dpi_option(tmp_path):
    out = _minimal(tmp_path / "atlas")
    paths = P.render_plates(out, dpi=300, workers=1)
    with Image.open(paths[0]) as im:
        assert im.size == _px(300) == (3507, 2481)
        np.testing.assert_allclose(im.info["dpi"], (300, 300), atol=0.02)  # whole dots per metre
    index = json.loads(paths[-1].read_text())
    assert {e["dpi"] for e in index} == {300}
    with pytest.raises(InputError, match="50-600"):
        P.render_plates(out, dpi=20)


def test_source_note_of_a_real_atlas(tmp_path):
    out = _minimal(tmp_path / "atlas")
    cfg = out / "config.toml"
    cfg.write_text(cfg.read_text().replace("synthetic = true", "synthetic = false"))
    (out / "provenance.json").write_text(
        json.dumps({"synthetic": False, "finished": "2031-02-03T10:00:00+00:00"})
    )
    meta = P.atlas_meta(out)
    assert meta["note"] == f"pfatlas {__version__}, 2031-02-03"
    paths = P.render_plates(out, dpi=60, workers=1)
    with Image.open(paths[0]) as im:
        assert im.info["Source"] == meta["note"] and "SYNTHETIC" not in im.info["Source"]


def test_missing_dem_is_a_clear_error(tmp_path):
    out = _minimal(tmp_path / "atlas")
    (out / "grid" / "dem.tif").unlink()
    with pytest.raises(MissingInputError, match=r"grid/dem.tif") as err:
        P.render_plates(out, workers=1)
    assert err.value.path.endswith("dem.tif")


def test_a_layer_off_the_grid_is_refused(tmp_path):
    out = _minimal(tmp_path / "atlas")
    path = out / "2000" / "magt.tif"
    with rasterio.open(path) as src:
        data, crs, transform = src.read(1), src.crs, src.transform
    path.unlink()
    with rasterio.open(path, "w", driver="GTiff", height=32, width=48, count=1, dtype="float32", crs=crs,
                       transform=transform * transform.scale(2.0), nodata=float("nan")) as dst:  # fmt: skip
        dst.write(data[::2, ::2], 1)
    with pytest.raises(InputError, match="not on the atlas grid") as err:
        P.render_plates(out, workers=1)
    assert err.value.path == str(path)


def test_chinese_class_names_render_without_missing_glyphs(tmp_path):
    """Class names with Chinese terms: drawn in full with a CJK font, else without the Chinese part;
    either way no "Glyph missing" warning (an error under this test configuration)."""
    out = make_atlas(tmp_path / "atlas")
    names = {"0": "no permafrost (无多年冻土)", "1": "less-ice (少冰冻土)", "2": "ice-moderate (多冰冻土)",
             "3": "ice-rich (富冰冻土)"}  # fmt: skip
    for e in EPOCHS:
        with rasterio.open(out / e / "ice_class.tif", "r+", IGNORE_COG_LAYOUT_BREAK="YES") as dst:
            dst.update_tags(CLASS_NAMES=json.dumps(names, ensure_ascii=False))
    for d in ("change", "grid/geomorphology.tif", *[f"{e}/{n}.tif" for e in EPOCHS for n in EPOCH_LAYERS + MINING
                                                    if n != "ice_class"]):  # fmt: skip
        p = out / d
        shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)
    assert resolve_styles(out)["ice_class"].classes[1][0] == "less-ice (少冰冻土)"
    paths = P.render_plates(out, dpi=60, workers=1)
    assert {p.stem for p in paths[:-1]} == {
        "grid_dem",
        "2000_ice_class",
        "2020_ice_class",
        "compare_ice_class_2000_2020",
    }
    assert C.display_name(names["1"], cjk=bool(C.cjk_font())) in ("less-ice", names["1"])
