"""Assertion shared by the tests that build an area two ways and expect the same rasters."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio


def assert_same_rasters(a: Path, b: Path) -> None:
    """Every GeoTIFF under ``a`` exists under ``b`` (and no other), with equal cells, profile
    (nodata NaN-aware), tags and transform."""
    names = sorted(p.relative_to(a) for p in a.rglob("*.tif"))
    assert names and names == sorted(p.relative_to(b) for p in b.rglob("*.tif"))
    for n in names:
        with rasterio.open(a / n) as x, rasterio.open(b / n) as y:
            np.testing.assert_array_equal(x.read(1), y.read(1), err_msg=str(n))
            px, py = dict(x.profile), dict(y.profile)
            nx, ny = px.pop("nodata"), py.pop("nodata")
            assert px == py and (nx == ny or (np.isnan(nx) and np.isnan(ny))), n
            assert x.tags() == y.tags() and x.transform == y.transform, n
