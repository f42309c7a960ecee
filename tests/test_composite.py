"""Seasonal composites and spectral indices.

The composite is checked against numpy's ``nanmedian`` of the same masked stacks (built from each
scene loaded on its own), the indices against their formulas and properties, and the lazy graph
against chunking.
"""

from __future__ import annotations

import datetime as dt
import warnings
from pathlib import Path

import dask
import dask.array as dsa
import numpy as np
import pytest
import xarray as xr
from affine import Affine
from hypothesis import given, settings
from hypothesis import strategies as st
from odc.geo.geobox import GeoBox

from pfatlas.composite import indices
from pfatlas.composite.seasonal import (
    nanmedian_first_axis,
    require_clear,
    seasonal_composite,
    select_scenes,
)
from pfatlas.errors import InputError, NoClearPixelError
from pfatlas.grid import grid_from_bbox
from pfatlas.io.landsat import (
    QA_CIRRUS,
    QA_CLEAR,
    QA_CLOUD,
    QA_FILL,
    QA_SHADOW,
    QA_SNOW,
    REFLECTANCE_BANDS,
    SR_MULT,
    ST_MULT,
    find_scenes,
    load_scene,
)
from pfatlas.synth.landsat_files import write_c2l2_scene

# affine >= 3.0 announces that `Affine * x` becomes `@`; odc-geo and the spine's raster reader still
# use `*`. rasterio's reproject into numpy sometimes warns "Dataset has no geotransform" from its
# temporary MEM dataset when dask threads warp at once (odc-geo issue #131; output unaffected).
pytestmark = [
    pytest.mark.filterwarnings(
        "ignore:Use `@` matmul instead of `\\*` mul operator:PendingDeprecationWarning"
    ),
    pytest.mark.filterwarnings("ignore:Dataset has no geotransform:rasterio.errors.NotGeoreferencedWarning"),
]

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "Use `@` matmul", PendingDeprecationWarning)
    TARGET = grid_from_bbox((99.0, 38.0, 99.1, 38.05))  # 186 x 294 cells, EPSG:32647

SEASON_2020 = ("2020-01-01", "2020-12-31")
# (spacecraft, date, seed): three summer OLI scenes, one in May (outside the months), one TM 2000
SCENES = [
    ("LANDSAT_8", dt.date(2020, 6, 20), 1),
    ("LANDSAT_8", dt.date(2020, 7, 22), 2),
    ("LANDSAT_9", dt.date(2020, 8, 15), 3),
    ("LANDSAT_8", dt.date(2020, 5, 10), 4),
    ("LANDSAT_5", dt.date(2000, 7, 18), 5),
]


def scene_grid(margin: int = 4, shift_m: float = 15.0) -> GeoBox:
    ny, nx = TARGET.shape
    x0, y0 = TARGET.affine.c, TARGET.affine.f
    a = Affine(30.0, 0.0, x0 - 30 * margin + shift_m, 0.0, -30.0, y0 + 30 * margin - shift_m)
    return GeoBox((ny + 2 * margin, nx + 2 * margin), a, TARGET.crs)


def random_scene(parent: Path, spacecraft: str, acquired: dt.date, seed: int, qa_choices=None) -> Path:
    """Smooth random reflectances and a random QA field (clear, cloud, shadow, snow, cirrus, fill)."""
    g = scene_grid()
    rng = np.random.default_rng(seed)
    shape = g.shape
    base = {
        "blue": 0.05,
        "green": 0.08,
        "red": 0.07,
        "nir": 0.30,
        "swir1": 0.20,
        "swir2": 0.12,
    }
    sr = {b: v + 0.05 * rng.random(shape) for b, v in base.items()}
    if qa_choices is None:
        qa_choices = [QA_CLEAR] * 6 + [QA_CLOUD, QA_SHADOW, QA_SNOW, QA_SNOW, QA_CIRRUS, QA_FILL]
    qa = rng.choice(np.array(qa_choices, "uint16"), size=shape)
    radsat = np.where(rng.random(shape) < 0.02, np.uint16(1 << 3), np.uint16(0))  # band 4: red on OLI
    return write_c2l2_scene(
        parent,
        spacecraft=spacecraft,
        acquired=acquired,
        wrs_path=133,
        wrs_row=33,
        gbox=g,
        sr=sr,
        st_kelvin=280.0 + 15.0 * rng.random(shape),
        qa_pixel=qa,
        qa_radsat=radsat,
        sun_azimuth=120.0,
        sun_elevation=60.0,
        cloud_cover=30.0,
    )


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    root = tmp_path_factory.mktemp("scenes")
    for spacecraft, date, seed in SCENES:
        random_scene(root, spacecraft, date, seed)
    return find_scenes([root])


