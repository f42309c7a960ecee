"""Synthetic Landsat surface reflectance, surface temperature and QA of virtual Muli (SYNTHETIC).

Kernels on numpy arrays, no I/O. A scene is rendered on the *world grid* (the target grid padded by
a margin, same cell edges), then averaged 2 x 2 onto the scene grid, whose cell edges are offset by
15 m in x and y (as real Landsat UTM grids are): every scene pixel is the exact area-weighted mix of
four world cells, so class edges give mixed pixels as in real images.

Reflectance model (per cell): ``rho = f_v * veg(doy) + (1 - f_v) * b * soil_class`` with a
per-class vegetation fraction ``f_v`` (distributions overlap between classes: swamp meadow 0.85,
meadow 0.66, steppe 0.45, sparse 0.16, sd 0.08-0.18, spatially correlated), a green/senescent vegetation
mix following a late-July/August green-up peak, a soil brightness factor ``b``; then terrain
illumination (cosine of incidence with a 20 % diffuse share), sensor noise, snow, clouds, cirrus
and cloud shadows. Spectral values are typical Landsat surface reflectances of the cover types
(ranges as in the USGS spectral library splib07 convolved to TM/OLI and in published alpine
meadow/steppe Landsat studies); see ``docs/virtual_muli.md``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from pfatlas.io.landsat import (
    QA_CIRRUS,
    QA_CLEAR,
    QA_CLOUD,
    QA_DILATED_CLOUD,
    QA_FILL,
    QA_SHADOW,
    QA_SNOW,
    QA_WATER,
    SPACECRAFT,
    radsat_bits,
)

__all__ = ["BANDS", "SceneSpec", "surface_state", "render_scene", "to_scene_grid", "fractal_field"]

BANDS = ("blue", "green", "red", "nir", "swir1", "swir2")

# surface reflectance [1], bands blue green red nir swir1 swir2
_GREEN_VEG = np.array([0.030, 0.065, 0.040, 0.330, 0.190, 0.095])  # green alpine sedge/grass canopy
_DRY_VEG = np.array([0.060, 0.090, 0.115, 0.210, 0.280, 0.200])  # senescent grass + litter
_SOIL = {  # background (soil/ground) spectrum of each class
    1: np.array([0.035, 0.055, 0.065, 0.130, 0.110, 0.065]),  # wet organic soil, standing water
    2: np.array([0.060, 0.090, 0.120, 0.185, 0.240, 0.180]),  # dark alpine meadow soil
    3: np.array([0.085, 0.125, 0.165, 0.225, 0.310, 0.250]),  # dry silty-sandy steppe soil
    4: np.array([0.095, 0.130, 0.160, 0.210, 0.265, 0.220]),  # scree, weathered bedrock
    5: np.array([0.050, 0.065, 0.055, 0.035, 0.018, 0.012]),  # slightly turbid river/pond water
    6: np.array([0.045, 0.055, 0.062, 0.080, 0.100, 0.090]),  # coal faces and dark mudstone
    7: np.array([0.090, 0.120, 0.150, 0.190, 0.245, 0.215]),  # waste rock (sandstone, shale)
    8: np.array([0.120, 0.150, 0.180, 0.220, 0.270, 0.240]),  # gravel road, buildings
}
_FV = {
    1: (0.85, 0.08),
    2: (0.66, 0.18),
    3: (0.45, 0.17),
    4: (0.16, 0.11),
    5: (0.0, 0.0),
    6: (0.0, 0.0),
    7: (0.04, 0.03),
    8: (0.05, 0.04),
}  # vegetation fraction mean, sd
_LST_OFFSET = {1: -3.0, 2: 0.0, 3: 3.0, 4: 4.0, 5: -7.0, 6: 6.0, 7: 4.5, 8: 4.0}  # [K] vs meadow
_SNOW = np.array([0.86, 0.84, 0.81, 0.70, 0.10, 0.07])  # fresh snow
_CLOUD = np.array([0.62, 0.60, 0.59, 0.61, 0.45, 0.32])  # thick convective cloud top
# OLI/TM band ratios of the same target (narrower OLI NIR; Roy et al. 2016 cross-sensor slopes ~1)
_OLI_FACTOR = np.array([0.98, 1.0, 0.97, 1.04, 1.0, 1.0])
DIFFUSE = 0.2  # [1] diffuse share of irradiance


@dataclass(frozen=True)
class SceneSpec:
    """What differs between scenes: sensor, date, WRS tile, sun, clouds, snow, footprint."""

    spacecraft: str
    acquired: dt.date
    wrs_path: int
    wrs_row: int
    sun_azimuth: float  # [deg from N]
    sun_elevation: float  # [deg]
    cloud_fraction: float  # [1] share of valid pixels flagged cloud
    snowline_m: float | None = None  # [m] snow above this elevation (None: no snow)
    cirrus: bool = False
    footprint: tuple[float, float] | None = None  # (bearing [deg], kept fraction): partial cover
    mtl_format: str = "xml"


def fractal_field(rng: np.random.Generator, shape: tuple[int, int], beta: float = 3.2) -> np.ndarray:
    """Gaussian random field with power spectrum ~ k^-beta, zero mean, unit sd (float32)."""
    ny, nx = shape
    ky = np.fft.fftfreq(ny)[:, None]
    kx = np.fft.rfftfreq(nx)[None, :]
    k = np.hypot(kx, ky)
    k[0, 0] = 1.0
    amp = k ** (-beta / 2.0)
    amp[0, 0] = 0.0
    spec = amp * (rng.standard_normal(k.shape) + 1j * rng.standard_normal(k.shape))
    f = np.fft.irfft2(spec, s=shape).astype(np.float32)
    f -= f.mean()
    return f / f.std()


def surface_state(landcover: np.ndarray, rng: np.random.Generator, cellsize: float) -> dict[str, np.ndarray]:
    """Per-cell, time-invariant surface properties of one epoch's land cover (world grid).

    Returns vegetation fraction ``fv`` [1], soil brightness ``b`` [1], class code ``lc``.
    The correlated parts come from fields drawn independently of the land cover, so unchanged
    cells keep their properties across epochs when the same generator state is used.
    """
    sig = 150.0 / cellsize
    n1 = ndimage.gaussian_filter(rng.standard_normal(landcover.shape).astype(np.float32), sig)
    n1 /= n1.std()
    n2 = ndimage.gaussian_filter(rng.standard_normal(landcover.shape).astype(np.float32), sig)
    n2 /= n2.std()
    white = rng.standard_normal(landcover.shape).astype(np.float32)
    fv = np.zeros(landcover.shape, dtype=np.float32)
    for c, (m, s) in _FV.items():
        sel = landcover == c
        fv[sel] = m + s * (0.8 * n1[sel] + 0.6 * white[sel])
    fv = np.clip(fv, 0.0, 0.97)
    b = np.exp(0.09 * n2 + 0.04 * white).astype(np.float32)
    return {"fv": fv, "b": b, "lc": landcover}


def _greenness(doy: int) -> float:
    """Green share of the vegetation [1]: green-up peaking late July-early August (DOY ~215)."""
    return float(0.12 + 0.85 * np.exp(-(((doy - 215.0) / 36.0) ** 2)))


def render_scene(
    state: dict[str, np.ndarray],
    dem: np.ndarray,
    slope: np.ndarray,
    aspect: np.ndarray,
    spec: SceneSpec,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Surface reflectance [1] and surface temperature [K] of one clear-sky scene, world grid.

    Returns ``blue``..``swir2`` and ``st`` (float32) and ``snow`` (snow fraction [1]) and
    ``water`` (water share [1]).
    """
    lc = state["lc"]
    doy = spec.acquired.timetuple().tm_yday
    g = _greenness(doy)
    oli = SPACECRAFT[spec.spacecraft][1] == "OLI_TIRS"
    veg = g * _GREEN_VEG + (1.0 - g) * _DRY_VEG
    sz = np.deg2rad(90.0 - spec.sun_elevation)
    s = np.deg2rad(slope)
    cos_i = np.cos(sz) * np.cos(s) + np.sin(sz) * np.sin(s) * np.cos(np.deg2rad(spec.sun_azimuth - aspect))
    illum = (DIFFUSE + (1.0 - DIFFUSE) * np.clip(cos_i, 0.0, None) / np.cos(sz)).astype(np.float32)
    illum = np.minimum(illum, 2.0)
    water = lc == 5
    illum[water] = 1.0
    snow = np.zeros(lc.shape, dtype=np.float32)
    if spec.snowline_m is not None:
        north = np.cos(np.deg2rad(aspect)) * np.clip(slope / 10.0, 0, 1)
        line = spec.snowline_m - 90.0 * north + 40.0 * fractal_field(rng, lc.shape, 2.6)
        snow = np.clip((dem - line) / 60.0, 0.0, 1.0).astype(np.float32)
        snow[water] = 0.0
    fv, b = state["fv"], state["b"]
    soil = np.zeros((6, *lc.shape), dtype=np.float32)
    for c, spec_c in _SOIL.items():
        sel = lc == c
        if sel.any():
            soil[:, sel] = spec_c[:, None]
    noise_sd = 0.003 if oli else 0.004  # [1] sensor + atmospheric-correction noise
    out: dict[str, np.ndarray] = {}
    for i, name in enumerate(BANDS):
        rho = fv * veg[i] + (1.0 - fv) * b * soil[i]
        if oli:
            rho = rho * _OLI_FACTOR[i]
        rho = rho * illum
        rho = (1.0 - snow) * rho + snow * _SNOW[i] * np.clip(illum, 0.3, 1.5)
        rho = rho + rng.normal(0.0, noise_sd, lc.shape).astype(np.float32)
        out[name] = rho.astype(np.float32)
    del soil
    # land surface temperature at the ~10:30 overpass [K]
    t_season = 279.0 + 15.0 * np.exp(-(((doy - 205.0) / 55.0) ** 2))  # meadow at 3800 m
    offset = np.zeros(lc.shape, dtype=np.float32)
    for c, o in _LST_OFFSET.items():
        offset[lc == c] = o
    wet_cool = -4.0 * np.clip(fv - 0.6, 0, None)
    st = t_season - 0.0065 * (dem - 3800.0) + offset + wet_cool + 7.0 * (illum - 1.0) * (~water)
    st = (1.0 - snow) * st + snow * 271.5 + rng.normal(0.0, 0.6, lc.shape)
    out["st"] = st.astype(np.float32)
    out["snow"] = snow
    out["water"] = water.astype(np.float32)
    return out


