"""Virtual Muli, part 2: the hidden pre-mining ground truth (SYNTHETIC).

The truth layers of the synthetic study area: mean annual ground temperature (MAGT) at the depth
of zero annual amplitude, permafrost, thermal stability, active-layer thickness (ALT) and ground
ice, from terrain, land cover and geomorphology on the target grid. Everything here is numpy on
the full grid in memory (fine at ~5 M cells), float32, deterministic for a seed. The physics and
every number with its source are in ``docs/virtual_muli.md`` ("Ground temperature", "Active
layer", "Ground ice"). The truth is deliberately *not* built with the pipeline's own formulas:

- MAGT is elevation + land cover + aspect + taliks + a two-scale Gaussian random field that no
  regression on the six factors of the record can explain;
- ALT is a multi-layer Stefan solution through the geomorphology unit's stratigraphy with
  cell-varying moisture, layer thickness and a correlated multiplicative residual;
- ground ice integrates the stratigraphy (with an ice-enriched zone below the permafrost table
  and temperature-dependent unfrozen water) over the 10 m below the permafrost table.

:func:`mining_truth` (module :mod:`pfatlas.synth.mining`), :func:`make_boreholes` and
:func:`make_logs` (module :mod:`pfatlas.synth.boreholes`) are re-exported here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.ndimage import gaussian_filter

from pfatlas.errors import InputError

__all__ = [
    "ground_truth",
    "mining_truth",
    "make_boreholes",
    "make_logs",
    "air_thawing_index",
    "station_thawing_index",
    "maat_at",
    "thaw_season_days",
    "thermal_stability_from_magt",
    "spectral_random_field",
    "UNIT_NAMES",
    "SOIL_NAMES",
]

# --- fixed codes (shared definitions of the generator) --------------------------------------------
UNIT_NAMES = (
    "alluvial plain",
    "marsh lowland",
    "alluvial-proluvial fan",
    "colluvial slope",
    "moraine",
    "bedrock hills",
)
LANDCOVER_CODES = (1, 2, 3, 4, 5, 6, 7, 8)
WATER = 5
NODATA_U8 = 255

# --- climate and MAGT constants ------------------------------------------------------------------
MAGT_LAPSE = -3.82e-3  # [degC m-1] Datong source, Li Jing et al. 2015
MAGT_ANCHOR_ELEV = 4130.0  # [m] upper Heihe site, Cheng et al. 2013
MAGT_ANCHOR = -1.7  # [degC] MAGT there under alpine meadow (the reference cover)
# land-cover offsets of MAGT [degC] relative to alpine meadow (index = class code)
MAGT_COVER_OFFSET = np.array([0.0, -0.4, 0.0, 0.3, 0.5, 0.0, 0.5, 0.5, 0.6], dtype=np.float32)
ASPECT_AMPLITUDE = 0.9  # [degC] MAGT change per unit sin(slope) * cos(aspect); north colder
RESID_SIGMA_LARGE, RESID_LEN_LARGE = 0.25, 3000.0  # [degC], [m] regional residual
RESID_SIGMA_LOCAL, RESID_LEN_LOCAL = 0.15, 300.0  # [degC], [m] local residual (snow, soil)
WATER_BOTTOM_MIN, WATER_BOTTOM_MAX = 0.5, 2.0  # [degC] MAGT below narrow / wide water bodies
TALIK_LATERAL = 60.0  # [m] e-folding of a talik's lateral warming of the banks

STATION_ELEV = 3320.0  # [m] Yeniugou
STATION_MAAT = -2.57  # [degC] Yeniugou 1981-2010 (CMA, via iffylaw/PIC)
AIR_LAPSE = 5.6e-3  # [degC m-1] Qilian, Chen R.S. et al. 2014
AIR_AMPLITUDE = 13.0  # [degC] half the July-January range of mean air temperature (assumed)
YEAR_DAYS = 365.0  # [day]
DAY = 86400.0  # [s]
# thawing n-factors by class code (iffylaw/PIC): swamp = grassland 1.39, meadow/steppe 1.60,
# sparse/bare, pit, dump, road = bare 2.55; water has no active layer
N_FACTOR = np.array([1.6, 1.39, 1.60, 1.60, 2.55, 1.0, 2.55, 2.55, 2.55], dtype=np.float32)
# base degree of saturation of the active layer in the thaw season, by class code
SATURATION = np.array([0.45, 0.55, 0.45, 0.36, 0.40, 1.0, 0.3, 0.3, 0.3], dtype=np.float32)
SATURATION_SIGMA, MOIST_LEN = 0.10, 1500.0  # [-], [m] cell-level variation of soil moisture
WATER_MULT_SIGMA = 0.18  # [-] lognormal sigma of the permafrost water-content multiplier
THICK_SIGMA, THICK_LEN = 0.30, 2000.0  # [-], [m] lognormal sigma of the layer-thickness factor
ALT_SIGMA, ALT_LEN, ALT_MAGT_CORR = 0.12, 1000.0, 0.5  # [-], [m], [-] ALT residual

# --- ground ice constants ------------------------------------------------------------------------
L_FUSION = 3.34e5  # [J kg-1]
C_WATER = 4180.0  # [J kg-1 K-1]
RHO_ICE = 917.0  # [kg m-3]
RHO_WATER = 1000.0  # [kg m-3]
ICE_WINDOW = 10.0  # [m] ground ice is averaged over ALT .. ALT + 10 m
ENRICHED_ZONE = 1.5  # [m] ice-enriched zone just below the permafrost table
UNFROZEN_EXPONENT = 0.4  # [-] w_u(T) = w_u(-1 degC) * |T|**-0.4 (power-law unfrozen water curve)

# Soils: log name, thawed conductivity dry / wet [W m-1 K-1], particle density [kg m-3], thawed dry
# density in the active layer [kg m-3], unfrozen water at -1 degC [kg kg-1], enrichment factor of
# the zone below the table [-], row of GB 50324-2014 Table 3.2.2, fixed frozen dry density
# (NaN: from saturation).
SOIL_NAMES = ("gravel", "gravel", "sand", "silt", "clay", "peat", "bedrock", "gravel")
GRAVEL, GRAVEL_SILTY, SAND, SILT, CLAY, PEAT, BEDROCK, WASTE = range(8)
SOIL_K_DRY = np.array([1.20, 1.10, 1.05, 1.05, 0.90, 0.14, 2.00, 1.35], dtype=np.float32)
SOIL_K_WET = np.array([2.40, 2.20, 2.15, 1.90, 1.70, 0.24, 2.50, 1.35], dtype=np.float32)
SOIL_RHO_S = np.array([2680, 2680, 2660, 2700, 2720, 1500, 2650, 2650], dtype=np.float32)
SOIL_RHO_D = np.array([1900, 1800, 1600, 1350, 1300, 250, 2300, 1900], dtype=np.float32)
SOIL_WU1 = np.array([0.010, 0.025, 0.020, 0.070, 0.120, 0.25, 0.005, 0.010], dtype=np.float32)
SOIL_C_S = np.array([750, 750, 750, 800, 850, 1920, 800, 750], dtype=np.float32)  # [J kg-1 K-1] solids
SOIL_ENRICH = np.array([0.25, 0.40, 0.30, 0.60, 0.60, 0.30, 0.10, 0.0], dtype=np.float32)
SOIL_GB_ROW = np.array([0, 1, 2, 3, 4, 3, 0, 0], dtype=np.int8)
# GB 50324-2014 Table 3.2.2 total water content breaks [%] (less-ice | ice-moderate | ice-rich |
# ice-saturated | ice layer with soil): coarse <=15 % fines, coarse >15 % fines, fine/silty sand,
# silt, clay (plastic limit w_p = 19 % assumed: w_p, w_p+4, w_p+15, w_p+35)
GB_BREAKS = np.array(
    [[10, 15, 25, 44], [12, 15, 25, 44], [14, 18, 28, 44], [17, 21, 32, 44], [19, 23, 34, 54]],
    dtype=np.float32,
)

# Stratigraphy templates per geomorphology unit: (soil, bottom [m], total water content of the
# permafrost [kg kg-1], frozen dry density [kg m-3] or NaN = from saturation). Bottoms scale with
# the cell's thickness factor; the last layer is a half-space.
_INF = np.inf
_NAN = np.nan
UNIT_TEMPLATES: dict[int, list[tuple[int, float, float, float]]] = {
    0: [
        (SILT, 0.8, 0.30, _NAN),
        (SAND, 3.0, 0.25, _NAN),
        (GRAVEL, 12.0, 0.17, _NAN),
        (BEDROCK, _INF, 0.06, 2350.0),
    ],
    1: [
        (PEAT, 0.15, 1.50, _NAN),
        (SILT, 3.5, 0.42, _NAN),
        (CLAY, 7.0, 0.34, _NAN),
        (GRAVEL_SILTY, 14.0, 0.18, _NAN),
        (BEDROCK, _INF, 0.06, 2350.0),
    ],
    2: [(SAND, 0.5, 0.16, _NAN), (GRAVEL, 15.0, 0.13, _NAN), (BEDROCK, _INF, 0.05, 2400.0)],
    3: [(SILT, 0.7, 0.28, _NAN), (GRAVEL_SILTY, 8.0, 0.22, _NAN), (BEDROCK, _INF, 0.08, 2300.0)],
    4: [(SILT, 0.4, 0.25, _NAN), (GRAVEL_SILTY, 20.0, 0.19, _NAN), (BEDROCK, _INF, 0.05, 2400.0)],
    5: [(GRAVEL_SILTY, 1.5, 0.14, _NAN), (BEDROCK, 8.0, 0.09, 2250.0), (BEDROCK, _INF, 0.04, 2550.0)],
}
N_LAYERS = max(len(v) for v in UNIT_TEMPLATES.values())


def _template_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Padded (unit, layer) tables: soil code, bottom [m], permafrost water [kg kg-1], rho_d."""
    nu = len(UNIT_NAMES)
    soil = np.full((nu, N_LAYERS), BEDROCK, dtype=np.int8)
    bottom = np.full((nu, N_LAYERS), np.inf)
    water = np.zeros((nu, N_LAYERS), dtype=np.float32)
    rho = np.full((nu, N_LAYERS), np.nan, dtype=np.float32)
    for u, layers in UNIT_TEMPLATES.items():
        for i, (s, b, w, r) in enumerate(layers):
            soil[u, i], bottom[u, i], water[u, i], rho[u, i] = s, b, w, r
    return soil, bottom, water, rho