# ------------------------------------------------------------------------------------ selection


def test_select_scenes_range_and_months(scenes):
    summer = select_scenes(scenes, *SEASON_2020)
    assert [s.acquired for s in summer] == [dt.date(2020, 6, 20), dt.date(2020, 7, 22), dt.date(2020, 8, 15)]
    assert len(select_scenes(scenes, *SEASON_2020, months=range(1, 13))) == 4
    # both ends included
    assert [s.acquired for s in select_scenes(scenes, dt.date(2020, 7, 22), dt.date(2020, 8, 15))] == [
        dt.date(2020, 7, 22),
        dt.date(2020, 8, 15),
    ]
    with pytest.raises(InputError, match="before it starts"):
        select_scenes(scenes, "2020-12-31", "2020-01-01")
    with pytest.raises(InputError, match="months") as err:
        select_scenes(scenes, *SEASON_2020, months=(6, 13))
    assert err.value.field == "months"
    with pytest.raises(InputError, match="not a date") as err:
        select_scenes(scenes, "June 2020", "2020-12-31")
    assert err.value.field == "start"


def test_no_scene_in_range_names_epoch_range_and_scenes(scenes):
    with pytest.raises(NoClearPixelError) as err:
        seasonal_composite(scenes, TARGET, start="2010-01-01", end="2010-12-31", label="pre-2010")
    msg = str(err.value)
    assert "pre-2010" in msg and "2010-01-01" in msg and "2010-12-31" in msg
    assert all(s.product_id in msg for s in scenes)


# ------------------------------------------------------------------------------------ composite


def _reference(scenes, start, end):
    """Composite computed eagerly in numpy from each scene loaded on its own."""
    loaded = [load_scene(s, TARGET).compute() for s in select_scenes(scenes, start, end)]
    keep = np.stack([ds.valid.values & ~ds.snow.values for ds in loaded])
    ref = {}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)  # cells never clear
        for b in (*REFLECTANCE_BANDS, "lst"):
            ref[b] = np.nanmedian(np.where(keep, np.stack([ds[b].values for ds in loaded]), np.nan), axis=0)
    ref["clear_count"] = keep.sum(axis=0)
    valid = np.stack([ds.valid.values for ds in loaded]).sum(axis=0)
    snow = np.stack([ds.snow.values for ds in loaded]).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ref["snow_fraction"] = np.where(valid > 0, snow / valid, np.nan)
    return ref


@pytest.fixture(scope="module")
def composite(scenes):
    ds = seasonal_composite(
        scenes, TARGET, start=SEASON_2020[0], end=SEASON_2020[1], label="post", chunks=1024
    )
    return ds, ds.compute()


def test_composite_equals_numpy_nanmedian(scenes, composite):
    _, ds = composite
    ref = _reference(scenes, *SEASON_2020)
    for b in (*REFLECTANCE_BANDS, "lst"):
        # same float32 values, same median rule (mean of the two middle ones): equal to rounding
        np.testing.assert_allclose(ds[b].values, ref[b], rtol=1e-6, atol=0, equal_nan=True)
    np.testing.assert_array_equal(ds.clear_count.values, ref["clear_count"])
    np.testing.assert_allclose(ds.snow_fraction.values, ref["snow_fraction"], rtol=1e-6, equal_nan=True)
    # the random QA leaves every case: cells with 0..3 clear observations, some snow
    assert set(np.unique(ds.clear_count.values)) == {0, 1, 2, 3}
    assert 0.1 < float(np.nanmean(ds.snow_fraction.values)) < 0.3  # 2 snow values in 8 usable QA choices


