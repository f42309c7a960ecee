"""Tests of the demo sizes: ``small`` and ``full`` unchanged, and the ``4x`` area and its wide frame.

The ``4x`` area (twice the Muli extent each way) is too large to generate in a test (~20 M cells per
layer, minutes); its parts are checked here on subsampled or coarse grids instead: the bbox, the
frame holding the world, the plausibility of its terrain, the valley road and ponds spanning it, and
the counts that grow with the area. A whole ``small`` generation is compared with checksums taken
before the ``4x`` size was added: the project's scores were measured on these exact bits.
"""

from __future__ import annotations

import dataclasses
import hashlib

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from odc.geo.geobox import GeoBox

from pfatlas.cli.main import main
from pfatlas.demo import SIZES as DEMO_SIZES
from pfatlas.grid import grid_from_bbox
from pfatlas.synth import surface
from pfatlas.synth.boreholes import FULL_CELLS, _counts
from pfatlas.synth.generate import PAD, SIZES, area_bbox, generate_virtual_muli
from pfatlas.synth.terrain import (
    FULL_BBOX,
    FULL_FRAME,
    WIDE_FRAME,
    cell_centres,
    terrain_fields,
    to_strike_frame,
)

# sha256 (first 16 hex digits) of what the ``small`` generation with seed 0 wrote before the ``4x``
# size existed (commit b53e71e). A difference means the small (and so the full) world changed: the
# scores of the project were measured on them. (A new numpy / scipy / GDAL may change float bits
# too; then check the change is only that and take new checksums.)
SMALL_SEED0 = {
    "truth/dem_true.tif": "a8c6c3e36f600913",
    "truth/2000/landcover.tif": "ad001ef6031ec7e1",
    "truth/2020/landcover.tif": "eba1a52054395dce",
    "truth/2000/magt.tif": "db73187f9e694e02",
    "dem.tif": "f15f762845a86a68",
    "LT05 SR_B4": "a2f477bb0d81f9ef",
    "LC08 SR_B4": "6703a5adc0800d66",
    "boreholes.csv": "e22fb9baa04b2ff2",
    "borehole_logs.csv": "9348b98b5a3fcff6",
    "samples.gpkg": "538b94296b639656",
}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _raster_sha(path) -> str:
    with rasterio.open(path) as src:
        return _sha(np.ascontiguousarray(src.read(1)).tobytes())


def _world(size: str) -> GeoBox:
    """The generator's world grid of a size: the target grid with its margin of PAD cells."""
    g = grid_from_bbox(area_bbox(size), 30.0)
    return GeoBox(
        (g.shape[0] + 2 * PAD, g.shape[1] + 2 * PAD), g.affine * g.affine.translation(-PAD, -PAD), g.crs
    )


def _corners_uv(gbox: GeoBox) -> tuple[np.ndarray, np.ndarray]:
    x0, y0, x1, y1 = gbox.extent.boundingbox
    return to_strike_frame(np.array([x0, x1, x0, x1]), np.array([y0, y0, y1, y1]))


@pytest.fixture(scope="module")
def small_inputs(tmp_path_factory):
    out = tmp_path_factory.mktemp("size-small")
    generate_virtual_muli(out, size="small", seed=0)
    return out / "inputs"


def test_small_generation_is_unchanged(small_inputs):
    got = {}
    for rel in ("truth/dem_true.tif", "truth/2000/landcover.tif", "truth/2020/landcover.tif"):
        got[rel] = _raster_sha(small_inputs / rel)
    got["truth/2000/magt.tif"] = _raster_sha(small_inputs / "truth/2000/magt.tif")
    got["dem.tif"] = _raster_sha(small_inputs / "dem.tif")
    for sensor in ("LT05", "LC08"):
        first = sorted((small_inputs / "landsat").glob(f"{sensor}_*"))[0]
        got[f"{sensor} SR_B4"] = _raster_sha(next(first.glob("*_SR_B4.TIF")))
    for name in ("boreholes.csv", "borehole_logs.csv"):
        got[name] = _sha((small_inputs / name).read_bytes())
    samples = gpd.read_file(small_inputs / "samples.gpkg")
    got["samples.gpkg"] = _sha(samples[["lon", "lat", "class", "epoch"]].to_csv(index=False).encode())
    assert got == SMALL_SEED0


def test_sizes_are_the_same_in_the_demo_and_the_generator(capsys):
    assert DEMO_SIZES == tuple(SIZES) == ("full", "small", "4x")
    assert main(["demo", "--help"]) == 0
    assert "'4x'" in capsys.readouterr().out


def test_4x_bbox_is_twice_the_full_extent_about_its_centre():
    full, big = np.array(FULL_BBOX), np.array(area_bbox("4x"))
    centre = lambda b: 0.5 * (b[:2] + b[2:])  # noqa: E731
    extent = lambda b: b[2:] - b[:2]  # noqa: E731
    # the bbox is rounded to 1e-4 deg like FULL_BBOX
    np.testing.assert_allclose(centre(big), centre(full), atol=1e-4)
    np.testing.assert_allclose(extent(big), 2.0 * extent(full), atol=2e-4)
    g, f = grid_from_bbox(tuple(big), 30.0), grid_from_bbox(FULL_BBOX, 30.0)
    assert f.shape[0] * f.shape[1] == FULL_CELLS
    ratio = g.shape[0] * g.shape[1] / FULL_CELLS
    assert 3.95 < ratio < 4.1  # UTM cells of a lon/lat box: 4x up to the meridians' convergence
    assert abs(g.shape[0] - 2 * f.shape[0]) < 10 and abs(g.shape[1] - 2 * f.shape[1]) < 25