T_SOIL, T_BOTTOM, T_WATER, T_RHO = _template_tables()


# --- seeds and random fields ---------------------------------------------------------------------
def sub_seed(seed: int | np.random.SeedSequence, key: int) -> np.random.SeedSequence:
    """Independent, stable child seed ``key`` of ``seed`` (does not mutate ``seed``)."""
    if isinstance(seed, np.random.SeedSequence):
        return np.random.SeedSequence(seed.entropy, spawn_key=(*seed.spawn_key, key))
    return np.random.SeedSequence(int(seed), spawn_key=(key,))


def spectral_random_field(
    x: np.ndarray, y: np.ndarray, *, length: float, seed: np.random.SeedSequence, n_waves: int = 512
) -> np.ndarray:
    """Zero-mean, unit-variance Gaussian random field with exponential covariance, in map metres.

    Spectral synthesis with random Fourier modes: ``f = sqrt(2/n) sum cos(k_i . r + phi_i)`` with
    wave vectors drawn from the spectral density of ``C(r) = exp(-r / length)``, which in 2-D is a
    bivariate Student t with one degree of freedom and scale ``1 / length`` [rad m-1]. The field
    is a function of the absolute map coordinates, so a small grid sees exactly the part of the
    full-size field that lies on it. Evaluated as one matrix product ``(ny, 2n) @ (2n, nx)``.

    Parameters
    ----------
    x, y
        1-D cell-centre eastings and northings [m].
    length
        Correlation length [m] (covariance ``exp(-r / length)``).
    seed
        Seed sequence of this field.
    n_waves
        Number of Fourier modes.

    Returns
    -------
    numpy.ndarray
        float32 array of shape (len(y), len(x)).
    """
    rng = np.random.default_rng(seed)
    g = rng.standard_normal((n_waves, 2))
    u = rng.chisquare(1.0, n_waves)
    k = g / (length * np.sqrt(u))[:, None]  # [rad m-1]
    phi = rng.uniform(0.0, 2.0 * np.pi, n_waves)
    ax = np.outer(k[:, 0], np.asarray(x, dtype=np.float64)) + phi[:, None]
    ay = np.outer(np.asarray(y, dtype=np.float64), k[:, 1])
    left = np.concatenate([np.cos(ay), -np.sin(ay)], axis=1).astype(np.float32)
    right = np.concatenate([np.cos(ax), np.sin(ax)], axis=0).astype(np.float32)
    out = left @ right
    out *= np.float32(np.sqrt(2.0 / n_waves))
    return out