def to_scene_grid(a: np.ndarray, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
    """2 x 2 area mean of world cells: scene cell (i, j) is world cells (r0+i..r0+i+1, c0+j..c0+j+1)."""
    w = a[r0 : r1 + 1, c0 : c1 + 1]
    return (0.25 * (w[:-1, :-1] + w[1:, :-1] + w[:-1, 1:] + w[1:, 1:])).astype(np.float32)


def add_atmosphere(
    bands: dict[str, np.ndarray],
    spec: SceneSpec,
    valid: np.ndarray,
    cellsize: float,
    rng: np.random.Generator,
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, float]:
    """Clouds, dilated-cloud ring, shadows, cirrus, QA_PIXEL and QA_RADSAT on the scene grid.

    Parameters
    ----------
    bands
        Scene-grid ``blue``..``swir2`` [1], ``st`` [K], ``snow`` and ``water`` shares [1].
    valid
        Bool mask of the scene footprint (others are fill).

    Returns
    -------
    sr, qa_pixel, qa_radsat, cloud_cover
        Reflectances [1] (NaN at fill) plus ``st`` [K]; QA bit fields (uint16); cloud share [%].
    """
    shape = valid.shape
    oli = SPACECRAFT[spec.spacecraft][1] == "OLI_TIRS"
    field = fractal_field(rng, shape, 3.4)
    thr = float(np.quantile(field[valid], 1.0 - spec.cloud_fraction))
    width = 0.35
    alpha = np.clip((field - (thr - 0.4 * width)) / width, 0.0, 1.0)  # opacity, soft edges
    cloud = (field > thr) & valid
    dil = ndimage.binary_dilation(cloud, iterations=3) & ~cloud & valid
    # shadow: the cloud mask moved away from the sun by h / tan(elevation), h = cloud base height
    h = rng.uniform(1200.0, 2800.0)  # [m]
    dist = h / np.tan(np.deg2rad(spec.sun_elevation)) / cellsize
    az = np.deg2rad(spec.sun_azimuth)
    dcol, drow = -dist * np.sin(az), dist * np.cos(az)  # anti-solar: east -sin, rows grow southwards
    shadow_a = ndimage.shift(alpha, (drow, dcol), order=0, mode="constant", cval=0.0)
    shadow = (shadow_a > 0.5) & ~cloud & valid
    cirrus = np.zeros(shape, dtype=bool)
    haze = np.zeros(shape, dtype=np.float32)
    if spec.cirrus:
        cf = fractal_field(rng, shape, 2.8)
        haze = np.clip((cf - 1.0) * 0.03, 0.0, 0.05).astype(np.float32)
        cirrus = (cf > 1.3) & valid & ~cloud
    bright = (0.8 + 0.25 * np.tanh(field - thr)).astype(np.float32)  # thick cores brighter
    sr: dict[str, np.ndarray] = {}
    for i, name in enumerate(BANDS):
        rho = bands[name]
        rho = np.where(shadow, rho * (DIFFUSE + 0.2), rho)
        rho = rho + haze * (1.0 - 0.15 * i)
        rho = (1.0 - alpha) * rho + alpha * _CLOUD[i] * bright
        sr[name] = np.where(valid, rho, np.nan).astype(np.float32)
    st = bands["st"] - 5.0 * shadow
    st = (1.0 - alpha) * st + alpha * (258.0 - 6.0 * np.clip(field - thr, 0, 2))
    sr["st"] = np.where(valid, st, np.nan).astype(np.float32)
    snow = (bands["snow"] > 0.5) & ~cloud & valid
    water = (bands["water"] > 0.5) & ~cloud & ~snow & valid
    # QA_PIXEL with confidence pairs: cloud 8-9, shadow 10-11, snow 12-13, cirrus 14-15 (OLI)
    qa = np.zeros(shape, dtype=np.uint16)
    qa |= np.uint16(1 << 8) * (~cloud & ~dil) | np.uint16(2 << 8) * dil | np.uint16(3 << 8) * cloud
    qa |= np.where(shadow, np.uint16(3 << 10), np.uint16(1 << 10))
    qa |= np.where(snow, np.uint16(3 << 12), np.uint16(1 << 12))
    if oli:
        qa |= np.where(cirrus, np.uint16(3 << 14), np.uint16(1 << 14))
        qa |= np.uint16(QA_CIRRUS) * cirrus
    qa |= np.uint16(QA_CLOUD) * cloud
    qa |= np.uint16(QA_DILATED_CLOUD) * dil
    qa |= np.uint16(QA_SHADOW) * shadow
    qa |= np.uint16(QA_SNOW) * snow
    qa |= np.uint16(QA_WATER) * water
    qa |= np.uint16(QA_CLEAR) * (~cloud & ~dil)
    qa[~valid] = QA_FILL
    # a few saturated pixels: the brightest 0.2 % of cloud tops, in the visible bands
    radsat = np.zeros(shape, dtype=np.uint16)
    idx = np.flatnonzero(cloud)
    if idx.size:
        k = max(1, idx.size // 500)
        top = idx[np.argpartition(field.ravel()[idx], idx.size - k)[idx.size - k :]]
        radsat.ravel()[top] = np.uint16(radsat_bits(spec.spacecraft, ("blue", "green", "red")) & 0x7FF)
    cover = 100.0 * float(cloud.sum()) / max(1, int(valid.sum()))
    return sr, qa, radsat, cover
