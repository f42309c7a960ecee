"""Terrain stage: Horn slope/aspect against analytic planes and against committed gdaldem output.

The reference rasters in ``tests/data/terrain/`` were made by ``make_reference.sh`` there (GDAL
3.6.2); these tests need only the committed files, no GDAL binaries.
"""

from __future__ import annotations

import math
from pathlib import Path

import dask
import numpy as np
import pytest
import rasterio
import xarray as xr
from odc.geo.geobox import GeoBox
from rasterio.transform import Affine

from pfatlas.errors import ConfigError, CRSError, GridMismatchError, InputError, MissingInputError
from pfatlas.grid import grid_coords, grid_from_bbox, wrap_on_grid
from pfatlas.terrain import aspect, eastness, northness, slope, terrain_attributes, terrain_for_file
from pfatlas.terrain.attributes import cell_size
from pfatlas.terrain.dem_file import nominal_resolution
from pfatlas.terrain.horn import horn_gradient, slope_aspect_kernel

# odc-geo (GeoBox.from_bbox) and the spine's reader build affines with `*`, which affine 3.0 marks
# as pending deprecation in favour of `@`; third-party/spine code, harmless, so ignored here only.
pytestmark = pytest.mark.filterwarnings("ignore:Use `@` matmul:PendingDeprecationWarning")

# rasterio's MEM -> MEM reproject (pfatlas.io.raster.read_to_grid, one per dask task) now and then
# emits a spurious NotGeoreferencedWarning when several threads reproject at once (known:
# opendatacube/odc-geo#131); the outputs are right (checked below), so it is ignored on the tests
# that go through read_to_grid only.
spurious_mem_warning = pytest.mark.filterwarnings(
    "ignore:Dataset has no geotransform:rasterio.errors.NotGeoreferencedWarning"
)

DATA = Path(__file__).parent / "data" / "terrain"
GDAL_NODATA = -9999.0  # gdaldem's output nodata

# float32 spacing (1 ulp) at the top of each output range
ULP_90 = float(np.spacing(np.float32(90.0)))  # 7.6e-6 deg
ULP_180 = float(np.spacing(np.float32(180.0)))  # 1.5e-5 deg
ULP_360 = float(np.spacing(np.float32(360.0)))  # 3.1e-5 deg (also the spacing up to 512, e.g. 450)

# Slope: both tools form the same exact window sums (integer DEM) and compute in float64, then round
# once to float32; the float64 results differ only in operation order (~1e-16), so at most 1 ulp.
SLOPE_TOL = ULP_90
# Aspect: gdaldem rounds atan2 [deg, -180..180] to float32, then takes 450 - a or 90 - a in float32
# (a second rounding, values up to 450); pfatlas rounds once (0..360). Sum of the half-ulps:
ASPECT_TOL = 0.5 * (ULP_180 + ULP_360 + ULP_360)  # 3.8e-5 deg


def small_grid(ny_hint_deg: float = 0.01) -> GeoBox:
    """A small UTM 47N grid at 30 m near Muli (about 37 x 37 cells)."""
    return grid_from_bbox((99.0, 38.0, 99.0 + ny_hint_deg * 1.27, 38.0 + ny_hint_deg), resolution=30.0)


def plane(gbox: GeoBox, slope_deg: float, azimuth_deg: float, z0: float = 4000.0) -> np.ndarray:
    """Elevation [m] of a plane of slope ``slope_deg`` facing (descending towards) ``azimuth_deg``.

    z = z0 - tan(s) (sin(A) x + cos(A) y) with x east, y north [m] relative to the grid corner:
    its gradient is -tan(s) (sin A, cos A), so the downslope direction is azimuth A and the slope
    angle is s. Horn's weighted central differences are exact on a plane.
    """
    ny, nx = gbox.shape
    a = gbox.affine
    cols, rows = np.meshgrid(np.arange(nx) + 0.5, np.arange(ny) + 0.5)
    x = a.a * cols  # east of the grid's west edge [m]
    y = a.e * rows  # north of the grid's north edge [m] (a.e < 0 on a north-up grid)
    g = math.tan(math.radians(slope_deg))
    az = math.radians(azimuth_deg)
    return z0 - g * (math.sin(az) * x + math.cos(az) * y)


