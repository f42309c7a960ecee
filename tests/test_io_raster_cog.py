"""Reading any raster onto the grid, and the atomic COG writer."""

import json

import dask.array as dsa
import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from pfatlas.errors import CoverageError, CRSError, InputError, MissingInputError
from pfatlas.grid import grid_from_bbox, wrap_on_grid
from pfatlas.io.cog import ClassInfo, Layer, write_cog, write_cogs
from pfatlas.io.raster import band_max, read_to_grid, read_windows, sample_points

GRID = grid_from_bbox((99.0, 38.0, 99.1, 38.05))


def _coord_raster(path, gbox, dx=0.0, dy=0.0, factor=1):
    """A raster whose value is the easting of each cell centre (so a warp can be checked exactly).

    It is on ``gbox`` shifted by (dx, dy) metres and refined by ``factor``.
    """
    a = gbox.affine
    res = a.a / factor
    ny, nx = gbox.shape[0] * factor + 4, gbox.shape[1] * factor + 4
    transform = from_origin(a.c - 2 * res + dx, a.f + 2 * res + dy, res, res)
    cols = np.arange(nx) + 0.5
    x = transform.c + cols * res
    data = np.broadcast_to(x, (ny, nx)).astype("float64")
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=nx,
        height=ny,
        count=1,
        dtype="float64",
        crs=gbox.crs.to_wkt(),
        transform=transform,
    ) as dst:
        dst.write(data, 1)
    return path


def test_identity_read_is_exact(tmp_path):
    p = _coord_raster(tmp_path / "a.tif", GRID)
    da = read_to_grid(p, GRID, resampling="nearest", chunks=37, dtype="float64")
    x = GRID.affine.c + (np.arange(GRID.shape[1]) + 0.5) * GRID.affine.a
    np.testing.assert_array_equal(da.values, np.broadcast_to(x, GRID.shape))
    assert da.chunks[0][0] == 37


def test_half_cell_shift_bilinear_is_linear(tmp_path):
    # A linear field shifted by half a cell: bilinear reproduces it exactly (to float rounding).
    p = _coord_raster(tmp_path / "a.tif", GRID, dx=15.0)
    da = read_to_grid(p, GRID, resampling="bilinear", chunks=64, dtype="float64").values
    x = GRID.affine.c + (np.arange(GRID.shape[1]) + 0.5) * GRID.affine.a
    np.testing.assert_allclose(da, np.broadcast_to(x, GRID.shape), rtol=0, atol=1e-6)


def test_chunking_does_not_change_result(tmp_path):
    p = _coord_raster(tmp_path / "a.tif", GRID, dx=7.0, dy=-11.0, factor=2)
    a = read_to_grid(p, GRID, chunks=29).values
    b = read_to_grid(p, GRID, chunks=1024).values
    np.testing.assert_array_equal(a, b)


def test_chunking_does_not_change_a_warp_across_crs(tmp_path, monkeypatch):
    """A lon/lat field warped onto the UTM grid: GDAL's approximate transformer and kernel scale
    are per warped window, so the warp is done on a fixed block grid and any chunking agrees."""
    import pfatlas.io.raster as raster

    monkeypatch.setattr(raster, "WARP_BLOCK", 64)  # several blocks on this small grid
    p = tmp_path / "geo.tif"
    lon = 98.95 + (np.arange(600) + 0.5) * 0.0003
    lat = 38.11 - (np.arange(400) + 0.5) * 0.0003
    field = 4000.0 + 300.0 * np.sin(lon[None, :] * 300.0) * np.cos(lat[:, None] * 170.0)
    with rasterio.open(
        p, "w", driver="GTiff", width=600, height=400, count=1, dtype="float32", crs="EPSG:4326",
        transform=from_origin(98.95, 38.11, 0.0003, 0.0003),
    ) as dst:  # fmt: skip
        dst.write(field.astype("float32"), 1)
    reads = [read_to_grid(p, GRID, chunks=c).values for c in (29, 77, 1024)]
    assert np.isfinite(reads[0]).all() and reads[0].std() > 50.0  # a real, varying field
    for other in reads[1:]:
        np.testing.assert_array_equal(reads[0], other)


