"""Bounded memory of the atlas products: the window-by-window readers and what each product reads.

The readers (:mod:`pfatlas.atlas.readers`) are checked against whole-raster reads on rasters of
small internal blocks cut into many windows: decimation and counts exactly, outlines ring for ring
against GDAL's polygonizer run on the whole raster. The last test builds every product of the atlas
fixture on a grid larger than any product's pixel size and records every read the products request:
none may ask for more cells than one internal block or the product's own pixel size.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.features import shapes
from rasterio.windows import Window
from scipy import ndimage

import atlas_fixture
from pfatlas.atlas import readers, style
from pfatlas.atlas.readers import _ring_form, _to_map, class_outlines, count_valid, read_decimated, windows

T = Affine(30.0, 0.0, 540000.0, 0.0, -30.0, 4210000.0)


def _write(path: Path, a: np.ndarray, nodata=None, block: int = 16) -> Path:
    """A tiled GeoTIFF of ``a`` with ``block`` x ``block`` internal blocks."""
    with rasterio.open(path, "w", driver="GTiff", width=a.shape[1], height=a.shape[0], count=1, dtype=a.dtype,
                       crs="EPSG:32647", transform=T, nodata=nodata, tiled=True, blockxsize=block,
                       blockysize=block) as dst:  # fmt: skip
        dst.write(a, 1)
    return path


def _classes(seed: int, shape: tuple[int, int]) -> np.ndarray:
    """Blobs of codes 1 and 2 (with holes, diagonal contacts, single cells) and scattered code 3."""
    rng = np.random.default_rng(seed)
    z = np.zeros(shape, np.uint8)
    s = rng.uniform(0.7, 3.0)
    z[ndimage.gaussian_filter(rng.random(shape), s) > 0.51] = 1
    z[ndimage.gaussian_filter(rng.random(shape), s) > 0.52] = 2
    z[rng.random(shape) < 0.03] = 3
    return z


# ------------------------------------------------------------------------------------ windows


def test_windows_tile_the_raster_in_whole_blocks(tmp_path):
    with rasterio.open(_write(tmp_path / "a.tif", np.zeros((45, 70), np.uint8))) as src:
        for cap in (1, 16 * 16 * 3, 10**6):
            wins = list(windows(src, cap))
            seen = np.zeros(src.shape, int)
            for w in wins:
                r, c, h, wd = int(w.row_off), int(w.col_off), int(w.height), int(w.width)
                seen[r : r + h, c : c + wd] += 1
                assert r % 16 == 0 and c % 16 == 0  # starts on a block corner
                assert h * wd <= max(cap, 16 * 16)  # never more than the cap, or one block
            assert (seen == 1).all()  # every cell in exactly one window
        assert len(list(windows(src, 1))) == 3 * 5  # one window per block
        assert len(list(windows(src, 10**6))) == 1


# ---------------------------------------------------------------------------- read_decimated


@pytest.mark.parametrize("factor", [1, 2, 3, 5, 16, 17, 100])
def test_read_decimated_is_the_strided_whole_read(tmp_path, factor, monkeypatch):
    monkeypatch.setattr(readers, "WINDOW_CELLS", 16 * 16 * 2)  # windows of 2 blocks: 12 windows
    rng = np.random.default_rng(factor)
    v = rng.normal(size=(45, 70)).astype("float32")
    v[rng.random(v.shape) < 0.2] = np.nan
    c = rng.integers(0, 6, size=(45, 70)).astype("uint8")
    fv, fc = _write(tmp_path / "v.tif", v, nodata=float("nan")), _write(tmp_path / "c.tif", c, nodata=5)
    for path in (fv, fc):
        with rasterio.open(path) as src:
            whole, whole_m = src.read(1)[::factor, ::factor], src.read(1, masked=True)[::factor, ::factor]
        got = read_decimated(path, factor)
        assert got.dtype == whole.dtype and got.shape == whole.shape
        np.testing.assert_array_equal(got, whole)  # exact: the same cells, NaN where NaN
        got_m = read_decimated(path, factor, masked=True)
        np.testing.assert_array_equal(np.ma.getmaskarray(got_m), np.ma.getmaskarray(whole_m))
        np.testing.assert_array_equal(got_m.filled(0), whole_m.filled(0))
    assert read_decimated(fc, factor, masked=True).mask.sum() == (c[::factor, ::factor] == 5).sum()
    with pytest.raises(ValueError, match="factor"):
        read_decimated(fv, 0)


def test_count_valid_counts_the_cells_with_a_value(tmp_path, monkeypatch):
    monkeypatch.setattr(readers, "WINDOW_CELLS", 1)
    v = np.ones((45, 70), "float32")
    v[3:9, 20:60] = np.nan  # across 3 block columns
    path = _write(tmp_path / "v.tif", v, nodata=float("nan"))
    with rasterio.open(path) as src:
        whole = src.read(1, masked=True).count()
    assert count_valid(path) == 45 * 70 - 6 * 40 == whole


# ---------------------------------------------------------------------------- class_outlines


def _gdal_whole(z: np.ndarray, codes=(1, 2)) -> dict[int, list[list[np.ndarray]]]:
    """GDAL's polygons of the whole array, in the order class_outlines gives (by top-left cell)."""
    out: dict[int, list] = {c: [] for c in codes}
    for geom, value in shapes(z, mask=np.isin(z, codes), transform=Affine.identity()):
        rings = [np.asarray(r, dtype="float64") for r in geom["coordinates"]]
        for k, r in enumerate(rings):  # GDAL already writes its rings in the form class_outlines gives
            np.testing.assert_array_equal(r, _ring_form(r, hole=k > 0))
        out[int(value)].append([rings[0], *sorted(rings[1:], key=lambda r: (r[0, 1], r[0, 0]))])
    return {c: [[_to_map(r, T) for r in p] for p in sorted(v, key=lambda p: (p[0][0, 1], p[0][0, 0]))]
            for c, v in out.items()}  # fmt: skip


