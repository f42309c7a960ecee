"""Growing-season composites of Landsat scenes on the target grid.

For one epoch (a date range and the months of the season), every selected scene is loaded lazily
onto the grid (:func:`pfatlas.io.landsat.load_scene`); per cell, the median of each band is taken
over the observations that are valid and snow-free, the spectral indices are computed from the
median bands, and the number of clear observations and the share of snow are kept for the atlas.
The time axis is one chunk, the grid chunks are those of the reader, so memory is bounded by
``n_scenes x chunk**2`` whatever the area.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

import dask.array as dsa
import numpy as np
import xarray as xr
from odc.geo.geobox import GeoBox

from pfatlas.composite.indices import INDICES
from pfatlas.errors import InputError, NoClearPixelError
from pfatlas.grid import wrap_on_grid
from pfatlas.io.landsat import REFLECTANCE_BANDS, Scene, load_scene
from pfatlas.io.raster import DEFAULT_CHUNK

__all__ = ["select_scenes", "seasonal_composite", "require_clear", "nanmedian_first_axis", "GROWING_SEASON"]

GROWING_SEASON = (6, 7, 8, 9)  # June-September


# ----------------------------------------------------------------------------------- kernels


def nanmedian_first_axis(stack: np.ndarray) -> np.ndarray:
    """Median along axis 0 ignoring NaN; NaN where a cell has no value (no warning).

    Equal to :func:`numpy.nanmedian` (mean of the two middle values for an even count), without its
    "All-NaN slice" warning.

    >>> nanmedian_first_axis(np.array([[1.0, np.nan], [3.0, np.nan], [np.nan, np.nan]])).tolist()
    [2.0, nan]
    """
    stack = np.asarray(stack)
    ordered = np.sort(stack, axis=0)  # NaN sorts last
    n = np.count_nonzero(~np.isnan(stack), axis=0)
    lo = np.maximum((n - 1) // 2, 0)[None]
    hi = np.maximum(n // 2, 0)[None]
    a = np.take_along_axis(ordered, lo, axis=0)[0]
    b = np.take_along_axis(ordered, hi, axis=0)[0]
    med = (a + b) / 2
    return np.where(n > 0, med, np.nan).astype(stack.dtype, copy=False)


def _share(part: np.ndarray, whole: np.ndarray) -> np.ndarray:
    out = np.full(whole.shape, np.nan, dtype="float32")
    np.divide(part, whole, out=out, where=whole > 0, dtype="float32")
    return out


# ------------------------------------------------------------------------------------- wrappers


def _as_date(value, name: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise InputError(f"{value!r} is not a date (YYYY-MM-DD)", field=name) from None


def select_scenes(
    scenes: Iterable[Scene],
    start: dt.date | str,
    end: dt.date | str,
    months: Sequence[int] = GROWING_SEASON,
) -> list[Scene]:
    """Scenes acquired from ``start`` to ``end`` (both included) in one of ``months`` (1-12).

    Raises
    ------
    InputError
        ``end`` before ``start`` or a month outside 1-12.
    """
    start, end = _as_date(start, "start"), _as_date(end, "end")
    if end < start:
        raise InputError(f"the date range ends ({end}) before it starts ({start})", field="end")
    bad = [m for m in months if not 1 <= int(m) <= 12]
    if bad:
        raise InputError(f"months must be 1-12, got {bad}", field="months")
    months = {int(m) for m in months}
    return [s for s in scenes if start <= s.acquired <= end and s.acquired.month in months]


def _summary(scenes: Sequence[Scene], limit: int = 12) -> str:
    if not scenes:
        return "none"
    names = [str(s) for s in scenes[:limit]]
    more = f" and {len(scenes) - limit} more" if len(scenes) > limit else ""
    return ", ".join(names) + more


def seasonal_composite(
    scenes: Sequence[Scene],
    gbox: GeoBox,
    *,
    start: dt.date | str,
    end: dt.date | str,
    months: Sequence[int] = GROWING_SEASON,
    chunks: int = DEFAULT_CHUNK,
    label: str = "",
) -> xr.Dataset:
    """Lazy per-cell median composite of the scenes of one epoch.

    Parameters
    ----------
    scenes
        Candidate scenes (e.g. from :func:`pfatlas.io.landsat.find_scenes`); those acquired in
        ``start``..``end`` during ``months`` are used.
    gbox
        Target grid.
    start, end
        Date range of the epoch (both included).
    months
        Months of the season [1-12]; default June-September.
    chunks
        Chunk edge [cells].
    label
        Epoch label, for messages and attributes.

    Returns
    -------
    xarray.Dataset
        Median surface reflectance ``blue``..``swir2`` [1] and ``lst`` [degC] over valid, snow-free
        observations (NaN where there is none); indices ``ndvi``, ``evi``, ``savi``, ``ndwi``,
        ``mndwi``, ``ndmi``, ``nbr`` [1] from the median bands; ``clear_count`` (int16, valid
        snow-free observations) and ``snow_fraction`` [1] (snow / valid observations, NaN where no
        valid observation). Nothing is computed.

    Raises
    ------
    NoClearPixelError
        No scene in the date range and months (the message names the epoch, the range and the
        scenes that exist).
    """
    scenes = list(scenes)
    selected = select_scenes(scenes, start, end, months)
    if not selected:
        raise NoClearPixelError(
            f"epoch {label!r}: no Landsat scene acquired between {_as_date(start, 'start')} and "
            f"{_as_date(end, 'end')} in months {sorted(set(months))}; scenes found: {_summary(scenes)}",
            field=f"epoch {label}" if label else None,
        )
    loaded = [load_scene(s, gbox, chunks=chunks) for s in selected]

    def stack(arrays):
        return dsa.stack(arrays, axis=0).rechunk({0: -1})

    keep = stack([(ds.valid & ~ds.snow).data for ds in loaded])
    valid = stack([ds.valid.data for ds in loaded])
    snow = stack([ds.snow.data for ds in loaded])

    out: dict[str, xr.DataArray] = {}
    for name in (*REFLECTANCE_BANDS, "lst"):
        masked = dsa.where(keep, stack([ds[name].data for ds in loaded]), np.float32(np.nan))
        med = dsa.map_blocks(nanmedian_first_axis, masked, drop_axis=0, dtype=np.float32)
        if name == "lst":
            out[name] = wrap_on_grid(
                med, gbox, name, units="degC", long_name="median land surface temperature, growing season"
            )
        else:
            out[name] = wrap_on_grid(
                med, gbox, name, units="1", long_name=f"median surface reflectance, {name}, growing season"
            )
    for name, (func, bands, long_name) in INDICES.items():
        index = func(*(out[b] for b in bands))
        out[name] = wrap_on_grid(
            index.data, gbox, name, units="1", long_name=f"{long_name} of the median composite"
        )
    n_valid = valid.sum(axis=0, dtype="int16")
    out["clear_count"] = wrap_on_grid(
        keep.sum(axis=0, dtype="int16"),
        gbox,
        "clear_count",
        units="1",
        long_name="number of valid snow-free observations",
    )
    out["snow_fraction"] = wrap_on_grid(
        dsa.map_blocks(_share, snow.sum(axis=0, dtype="int16"), n_valid, dtype=np.float32),
        gbox,
        "snow_fraction",
        units="1",
        long_name="share of valid observations flagged snow",
    )
    ds = xr.Dataset(out)
    ds.attrs.update(
        epoch=label,
        start=_as_date(start, "start").isoformat(),
        end=_as_date(end, "end").isoformat(),
        months=",".join(str(m) for m in sorted(set(months))),
        n_scenes=len(selected),
        scenes=",".join(s.product_id for s in selected),
    )
    return ds


def require_clear(clear_count: xr.DataArray, label: str) -> None:
    """Raise :class:`NoClearPixelError` if no cell of the epoch has a clear observation.

    Computes only the maximum of ``clear_count``.
    """
    best = int(clear_count.max().compute())
    if best <= 0:
        raise NoClearPixelError(
            f"epoch {label} has no clear pixel: every observation of its scenes in the study area is fill, "
            "cloud, cloud shadow, cirrus, saturated or snow",
            field=f"epoch {label}",
        )
