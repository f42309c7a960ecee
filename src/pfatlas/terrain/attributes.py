"""Terrain attributes on ``xarray`` DEMs: slope, aspect, northness, eastness.

Thin wrappers around the numba kernels of :mod:`pfatlas.terrain.horn`. They check the input (a 2-D
DEM on an odc-geo grid in a projected CRS, so the gradient is taken in metres), pick the numpy or
the dask path, and set each output's own ``units`` and ``long_name`` (never copied from the DEM).

Edges: the outermost ring of cells of the whole grid is NaN (its 3x3 window leaves the grid), as
``gdaldem`` gives without ``-compute_edges``. On dask the halo between chunks is exchanged with
``map_overlap(depth=1)`` and the grid's outside is padded with NaN, so results do not depend on the
chunking: numpy and dask give bit-identical arrays.
"""

from __future__ import annotations

import dask.array as dsa
import numpy as np
import xarray as xr
from odc.geo.geobox import GeoBox

from pfatlas.errors import CRSError, GridMismatchError, InputError
from pfatlas.grid import wrap_on_grid
from pfatlas.terrain.horn import aspect_kernel, slope_aspect_kernel, slope_kernel

__all__ = ["slope", "aspect", "northness", "eastness", "terrain_attributes", "cell_size"]

_DEGREE_UNITS = {"degree", "degrees", "deg", "°", "degrees_north", "degree_north"}
_FLOAT32_SAFE = (np.int8, np.uint8, np.int16, np.uint16)  # exactly representable in float32


def _dem_grid(dem: xr.DataArray) -> GeoBox:
    """The DEM's grid, refusing anything the Horn kernels cannot differentiate in metres."""
    if not isinstance(dem, xr.DataArray):
        raise InputError(f"expected a 2-D DataArray (y, x), got {type(dem).__name__}", field="dem")
    name = dem.name if dem.name is not None else "dem"
    if dem.ndim != 2:
        raise InputError(f"expected a 2-D DataArray (y, x), got dims {dem.dims}", field=str(name))
    gbox = getattr(dem.odc, "geobox", None)
    if gbox is None:
        raise GridMismatchError(f"{name}: the DEM carries no grid (no spatial_ref / x, y coordinates)")
    if gbox.crs is None:
        raise CRSError("the DEM has no CRS: differentiate in metres on a projected grid", field=str(name))
    if gbox.crs.geographic or not gbox.crs.proj.is_projected:
        raise CRSError(
            f"the DEM is in a geographic CRS ({gbox.crs.proj.name}); differentiate in metres: "
            "reproject the DEM to a projected CRS first",
            field=str(name),
        )
    if dem.dims != ("y", "x"):
        raise InputError(f"expected dims ('y', 'x'), got {dem.dims}", field=str(name))
    return gbox


def cell_size(gbox: GeoBox, name: str = "dem") -> tuple[float, float]:
    """Signed ground distances (dx, dy) [m] for :mod:`pfatlas.terrain.horn`.

    ``dx`` is the step from one column to the next (positive eastwards), ``dy`` the step from one
    row to the one above it (positive northwards): both equal the absolute cell size on the usual
    north-up grid. Rotated or sheared grids are refused; ``name`` is the array named in errors.
    """
    a = gbox.affine
    if a.b != 0 or a.d != 0:
        raise GridMismatchError(
            f"{name}: terrain needs an axis-aligned grid, got a rotated affine {tuple(a)[:6]}"
        )
    units = gbox.crs.units if gbox.crs is not None else ()
    if units and any(u not in ("m", "metre", "meter", "metres", "meters") for u in units):
        raise CRSError(
            f"the grid CRS units are {units}, not metres: reproject the DEM to a metric CRS first", field=name
        )
    return float(a.a), float(-a.e)


def _as_float(data):
    """Float view of the DEM data: float32/float64 kept, small integers to float32, others float64."""
    dt = np.dtype(data.dtype)
    if dt in (np.float32, np.float64):
        return data
    return data.astype(np.float32 if dt.type in _FLOAT32_SAFE else np.float64)


def _run(kernel, data, dx: float, dy: float, *, nout: int = 0):
    """Apply a haloed kernel on numpy or dask data; the grid's outside is NaN."""
    data = _as_float(data)
    if isinstance(data, dsa.Array):
        chunks = data.chunks if nout == 0 else ((nout,), *data.chunks)
        new_axis = None if nout == 0 else 0

        def block(z):
            return kernel(z, dx, dy)

        return dsa.map_overlap(
            block,
            data,
            depth=1,
            boundary=np.nan,
            trim=False,
            align_arrays=False,
            dtype=np.float32,
            meta=np.array((), dtype=np.float32).reshape((0,) * (2 if nout == 0 else 3)),
            chunks=chunks,
            new_axis=new_axis,
        )
    z = np.pad(np.asarray(data), 1, mode="constant", constant_values=np.nan)
    return kernel(z, dx, dy)