# --- climate ------------------------------------------------------------------------------------
def air_thawing_index(maat_c, amplitude_c: float = AIR_AMPLITUDE):
    """Air thawing index [degC day] of a sinusoidal annual cycle.

    For ``T(t) = M + A cos(2 pi t / P)`` the positive degree-days are
    ``(P / pi) (M arccos(-M / A) + sqrt(A^2 - M^2))`` for ``|M| < A`` (0 below, ``P M`` above).

    >>> round(float(air_thawing_index(0.0, 10.0)), 1)   # (365/pi) * 10
    1161.8
    """
    m = np.asarray(maat_c, dtype=np.float64)
    a = float(amplitude_c)
    r = np.clip(-m / a, -1.0, 1.0)
    val = (YEAR_DAYS / np.pi) * (m * np.arccos(r) + np.sqrt(np.maximum(a * a - m * m, 0.0)))
    val = np.where(m >= a, YEAR_DAYS * m, np.where(m <= -a, 0.0, val))
    return val


def thaw_season_days(maat_c, amplitude_c: float = AIR_AMPLITUDE):
    """Length of the thaw season [day] of the same sinusoid: ``(P / pi) arccos(-M / A)``."""
    m = np.asarray(maat_c, dtype=np.float64)
    return (YEAR_DAYS / np.pi) * np.arccos(np.clip(-m / float(amplitude_c), -1.0, 1.0))