def _assert_same_polygons(got: dict, ref: dict) -> None:
    assert got.keys() == ref.keys()
    for code in ref:
        assert len(got[code]) == len(ref[code])
        for pg, pr in zip(got[code], ref[code], strict=True):
            assert len(pg) == len(pr)
            for rg, rr in zip(pg, pr, strict=True):
                np.testing.assert_array_equal(rg, rr)  # exact: cell corners on the grid


@pytest.mark.parametrize("seed", range(6))
def test_class_outlines_equal_gdal_on_the_whole_raster(tmp_path, seed):
    z = _classes(seed, (45 + seed, 70 - seed))
    ref = _gdal_whole(z)
    assert sum(len(p) > 1 for v in ref.values() for p in v) + sum(map(len, ref.values())) > 10
    path = _write(tmp_path / "z.tif", z)
    for cap in (1, 16 * 16 * 2, 10**6):  # one-block windows, 2-block windows, one window
        _assert_same_polygons(class_outlines(path, (1, 2), max_cells=cap), ref)


def test_class_outlines_merge_rings_holes_and_corner_contacts_across_windows(tmp_path):
    z = np.zeros((48, 48), np.uint8)
    z[5:40, 5:40] = 1
    z[10:35, 10:35] = 0  # a ring around the corner of four blocks: one polygon with one hole
    z[14:18, 14:18] = 2  # a dump in the hole, cut by the block edge at 16
    z[15, 15] = 0  # with a hole of its own
    z[40, 40] = 1  # touching the ring at a corner only: a polygon of its own (4-connectivity)
    z[::2, 46] = 2  # a column of single cells
    got = class_outlines(_write(tmp_path / "z.tif", z), (1, 2), max_cells=1)
    _assert_same_polygons(got, _gdal_whole(z))
    ring = got[1][0]
    assert len(got[1]) == 2 and len(ring) == 2  # outer ring and one hole
    area = lambda r: 0.5 * float(np.sum(r[:-1, 0] * r[1:, 1] - r[1:, 0] * r[:-1, 1]))  # noqa: E731
    assert area(ring[0]) == pytest.approx(35 * 35 * 900) and area(ring[1]) == pytest.approx(-25 * 25 * 900)
    assert ring[0][0].tolist() == [540000.0 + 5 * 30, 4210000.0 - 5 * 30]  # starts at the top-left corner
    assert len(got[2]) == 1 + 24 and [len(p) for p in got[2]].count(2) == 1  # the dump keeps its hole


