"""The target grid: UTM zone, snapping, coverage of the bbox, grid checks."""

import numpy as np
import pytest
import xarray as xr
from pyproj import Transformer

from pfatlas.errors import ConfigError, CRSError, GridMismatchError
from pfatlas.grid import check_on_grid, grid_from_bbox, lonlat_arrays, utm_crs_for, wrap_on_grid

MULI = (98.85, 37.8233, 99.7539, 38.33)


def test_muli_grid_is_utm47_30m_snapped_and_covers_bbox():
    g = grid_from_bbox(MULI, 30.0)
    assert g.crs.epsg == 32647
    a = g.affine
    assert (a.a, a.e) == (30.0, -30.0)
    # edges snapped to multiples of the cell size
    assert a.c % 30 == 0 and a.f % 30 == 0
    # about 79 x 56 km (SPEC: ~2600 x 1900 cells)
    ny, nx = g.shape
    assert 2550 < nx < 2750 and 1800 < ny < 1950
    # every bbox corner and edge midpoint lies inside the grid
    tr = Transformer.from_crs("EPSG:4326", "EPSG:32647", always_xy=True)
    lons = [MULI[0], MULI[2], (MULI[0] + MULI[2]) / 2]
    lats = [MULI[1], MULI[3], (MULI[1] + MULI[3]) / 2]
    x0, y0, x1, y1 = g.extent.boundingbox
    for lon in lons:
        for lat in lats:
            x, y = tr.transform(lon, lat)
            assert x0 <= x <= x1 and y0 <= y <= y1


@pytest.mark.parametrize(
    ("lon", "lat", "epsg"),
    [
        (99.3, 38.0, 32647),
        (-0.1, 51.5, 32630),
        (10.7, 46.8, 32632),
        (151.2, -33.9, 32756),
        (179.99, 10, 32660),
    ],
)
def test_utm_zone(lon, lat, epsg):
    assert utm_crs_for(lon, lat).to_epsg() == epsg


@pytest.mark.parametrize(
    ("bbox", "match"),
    [((99.7, 38.0, 98.8, 38.3), "min < max"), ((300000, 4200000, 310000, 4210000), "degrees")],
)
def test_bad_bbox(bbox, match):
    with pytest.raises(ConfigError, match=match):
        grid_from_bbox(bbox)


def test_geographic_grid_crs_refused():
    with pytest.raises(CRSError, match="projected"):
        grid_from_bbox(MULI, 30.0, crs="EPSG:4326")


def test_check_on_grid_survives_arithmetic_and_refuses_other_grid():
    g = grid_from_bbox((99.0, 38.0, 99.1, 38.05))
    da = wrap_on_grid(np.zeros(g.shape, "f4"), g, "z", units="m", long_name="z")
    check_on_grid(da * 2 + 1, g)  # spatial_ref coordinate survives arithmetic
    other = grid_from_bbox((99.0, 38.0, 99.1, 38.06))
    with pytest.raises(GridMismatchError):
        check_on_grid(da, other)
    with pytest.raises(GridMismatchError, match="no grid"):
        check_on_grid(xr.DataArray(np.zeros(g.shape)), g)
    with pytest.raises(GridMismatchError, match="shape"):
        wrap_on_grid(np.zeros((3, 3)), g, "z", units="m", long_name="z")


def test_lonlat_of_cell_centres():
    g = grid_from_bbox((99.0, 38.0, 99.1, 38.05))
    lon, lat = lonlat_arrays(g)
    assert lon.shape == g.shape
    # west to east, north to south; within a cell of the bbox
    assert np.all(np.diff(lon, axis=1) > 0) and np.all(np.diff(lat, axis=0) < 0)
    assert 98.999 < lon.min() < 99.001 and 38.049 < lat.max() < 38.051