def station_thawing_index() -> float:
    """Air thawing index [degC day] at the reference station (Yeniugou, MAAT -2.57 degC)."""
    return float(air_thawing_index(STATION_MAAT))


def maat_at(elevation_m):
    """Mean annual air temperature [degC] at an elevation from the station and the air lapse."""
    return STATION_MAAT - AIR_LAPSE * (np.asarray(elevation_m, dtype=np.float64) - STATION_ELEV)


# --- classes ------------------------------------------------------------------------------------
def thermal_stability_from_magt(magt: np.ndarray) -> np.ndarray:
    """Cheng (1984) thermal stability codes (uint8; 255 where MAGT is NaN).

    1 extremely stable (< -5), 2 stable (-5..-3), 3 sub-stable (-3..-1.5), 4 transitional
    (-1.5..-0.5), 5 unstable (-0.5..0), 6 no permafrost (>= 0) [degC].

    >>> thermal_stability_from_magt(np.array([-6.0, -4.0, -2.0, -1.0, -0.2, 0.0, np.nan])).tolist()
    [1, 2, 3, 4, 5, 6, 255]
    """
    magt = np.asarray(magt)
    code = np.digitize(magt, np.array([-5.0, -3.0, -1.5, -0.5, 0.0], dtype=magt.dtype)) + 1
    code = code.astype(np.uint8)
    code[~np.isfinite(magt)] = NODATA_U8
    return code


def permafrost_from_magt(magt: np.ndarray) -> np.ndarray:
    """1 where MAGT < 0, 0 where >= 0, 255 where NaN (uint8)."""
    out = np.where(magt < 0, 1, 0).astype(np.uint8)
    out[~np.isfinite(magt)] = NODATA_U8
    return out


def ice_class_from_water(w_pct: np.ndarray, gb_row: np.ndarray) -> np.ndarray:
    """GB 50324-2014 ice-content class 1-5 from total water content [%] and the soil row."""
    breaks = GB_BREAKS[gb_row.astype(np.intp)]
    return (1 + (w_pct[..., None] >= breaks).sum(axis=-1)).astype(np.uint8)


# --- column physics (flat arrays of cells) ---------------------------------------------------------
def saturated_dry_density(w, wu, rho_s):
    """Dry density [kg m-3] of a saturated frozen soil of total water ``w`` [kg kg-1].

    Volumes per kg of solids: ``1 / rho_s + (w - w_u) / rho_ice + w_u / rho_water = 1 / rho_d``.
    """
    wi = np.maximum(w - wu, 0.0)
    return 1.0 / (1.0 / rho_s + wi / RHO_ICE + np.minimum(wu, w) / RHO_WATER)