def read_dem(path: Path) -> xr.DataArray:
    """A committed DEM as a numpy-backed DataArray on its own grid, nodata -> NaN."""
    with rasterio.open(path) as src:
        z = src.read(1, masked=True).astype("float64").filled(np.nan)
        gbox = GeoBox(z.shape, src.transform, src.crs.to_wkt())
    return wrap_on_grid(z, gbox, "dem", units="m", long_name="elevation")


def read_ref(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read(1)


def circular_diff(a, b):
    """a - b wrapped to [-180, 180) [deg]."""
    return (np.asarray(a, dtype="float64") - np.asarray(b, dtype="float64") + 180.0) % 360.0 - 180.0


def interior(a: np.ndarray) -> np.ndarray:
    return a[1:-1, 1:-1]


# --- analytic planes -------------------------------------------------------------------------------


@pytest.mark.parametrize("azimuth", [0.0, 45.0, 90.0, 135.0, 180.0, 225.0, 270.0, 315.0])
def test_plane_slope_and_aspect_in_eight_directions(azimuth):
    gbox = small_grid()
    dem = wrap_on_grid(plane(gbox, 30.0, azimuth), gbox, "dem", units="m", long_name="elevation")
    ds = terrain_attributes(dem)
    # Horn is exact on a plane; float64 maths then one float32 rounding: half an ulp of the value.
    np.testing.assert_allclose(interior(ds.slope.values), 30.0, rtol=0, atol=ULP_90)
    np.testing.assert_array_less(np.abs(circular_diff(interior(ds.aspect.values), azimuth)), ULP_360)
    # northness/eastness are computed in float32 from the aspect: a few float32 eps of 1
    np.testing.assert_allclose(interior(ds.northness.values), math.cos(math.radians(azimuth)), atol=1e-6)
    np.testing.assert_allclose(interior(ds.eastness.values), math.sin(math.radians(azimuth)), atol=1e-6)
    # outer ring of the grid is NaN, like gdaldem without -compute_edges
    for name in ("slope", "aspect", "northness", "eastness"):
        v = ds[name].values
        assert (
            np.isnan(v[0]).all()
            and np.isnan(v[-1]).all()
            and np.isnan(v[:, 0]).all()
            and np.isnan(v[:, -1]).all()
        )
        assert not np.isnan(interior(v)).any()


def test_kernel_gradient_on_non_square_cells():
    # z = 2 x - 3 y (x east, y north [m]) with 30 m columns and 20 m rows: dz/dx = 2, dz/dy = -3,
    # exactly (small integers: every operation is exact in float64).
    ny, nx = 6, 7
    x = np.arange(nx) * 30.0
    y = (ny - 1 - np.arange(ny)) * 20.0  # row 0 is north
    z = 2.0 * x[None, :] - 3.0 * y[:, None]
    p, q = horn_gradient(z, 30.0, 20.0)
    assert p.shape == (ny - 2, nx - 2)
    np.testing.assert_array_equal(p, 2.0)
    np.testing.assert_array_equal(q, -3.0)
    both = slope_aspect_kernel(z.astype("float32"), 30.0, 20.0)
    np.testing.assert_allclose(both[0], math.degrees(math.atan(math.hypot(2.0, 3.0))), atol=ULP_90)
    # downslope (-2, +3) (east, north): azimuth atan2(-2, 3) = 326.31 deg
    np.testing.assert_allclose(both[1], math.degrees(math.atan2(-2.0, 3.0)) + 360.0, atol=ULP_360)


def test_south_up_grid_gives_the_same_aspect():
    north_up = small_grid()
    z = plane(north_up, 20.0, 120.0)
    a = north_up.affine
    ny = north_up.shape[0]
    south_up = GeoBox(north_up.shape, Affine(a.a, 0, a.c, 0, -a.e, a.f + a.e * ny), north_up.crs)
    dem = wrap_on_grid(z[::-1].copy(), south_up, "dem", units="m", long_name="elevation")
    # same plane, rows stored south to north: same slope, same facing direction (float32 round-off)
    np.testing.assert_allclose(interior(slope(dem).values), 20.0, atol=ULP_90)
    np.testing.assert_array_less(np.abs(circular_diff(interior(aspect(dem).values), 120.0)), ULP_360)


def test_nan_spreads_to_the_3x3_neighbourhood_only():
    gbox = small_grid()
    z = plane(gbox, 10.0, 200.0)
    z[10, 12] = np.nan
    dem = wrap_on_grid(z, gbox, "dem", units="m", long_name="elevation")
    s = slope(dem).values
    expected = np.zeros(gbox.shape, bool)
    expected[9:12, 11:14] = True
    expected[0] = expected[-1] = expected[:, 0] = expected[:, -1] = True
    np.testing.assert_array_equal(np.isnan(s), expected)


def test_flat_cells_have_nan_aspect_and_zero_slope():
    gbox = small_grid()
    dem = wrap_on_grid(np.full(gbox.shape, 3800.0), gbox, "dem", units="m", long_name="elevation")
    ds = terrain_attributes(dem)
    np.testing.assert_array_equal(interior(ds.slope.values), 0.0)
    for name in ("aspect", "northness", "eastness"):
        assert np.isnan(ds[name].values).all()


# --- xarray wrappers ---------------------------------------------------------------------------------


def test_outputs_set_their_own_units_and_names():
    dem = read_dem(DATA / "hef_utm32_90m.tif")
    dem.attrs.update(units="m", long_name="SRTM elevation", scale_factor=2)
    ds = terrain_attributes(dem)
    expected = {"slope": "degree", "aspect": "degree", "northness": "1", "eastness": "1"}
    for name, units in expected.items():
        assert ds[name].attrs["units"] == units
        assert "elevation" not in ds[name].attrs["long_name"]
        assert "scale_factor" not in ds[name].attrs
        assert ds[name].dtype == np.float32
        assert ds[name].odc.geobox == dem.odc.geobox
    assert slope(dem).attrs["units"] == "degree" and aspect(dem).name == "aspect"


@pytest.mark.parametrize("func", [slope, aspect, terrain_attributes])
def test_geographic_dem_is_refused(func):
    gbox = GeoBox.from_bbox((98.85, 37.82, 98.95, 37.9), crs="EPSG:4326", resolution=0.001)
    coords = grid_coords(gbox)  # geographic: (latitude, longitude) dims
    dem = xr.DataArray(np.zeros(gbox.shape), coords=coords, dims=tuple(coords)[:2], name="srtm")
    with pytest.raises(CRSError, match="reproject the DEM to a projected CRS first") as err:
        func(dem)
    assert err.value.field == "srtm" and "'srtm'" in str(err.value)


def test_bad_dem_arrays_are_refused_with_their_name():
    gbox = small_grid()
    cube = xr.DataArray(np.zeros((2, *gbox.shape)), dims=("band", "y", "x"), name="dem3d")
    with pytest.raises(InputError, match="2-D") as err:
        slope(cube)
    assert "field 'dem3d'" in str(err.value)
    bare = xr.DataArray(np.zeros(gbox.shape), dims=("y", "x"), name="bare")  # no coordinates
    with pytest.raises(GridMismatchError, match="bare: the DEM carries no grid"):
        aspect(bare)
    feet = GeoBox(gbox.shape, Affine(100.0, 0, 6_000_000, 0, -100.0, 2_000_000), "EPSG:2227")  # US ft
    dem_ft = xr.DataArray(np.zeros(feet.shape), coords=grid_coords(feet), dims=("y", "x"), name="dem_ft")
    with pytest.raises(CRSError, match="not metres") as err:
        slope(dem_ft)
    assert "field 'dem_ft'" in str(err.value)
    rotated = GeoBox(gbox.shape, Affine.rotation(10.0) * Affine.scale(30.0, -30.0), gbox.crs)
    with pytest.raises(GridMismatchError, match="rotdem: .* rotated"):
        cell_size(rotated, "rotdem")


def test_aspect_in_radians_is_refused_by_northness():
    gbox = small_grid()
    asp = wrap_on_grid(np.zeros(gbox.shape), gbox, "asp_rad", units="radian", long_name="aspect")
    for func in (northness, eastness):
        with pytest.raises(InputError, match="degree") as err:
            func(asp)
        assert "field 'asp_rad'" in str(err.value)


@pytest.mark.parametrize("chunks", [37, 101, (37, 101), (101, 37)])
def test_numpy_and_dask_agree_exactly(chunks):
    dem = read_dem(DATA / "baltoro_utm43_90m.tif")
    cy, cx = chunks if isinstance(chunks, tuple) else (chunks, chunks)
    lazy_dem = dem.chunk({"y": cy, "x": cx})

    def refuse(*args, **kwargs):
        raise AssertionError("a terrain function computed a dask graph")

    with dask.config.set(scheduler=refuse):  # building the results must not compute anything
        lazy = terrain_attributes(lazy_dem)
        lazy_slope, lazy_aspect = slope(lazy_dem), aspect(lazy_dem)
    eager = terrain_attributes(dem)
    for name in ("slope", "aspect", "northness", "eastness"):
        assert lazy[name].chunks == lazy_dem.chunks
        np.testing.assert_array_equal(lazy[name].values, eager[name].values)
    np.testing.assert_array_equal(lazy_slope.values, eager.slope.values)
    np.testing.assert_array_equal(lazy_aspect.values, eager.aspect.values)


# --- gdaldem references --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["hef_utm32_90m", "baltoro_utm43_90m"])
def test_matches_gdaldem_on_srtm(name):
    dem = read_dem(DATA / f"{name}.tif")
    assert np.isnan(dem.values).sum() > 500  # the warp leaves nodata slivers: NaN handling is tested
    ref_slope = read_ref(DATA / f"{name}_slope_gdaldem.tif")
    ref_aspect = read_ref(DATA / f"{name}_aspect_gdaldem.tif")
    ds = terrain_attributes(dem)
    s, a = ds.slope.values, ds.aspect.values
    valid = ref_slope != GDAL_NODATA
    np.testing.assert_array_equal(np.isfinite(s), valid)  # same outer ring, same nodata footprint
    np.testing.assert_allclose(s[valid], ref_slope[valid], rtol=0, atol=SLOPE_TOL)
    sloped = valid & (ref_aspect != GDAL_NODATA)  # gdaldem -9999 aspect on a valid cell = flat
    np.testing.assert_array_equal(np.isfinite(a), sloped)
    assert np.abs(circular_diff(a[sloped], ref_aspect[sloped])).max() <= ASPECT_TOL


def test_flat_cells_and_nodata_as_gdaldem():
    dem = read_dem(DATA / "flat_ramp_utm47.tif")
    ref_slope = read_ref(DATA / "flat_ramp_utm47_slope_gdaldem.tif")
    ref_aspect = read_ref(DATA / "flat_ramp_utm47_aspect_gdaldem.tif")
    ref_zero = read_ref(DATA / "flat_ramp_utm47_aspect_zero_for_flat_gdaldem.tif")
    s, a = slope(dem).values, aspect(dem).values
    valid = ref_slope != GDAL_NODATA
    np.testing.assert_array_equal(np.isfinite(s), valid)
    np.testing.assert_allclose(s[valid], ref_slope[valid], rtol=0, atol=SLOPE_TOL)
    # flat: gdaldem writes -9999 (or 0 with -zero_for_flat); pfatlas writes NaN and slope 0
    flat = valid & (ref_aspect == GDAL_NODATA)
    assert flat.sum() == 16  # the 4 x 4 plateau interior
    assert np.isnan(a[flat]).all() and (s[flat] == 0).all()
    assert (ref_zero[flat] == 0).all()
    sloped = valid & ~flat
    assert np.abs(circular_diff(a[sloped], ref_aspect[sloped])).max() <= ASPECT_TOL


def test_float32_dem_within_gdaldem_float32_summation_error():
    """On a non-integer (Float32) DEM gdaldem sums the 3x3 window in float32; pfatlas in float64.

    Each side of the Horn difference, ((w0 + w3) + w3) + w6, is three float32 additions with partial
    sums up to 2, 3 and 4 Zmax: error <= (2 + 3 + 4) u Zmax, u = 2^-24; two sides plus the
    rounding of their difference (|D| <= 4 Zmax) give |dD| <= 22 u Zmax, so each gradient component
    is off by d <= 22 u Zmax / (8 res), the gradient vector by <= sqrt(2) d. Then
    |d slope| <= sqrt(2) d [rad] (d atan(g)/dg <= 1), and the direction of a vector of length
    |g| = tan(slope) turns by <= asin(sqrt(2) d / |g|) [rad]; plus the float32 output rounding.
    """
    dem = read_dem(DATA / "hef_utm32_90m_f32.tif")
    ref_slope = read_ref(DATA / "hef_utm32_90m_f32_slope_gdaldem.tif")
    ref_aspect = read_ref(DATA / "hef_utm32_90m_f32_aspect_gdaldem.tif")
    s, a = slope(dem).values, aspect(dem).values
    valid = ref_slope != GDAL_NODATA
    np.testing.assert_array_equal(np.isfinite(s), valid)
    u = 2.0**-24
    vec_err = math.sqrt(2.0) * 22.0 * u * float(np.nanmax(dem.values)) / (8.0 * 90.0)  # [m m-1]
    slope_bound = math.degrees(vec_err) + SLOPE_TOL
    assert np.abs(s[valid] - ref_slope[valid]).max() <= slope_bound
    sloped = valid & (ref_aspect != GDAL_NODATA)
    np.testing.assert_array_equal(np.isfinite(a), sloped)
    g = np.tan(np.radians(s[sloped].astype("float64")))
    aspect_bound = np.degrees(np.arcsin(np.minimum(1.0, vec_err / g))) + ASPECT_TOL
    assert (np.abs(circular_diff(a[sloped], ref_aspect[sloped])) <= aspect_bound).all()


# --- whole-file tool -----------------------------------------------------------------------------


@spurious_mem_warning
def test_terrain_for_file_on_geographic_srtm(tmp_path):
    out = terrain_for_file(DATA / "hef_srtm_geo.tif", tmp_path / "terrain")
    assert set(out) == {"slope", "aspect"}
    for name, path in out.items():
        assert path == tmp_path / "terrain" / f"{name}.tif" and path.exists()
        with rasterio.open(path) as src:
            assert src.crs.to_epsg() == 32632  # UTM zone of 10.78 E, north
            assert src.res == (90.0, 90.0)  # 3 arc-seconds -> 92.7 m -> rounded to 90 m
            assert src.dtypes[0] == "float32" and math.isnan(src.nodata)
            assert src.tags()["units"] == "degree"
            v = src.read(1)
        finite = v[np.isfinite(v)]
        assert finite.size > 0.8 * v.size
        if name == "slope":
            assert finite.min() >= 0.0 and finite.max() < 90.0
            assert 20.0 < float(np.median(finite)) < 40.0  # Oetztal Alps: steep, but not cliffs
        else:
            assert finite.min() >= 0.0 and finite.max() < 360.0


@spurious_mem_warning
def test_terrain_for_file_keeps_a_projected_grid_and_matches_gdaldem(tmp_path):
    src_path = DATA / "hef_utm32_90m.tif"
    out = terrain_for_file(src_path, tmp_path, chunks=45)
    with rasterio.open(src_path) as dem_src, rasterio.open(out["slope"]) as s_src:
        assert s_src.transform == dem_src.transform and s_src.shape == dem_src.shape
        assert s_src.crs == dem_src.crs
        s = s_src.read(1)
    ref = read_ref(DATA / "hef_utm32_90m_slope_gdaldem.tif")
    valid = ref != GDAL_NODATA
    np.testing.assert_array_equal(np.isfinite(s), valid)
    np.testing.assert_allclose(s[valid], ref[valid], rtol=0, atol=SLOPE_TOL)


@spurious_mem_warning
def test_terrain_for_file_resolution_override(tmp_path):
    out = terrain_for_file(DATA / "baltoro_srtm_geo.tif", tmp_path, resolution=120.0)
    with rasterio.open(out["aspect"]) as src:
        assert src.res == (120.0, 120.0) and src.crs.to_epsg() == 32643


def test_terrain_for_file_refuses_a_dem_without_crs(tmp_path):
    bad = tmp_path / "no_crs.tif"
    with rasterio.open(
        bad,
        "w",
        driver="GTiff",
        width=8,
        height=8,
        count=1,
        dtype="float32",
        transform=Affine(30, 0, 500000, 0, -30, 4200000),
    ) as dst:
        dst.write(np.zeros((1, 8, 8), "float32"))
    with pytest.raises(CRSError, match="no coordinate reference system") as err:
        terrain_for_file(bad, tmp_path / "out")
    assert str(bad) in str(err.value)
    assert not (tmp_path / "out" / "slope.tif").exists()


def test_terrain_for_file_missing_file_and_bad_resolution(tmp_path):
    missing = tmp_path / "nope.hgt"
    with pytest.raises(MissingInputError) as err:
        terrain_for_file(missing, tmp_path)
    assert str(missing) in str(err.value)
    with pytest.raises(ConfigError, match="positive") as err:
        terrain_for_file(DATA / "hef_srtm_geo.tif", tmp_path, resolution=-30)
    assert "field 'resolution'" in str(err.value)


def test_nominal_resolution():
    # 1 arc-second of latitude on the mean-radius sphere is 30.89 m
    assert nominal_resolution(1 / 3600) == 30.0
    assert nominal_resolution(3 / 3600) == 90.0
    assert nominal_resolution(30 / 3600) == 930.0
    assert nominal_resolution(0.5 / 3600) == 15.0
