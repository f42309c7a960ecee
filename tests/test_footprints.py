"""Feature footprints: per-feature rasterisation equals a whole-grid one, class patches as features,
and the chunked natural land cover and MAGT change equal their whole-grid results."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from odc.geo.geobox import GeoBox
from rasterio.features import rasterize
from scipy import ndimage
from shapely.geometry import Point, box

from pfatlas.mining.apply import delta_magt_block, delta_magt_map
from pfatlas.mining.footprints import (
    class_polygons,
    footprints_from_index,
    footprints_from_polygons,
    paint_index,
)
from pfatlas.mining.model import RadialChange

GBOX = GeoBox((70, 90), rasterio.Affine(30.0, 0, 500_000.0, 0, -30.0, 4_200_000.0), "EPSG:32647")


def _polygons(seed: int):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(9):
        x = 500_000.0 + rng.uniform(-100, 2800)
        y = 4_200_000.0 - rng.uniform(-100, 2200)
        if rng.random() < 0.5:
            out.append(box(x, y, x + rng.uniform(20, 700), y + rng.uniform(20, 500)))
        else:
            out.append(Point(x, y).buffer(rng.uniform(15, 400)))
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_footprints_of_overlapping_polygons_equal_a_whole_grid_rasterisation(seed):
    geoms = _polygons(seed)
    order = [4, 0, 8, 2, 6, 1, 3, 7, 5]  # drawing order: later numbers win on overlaps
    fps = footprints_from_polygons([geoms[i] for i in order], order, GBOX)
    whole = rasterize([(geoms[i], i) for i in order], out_shape=GBOX.shape, transform=GBOX.affine,
                      fill=-1, dtype="int32")  # fmt: skip
    ny, nx = GBOX.shape
    assert np.array_equal(paint_index(fps, slice(0, ny), slice(0, nx)), whole)
    for r, c in ((slice(13, 44), slice(7, 61)), (slice(0, 5), slice(80, 90))):  # any window
        assert np.array_equal(paint_index(fps, r, c), whole[r, c])
    cells = {fp.number: fp.cells for fp in fps}
    assert cells == {i: int((whole == i).sum()) for i in order}  # one per polygon, hidden ones empty


def _class_raster(tmp_path, a: np.ndarray):
    path = tmp_path / "lc.tif"
    with rasterio.open(path, "w", driver="GTiff", width=a.shape[1], height=a.shape[0], count=1, dtype="uint8",
                       crs="EPSG:32647", transform=GBOX.affine, nodata=255) as dst:  # fmt: skip
        dst.write(a, 1)
    return path


@pytest.mark.parametrize("chunk", [7, 16, 1000])
def test_class_patches_become_one_feature_each_whatever_the_chunk(tmp_path, chunk):
    rng = np.random.default_rng(3)
    a = np.where(ndimage.gaussian_filter(rng.random(GBOX.shape), 2.0) > 0.56, 6, 1).astype(np.uint8)
    a[0:3, 0:3] = 6  # a patch in the corner
    a[10, 10] = a[11, 11] = 6  # diagonal neighbours: two patches (4-connectivity)
    a[10, 11] = a[11, 10] = 1
    labels, n = ndimage.label(a == 6)  # 4-connected reference
    polys = class_polygons(_class_raster(tmp_path, a), 6, chunk)
    assert len(polys) == n
    fps = footprints_from_polygons(polys, range(len(polys)), GBOX)
    ny, nx = GBOX.shape
    index = paint_index(fps, slice(0, ny), slice(0, nx))
    assert np.array_equal(index >= 0, a == 6)
    ref = sorted(int((labels == k).sum()) for k in range(1, n + 1))
    assert sorted(fp.cells for fp in fps) == ref
    for fp in fps:  # each footprint is exactly one labelled patch
        assert len(np.unique(labels[index == fp.number])) == 1


def test_change_by_chunk_equals_the_whole_grid():
    geoms = _polygons(5)
    fps = footprints_from_polygons(geoms, range(len(geoms)), GBOX)
    r = np.linspace(0.0, 3000.0, 301)
    changes = {fp.number: RadialChange(r, 1.5 * np.exp(-r / 400.0), 200.0) for fp in fps if fp.cells}
    ny, nx = GBOX.shape
    whole = delta_magt_block(fps, changes, slice(0, ny), slice(0, nx), GBOX.shape, 30.0, 600.0)
    assert whole.max() > 1.0 and (whole == 0).any()  # changes near features, none far away
    for r0, c0 in ((0, 0), (23, 41), (50, 77)):
        rows, cols = slice(r0, min(r0 + 23, ny)), slice(c0, min(c0 + 17, nx))
        part = delta_magt_block(fps, changes, rows, cols, GBOX.shape, 30.0, 600.0)
        assert np.array_equal(part, whole[rows, cols])
    index = paint_index(fps, slice(0, ny), slice(0, nx))
    assert np.array_equal(delta_magt_map(index, changes, 30.0, 600.0), whole)
    assert [fp.number for fp in footprints_from_index(index)] == sorted(np.unique(index[index >= 0]).tolist())