def unfrozen_water(wu1, magt):
    """Unfrozen water [kg kg-1] at ground temperature ``magt`` [degC] (power law, |T| >= 0.1)."""
    t = np.maximum(np.abs(np.minimum(magt, -0.1)), 0.1)
    return wu1 * t ** (-UNFROZEN_EXPONENT)


def cell_layers(units: np.ndarray, thick: np.ndarray):
    """Per-layer lists (top, bottom [m], soil, water [kg kg-1], fixed rho_d) for flat cells."""
    layers = []
    top = np.zeros(units.shape, dtype=np.float64)
    for i in range(N_LAYERS):
        bot = T_BOTTOM[units, i] * thick
        layers.append((top, bot, T_SOIL[units, i], T_WATER[units, i], T_RHO[units, i]))
        top = bot
    return layers


def active_water(soil, saturation, rho_fixed):
    """Thaw-season water content [kg kg-1] of the active layer from its degree of saturation."""
    rho_d = np.where(np.isfinite(rho_fixed), rho_fixed, SOIL_RHO_D[soil])
    return saturation * (1.0 / rho_d - 1.0 / SOIL_RHO_S[soil]) * RHO_WATER, rho_d


def stefan_multilayer(thaw_cs: np.ndarray, layers, saturation: np.ndarray, thaw_mean_c=None) -> np.ndarray:
    """Thaw depth [m] of a multi-layer Stefan problem with the sensible heat of the thawed zone.

    Quasi-steady conduction through the thawed layers above the front: ``L_v(Z) dZ/dt = T_s /
    R(Z)`` with ``R(Z) = sum h_j / k_j`` the thermal resistance [m2 K W-1] above ``Z``, so
    ``int_0^Z L_v R dZ = I_s``. Inside layer ``l`` (top ``t``, resistance above ``R_l``, heat
    ``Q_l`` used so far) ``Q = Q_l + L_l (R_l h + h^2 / (2 k_l))``; solved for ``h`` in the
    layer where ``Q`` reaches ``I_s`` (stable form of the quadratic root). One homogeneous layer
    gives the classic ``sqrt(2 k I_s / L_v)``. With ``thaw_mean_c`` the latent heat of each layer
    is raised by the sensible heat of the thawed zone, ``L_v + C_t T_m / 3`` (``C_t`` thawed
    volumetric heat capacity, ``T_m`` mean surface temperature of the thaw season): the
    first-order term of the one-phase Neumann solution, ``X^2 = 2 k T t / (L_v (1 + Ste / 3))``.

    Parameters
    ----------
    thaw_cs
        Surface thawing index [degC s] per cell.
    layers
        Output of :func:`cell_layers`.
    saturation
        Degree of saturation of the active layer [-] per cell.
    thaw_mean_c
        Mean surface temperature of the thaw season [degC] per cell (None: latent heat only).
    """
    depth = np.full(thaw_cs.shape, np.nan)
    resist = np.zeros(thaw_cs.shape)
    used = np.zeros(thaw_cs.shape)
    todo = np.ones(thaw_cs.shape, dtype=bool)
    with np.errstate(invalid="ignore", over="ignore"):
        for top, bot, soil, _w, rho_fixed in layers:
            wa, rho_d = active_water(soil, saturation, rho_fixed)
            lv = L_FUSION * rho_d * np.maximum(wa - SOIL_WU1[soil], 0.005)  # [J m-3]
            if thaw_mean_c is not None:
                lv = lv + rho_d * (SOIL_C_S[soil] + C_WATER * wa) * np.maximum(thaw_mean_c, 0.0) / 3.0
            k = SOIL_K_DRY[soil] + (SOIL_K_WET[soil] - SOIL_K_DRY[soil]) * saturation
            h = bot - top
            q_bot = np.where(np.isinf(h), np.inf, used + lv * (resist * h + h * h / (2.0 * k)))
            hit = todo & (thaw_cs <= q_bot)
            rem = np.maximum(thaw_cs - used, 0.0)
            dz = 2.0 * rem / (lv * (resist + np.sqrt(resist * resist + 2.0 * rem / (lv * k))))
            depth = np.where(hit, top + dz, depth)
            todo &= ~hit
            resist = resist + h / k
            used = q_bot
    return depth


