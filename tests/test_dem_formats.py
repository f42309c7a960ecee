"""DEM formats a user holds: SRTM .hgt tiles read like any GeoTIFF."""

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.transform import from_origin

from pfatlas.grid import grid_from_bbox
from pfatlas.io.raster import read_to_grid
from pfatlas.terrain.dem_file import terrain_for_file


def _hgt(tmp_path):
    """A 3-arc-second SRTM tile N38E099 (1201 x 1201, cell centres on whole seconds) of a plane."""
    n = 1201
    res = 1 / 1200
    rows, cols = np.mgrid[0:n, 0:n]
    z = (3700 + 0.9 * rows + 0.3 * cols).astype("int16")  # rises to the south and east
    src = tmp_path / "plane.tif"
    with rasterio.open(
        src, "w", driver="GTiff", width=n, height=n, count=1, dtype="int16", crs="EPSG:4326",
        transform=from_origin(99 - res / 2, 39 + res / 2, res, res), nodata=-32768,
    ) as dst:  # fmt: skip
        dst.write(z, 1)
    hgt = tmp_path / "N38E099.hgt"
    rasterio.shutil.copy(src, hgt, driver="SRTMHGT")
    return hgt


def test_hgt_reads_onto_the_utm_grid(tmp_path):
    hgt = _hgt(tmp_path)
    with rasterio.open(hgt) as src:
        assert src.driver == "SRTMHGT" and src.crs.to_epsg() == 4326
    g = grid_from_bbox((99.2, 38.2, 99.3, 38.25))
    dem = read_to_grid(hgt, g, require_cover=True).values
    assert np.all(np.isfinite(dem))
    # elevation of the plane at 38.25 N, 99.2 E: 900 rows (0.75 deg) and 240 columns (0.2 deg) in
    expected_nw = 3700 + 0.9 * 900 + 0.3 * 240
    assert abs(dem[0, 0] - expected_nw) < 2.0  # the corner cell centre is < 1 arc-second off


def test_terrain_of_an_hgt_tile(tmp_path):
    out = terrain_for_file(_hgt(tmp_path), tmp_path / "t")
    with rasterio.open(out["slope"]) as src:
        assert src.crs.to_epsg() == 32647  # 99.5 E is in UTM zone 47
        slope = src.read(1)
    with rasterio.open(out["aspect"]) as src:
        aspect = src.read(1)
    # the plane rises 0.9 m per 3" (~92.6 m) southwards and 0.3 m per 3" (~73 m at 38.5 N) eastwards
    dzdy, dzdx = 0.9 / 92.6, 0.3 / (92.6 * np.cos(np.radians(38.5)))
    expected_slope = np.degrees(np.arctan(np.hypot(dzdx, dzdy)))
    # 5 % covers the change of metres per degree across the tile and the 0.5 m int16 rounding
    np.testing.assert_allclose(np.nanmedian(slope), expected_slope, rtol=0.05)
    # faces downslope: north-west (between 270 and 360), grid convergence shifts it a little
    expected_aspect = np.degrees(np.arctan2(-dzdx, dzdy)) % 360
    assert abs(np.nanmedian(aspect) - expected_aspect) < 3.0
