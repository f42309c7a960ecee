"""MAGT and its standard error on every cell of the grid, lazily, chunk by chunk.

Each dask task gets the chunk's elevation, slope, aspect and land cover, the chunk's position on
the grid, the grid's affine and CRS (as WKT) and the small frozen :class:`MagtModel`; it computes
the cells' longitude and latitude with pyproj inside the task (no stored lon/lat layer), builds
the design matrix (:func:`~pfatlas.magt.features.design_matrix`) and evaluates the model. The
result does not depend on the chunking.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import dask
import dask.array as dsa
import numpy as np
import xarray as xr
from pyproj import Transformer

from pfatlas.errors import InputError
from pfatlas.grid import check_on_grid, wrap_on_grid
from pfatlas.magt.features import FeatureSpec, design_matrix
from pfatlas.magt.models import MLRFit, RFFit, predict_mlr, predict_rf

__all__ = ["MagtModel", "predict_points", "predict_magt", "cell_lonlat"]


@dataclass(frozen=True)
class MagtModel:
    """The fitted MAGT model that maps the six factors to MAGT [degC] and its SE [degC]."""

    kind: Literal["mlr", "rf"]
    spec: FeatureSpec
    mlr: MLRFit | None = None
    rf: RFFit | None = None

    def __post_init__(self):
        if self.kind == "mlr" and self.mlr is None or self.kind == "rf" and self.rf is None:
            raise ValueError(f"model kind {self.kind!r} without its fit")

    def predict_matrix(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """MAGT and SE [degC] for rows of a design matrix (NaN rows give NaN)."""
        if self.kind == "mlr":
            return predict_mlr(self.mlr, X)
        return predict_rf(self.rf, X)


def predict_points(
    model: MagtModel,
    elevation_m: np.ndarray,
    lon_deg: np.ndarray,
    lat_deg: np.ndarray,
    slope_deg: np.ndarray,
    aspect_deg: np.ndarray,
    landcover: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """MAGT and its SE [degC] at points (kernel; NaN where a factor is missing)."""
    X, valid = design_matrix(model.spec, elevation_m, lon_deg, lat_deg, slope_deg, aspect_deg, landcover)
    mean = np.full(valid.shape, np.nan)
    se = np.full(valid.shape, np.nan)
    if valid.any():
        mean[valid], se[valid] = model.predict_matrix(X[valid])
    return mean, se


def cell_lonlat(
    affine: tuple[float, ...], crs_wkt: str, row0: int, col0: int, shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Longitude and latitude [deg, WGS84] of the cell centres of a window of the grid."""
    a, b, c, d, e, f = affine[:6]
    rows, cols = np.meshgrid(
        np.arange(row0, row0 + shape[0]) + 0.5, np.arange(col0, col0 + shape[1]) + 0.5, indexing="ij"
    )
    x = a * cols + b * rows + c
    y = d * cols + e * rows + f
    tr = Transformer.from_crs(crs_wkt, "EPSG:4326", always_xy=True)
    lon, lat = tr.transform(x, y)
    return np.asarray(lon), np.asarray(lat)


def _predict_block(dem, slope, aspect, landcover, *, model, affine, crs_wkt, row0, col0):
    lon, lat = cell_lonlat(affine, crs_wkt, row0, col0, dem.shape)
    mean, se = predict_points(model, dem, lon, lat, slope, aspect, landcover)
    return np.stack([mean.reshape(dem.shape), se.reshape(dem.shape)]).astype(np.float32)


def predict_magt(
    model: MagtModel,
    dem: xr.DataArray,
    slope: xr.DataArray,
    aspect: xr.DataArray,
    landcover: xr.DataArray,
) -> xr.Dataset:
    """MAGT [degC] and its standard error [degC] on the grid (lazy when the inputs are).

    Parameters
    ----------
    model
        The fitted model.
    dem
        Elevation [m] on the grid (numpy or dask; its grid is the reference).
    slope
        Slope [deg], same grid.
    aspect
        Aspect [deg from north], NaN on flat ground, same grid.
    landcover
        Land-cover codes (uint8, 255 no data), same grid.

    Returns
    -------
    xarray.Dataset
        ``magt`` and ``magt_se``, float32, NaN where a factor is missing or the land-cover class is
        unknown to the model.
    """
    for name, da in (("dem", dem), ("slope", slope), ("aspect", aspect), ("landcover", landcover)):
        if not isinstance(da, xr.DataArray) or da.ndim != 2:
            raise InputError(f"expected a 2-D DataArray (y, x), got {type(da).__name__}", field=name)
    gbox = getattr(getattr(dem, "odc", None), "geobox", None)
    if gbox is None:
        raise InputError("the DEM carries no grid (no spatial_ref / x, y coordinates)", field="dem")
    for name, da in (("slope", slope), ("aspect", aspect), ("landcover", landcover)):
        check_on_grid(da, gbox, name)
    affine = tuple(gbox.affine)[:6]
    crs_wkt = gbox.crs.to_wkt()
    kw = {"model": model, "affine": affine, "crs_wkt": crs_wkt}
    arrays = [dem.data, slope.data, aspect.data, landcover.data]
    if any(isinstance(a, dsa.Array) for a in arrays):
        ref = next(a for a in arrays if isinstance(a, dsa.Array))
        arrays = [
            a.rechunk(ref.chunks) if isinstance(a, dsa.Array) else dsa.from_array(a, chunks=ref.chunks)
            for a in arrays
        ]

        def block(d, s, a, lc, model, block_info=None):
            (r0, _), (c0, _) = block_info[0]["array-location"]
            return _predict_block(d, s, a, lc, row0=r0, col0=c0, **{**kw, "model": model})

        out = dsa.map_blocks(
            block,
            *arrays,
            # one key in the graph: a cluster ships the model to each worker once, not with each task
            model=dask.delayed(model, pure=True),
            new_axis=0,
            chunks=((2,), *ref.chunks),
            dtype=np.float32,
            meta=np.empty((0, 0, 0), dtype=np.float32),
        )
    else:
        out = _predict_block(*(np.asarray(a) for a in arrays), row0=0, col0=0, **kw)
    desc = {"mlr": "multiple linear regression", "rf": "Random Forest regression"}[model.kind]
    magt = wrap_on_grid(
        out[0],
        gbox,
        "magt",
        units="degC",
        long_name=f"mean annual ground temperature at the depth of zero annual amplitude ({desc})",
    )
    se = wrap_on_grid(
        out[1], gbox, "magt_se", units="degC", long_name=f"standard error of the predicted MAGT ({desc})"
    )
    return xr.Dataset({"magt": magt, "magt_se": se})