def ice_window(layers, saturation, water_mult, z_top, z_bot, alt_orig, magt, offset=0.0):
    """Integrals of ice and water over a depth window of a column.

    The window ``[z_top, z_bot]`` [m] is measured from the present surface; the original soil
    profile lies ``offset`` [m] below it (0 for natural ground, a dump's height for buried
    ground). Above ``alt_orig`` (depth in the original profile) the soil holds its active-layer
    water; in the ``ENRICHED_ZONE`` below it the permafrost water content is raised by the
    soil's enrichment factor; below that it is the template value times ``water_mult``.

    Returns
    -------
    tuple
        (sum theta_i h [m], sum w rho_d h [kg m-2], sum rho_d h [kg m-2], thickness per GB row
        [m] (5, ncell)).
    """
    ice = np.zeros(np.shape(z_top))
    wmass = np.zeros_like(ice)
    dmass = np.zeros_like(ice)
    rows = np.zeros((5, *np.shape(z_top)))
    a = np.asarray(z_top, dtype=np.float64) - offset
    b = np.asarray(z_bot, dtype=np.float64) - offset
    enr = alt_orig + ENRICHED_ZONE
    for top, bot, soil, w_perm, rho_fixed in layers:
        wa, _ = active_water(soil, saturation, rho_fixed)
        wp = w_perm * water_mult
        wu = unfrozen_water(SOIL_WU1[soil], magt)
        pieces = (
            (np.zeros_like(a), alt_orig, wa),
            (alt_orig, enr, wp * (1.0 + SOIL_ENRICH[soil])),
            (enr, np.inf, wp),
        )
        for p0, p1, w in pieces:
            lo = np.maximum(np.maximum(top, p0), a)
            hi = np.minimum(np.minimum(bot, p1), b)
            h = np.maximum(hi - lo, 0.0)
            rho = np.where(np.isfinite(rho_fixed), rho_fixed, saturated_dry_density(w, wu, SOIL_RHO_S[soil]))
            ice += np.maximum(w - wu, 0.0) * rho / RHO_ICE * h
            wmass += w * rho * h
            dmass += rho * h
            for r in range(5):
                rows[r] += np.where(SOIL_GB_ROW[soil] == r, h, 0.0)
    return ice, wmass, dmass, rows


def finish_ice(ice, wmass, dmass, rows, cell_area):
    """Mean ice content [m3 m-3], ice volume [m3] and GB class from :func:`ice_window` sums."""
    theta = (ice / ICE_WINDOW).astype(np.float32)
    volume = (theta * np.float32(ICE_WINDOW * cell_area)).astype(np.float32)
    w_pct = (100.0 * wmass / np.maximum(dmass, 1e-9)).astype(np.float32)
    cls = ice_class_from_water(w_pct, np.argmax(rows, axis=0))
    return theta, volume, cls, w_pct


# --- validation ----------------------------------------------------------------------------------
def _check_grid_arrays(arrays: dict[str, np.ndarray], x, y) -> tuple[int, int]:
    shape = None
    for name, arr in arrays.items():
        arr = np.asarray(arr)
        if arr.ndim != 2:
            raise InputError(f"must be a 2-D array on the grid, got {arr.ndim}-D", field=name)
        if shape is None:
            shape = arr.shape
        elif arr.shape != shape:
            raise InputError(f"shape {arr.shape} differs from elevation's {shape}", field=name)
    ny, nx = shape
    for name, c, n in (("x", x, nx), ("y", y, ny)):
        c = np.asarray(c)
        if c.ndim != 1 or c.size != n:
            raise InputError(f"must be 1-D with {n} cell centres, got shape {c.shape}", field=name)
        if n > 1 and not np.all(np.isfinite(c)):
            raise InputError("contains NaN or infinite coordinates", field=name)
    if nx < 2 and ny < 2:
        raise InputError("the grid needs at least two cells along x or y", field="x")
    return ny, nx


def _check_codes(arr: np.ndarray, allowed: Sequence[int], name: str) -> None:
    bad = ~np.isin(arr, np.asarray([*allowed, NODATA_U8]))
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise InputError(
            f"unknown code {int(arr[r, c])} at row {r}, column {c} (allowed {list(allowed)} or 255)",
            field=name,
        )


