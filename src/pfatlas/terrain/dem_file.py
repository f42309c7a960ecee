"""Slope and aspect of a whole DEM file (the ``pfatlas terrain DEM OUTDIR`` command).

Orchestration only: the file is read lazily onto a metric grid with :func:`pfatlas.io.raster.read_to_grid`,
the attributes come from :mod:`pfatlas.terrain.attributes`, and the layers are written as COGs by
:func:`pfatlas.io.cog.write_cog`.

Grid choice:

- a DEM in a projected CRS keeps its own grid (shape, transform, CRS) unchanged, unless
  ``resolution`` asks for another cell size;
- a DEM in a geographic CRS (SRTM ``.hgt``, most GeoTIFF DEMs) is warped (bilinear) onto a grid in
  the UTM zone of its centre, built by :func:`pfatlas.grid.grid_from_bbox` from its lon/lat bounds,
  with cells of ``resolution`` metres, by default the DEM's nominal cell size rounded
  (:func:`nominal_resolution`: SRTM 3 arc-seconds -> 90 m, 1 arc-second -> 30 m). Cells of the
  grid outside the DEM's footprint are NaN.
"""

from __future__ import annotations

import math
from pathlib import Path

from affine import Affine
from odc.geo.geobox import GeoBox
from pyproj import CRS

from pfatlas.errors import ConfigError
from pfatlas.grid import grid_from_bbox
from pfatlas.io.cog import Layer, write_cogs
from pfatlas.io.raster import DEFAULT_CHUNK, raster_info, read_to_grid
from pfatlas.terrain.attributes import aspect, slope

__all__ = ["terrain_for_file", "nominal_resolution", "dem_grid_for_file"]

_EARTH_RADIUS = 6_371_008.8  # mean Earth radius [m] (IUGG)


def nominal_resolution(cell_deg: float) -> float:
    """Nominal metric size [m] of a geographic cell of ``cell_deg`` [deg] of latitude, rounded.

    The north-south ground length of the cell on a sphere of mean Earth radius, rounded to a
    multiple of 10 m from 20 m up, of 1 m from 2 m up, of 0.1 m below.

    >>> nominal_resolution(3 / 3600), nominal_resolution(1 / 3600)
    (90.0, 30.0)
    """
    metres = abs(cell_deg) * math.pi / 180.0 * _EARTH_RADIUS
    step = 10.0 if metres >= 20.0 else 1.0 if metres >= 2.0 else 0.1
    return max(step, round(metres / step) * step)


def dem_grid_for_file(dem_path: str | Path, *, resolution: float | None = None) -> tuple[GeoBox, str]:
    """The metric grid terrain is computed on for ``dem_path``, and the resampling to read it with.

    Returns
    -------
    (GeoBox, str)
        The grid (see the module docstring) and ``"nearest"`` when it is the file's own grid
        (values read unchanged) or ``"bilinear"`` when the DEM must be warped.
    """
    info = raster_info(dem_path)  # MissingInputError / CRSError naming the file
    if resolution is not None and not (isinstance(resolution, int | float) and resolution > 0):
        raise ConfigError(
            f"resolution must be a positive number of metres, got {resolution!r}", field="resolution"
        )
    if info.crs.is_geographic:
        lon0, lat0, lon1, lat1 = info.bounds_in(CRS.from_epsg(4326))
        res = resolution or nominal_resolution((info.bounds[3] - info.bounds[1]) / info.shape[0])
        return grid_from_bbox((lon0, lat0, lon1, lat1), resolution=res), "bilinear"
    own = GeoBox(info.shape, Affine(*info.transform), info.crs.to_wkt())
    same = resolution is not None and (
        math.isclose(abs(own.resolution.x), resolution) and math.isclose(abs(own.resolution.y), resolution)
    )
    if resolution is None or same:
        return own, "nearest"
    return GeoBox.from_bbox(info.bounds, crs=info.crs.to_wkt(), resolution=resolution), "bilinear"


def terrain_for_file(
    dem_path: str | Path,
    outdir: str | Path,
    *,
    resolution: float | None = None,
    chunks: int = DEFAULT_CHUNK,
) -> dict[str, Path]:
    """Compute slope and aspect of a DEM file and write them as COGs.

    Parameters
    ----------
    dem_path
        Any single-band DEM GDAL opens (GeoTIFF, SRTM ``.hgt``, ...), elevations [m], with a CRS.
    outdir
        Folder for ``slope.tif`` and ``aspect.tif`` (created if needed).
    resolution
        Cell size [m] of the output grid; default: the file's own grid if projected, the DEM's
        nominal cell size rounded if geographic (see :func:`nominal_resolution`).
    chunks
        Chunk edge [cells] of the lazy computation (memory stays bounded by it).

    Returns
    -------
    dict
        ``{"slope": Path, "aspect": Path}``: float32 COGs, NaN nodata, units degree.

    Raises
    ------
    MissingInputError
        ``dem_path`` does not exist or is not a raster.
    CRSError
        The DEM has no CRS.
    """
    gbox, resampling = dem_grid_for_file(dem_path, resolution=resolution)
    dem = read_to_grid(dem_path, gbox, resampling=resampling, dtype="float32", chunks=chunks, name="dem")
    dem.attrs.update(units="m", long_name="elevation")
    outdir = Path(outdir)
    tags = {
        "source_dem": Path(dem_path).name,
        "method": "Horn (1981) 3x3, pfatlas",
        "dem_resampling": resampling,
    }
    sl = slope(dem)
    asp = aspect(dem)
    paths = write_cogs(  # one dask pass: the DEM is read once for both layers
        [
            Layer(sl, outdir / "slope.tif", "degree", sl.attrs["long_name"], tags=tags),
            Layer(
                asp,
                outdir / "aspect.tif",
                "degree",
                asp.attrs["long_name"],
                tags={**tags, "flat_cells": "NaN (no facing direction)"},
            ),
        ],
        gbox=gbox,
    )
    return {"slope": paths[0], "aspect": paths[1]}
