"""The target grid of a run.

One immutable :class:`odc.geo.geobox.GeoBox` (shape, affine, CRS) per run. It is built once from
the config's bounding box and every input is aligned to it at ingest (:mod:`pfatlas.io.raster`).
Arrays carry it as a ``spatial_ref`` coordinate (odc-geo convention), so it survives arithmetic;
:func:`check_on_grid` is how a stage refuses an array that is not on the run's grid.
"""

from __future__ import annotations

import math

import numpy as np
import xarray as xr
from odc.geo.geobox import GeoBox
from odc.geo.xr import xr_coords
from pyproj import CRS, Transformer

from pfatlas.errors import ConfigError, CRSError, GridMismatchError

__all__ = [
    "utm_crs_for",
    "grid_from_bbox",
    "grid_coords",
    "check_on_grid",
    "wrap_on_grid",
    "lonlat_arrays",
]


def utm_crs_for(lon: float, lat: float) -> CRS:
    """UTM zone (WGS84) of a point: EPSG:326zz north of the equator, 327zz south.

    >>> utm_crs_for(99.3, 38.07).to_epsg()
    32647
    """
    if not (-180.0 <= lon <= 180.0 and -80.0 <= lat <= 84.0):
        raise ConfigError(f"({lon}, {lat}) is outside the UTM domain (lon -180..180, lat -80..84)")
    zone = min(int(math.floor((lon + 180.0) / 6.0)) + 1, 60)
    return CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


def grid_from_bbox(
    bbox: tuple[float, float, float, float],
    resolution: float = 30.0,
    crs: CRS | str | int | None = None,
) -> GeoBox:
    """Target grid covering a WGS84 bounding box.

    Parameters
    ----------
    bbox
        (lon_min, lat_min, lon_max, lat_max) [deg, WGS84].
    resolution
        Cell size [m].
    crs
        Projected CRS of the grid; default the UTM zone of the bbox centre.

    Returns
    -------
    GeoBox
        North-up grid whose cell edges are multiples of ``resolution`` and which covers the whole
        bbox (the bbox is transformed with densified edges, then snapped outwards).
    """
    lon0, lat0, lon1, lat1 = (float(v) for v in bbox)
    if not (lon0 < lon1 and lat0 < lat1):
        raise ConfigError(f"bbox {list(bbox)} must be [lon_min, lat_min, lon_max, lat_max] with min < max")
    if not (-180 <= lon0 and lon1 <= 180 and -90 <= lat0 and lat1 <= 90):
        raise ConfigError(f"bbox {list(bbox)} is not in degrees of longitude and latitude")
    if not resolution > 0:
        raise ConfigError(f"resolution must be positive, got {resolution}")
    if crs is None:
        crs = utm_crs_for((lon0 + lon1) / 2, (lat0 + lat1) / 2)
    crs = CRS.from_user_input(crs)
    if not crs.is_projected:
        raise CRSError(f"the grid CRS must be projected (metres), got {crs.name}")
    tr = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    x0, y0, x1, y1 = tr.transform_bounds(lon0, lat0, lon1, lat1, densify_pts=101)
    return GeoBox.from_bbox((x0, y0, x1, y1), crs=crs, resolution=resolution)


def grid_coords(gbox: GeoBox) -> dict:
    """Coordinates (``y``, ``x``, ``spatial_ref``) of arrays on ``gbox``."""
    return xr_coords(gbox, crs_coord_name="spatial_ref")


def wrap_on_grid(data, gbox: GeoBox, name: str, *, units: str, long_name: str, **attrs) -> xr.DataArray:
    """Wrap a 2-D (numpy or dask) array as a DataArray on ``gbox`` with its own units."""
    if tuple(data.shape) != tuple(gbox.shape):
        raise GridMismatchError(f"{name}: array shape {tuple(data.shape)} != grid shape {tuple(gbox.shape)}")
    return xr.DataArray(
        data,
        dims=("y", "x"),
        coords=grid_coords(gbox),
        name=name,
        attrs={"units": units, "long_name": long_name, **attrs},
    )


def check_on_grid(da: xr.DataArray, gbox: GeoBox, what: str = "array") -> None:
    """Raise :class:`GridMismatchError` unless ``da`` lies exactly on ``gbox``."""
    other = getattr(getattr(da, "odc", None), "geobox", None)
    if other is None:
        raise GridMismatchError(f"{what} carries no grid (no spatial_ref / x,y coordinates)")
    if (
        tuple(other.shape) != tuple(gbox.shape)
        or other.crs != gbox.crs
        or not np.allclose(
            tuple(other.affine)[:6], tuple(gbox.affine)[:6], rtol=0, atol=1e-6 * abs(gbox.resolution.x)
        )
    ):
        raise GridMismatchError(f"{what} is not on the target grid: {other} vs {gbox}")


def lonlat_arrays(gbox: GeoBox) -> tuple[np.ndarray, np.ndarray]:
    """Longitude and latitude [deg] of cell centres of ``gbox`` (small grids; numpy)."""
    ny, nx = gbox.shape
    cols, rows = np.meshgrid(np.arange(nx) + 0.5, np.arange(ny) + 0.5)
    xs, ys = gbox.affine @ (cols, rows)
    tr = Transformer.from_crs(gbox.crs.to_wkt(), "EPSG:4326", always_xy=True)
    lon, lat = tr.transform(xs, ys)
    return np.asarray(lon), np.asarray(lat)