def test_composite_metadata(composite):
    lazy, ds = composite
    assert isinstance(lazy.nir.data, dsa.Array)
    assert ds.clear_count.dtype == np.int16 and ds.nir.dtype == np.float32
    for name, var in ds.data_vars.items():
        assert var.attrs["units"] and var.attrs["long_name"], name
    assert ds.lst.attrs["units"] == "degC" and ds.ndvi.attrs["units"] == "1"
    assert set(ds.data_vars) == {
        *REFLECTANCE_BANDS,
        "lst",
        *indices.INDICES,
        "clear_count",
        "snow_fraction",
    }
    assert ds.attrs["epoch"] == "post" and ds.attrs["n_scenes"] == 3 and ds.odc.geobox == TARGET


def test_indices_of_the_composite(composite):
    _, ds = composite
    red, nir, blue = (ds[b].values.astype("float64") for b in ("red", "nir", "blue"))
    # the formulas written out in float64; the index is float32 (relative rounding 6e-8)
    np.testing.assert_allclose(ds.ndvi.values, (nir - red) / (nir + red), rtol=1e-6, equal_nan=True)
    np.testing.assert_allclose(
        ds.evi.values, 2.5 * (nir - red) / (nir + 6 * red - 7.5 * blue + 1), rtol=1e-6, equal_nan=True
    )
    for name, (func, bands, _) in indices.INDICES.items():
        np.testing.assert_array_equal(ds[name].values, func(*(ds[b].values for b in bands)), err_msg=name)
    assert np.isnan(ds.ndvi.values[ds.clear_count.values == 0]).all()


def test_composite_chunk_independent(scenes, composite):
    _, a = composite
    b = seasonal_composite(scenes, TARGET, start=SEASON_2020[0], end=SEASON_2020[1], chunks=29).compute()
    for v in ("clear_count", "snow_fraction"):
        np.testing.assert_array_equal(a[v].values, b[v].values, err_msg=v)
    # GDAL's bilinear weights differ by ~0.1 DN between window sizes (see test_landsat):
    # bands within a quarter quantum; indices (differences over sums >= 0.1) within 1e-4
    for v in REFLECTANCE_BANDS:
        np.testing.assert_allclose(a[v].values, b[v].values, rtol=0, atol=0.25 * SR_MULT, equal_nan=True)
    np.testing.assert_allclose(a.lst.values, b.lst.values, rtol=0, atol=0.25 * ST_MULT, equal_nan=True)
    for v in indices.INDICES:
        np.testing.assert_allclose(a[v].values, b[v].values, rtol=0, atol=1e-4, equal_nan=True, err_msg=v)


def test_composite_builds_without_computing(scenes):
    def refuse(*args, **kwargs):
        raise AssertionError("the composite computed something while building the graph")

    with dask.config.set(scheduler=refuse):
        ds = seasonal_composite(scenes, TARGET, start=SEASON_2020[0], end=SEASON_2020[1], chunks=100)
    assert ds.nir.chunks == ((100, 86), (100, 100, 94))


def test_require_clear(tmp_path, composite):
    lazy, _ = composite
    require_clear(lazy.clear_count, "post")  # has clear cells: no error
    random_scene(tmp_path, "LANDSAT_8", dt.date(2021, 7, 1), 9, qa_choices=[QA_CLOUD, QA_SNOW, QA_FILL])
    cloudy = seasonal_composite(
        find_scenes([tmp_path]), TARGET, start="2021-06-01", end="2021-09-30", label="2021"
    )
    with pytest.raises(NoClearPixelError, match="epoch 2021 has no clear pixel") as err:
        require_clear(cloudy.clear_count, "2021")
    assert err.value.field == "epoch 2021"


