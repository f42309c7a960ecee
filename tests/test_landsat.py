"""Landsat C2 L2: the synthetic-scene writer and the reader (MTL, discovery, lazy loading, QA masks).

Test scenes are written with :func:`write_c2l2_scene` on a scene grid shifted by half a cell (15 m)
from the target grid, so every read really warps. Reflectance fields are linear in x and y: bilinear
interpolation reproduces a linear field exactly, so the value at each target cell centre is known
analytically and the only error left is the DN quantisation.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from odc.geo.geobox import GeoBox

from pfatlas.errors import CoverageError, InputError, MissingInputError
from pfatlas.grid import grid_from_bbox
from pfatlas.io.landsat import (
    QA_CIRRUS,
    QA_CLEAR,
    QA_CLOUD,
    QA_DILATED_CLOUD,
    QA_FILL,
    QA_SHADOW,
    QA_SNOW,
    QA_WATER,
    REFLECTANCE_BANDS,
    SR_MULT,
    ST_MULT,
    band_map,
    find_scenes,
    load_scene,
    qa_masks,
    radsat_bits,
    read_mtl,
)
from pfatlas.synth.landsat_files import SYNTHETIC_TAG, product_id, write_c2l2_scene

# affine >= 3.0 announces that `Affine * x` will be replaced by `@`; odc-geo (GeoBox.from_bbox) and
# the spine's raster reader still use `*`. Not our code's behaviour: ignore just that message.
AFFINE_MUL = "ignore:Use `@` matmul instead of `\\*` mul operator:PendingDeprecationWarning"
# rasterio's reproject into a numpy destination sometimes warns "Dataset has no geotransform" from
# its temporary MEM dataset when several dask threads warp at once (odc-geo issue #131); the output
# is unaffected (the tests below compare it with analytic values).
MEM_NOGEO = "ignore:Dataset has no geotransform:rasterio.errors.NotGeoreferencedWarning"
pytestmark = [pytest.mark.filterwarnings(AFFINE_MUL), pytest.mark.filterwarnings(MEM_NOGEO)]

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "Use `@` matmul", PendingDeprecationWarning)
    TARGET = grid_from_bbox((99.0, 38.0, 99.1, 38.05))  # 186 x 294 cells, EPSG:32647
MARGIN = 6  # [cells] scene extends this far beyond the target on every side
CLEAR = QA_CLEAR  # QA_PIXEL of a clear land pixel

# per band: reflectance = a + bx * (x - X0) [m] + by * (y - Y0) [m]
X0, Y0 = TARGET.affine.c, TARGET.affine.f
COEF = {
    "blue": (0.04, 2e-6, -1e-6),
    "green": (0.07, 3e-6, 1e-6),
    "red": (0.06, 4e-6, -2e-6),
    "nir": (0.30, -5e-6, 3e-6),
    "swir1": (0.20, 1e-6, 4e-6),
    "swir2": (0.12, 2e-6, 2e-6),
}
ST_COEF = (285.0, 1e-4, -2e-4)  # [K, K/m, K/m]


def scene_grid(shift_m: float = 15.0, margin: int = MARGIN, dx_m: float = 0.0) -> GeoBox:
    """A scene grid covering TARGET plus ``margin`` cells, shifted by ``shift_m`` in x and y."""
    ny, nx = TARGET.shape
    a = Affine(30.0, 0.0, X0 - 30 * margin + shift_m + dx_m, 0.0, -30.0, Y0 + 30 * margin - shift_m)
    return GeoBox((ny + 2 * margin, nx + 2 * margin), a, TARGET.crs)


def centres(gbox: GeoBox) -> tuple[np.ndarray, np.ndarray]:
    ny, nx = gbox.shape
    cols, rows = np.meshgrid(np.arange(nx) + 0.5, np.arange(ny) + 0.5)
    return gbox.affine @ (cols, rows)


def linear(coef, x, y):
    a, bx, by = coef
    return a + bx * (x - X0) + by * (y - Y0)


def make_scene(
    parent: Path,
    *,
    spacecraft: str = "LANDSAT_8",
    acquired: dt.date = dt.date(2020, 7, 15),
    gbox: GeoBox | None = None,
    qa: np.ndarray | None = None,
    radsat: np.ndarray | None = None,
    sr: dict | None = None,
    mtl_format: str = "xml",
    wrs: tuple[int, int] = (133, 33),
) -> Path:
    """Write a scene with linear reflectance/ST fields (or the given arrays) and return its folder."""
    gbox = gbox or scene_grid()
    x, y = centres(gbox)
    if sr is None:
        sr = {b: linear(c, x, y) for b, c in COEF.items()}
    shape = gbox.shape
    return write_c2l2_scene(
        parent,
        spacecraft=spacecraft,
        acquired=acquired,
        wrs_path=wrs[0],
        wrs_row=wrs[1],
        gbox=gbox,
        sr=sr,
        st_kelvin=linear(ST_COEF, x, y),
        qa_pixel=np.full(shape, CLEAR, "uint16") if qa is None else qa,
        qa_radsat=np.zeros(shape, "uint16") if radsat is None else radsat,
        sun_azimuth=125.5,
        sun_elevation=62.25,
        cloud_cover=12.5,
        mtl_format=mtl_format,
    )


# --------------------------------------------------------------------------------------- writer


def test_writer_names_dn_and_tags(tmp_path):
    folder = make_scene(tmp_path, spacecraft="LANDSAT_8", mtl_format="both")
    pid = "LC08_L2SP_133033_20200715_20200912_02_T1"
    assert folder.name == pid
    names = sorted(p.name.removeprefix(pid + "_") for p in folder.iterdir())
    assert names == sorted(
        [f"SR_B{i}.TIF" for i in range(1, 8)]
        + ["ST_B10.TIF", "QA_PIXEL.TIF", "QA_RADSAT.TIF", "MTL.xml", "MTL.json"]
    )
    g = scene_grid()
    x, y = centres(g)
    with rasterio.open(folder / f"{pid}_SR_B5.TIF") as src:  # OLI band 5 = nir
        dn = src.read(1)
        assert src.dtypes[0] == "uint16" and src.nodata == 0
        assert src.tags()["source"] == SYNTHETIC_TAG
        assert src.transform == g.affine and src.crs.to_epsg() == 32647
        assert src.profile["compress"] == "deflate" and src.profile["tiled"]
    # DN = round((reflectance + 0.2) / 2.75e-5), exactly (the inverse of the C2 scale)
    np.testing.assert_array_equal(dn, np.rint((linear(COEF["nir"], x, y) + 0.2) / SR_MULT).astype("uint16"))
    with rasterio.open(folder / f"{pid}_QA_PIXEL.TIF") as src:
        assert src.nodata == 1 and src.tags()["source"] == SYNTHETIC_TAG
    xml = (folder / f"{pid}_MTL.xml").read_text()
    assert "SYNTHETIC" in xml and "<REFLECTANCE_MULT_BAND_5>2.75e-05</REFLECTANCE_MULT_BAND_5>" in xml
    meta = json.loads((folder / f"{pid}_MTL.json").read_text())["LANDSAT_METADATA_FILE"]
    assert meta["PRODUCT_CONTENTS"]["FILE_NAME_BAND_ST_B10"] == f"{pid}_ST_B10.TIF"
    assert meta["LEVEL2_SURFACE_TEMPERATURE_PARAMETERS"]["TEMPERATURE_MULT_BAND_ST_B10"] == "0.00341802"
    assert "SYNTHETIC" in meta["LEVEL2_PROCESSING_RECORD"]["NOTE"]
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary folder left behind


def test_writer_fill_and_nan_give_dn_zero(tmp_path):
    g = scene_grid()
    qa = np.full(g.shape, CLEAR, "uint16")
    qa[:3] = QA_FILL
    x, y = centres(g)
    sr = {b: linear(c, x, y) for b, c in COEF.items()}
    sr["red"][10, 10] = np.nan
    folder = make_scene(tmp_path, spacecraft="LANDSAT_5", qa=qa, sr=sr)
    with rasterio.open(next(folder.glob("*_SR_B3.TIF"))) as src:  # TM band 3 = red
        dn = src.read(1)
    assert (dn[:3] == 0).all() and dn[10, 10] == 0 and (dn[3:10] > 0).all()
    with rasterio.open(next(folder.glob("*_ST_B6.TIF"))) as src:
        assert (src.read(1)[:3] == 0).all()


def test_product_id_the_usgs_way():
    assert product_id("LANDSAT_5", 133, 33, dt.date(2000, 8, 1), dt.date(2020, 9, 7)) == (
        "LT05_L2SP_133033_20000801_20200907_02_T1"
    )
    assert product_id("LANDSAT_9", 1, 2, dt.date(2022, 6, 3), dt.date(2022, 6, 30)).startswith(
        "LC09_L2SP_001002_"
    )


def test_writer_rejects_bad_arguments(tmp_path):
    g = scene_grid()
    with pytest.raises(ValueError, match="spacecraft"):
        make_scene(tmp_path, spacecraft="LANDSAT_3")
    with pytest.raises(ValueError, match="qa_pixel"):
        make_scene(tmp_path, qa=np.zeros((3, 3), "uint16"))
    with pytest.raises(ValueError, match="UTM"):
        make_scene(tmp_path, gbox=GeoBox(g.shape, g.affine, "EPSG:3857"))
    assert not list(tmp_path.iterdir())  # nothing half-written


# ----------------------------------------------------------------------------------------- MTL


@pytest.mark.parametrize("spacecraft", ["LANDSAT_5", "LANDSAT_7", "LANDSAT_8", "LANDSAT_9"])
@pytest.mark.parametrize("fmt", ["xml", "json"])
def test_read_mtl(tmp_path, spacecraft, fmt):
    folder = make_scene(tmp_path, spacecraft=spacecraft, mtl_format=fmt, acquired=dt.date(2001, 8, 2))
    (mtl,) = folder.glob(f"*_MTL.{fmt}")
    s = read_mtl(mtl)
    assert s.spacecraft == spacecraft and s.product_id == folder.name and s.folder == folder
    assert s.acquired == dt.date(2001, 8, 2) and (s.wrs_path, s.wrs_row) == (133, 33)
    assert (s.sun_azimuth, s.sun_elevation, s.cloud_cover) == (125.5, 62.25, 12.5)
    assert s.sensor == {"LANDSAT_5": "TM", "LANDSAT_7": "ETM"}.get(spacecraft, "OLI_TIRS")
    nir = {"LANDSAT_5": "SR_B4", "LANDSAT_7": "SR_B4"}.get(spacecraft, "SR_B5")
    thermal = "ST_B10" if spacecraft in ("LANDSAT_8", "LANDSAT_9") else "ST_B6"
    assert s.bands["nir"].name.endswith(f"_{nir}.TIF") and s.bands["thermal"].name.endswith(f"_{thermal}.TIF")
    assert s.scale["nir"] == (2.75e-5, -0.2) and s.scale["thermal"] == (0.00341802, 149.0)
    assert s.qa_pixel.name.endswith("_QA_PIXEL.TIF") and s.qa_radsat.name.endswith("_QA_RADSAT.TIF")


def _edit_xml(folder: Path, old: str, new: str) -> Path:
    (mtl,) = folder.glob("*_MTL.xml")
    text = mtl.read_text()
    assert old in text
    mtl.write_text(text.replace(old, new))
    return mtl


def test_scale_factors_come_from_the_mtl(tmp_path):
    folder = make_scene(tmp_path)
    mtl = _edit_xml(folder, "<REFLECTANCE_MULT_BAND_5>2.75e-05<", "<REFLECTANCE_MULT_BAND_5>5.5e-05<")
    assert read_mtl(mtl).scale["nir"] == (5.5e-5, -0.2)
    # absent factors fall back to the Collection 2 constants
    text = mtl.read_text()
    start, end = (
        text.index("<LEVEL2_SURFACE_TEMPERATURE_PARAMETERS>"),
        text.index("</LEVEL2_SURFACE_TEMPERATURE_PARAMETERS>"),
    )
    mtl.write_text(text[:start] + text[end + len("</LEVEL2_SURFACE_TEMPERATURE_PARAMETERS>") :])
    assert read_mtl(mtl).scale["thermal"] == (0.00341802, 149.0)


def test_mtl_missing_key_names_file_and_key(tmp_path):
    folder = make_scene(tmp_path)
    mtl = _edit_xml(folder, "<SUN_ELEVATION>62.25000000</SUN_ELEVATION>", "")
    with pytest.raises(InputError, match="SUN_ELEVATION") as err:
        read_mtl(mtl)
    assert str(mtl) in str(err.value) and err.value.field == "SUN_ELEVATION"


def test_mtl_bad_value_and_bad_root(tmp_path):
    folder = make_scene(tmp_path)
    mtl = _edit_xml(folder, "<DATE_ACQUIRED>2020-07-15<", "<DATE_ACQUIRED>July 15<")
    with pytest.raises(InputError, match="DATE_ACQUIRED") as err:
        read_mtl(mtl)
    assert str(mtl) in str(err.value)
    mtl.write_text("<OTHER/>")
    with pytest.raises(InputError, match="LANDSAT_METADATA_FILE") as err:
        read_mtl(mtl)
    assert str(mtl) in str(err.value)
    mtl.write_text("<unclosed")
    with pytest.raises(InputError, match="cannot be parsed") as err:
        read_mtl(mtl)
    assert str(mtl) in str(err.value)


def test_unknown_spacecraft(tmp_path):
    folder = make_scene(tmp_path, spacecraft="LANDSAT_5")
    mtl = _edit_xml(folder, "<SPACECRAFT_ID>LANDSAT_5<", "<SPACECRAFT_ID>LANDSAT_3<")
    with pytest.raises(InputError, match="LANDSAT_3") as err:
        read_mtl(mtl)
    assert str(mtl) in str(err.value) and err.value.field == "SPACECRAFT_ID"


# ----------------------------------------------------------------------------------- discovery


def test_find_scenes_recursive_sorted_and_prefers_xml(tmp_path):
    make_scene(tmp_path / "a" / "deep", acquired=dt.date(2020, 8, 20), mtl_format="both")
    make_scene(tmp_path / "b", spacecraft="LANDSAT_5", acquired=dt.date(2000, 7, 2), mtl_format="json")
    make_scene(tmp_path / "a", acquired=dt.date(2020, 6, 5))
    scenes = find_scenes([tmp_path / "a", tmp_path / "b", tmp_path])  # overlapping folders: no duplicates
    assert [s.acquired for s in scenes] == [dt.date(2000, 7, 2), dt.date(2020, 6, 5), dt.date(2020, 8, 20)]
    assert scenes[2].mtl.suffix == ".xml" and scenes[0].mtl.suffix == ".json"


def test_find_scenes_sr_without_mtl_names_folder(tmp_path):
    folder = make_scene(tmp_path)
    next(folder.glob("*_MTL.xml")).unlink()
    with pytest.raises(MissingInputError, match="MTL") as err:
        find_scenes([tmp_path])
    assert str(folder) in str(err.value)


def test_find_scenes_missing_qa_pixel_names_expected_file(tmp_path):
    folder = make_scene(tmp_path)
    qa = next(folder.glob("*_QA_PIXEL.TIF"))
    qa.unlink()
    with pytest.raises(MissingInputError, match="QA_PIXEL") as err:
        find_scenes([tmp_path])
    assert str(qa) in str(err.value)


def test_find_scenes_missing_band_file(tmp_path):
    folder = make_scene(tmp_path, spacecraft="LANDSAT_7")
    b4 = next(folder.glob("*_SR_B4.TIF"))
    b4.unlink()
    with pytest.raises(MissingInputError, match="FILE_NAME_BAND_4") as err:
        find_scenes([tmp_path])
    assert str(b4) in str(err.value)


def test_find_scenes_none_names_the_folders(tmp_path):
    (tmp_path / "empty1").mkdir()
    (tmp_path / "empty2").mkdir()
    with pytest.raises(InputError, match="no Landsat") as err:
        find_scenes([tmp_path / "empty1", tmp_path / "empty2"])
    assert str(tmp_path / "empty1") in str(err.value) and str(tmp_path / "empty2") in str(err.value)
    with pytest.raises(MissingInputError) as err:
        find_scenes([tmp_path / "nope"])
    assert str(tmp_path / "nope") in str(err.value)


# -------------------------------------------------------------------------------------- loading


@pytest.mark.parametrize(("spacecraft", "fmt"), [("LANDSAT_5", "xml"), ("LANDSAT_8", "json")])
def test_load_round_trip_reflectance_and_lst(tmp_path, spacecraft, fmt):
    (scene,) = find_scenes([make_scene(tmp_path, spacecraft=spacecraft, mtl_format=fmt)])
    ds = load_scene(scene, TARGET, chunks=64).compute()
    x, y = centres(TARGET)
    for band in REFLECTANCE_BANDS:
        assert ds[band].dtype == np.float32 and ds[band].attrs["units"] == "1"
        # bilinear of a linear field is exact; left: DN rounding (half a quantum) + float32 rounding
        # (~1e-8 at these magnitudes): within one quantum of 2.75e-5
        np.testing.assert_allclose(ds[band].values, linear(COEF[band], x, y), rtol=0, atol=SR_MULT)
    assert ds.lst.attrs["units"] == "degC"
    # ST quantum 0.00341802 K; float32 spacing near 300 K is 3e-5 K
    np.testing.assert_allclose(ds.lst.values, linear(ST_COEF, x, y) - 273.15, rtol=0, atol=ST_MULT)
    assert bool(ds.valid.all()) and not bool(ds.snow.any())
    assert ds.attrs["product_id"] == scene.product_id and ds.time.values == np.datetime64(
        scene.acquired, "ns"
    )


def test_load_really_warps(tmp_path):
    """Without the 15 m shift the DNs would be read unchanged: check the half-cell interpolation."""
    (scene,) = find_scenes([make_scene(tmp_path)])
    ds = load_scene(scene, TARGET).compute()
    with rasterio.open(scene.bands["nir"]) as src:
        raw = src.read(1).astype("float64") * SR_MULT - 0.2
    # target cell (0, 0) lies on the corner of scene cells (5..6, 5..6) (margin 6, shift half a cell)
    m = MARGIN
    expected = raw[m - 1 : m + 1, m - 1 : m + 1].mean()
    np.testing.assert_allclose(float(ds.nir[0, 0]), expected, rtol=0, atol=1e-6)  # float32 arithmetic


def test_lazy_and_chunk_independent(tmp_path):
    g = scene_grid()
    qa = np.full(g.shape, CLEAR, "uint16")
    qa[40:80, 50:120] = QA_CLOUD
    (scene,) = find_scenes([make_scene(tmp_path, qa=qa)])
    a = load_scene(scene, TARGET, chunks=1024)
    b = load_scene(scene, TARGET, chunks=37)
    assert b.nir.chunks[0][0] == 37  # lazy, on dask chunks
    a, b = a.compute(), b.compute()
    for v in ("valid", "snow"):
        np.testing.assert_array_equal(a[v].values, b[v].values)
    # GDAL's warper computes the bilinear weights of a window relative to the source window it
    # reads, so a 1-row chunk can differ by ~0.1 DN (measured 2.9e-6): far below the DN quantum
    for v in REFLECTANCE_BANDS:
        np.testing.assert_allclose(a[v].values, b[v].values, rtol=0, atol=0.25 * SR_MULT)
    np.testing.assert_allclose(a.lst.values, b.lst.values, rtol=0, atol=0.25 * ST_MULT)


# QA_PIXEL value -> (valid, snow): table of the bits 0-7
QA_TABLE = [
    (QA_FILL, False, False),
    (QA_DILATED_CLOUD, False, False),
    (QA_CIRRUS, False, False),
    (QA_CLOUD, False, False),
    (QA_SHADOW, False, False),
    (QA_SNOW, True, True),
    (QA_CLEAR, True, False),
    (QA_WATER, True, False),
    (QA_CLOUD | QA_SNOW, False, False),  # a cloud over snow is not a snow observation
    (QA_CLEAR | (3 << 8), True, False),  # confidence bits are ignored
]


@pytest.mark.parametrize(("qa", "valid", "snow"), QA_TABLE)
def test_qa_masks_table(qa, valid, snow):
    u, s = qa_masks(np.array([qa], "uint16"), np.array([0], "uint16"), radsat_bits("LANDSAT_8"))
    assert (bool(u[0]), bool(s[0])) == (valid, snow)


@pytest.mark.parametrize(
    ("spacecraft", "band", "masked"),
    [
        ("LANDSAT_8", 1, False),  # coastal, not used
        ("LANDSAT_8", 5, True),  # nir
        ("LANDSAT_8", 12, True),  # bit 11: terrain occlusion
        ("LANDSAT_5", 4, True),  # nir
        ("LANDSAT_5", 6, False),  # thermal: not a reflectance band
        ("LANDSAT_7", 7, True),  # swir2
    ],
)
def test_radsat_table(spacecraft, band, masked):
    u, _ = qa_masks(
        np.array([CLEAR], "uint16"), np.array([1 << (band - 1)], "uint16"), radsat_bits(spacecraft)
    )
    assert bool(u[0]) is not masked


def test_qa_through_files(tmp_path):
    """Stripes of QA values (and a RADSAT stripe) in a scene, read through the warp."""
    g = scene_grid()
    w = 30  # [cells] stripe width
    stripes = [
        CLEAR,
        QA_CLOUD,
        QA_SHADOW,
        QA_SNOW,
        QA_CIRRUS,
        QA_DILATED_CLOUD,
        QA_WATER,
        QA_FILL,
        CLEAR,
        CLEAR,
    ]
    qa = np.full(g.shape, CLEAR, "uint16")
    radsat = np.zeros(g.shape, "uint16")
    for i, v in enumerate(stripes):
        qa[:, MARGIN + i * w : MARGIN + (i + 1) * w] = v
    radsat[:, MARGIN + 8 * w : MARGIN + 9 * w] = 1 << (int(band_map("LANDSAT_8")["red"]) - 1)
    (scene,) = find_scenes([make_scene(tmp_path, qa=qa, radsat=radsat)])
    ds = load_scene(scene, TARGET, chunks=50).compute()
    expect = {  # stripe -> (valid, snow)
        0: (True, False), 1: (False, False), 2: (False, False), 3: (True, True), 4: (False, False),
        5: (False, False), 6: (True, False), 7: (False, False), 8: (False, False), 9: (True, False),
    }  # fmt: skip
    for i, (valid, snow) in expect.items():
        cols = slice(i * w + 2, (i + 1) * w - 2)  # away from the stripe edges (nearest-neighbour ties)
        assert bool(ds.valid[:, cols].all()) is valid and bool(ds.valid[:, cols].any()) is valid, i
        assert bool(ds.snow[:, cols].all()) is snow and bool(ds.snow[:, cols].any()) is snow, i
    # fill: reflectance NaN, not just masked
    assert bool(np.isnan(ds.red[:, 7 * w + 2 : 8 * w - 2]).all())


def test_partial_scene_outside_is_fill(tmp_path):
    g = scene_grid(margin=0, dx_m=150 * 30.0)  # covers only the eastern half of the target
    (scene,) = find_scenes([make_scene(tmp_path, gbox=g)])
    ds = load_scene(scene, TARGET).compute()
    assert not bool(ds.valid[:, :140].any()) and bool(np.isnan(ds.blue[:, :140]).all())
    assert bool(ds.valid[:, 160:-2].all())


def test_scene_outside_grid_raises_coverage_error(tmp_path):
    g = scene_grid(dx_m=200_000.0)
    (scene,) = find_scenes([make_scene(tmp_path, gbox=g)])
    with pytest.raises(CoverageError, match=scene.product_id) as err:
        load_scene(scene, TARGET)
    assert str(scene.folder) in str(err.value)


def test_copied_scene_folder_reads_the_same(tmp_path):
    """Scenes are found by their files, not by where they were written."""
    folder = make_scene(tmp_path / "src")
    shutil.copytree(folder, tmp_path / "moved" / folder.name)
    (s,) = find_scenes([tmp_path / "moved"])
    assert s.folder == tmp_path / "moved" / folder.name and s.bands["red"].parent == s.folder