def test_geographic_source_is_warped(tmp_path):
    # A constant field in EPSG:4326 covering the area reads as that constant everywhere.
    p = tmp_path / "geo.tif"
    with rasterio.open(
        p, "w", driver="GTiff", width=200, height=120, count=1, dtype="int16", crs="EPSG:4326",
        transform=from_origin(98.95, 38.11, 0.001, 0.001), nodata=-32768,
    ) as dst:  # fmt: skip
        dst.write(np.full((120, 200), 4000, "int16"), 1)
    da = read_to_grid(p, GRID, require_cover=True)
    assert float(da.min()) == 4000 and float(da.max()) == 4000


def test_errors(tmp_path):
    with pytest.raises(MissingInputError, match="does not exist"):
        read_to_grid(tmp_path / "nope.tif", GRID)
    bad = tmp_path / "bad.tif"
    bad.write_text("not a raster")
    with pytest.raises(MissingInputError, match="cannot be read"):
        read_to_grid(bad, GRID)
    nocrs = tmp_path / "nocrs.tif"
    with rasterio.open(nocrs, "w", driver="GTiff", width=5, height=5, count=1, dtype="uint8",
                       transform=from_origin(0, 5, 1, 1)) as dst:  # fmt: skip
        dst.write(np.zeros((5, 5), "uint8"), 1)
    with pytest.raises(CRSError, match=r"nocrs.tif: raster has no coordinate reference system"):
        read_to_grid(nocrs, GRID)
    small = tmp_path / "small.tif"
    with rasterio.open(
        small, "w", driver="GTiff", width=10, height=10, count=1, dtype="float32", crs="EPSG:4326",
        transform=from_origin(99.0, 38.05, 0.001, 0.001),
    ) as dst:  # fmt: skip
        dst.write(np.zeros((10, 10), "f4"), 1)
    with pytest.raises(CoverageError, match="small.tif: does not cover the study area"):
        read_to_grid(small, GRID, require_cover=True)
    with pytest.raises(InputError, match="band 2 does not exist"):
        read_to_grid(small, GRID, band=2)
    with pytest.raises(ValueError, match="nearest/mode"):
        read_to_grid(small, GRID, resampling="bilinear", dtype="uint8")


def test_cog_continuous_and_class(tmp_path):
    z = wrap_on_grid(dsa.random.default_rng(0).random(tuple(GRID.shape), chunks=50).astype("f4"), GRID, "z",
                     units="m", long_name="z")  # fmt: skip
    z = z.where(z > 0.1)
    p = write_cog(
        z, tmp_path / "z.tif", gbox=GRID, units="m", description="test layer", tags={"source": "synthetic"}
    )
    with rasterio.open(p) as src:
        assert src.dtypes[0] == "float32" and np.isnan(src.nodata)
        assert src.tags()["units"] == "m" and src.tags()["source"] == "synthetic"
        assert src.descriptions[0] == "test layer"
        assert src.crs.to_epsg() == 32647 and src.transform == GRID.affine
        np.testing.assert_array_equal(src.read(1), z.values)
    classes = [ClassInfo(1, "meadow", (0, 200, 0)), ClassInfo(2, "steppe", (200, 200, 0))]
    c = wrap_on_grid(np.where(np.arange(GRID.shape[1]) % 2 == 0, 1, 2).astype("u1")[None, :].repeat(GRID.shape[0], 0),
                     GRID, "c", units="class", long_name="c")  # fmt: skip
    p = write_cog(c, tmp_path / "c.tif", gbox=GRID, units="class", description="cls", classes=classes)
    with rasterio.open(p) as src:
        assert src.dtypes[0] == "uint8" and src.nodata == 255
        assert src.colormap(1)[2] == (200, 200, 0, 255)
        assert json.loads(src.tags()["CLASS_NAMES"]) == {"1": "meadow", "2": "steppe"}
    with pytest.raises(TypeError, match="uint8"):
        write_cog(z, tmp_path / "bad.tif", gbox=GRID, units="class", description="x", classes=classes)


def test_cog_layout_and_overviews(tmp_path):
    g = grid_from_bbox((99.0, 38.0, 99.4, 38.3))  # ~1200 x 1100 cells: overviews are made
    z = wrap_on_grid(dsa.ones(tuple(g.shape), chunks=300, dtype="f4"), g, "z", units="m", long_name="z")
    p = write_cog(z, tmp_path / "z.tif", gbox=g, units="m", description="ones")
    with rasterio.open(p) as src:
        assert src.overviews(1), "internal overviews expected"
        assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"