@pytest.mark.parametrize("size", ["small", "full", "4x"])
def test_each_world_lies_inside_its_frame(size):
    # outside its frame a world would get edge-repeated lattices: featureless relief
    u, v = _corners_uv(_world(size))
    assert SIZES[size].frame.contains(u, v)


def test_the_4x_world_needs_the_wide_frame():
    u, v = _corners_uv(_world("4x"))
    assert not FULL_FRAME.contains(u, v)
    assert SIZES["full"].frame == SIZES["small"].frame == FULL_FRAME and SIZES["4x"].frame == WIDE_FRAME


@pytest.fixture(scope="module")
def wide_terrain():
    # every 16th cell of the 4x world (about 80 000 cells)
    x, y = cell_centres(_world("4x"))
    return terrain_fields(x[::16], y[::16], np.random.default_rng(0), WIDE_FRAME)


def test_wide_world_elevations_plain_and_ranges(wide_terrain):
    f = wide_terrain
    z = f["dem"]
    assert 3700.0 <= z.min() and z.max() <= 4400.0
    assert np.percentile(z, 2) < 3850.0 and np.percentile(z, 98) > 4250.0
    # a main plain along strike, 1-3 km wide: a few per cent of the area, its floor 3720-3880 m
    share = f["plain"].mean()
    assert 0.01 < share < 0.08
    floor = z[f["plain"]]
    assert 3720.0 < np.median(floor) < 3880.0 and np.percentile(floor, 99) < 3950.0
    # the plain runs the whole length of the area: it is present in each fifth along strike
    u = f["u"][f["plain"]]
    edges = np.linspace(f["u"].min(), f["u"].max(), 6)
    assert all(((u >= a) & (u < b)).sum() > 20 for a, b in zip(edges[:-1], edges[1:], strict=True))


def test_wide_world_keeps_ranges_and_valleys_far_from_the_plain(wide_terrain):
    # beyond 1.5 range periods (~33 km) from the plain the full frame's relief levels off into a
    # rough high plateau; the wide frame goes on to 3.5 periods: parallel valleys (~110 m above the
    # plain floor) between ranges. The same draws with the plateau show the valleys come from that.
    x, y = cell_centres(_world("4x"))
    plateau = dataclasses.replace(WIDE_FRAME, range_cycles=FULL_FRAME.range_cycles)
    flat = terrain_fields(x[::16], y[::16], np.random.default_rng(0), plateau)["dem"]
    far = wide_terrain["valley_dist"] > 40_000.0
    assert far.mean() > 0.2  # a quarter of the 4x area lies that far from the plain
    z = wide_terrain["dem"][far]
    assert np.percentile(z, 5) < 3900.0 and np.percentile(z, 95) > 4250.0
    assert np.percentile(flat[far], 5) > np.percentile(z, 5) + 100.0


def test_wide_valley_road_and_ponds_span_the_4x_area():
    seed = np.random.SeedSequence(5)
    world = _world("4x")
    x0, y0, x1, y1 = world.extent.boundingbox
    box = shapely.box(x0, y0, x1, y1)
    main_road = surface.road_lines([], seed, post=False, frame=WIDE_FRAME)[0]
    inside = main_road.intersection(box)
    # the road crosses the whole area along strike (the area is ~190 km long along it)
    assert inside.length > 150_000.0
    coarse = GeoBox(
        (world.shape[0] // 3, world.shape[1] // 3), world.affine * world.affine.scale(3), world.crs
    )
    ponds = surface.ponds_mask(np.random.default_rng(1), seed, coarse, WIDE_FRAME)
    rows, cols = np.nonzero(ponds)
    xs, ys = coarse.affine * (cols + 0.5, rows + 0.5)
    u, _ = to_strike_frame(np.asarray(xs), np.asarray(ys))
    # ponds on the plain in the parts beyond the full frame's length, at both ends
    assert (u < -FULL_FRAME.u_half).sum() > 20 and (u > FULL_FRAME.u_half).sum() > 20


def test_borehole_and_sample_counts_grow_with_the_area():
    cells_4x = int(np.prod(tuple(grid_from_bbox(area_bbox("4x"), 30.0).shape)))
    n_train, n_val, n_mined = _counts(cells_4x)
    assert (n_train, n_val) == (round(48 * cells_4x / FULL_CELLS), round(25 * cells_4x / FULL_CELLS))
    assert n_mined == _counts(FULL_CELLS)[2] == 10  # the same mining belt in every size
    assert SIZES["4x"].samples == 4 * SIZES["full"].samples == 4 * 184
    assert SIZES["4x"].min_per_class == SIZES["full"].min_per_class