def slope(dem: xr.DataArray) -> xr.DataArray:
    """Slope [deg] of a DEM by Horn's (1981) 3x3 method.

    Parameters
    ----------
    dem
        Elevation [m], 2-D ``(y, x)`` on an odc-geo grid in a projected (metric) CRS; numpy or
        dask backed. NaN marks missing elevations.

    Returns
    -------
    xarray.DataArray
        float32 slope [deg] (0 flat .. 90), same grid and backing (lazy stays lazy). NaN on the
        outermost ring of the grid and wherever a cell's 3x3 window holds a NaN.

    Raises
    ------
    CRSError
        The DEM is in a geographic CRS (degrees) or has none.
    """
    gbox = _dem_grid(dem)
    dx, dy = cell_size(gbox, str(dem.name if dem.name is not None else "dem"))
    out = _run(slope_kernel, dem.data, dx, dy)
    return wrap_on_grid(
        out, gbox, "slope", units="degree", long_name="terrain slope", method="Horn (1981) 3x3, pfatlas"
    )


def aspect(dem: xr.DataArray) -> xr.DataArray:
    """Aspect [deg clockwise from north] of a DEM by Horn's (1981) 3x3 method.

    Parameters
    ----------
    dem
        Elevation [m], as for :func:`slope`.

    Returns
    -------
    xarray.DataArray
        float32 azimuth of the direction the slope faces (downslope), in [0, 360): 0 north,
        90 east, 180 south, 270 west. NaN on flat cells (zero gradient: no facing direction;
        ``gdaldem aspect`` writes -9999 there), on the grid's outermost ring and wherever a cell's
        3x3 window holds a NaN.
    """
    gbox = _dem_grid(dem)
    dx, dy = cell_size(gbox, str(dem.name if dem.name is not None else "dem"))
    out = _run(aspect_kernel, dem.data, dx, dy)
    return wrap_on_grid(
        out,
        gbox,
        "aspect",
        units="degree",
        long_name="terrain aspect (azimuth the slope faces, clockwise from north)",
        method="Horn (1981) 3x3, pfatlas; NaN where flat",
    )


def _aspect_radians(aspect_da: xr.DataArray):
    name = aspect_da.name if aspect_da.name is not None else "aspect"
    units = aspect_da.attrs.get("units")
    if units is not None and str(units).strip().lower() not in _DEGREE_UNITS:
        raise InputError(f"aspect must be in degrees (units 'degree'), got units {units!r}", field=str(name))
    return np.deg2rad(aspect_da.data)


def _wrap_like(data, like: xr.DataArray, name: str, *, long_name: str) -> xr.DataArray:
    gbox = getattr(like.odc, "geobox", None)
    if gbox is not None and like.dims == ("y", "x"):
        return wrap_on_grid(data, gbox, name, units="1", long_name=long_name)
    return xr.DataArray(
        data, dims=like.dims, coords=like.coords, name=name, attrs={"units": "1", "long_name": long_name}
    )


def northness(aspect_da: xr.DataArray) -> xr.DataArray:
    """Northness = cos(aspect) [1]: +1 north-facing, -1 south-facing, 0 east/west; NaN where aspect is NaN.

    Parameters
    ----------
    aspect_da
        Aspect [deg clockwise from north] (e.g. from :func:`aspect`). An array whose ``units``
        attribute is set to something other than degrees is refused.
    """
    return _wrap_like(
        np.cos(_aspect_radians(aspect_da)), aspect_da, "northness", long_name="northness, cos(aspect)"
    )


def eastness(aspect_da: xr.DataArray) -> xr.DataArray:
    """Eastness = sin(aspect) [1]: +1 east-facing, -1 west-facing, 0 north/south; NaN where aspect is NaN."""
    return _wrap_like(
        np.sin(_aspect_radians(aspect_da)), aspect_da, "eastness", long_name="eastness, sin(aspect)"
    )


def terrain_attributes(dem: xr.DataArray) -> xr.Dataset:
    """Slope, aspect, northness and eastness of a DEM in one Dataset.

    One Horn pass gives slope and aspect (same values as :func:`slope` and :func:`aspect`);
    northness and eastness derive from the aspect. Lazy for a dask-backed DEM.

    Parameters
    ----------
    dem
        Elevation [m], as for :func:`slope`.

    Returns
    -------
    xarray.Dataset
        ``slope`` [degree], ``aspect`` [degree], ``northness`` [1], ``eastness`` [1].
    """
    gbox = _dem_grid(dem)
    dx, dy = cell_size(gbox, str(dem.name if dem.name is not None else "dem"))
    both = _run(slope_aspect_kernel, dem.data, dx, dy, nout=2)
    sl = wrap_on_grid(
        both[0], gbox, "slope", units="degree", long_name="terrain slope", method="Horn (1981) 3x3, pfatlas"
    )
    asp = wrap_on_grid(
        both[1],
        gbox,
        "aspect",
        units="degree",
        long_name="terrain aspect (azimuth the slope faces, clockwise from north)",
        method="Horn (1981) 3x3, pfatlas; NaN where flat",
    )
    return xr.Dataset({"slope": sl, "aspect": asp, "northness": northness(asp), "eastness": eastness(asp)})