# -------------------------------------------------------------------------------------- indices


def test_nanmedian_kernel_matches_numpy():
    rng = np.random.default_rng(0)
    stack = rng.random((5, 40, 30)).astype("float32")
    stack[rng.random(stack.shape) < 0.4] = np.nan
    stack[:, 0, 0] = np.nan  # a cell with no value
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
        expected = np.nanmedian(stack, axis=0)
    got = nanmedian_first_axis(stack)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, expected)


def test_index_reference_values():
    # hand-computed: a vegetated pixel blue 0.05, green 0.08, red 0.08, nir 0.40, swir1 0.20, swir2 0.10
    b, g, r, n, s1, s2 = (np.array(v) for v in (0.05, 0.08, 0.08, 0.40, 0.20, 0.10))
    assert float(indices.ndvi(r, n)) == pytest.approx(0.32 / 0.48, rel=1e-6)  # float32 result
    assert float(indices.evi(b, r, n)) == pytest.approx(0.8 / 1.505, rel=1e-6)
    assert float(indices.savi(r, n)) == pytest.approx(1.5 * 0.32 / 0.98, rel=1e-6)
    assert float(indices.ndwi(g, n)) == pytest.approx(-0.32 / 0.48, rel=1e-6)
    assert float(indices.mndwi(g, s1)) == pytest.approx(-0.12 / 0.28, rel=1e-6)
    assert float(indices.ndmi(n, s1)) == pytest.approx(0.20 / 0.60, rel=1e-6)
    assert float(indices.nbr(n, s2)) == pytest.approx(0.30 / 0.50, rel=1e-6)


def test_zero_denominator_gives_nan_without_warning():
    z = np.zeros(3)
    for func, args in [
        (indices.ndvi, (z, z)),
        (indices.savi, (np.full(3, -0.25), np.full(3, -0.25))),
        (indices.evi, (np.full(3, 0.2), z, np.full(3, 0.5))),  # 0.5 + 0 - 1.5 + 1 = 0
    ]:
        assert np.isnan(func(*args)).all(), func.__name__


def test_indices_lazy_on_dask_and_xarray():
    rng = np.random.default_rng(1)
    a, b = rng.random((2, 50, 40))
    expected = indices.ndvi(a, b)
    lazy = indices.ndvi(dsa.from_array(a, chunks=13), dsa.from_array(b, chunks=13))
    assert isinstance(lazy, dsa.Array)
    np.testing.assert_array_equal(lazy.compute(), expected)
    xa = xr.DataArray(dsa.from_array(a, chunks=17), dims=("y", "x"))
    xb = xr.DataArray(b, dims=("y", "x"))
    out = indices.ndvi(xa, xb)
    assert isinstance(out, xr.DataArray) and isinstance(out.data, dsa.Array)
    np.testing.assert_array_equal(out.values, expected)


reflectance = st.floats(min_value=0.0, max_value=1.0, allow_nan=False, allow_subnormal=True)


@settings(max_examples=300, deadline=None, database=None)
@given(a=reflectance, b=reflectance)
def test_normalized_differences_bounded(a, b):
    for func in (indices.ndvi, indices.ndwi, indices.mndwi, indices.ndmi, indices.nbr):
        v = float(func(np.array(a), np.array(b)))
        if a + b == 0:
            assert np.isnan(v)
        else:
            assert -1.0 <= v <= 1.0, (func.__name__, a, b, v)


@settings(max_examples=200, deadline=None, database=None)
@given(red=reflectance, nir=reflectance)
def test_savi_bounded_and_signed(red, nir):
    # |nir - red| <= nir + red < nir + red + L, so |SAVI| < 1 + L = 1.5; the sign is that of nir - red
    v = float(indices.savi(np.array(red), np.array(nir)))
    assert -1.5 < v < 1.5
    assert np.sign(v) == np.sign(np.float32(nir - red)) or v == 0.0