def cellsize_of(x, y) -> float:
    """Cell size [m] from the cell-centre coordinates."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    return float(abs(x[1] - x[0]) if x.size > 1 else abs(y[1] - y[0]))


# --- the pre-mining truth -----------------------------------------------------------------------
def _magt(elevation, slope_deg, aspect_deg, landcover, x, y, seed, cellsize):
    res = RESID_SIGMA_LARGE * spectral_random_field(x, y, length=RESID_LEN_LARGE, seed=sub_seed(seed, 0))
    res += RESID_SIGMA_LOCAL * spectral_random_field(x, y, length=RESID_LEN_LOCAL, seed=sub_seed(seed, 1))
    lc = np.where(landcover == NODATA_U8, 0, landcover).astype(np.intp)
    magt = (MAGT_ANCHOR + MAGT_LAPSE * (elevation.astype(np.float32) - MAGT_ANCHOR_ELEV)).astype(np.float32)
    magt += MAGT_COVER_OFFSET[lc]
    north = np.sin(np.deg2rad(slope_deg, dtype=np.float32)) * np.cos(np.deg2rad(aspect_deg, dtype=np.float32))
    magt -= ASPECT_AMPLITUDE * np.where(np.isfinite(north), north, 0.0).astype(np.float32)
    del north
    magt += res
    water = (landcover == WATER).astype(np.float32)
    if water.any():
        near = gaussian_filter(water, TALIK_LATERAL / cellsize, mode="nearest")
        wide = gaussian_filter(water, 2.5 * TALIK_LATERAL / cellsize, mode="nearest")
        t_water = WATER_BOTTOM_MIN + (WATER_BOTTOM_MAX - WATER_BOTTOM_MIN) * wide
        land_w = np.minimum(near, 1.0) * 0.6
        magt = np.where(water > 0, t_water, magt + land_w * np.maximum(t_water - magt, 0.0)).astype(
            np.float32
        )
        del near, wide, t_water, land_w
    return magt, res


def ground_truth(
    *,
    elevation: np.ndarray,
    slope_deg: np.ndarray,
    aspect_deg: np.ndarray,
    landcover: np.ndarray,
    units: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    seed: int | np.random.SeedSequence,
) -> dict[str, np.ndarray]:
    """Pre-mining ground truth of the synthetic study area (SYNTHETIC).

    Parameters
    ----------
    elevation
        Elevation [m] on the grid (NaN = nodata).
    slope_deg, aspect_deg
        Slope [deg] and aspect [deg clockwise from north, NaN where flat].
    landcover
        Pre-mining land-cover codes (uint8; 1-5, 8; 255 nodata).
    units
        Geomorphology unit codes 0-5 (order of :data:`UNIT_NAMES`; 255 nodata).
    x, y
        1-D cell-centre eastings (columns) and northings (rows) [m].
    seed
        Integer seed or :class:`numpy.random.SeedSequence`.

    Returns
    -------
    dict
        ``magt`` [degC] float32; ``permafrost`` uint8 0/1 (255 nodata); ``thermal_stability``
        uint8 (Cheng 1984 codes 1-6); ``alt`` [m] float32 (NaN without permafrost); ``ground_ice``
        [m3 m-3] mean volumetric ice content of the 10 m below the permafrost table (NaN without
        permafrost); ``ice_volume`` [m3 per cell] (NaN without permafrost); ``ice_class`` uint8
        (0 no permafrost, 1-5 GB 50324-2014, 255 nodata); hidden fields prefixed with ``_``
        (``_station_thawing_index_cdays`` is a 0-d array [degC day]).
    """
    arrays = {
        "elevation": elevation,
        "slope_deg": slope_deg,
        "aspect_deg": aspect_deg,
        "landcover": landcover,
        "units": units,
    }
    ny, nx = _check_grid_arrays(arrays, x, y)
    elevation = np.asarray(elevation, dtype=np.float32)
    landcover = np.asarray(landcover).astype(np.uint8)
    units = np.asarray(units).astype(np.uint8)
    _check_codes(landcover, LANDCOVER_CODES, "landcover")
    _check_codes(units, range(len(UNIT_NAMES)), "units")
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    cellsize = cellsize_of(x, y)
    cell_area = abs(x[1] - x[0]) * abs(y[1] - y[0]) if nx > 1 and ny > 1 else cellsize**2

    valid = np.isfinite(elevation) & (landcover != NODATA_U8) & (units != NODATA_U8)
    magt, resid = _magt(
        elevation,
        np.asarray(slope_deg, np.float32),
        np.asarray(aspect_deg, np.float32),
        landcover,
        x,
        y,
        seed,
        cellsize,
    )
    magt[~valid] = np.nan
    permafrost = permafrost_from_magt(magt)
    stability = thermal_stability_from_magt(magt)

    # cell-level soil variation
    moist = spectral_random_field(x, y, length=MOIST_LEN, seed=sub_seed(seed, 3))
    lc = np.where(valid, landcover, 2).astype(np.intp)
    saturation = np.clip(SATURATION[lc] + SATURATION_SIGMA * moist, 0.1, 1.0).astype(np.float32)
    water_mult = np.exp(WATER_MULT_SIGMA * moist - 0.5 * WATER_MULT_SIGMA**2).astype(np.float32)
    del moist
    thick = spectral_random_field(x, y, length=THICK_LEN, seed=sub_seed(seed, 4))
    thick = np.exp(THICK_SIGMA * thick - 0.5 * THICK_SIGMA**2).astype(np.float32)
    eps = spectral_random_field(x, y, length=ALT_LEN, seed=sub_seed(seed, 2))
    resid_sigma = np.float32(np.hypot(RESID_SIGMA_LARGE, RESID_SIGMA_LOCAL))
    eps = ALT_MAGT_CORR * resid / resid_sigma + np.float32(np.sqrt(1 - ALT_MAGT_CORR**2)) * eps
    alt_mult = np.exp(ALT_SIGMA * eps - 0.5 * ALT_SIGMA**2).astype(np.float32)
    del eps

    # thawing
    elev_f = np.where(valid, elevation, STATION_ELEV)
    thaw_air = air_thawing_index(maat_at(elev_f)).astype(np.float32)  # [degC day]
    thaw_days = thaw_season_days(maat_at(elev_f)).astype(np.float32)  # [day]
    thaw_surf = (N_FACTOR[lc] * thaw_air).astype(np.float32)

    alt = np.full((ny, nx), np.nan, dtype=np.float32)
    ground_ice = np.full((ny, nx), np.nan, dtype=np.float32)
    ice_volume = np.full((ny, nx), np.nan, dtype=np.float32)
    ice_class = np.where(valid, 0, NODATA_U8).astype(np.uint8)
    idx = np.flatnonzero(permafrost == 1)
    for part in np.array_split(idx, max(1, idx.size // 1_000_000)):
        if part.size == 0:
            continue
        u = units.ravel()[part].astype(np.intp)
        layers = cell_layers(u, thick.ravel()[part].astype(np.float64))
        sat = saturation.ravel()[part].astype(np.float64)
        i_s = thaw_surf.ravel()[part].astype(np.float64)
        t_m = i_s / np.maximum(thaw_days.ravel()[part], 1.0)
        depth = stefan_multilayer(i_s * DAY, layers, sat, t_m) * alt_mult.ravel()[part]
        alt.ravel()[part] = depth
        sums = ice_window(
            layers, sat, water_mult.ravel()[part], depth, depth + ICE_WINDOW, depth, magt.ravel()[part]
        )
        theta, vol, cls, _ = finish_ice(*sums, cell_area)
        ground_ice.ravel()[part] = theta
        ice_volume.ravel()[part] = vol
        ice_class.ravel()[part] = cls

    return {
        "magt": magt,
        "permafrost": permafrost,
        "thermal_stability": stability,
        "alt": alt,
        "ground_ice": ground_ice,
        "ice_volume": ice_volume,
        "ice_class": ice_class,
        "_magt_residual": np.where(valid, resid, np.nan).astype(np.float32),
        "_saturation": saturation,
        "_water_mult": water_mult,
        "_thickness_factor": thick,
        "_alt_mult": alt_mult,
        "_thaw_index_air": thaw_air,
        "_thaw_index_surface": thaw_surf,
        "_thaw_days": thaw_days,
        "_elevation": elevation,
        "_landcover": landcover,
        "_units": units,
        "_x": x,
        "_y": y,
        "_cell_area": np.asarray(cell_area, dtype=np.float64),
        "_station_thawing_index_cdays": np.asarray(station_thawing_index(), dtype=np.float64),
    }


# re-exports (at the end: these modules import the physics above)
from pfatlas.synth.boreholes import make_boreholes, make_logs  # noqa: E402
from pfatlas.synth.mining import mining_truth  # noqa: E402