def test_cog_bytes_do_not_depend_on_the_compression_threads(tmp_path):
    import dask

    from pfatlas.parallel import local_threads

    g = grid_from_bbox((99.0, 38.0, 99.4, 38.3))  # several 512 blocks and overviews to compress
    rng = np.random.default_rng(0)
    a = np.cumsum(rng.normal(size=g.shape), axis=1).astype("f4")
    z = wrap_on_grid(dsa.from_array(a, chunks=300), g, "z", units="m", long_name="z")
    files = []
    for n in (1, 2, 3):
        with dask.config.set(num_workers=n):
            assert local_threads() == n  # the build's --workers under threads
            files.append(
                write_cog(z, tmp_path / f"z{n}.tif", gbox=g, units="m", description="z").read_bytes()
            )
    assert files[0] == files[1] == files[2]


def test_failed_check_leaves_nothing(tmp_path):
    z = wrap_on_grid(np.zeros(GRID.shape, "f4"), GRID, "z", units="m", long_name="z")

    def check(tmps):
        assert band_max(next(iter(tmps.values()))) == 0.0
        raise InputError("no good")

    with pytest.raises(InputError, match="no good"):
        write_cogs(
            [Layer(z, tmp_path / "a.tif", "m", "a"), Layer(z, tmp_path / "b.tif", "m", "b")],
            gbox=GRID,
            check=check,
        )
    assert list(tmp_path.iterdir()) == []


def test_sample_points(tmp_path):
    z = wrap_on_grid(np.arange(GRID.shape[0] * GRID.shape[1], dtype="f4").reshape(GRID.shape), GRID, "z",
                     units="m", long_name="z")  # fmt: skip
    p = write_cog(z, tmp_path / "z.tif", gbox=GRID, units="m", description="z")
    np.testing.assert_array_equal(sample_points(p, [0, 5], [0, 7]), [0.0, 5 * GRID.shape[1] + 7])


def test_points_and_windows_read_tile_by_tile_equal_the_array(tmp_path, monkeypatch):
    # small tiles so that the points fall in many tiles, some windows cross tiles and the edges
    import pfatlas.io.raster as raster

    monkeypatch.setattr(raster, "_POINT_TILE", 16)
    ny, nx = GRID.shape
    a = np.random.default_rng(3).normal(size=GRID.shape).astype("f4")
    a[10, 12] = np.nan  # nodata reads back as NaN
    p = write_cog(wrap_on_grid(a, GRID, "a", units="m", long_name="a"), tmp_path / "a.tif", gbox=GRID,
                  units="m", description="a")  # fmt: skip
    rng = np.random.default_rng(4)
    rows = np.concatenate([rng.uniform(0, ny, 60), [0.2, ny - 0.1, 10.7, -0.5, ny + 0.5]])
    cols = np.concatenate([rng.uniform(0, nx, 60), [0.9, nx - 0.3, 12.2, 4.0, 3.0]])
    got = sample_points(p, rows, cols)
    r, c = np.floor(rows).astype(int), np.floor(cols).astype(int)
    inside = (r >= 0) & (r < ny) & (c >= 0) & (c < nx)
    np.testing.assert_array_equal(got[inside], a[r[inside], c[inside]])  # fractional -> their cell
    assert np.isnan(got[~inside]).all() and np.isnan(got[62])
    radius = 5
    win = read_windows(p, rows, cols, radius)
    padded = np.pad(a.astype("f8"), radius + 1, constant_values=np.nan)
    for k in range(rows.size):
        i, j = r[k] + radius + 1, c[k] + radius + 1
        np.testing.assert_array_equal(
            win[k], padded[i - radius : i + radius + 1, j - radius : j + radius + 1]
        )


def test_file_on_the_grid_reads_exactly_with_any_resampling(tmp_path):
    # the aligned fast path: a file on the grid comes back cell for cell, nodata -> fill
    data = np.arange(GRID.shape[0] * GRID.shape[1], dtype="f4").reshape(GRID.shape)
    data[5, 7] = -9999
    p = tmp_path / "on_grid.tif"
    ny, nx = GRID.shape
    with rasterio.open(p, "w", driver="GTiff", width=nx, height=ny, count=1, dtype="float32",
                       crs=GRID.crs.to_wkt(), transform=GRID.affine, nodata=-9999) as dst:  # fmt: skip
        dst.write(data, 1)
    expected = data.copy()
    expected[5, 7] = np.nan
    for resampling in ("nearest", "bilinear"):
        got = read_to_grid(p, GRID, resampling=resampling, chunks=50).values
        np.testing.assert_array_equal(got, expected)