# ------------------------------------------------------------------------- the whole stage


@pytest.mark.slow
def test_no_product_reads_more_than_a_block_or_its_own_pixels(tmp_path, monkeypatch):
    """Every product of the atlas stage, on a grid larger than any of them needs: no dataset is read
    for more than one internal block (512 x 512 cells) or the product's pixel size, whichever is
    larger, between its opening and its closing."""
    from pfatlas.atlas.pdf import write_atlas_pdf
    from pfatlas.atlas.plates import render_plates
    from pfatlas.atlas.qgis import write_class_sidecars, write_qml_styles
    from pfatlas.atlas.stac import write_catalog
    from pfatlas.atlas.tables import write_area_tables
    from pfatlas.atlas.viewer import write_viewer

    ny, nx = 800, 1200  # 0.96 M cells: 3.7 blocks
    monkeypatch.setattr(atlas_fixture, "SHAPE", (ny, nx))
    out = atlas_fixture.make_atlas(tmp_path / "atlas")
    bound = 512 * 512  # one block; the plates at 50 dpi, the viewer and the colour samples are smaller
    monkeypatch.setattr(readers, "WINDOW_CELLS", 1)  # one block per window
    monkeypatch.setattr(style, "_SAMPLE", 100_000)  # the colour scales sample ~1e5 cells per layer

    # each read, and the cells read through each open dataset: GDAL keeps an open dataset's blocks in
    # its cache until the dataset is closed, so many windows read through one dataset add up
    reads: list[tuple[str, int, int]] = []
    plain_read, plain_masks = rasterio.io.DatasetReader.read, rasterio.io.DatasetReader.read_masks

    def cells(src, kwargs) -> int:
        if kwargs.get("out_shape") is not None:
            return math.prod(kwargs["out_shape"][-2:])
        win = kwargs.get("window")
        if win is None:
            return src.height * src.width
        assert isinstance(win, Window)
        return int(win.height) * int(win.width)

    def record(src, kwargs) -> None:
        n = cells(src, kwargs)
        src.cells_read_in_test = getattr(src, "cells_read_in_test", 0) + n
        reads.append((Path(src.name).name, n, src.cells_read_in_test))

    def read(src, *args, **kwargs):
        record(src, kwargs)
        return plain_read(src, *args, **kwargs)

    def read_masks(src, *args, **kwargs):
        record(src, kwargs)
        return plain_masks(src, *args, **kwargs)

    monkeypatch.setattr(rasterio.io.DatasetReader, "read", read)
    monkeypatch.setattr(rasterio.io.DatasetReader, "read_masks", read_masks)
    steps = {
        "styles": lambda: style.write_styles(out),
        "sidecars": lambda: (write_class_sidecars(out), write_qml_styles(out)),
        "tables": lambda: write_area_tables(out),
        "plates": lambda: render_plates(out, dpi=50, workers=1),  # in this process, so reads are seen
        "pdf": lambda: write_atlas_pdf(out),
        "viewer": lambda: write_viewer(out, display_max=300),  # 1 display pixel per 4 x 4 cells
        "stac": lambda: write_catalog(out),
    }
    largest = {}
    for name, step in steps.items():
        reads.clear()
        step()
        largest[name] = max((n for _, n, _ in reads), default=0)
        big = [r for r in reads if r[2] > bound]
        assert not big, f"{name} read more than {bound} cells through one open dataset: {big[:5]}"
    assert ny * nx > 3 * bound  # the grid is well beyond the bound ...
    for name in ("styles", "tables", "plates", "pdf", "viewer"):  # ... and these products do read cells
        assert largest[name] > 0, name
    assert (out / "atlas.pdf").stat().st_size > 0 and (out / "index.html").exists()
