"""Synthetic terrain of virtual Muli (SYNTHETIC: no real elevation data is used).

The relief is defined in map metres of one fixed frame (:class:`TerrainFrame`) centred on the full
Muli extent in UTM 47N (EPSG:32647), rotated so that ``u`` runs along the WNW-ESE strike of the
Qilian ranges and ``v`` across it. Every random number is drawn on lattices of that frame, in a fixed
order, before the field is evaluated at the requested cell centres, so a small grid is exactly a
piece of the full one (for the same generator and frame). :data:`FULL_FRAME` holds the full Muli
extent; :data:`WIDE_FRAME`, twice as long and wide, holds the ``4x`` demo area: a different
realization of the same construction (its lattices have other sizes, so the draws differ).

Construction (all numbers [m]):

* a main valley (the Datong-river headwater valley) whose axis meanders about ``v = 0``, with a flat
  alluvial plain 1-3 km wide whose floor falls from ~3860 m (WNW) to ~3740 m (ESE) across the area
  (the fall is spread over the frame's length);
* valley sides rising as ``sin^2`` towards ranges every ~20-24 km across strike (crests 4200-4400 m),
  with secondary parallel valleys between them, for a number of range periods set by the frame
  (1.5 in the full frame, then a rough high plateau; 3.5 in the wide one);
* tributary valleys across strike, incised up to ~170 m where they leave the ranges, with
  alluvial-proluvial fans at their mouths;
* fractal roughness: value-noise octaves from 15 km down to 60 m lattice spacing (so down to the 30 m
  cell) with amplitude ~ wavelength^0.85 (a power-law spectrum, as measured on real DEMs), elongated
  along strike at the large scales, damped on the plain;
* a braided main channel ~2 m deep and 60 m wide on the plain;
* a soft clamp to 3700-4400 m.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from odc.geo.geobox import GeoBox
from pyproj import Transformer
from scipy import ndimage

__all__ = [
    "FULL_BBOX",
    "FULL_FRAME",
    "WIDE_FRAME",
    "TerrainFrame",
    "synthetic_dem",
    "terrain_fields",
    "cell_centres",
    "slope_aspect",
    "to_strike_frame",
    "from_strike_frame",
    "valley_axis",
]

FULL_BBOX = (98.85, 37.8233, 99.7539, 38.33)  # [deg] lon_min, lat_min, lon_max, lat_max
STRIKE_DEG = -22.5  # direction of the ranges: WNW-ESE, 22.5 deg south of east (ESE)
_OCTAVES = (15360.0, 7680.0, 3840.0, 1920.0, 960.0, 480.0, 240.0, 120.0, 60.0)  # lattice spacing [m]
_TRIB_SPACING = 2600.0  # [m] mean spacing of tributaries along each valley side
_HURST = 0.7  # amplitude ~ spacing**_HURST
_ROUGH_AMP_15KM = 120.0  # [m] std of the 15 km octave


def _frame_origin() -> tuple[float, float]:
    lon = 0.5 * (FULL_BBOX[0] + FULL_BBOX[2])
    lat = 0.5 * (FULL_BBOX[1] + FULL_BBOX[3])
    tr = Transformer.from_crs("EPSG:4326", "EPSG:32647", always_xy=True)
    x0, y0 = tr.transform(lon, lat)
    return float(x0), float(y0)


_ORIGIN = _frame_origin()


@dataclass(frozen=True)
class TerrainFrame:
    """The frame the terrain's random lattices are drawn on, and the frame-sized parts of the relief.

    Every random draw of :func:`terrain_fields` is sized by the frame, so a grid inside one frame is
    a piece of that frame's world, and two frames give two realizations of the same construction.
    Cells outside the frame get a degenerate (edge-repeated) relief: a grid, with its margin, must
    lie inside the frame.
    """

    u_half: float = 54_000.0  # [m] half extent along strike
    v_half: float = 48_000.0  # [m] half extent across strike
    floor_length: float = 45_000.0  # [m] along strike over which the plain floor falls 60 m
    range_cycles: float = 1.5  # [-] range periods across strike before the relief levels off

    def contains(self, u: np.ndarray, v: np.ndarray) -> bool:
        """Whether all strike-frame points ``u``, ``v`` [m] lie inside the frame."""
        return bool(np.all(np.abs(u) <= self.u_half) and np.all(np.abs(v) <= self.v_half))


#: the frame of the full Muli extent (and of every piece of it, such as the ``small`` demo area)
FULL_FRAME = TerrainFrame()
#: twice the full frame's length and width: the ``4x`` demo area (twice the Muli extent each way)
WIDE_FRAME = TerrainFrame(u_half=108_000.0, v_half=96_000.0, floor_length=90_000.0, range_cycles=3.5)


def to_strike_frame(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map coordinates [m, EPSG:32647] to the strike frame (u along WNW-ESE, v across) [m]."""
    a = np.deg2rad(STRIKE_DEG)
    dx = np.asarray(x, dtype=np.float64) - _ORIGIN[0]
    dy = np.asarray(y, dtype=np.float64) - _ORIGIN[1]
    u = dx * np.cos(a) + dy * np.sin(a)
    v = -dx * np.sin(a) + dy * np.cos(a)
    return u, v


def cell_centres(gbox: GeoBox) -> tuple[np.ndarray, np.ndarray]:
    """1-D x and y of the cell centres of a north-up ``gbox`` [m]."""
    ny, nx = gbox.shape
    a = gbox.affine
    x = a.c + a.a * (np.arange(nx) + 0.5)
    y = a.f + a.e * (np.arange(ny) + 0.5)
    return x, y


@dataclass(frozen=True)
class _Lattice:
    values: np.ndarray  # spline coefficients
    su: float
    sv: float
    frame: TerrainFrame


def _draw_lattice(rng: np.random.Generator, su: float, sv: float, frame: TerrainFrame) -> _Lattice:
    nu = int(np.ceil(2 * frame.u_half / su)) + 4
    nv = int(np.ceil(2 * frame.v_half / sv)) + 4
    vals = rng.standard_normal((nv, nu))
    return _Lattice(ndimage.spline_filter(vals, order=3), su, sv, frame)


def _eval(lat: _Lattice, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    cu = (u + lat.frame.u_half) / lat.su + 1.5
    cv = (v + lat.frame.v_half) / lat.sv + 1.5
    out = ndimage.map_coordinates(
        lat.values, [cv.ravel(), cu.ravel()], order=3, prefilter=False, mode="nearest"
    )
    return out.reshape(np.shape(u))


def _draw_1d(
    rng: np.random.Generator, spacing: float, frame: TerrainFrame
) -> tuple[np.ndarray, float, float]:
    n = int(np.ceil(2 * frame.u_half / spacing)) + 4
    return ndimage.spline_filter1d(rng.standard_normal(n), order=3), spacing, frame.u_half


def _eval_1d(coef: tuple[np.ndarray, float, float], u: np.ndarray) -> np.ndarray:
    vals, spacing, u_half = coef
    c = (np.asarray(u) + u_half) / spacing + 1.5
    return ndimage.map_coordinates(vals, [c.ravel()], order=3, prefilter=False, mode="nearest").reshape(
        np.shape(u)
    )


def _valley_axis(axis_coef, width_coef, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Valley axis position ``v`` and plain half-width [m] at strike position ``u`` [m].

    The axis is pinned to pass through the centre of the frame (the centre of the mining belt and
    of the ``small`` demo area) for every seed.
    """
    n0 = _eval_1d(axis_coef, np.zeros(1))[0]
    v_axis = 1400.0 * (_eval_1d(axis_coef, u) - n0 * np.exp(-((np.asarray(u) / 15_000.0) ** 2)))
    half_w = np.clip(1000.0 + 350.0 * _eval_1d(width_coef, u), 500.0, 1500.0)
    return v_axis, half_w


def valley_axis(
    rng: np.random.Generator, u: np.ndarray, frame: TerrainFrame = FULL_FRAME
) -> tuple[np.ndarray, np.ndarray]:
    """Valley axis ``v`` and plain half-width [m] at ``u`` for a generator in the same state as
    the one given to :func:`terrain_fields` with the same ``frame`` (the first draws are the axis
    and width)."""
    axis_coef = _draw_1d(rng, 9000.0, frame)
    width_coef = _draw_1d(rng, 7000.0, frame)
    return _valley_axis(axis_coef, width_coef, np.asarray(u, dtype=np.float64))


def from_strike_frame(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Strike-frame coordinates [m] back to map coordinates [m, EPSG:32647]."""
    a = np.deg2rad(STRIKE_DEG)
    u = np.asarray(u, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    return _ORIGIN[0] + u * np.cos(a) - v * np.sin(a), _ORIGIN[1] + u * np.sin(a) + v * np.cos(a)


def _soft_clamp(z: np.ndarray, lo: float, hi: float, knee: float) -> np.ndarray:
    top = hi - knee
    bot = lo + knee
    out = np.where(z > top, top + knee * np.tanh((z - top) / knee), z)
    return np.where(out < bot, bot - knee * np.tanh((bot - out) / knee), out)


def terrain_fields(
    x: np.ndarray, y: np.ndarray, rng: np.random.Generator, frame: TerrainFrame = FULL_FRAME
) -> dict[str, np.ndarray]:
    """Synthetic elevation and the landform fields it was built from.

    Parameters
    ----------
    x, y
        1-D cell-centre coordinates [m, EPSG:32647] (x increasing, y decreasing for north-up).
    rng
        Random generator; the same state gives the same world whatever ``x`` and ``y`` are.
    frame
        The lattice frame (:data:`FULL_FRAME`, or :data:`WIDE_FRAME` for the ``4x`` area); the
        same state and frame give the same world.

    Returns
    -------
    dict
        ``dem`` elevation [m] (float32), ``river_dist`` distance to the main channel axis [m],
        ``plain`` bool mask of the main alluvial plain, ``valley_dist`` distance from the plain edge
        [m], ``tributary`` tributary-axis proximity [0-1], ``fan`` fan thickness [m], ``u``, ``v``
        strike-frame coordinates [m] (all 2-D, shape (len(y), len(x))).
    """
    # --- every random draw first, in a fixed order, on the fixed frame --------------------------
    axis_coef = _draw_1d(rng, 9000.0, frame)
    width_coef = _draw_1d(rng, 7000.0, frame)
    meander_coef = _draw_1d(rng, 900.0, frame)
    period_coef = _draw_1d(rng, 20000.0, frame)
    lattices = []
    for s in _OCTAVES:
        su = s * (2.5 if s >= 1900 else 1.0)  # large features elongated along strike
        lattices.append(_draw_lattice(rng, su, s, frame))
    n_per_side = int(2 * frame.u_half / _TRIB_SPACING) + 12
    # gaps between tributary mouths: gamma distributed (mean _TRIB_SPACING, CV 0.5), so some mouths
    # crowd together and others leave long undissected valley sides, as on real range fronts
    gaps = rng.gamma(4.0, _TRIB_SPACING / 4.0, (2, n_per_side))
    trib = {
        "u": -frame.u_half - 2 * _TRIB_SPACING + np.cumsum(gaps, axis=1),
        "depth": rng.choice([0.45, 1.0, 1.0], (2, n_per_side)) * rng.uniform(100.0, 220.0, (2, n_per_side)),
        "len": rng.uniform(6000.0, 11000.0, (2, n_per_side)),
        "skew": rng.uniform(-0.25, 0.25, (2, n_per_side)),  # tributaries join obliquely
        "wiggle_l": rng.uniform(1200.0, 2600.0, (2, n_per_side)),
        "wiggle_p": rng.uniform(0.0, 2 * np.pi, (2, n_per_side)),
        "wiggle_a": rng.uniform(150.0, 600.0, (2, n_per_side)),  # [m] meander amplitude
        "fan_r": rng.uniform(600.0, 1300.0, (2, n_per_side)),
        "fan_h": rng.uniform(8.0, 30.0, (2, n_per_side)),
    }

    # --- evaluation on the requested cells ------------------------------------------------------
    xx, yy = np.meshgrid(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
    u, v = to_strike_frame(xx, yy)
    del xx, yy
    v_axis, half_w = _valley_axis(axis_coef, width_coef, u)
    floor = 3800.0 - 60.0 * (u / frame.floor_length)
    d = np.abs(v - v_axis)
    e = np.maximum(d - half_w, 0.0)
    plain = d <= half_w
    period = 22_000.0 + 3000.0 * _eval_1d(period_coef, u)
    cycles = e / period  # [-] range periods from the plain edge
    crest = 300.0 * np.sin(np.pi * np.minimum(cycles, frame.range_cycles)) ** 2  # [m] ranges and valleys
    z = floor + (crest + 110.0 * np.minimum(cycles, 1.0))
    del cycles, crest, period

    # tributaries: V-shaped valleys across strike, deepest where they leave the ranges; only the
    # nearest few tributaries (by base position) can reach a cell, so test those candidates only
    side_i = (v < v_axis).astype(np.intp)  # 0 north side, 1 south side
    k0 = np.where(
        side_i == 0,
        np.searchsorted(trib["u"][0], u),
        np.searchsorted(trib["u"][1], u),
    ).astype(np.intp)
    incision = np.zeros(z.shape, dtype=np.float64)
    tprox = np.zeros(z.shape, dtype=np.float64)
    fan = np.zeros(z.shape, dtype=np.float64)
    for dk in (-4, -3, -2, -1, 0, 1, 2, 3):
        k = np.clip(k0 + dk, 0, n_per_side - 1)
        tu, tdepth, tlen = trib["u"][side_i, k], trib["depth"][side_i, k], trib["len"][side_i, k]
        frac = e / tlen
        depth = tdepth * np.clip(frac * 6.0, 0, 1) * np.sqrt(np.clip(1.0 - frac, 0, 1))
        half = 150.0 + 250.0 * np.clip(1.0 - frac, 0, 1)
        wiggle = (
            trib["wiggle_a"][side_i, k]
            * np.sin(e / trib["wiggle_l"][side_i, k] + trib["wiggle_p"][side_i, k])
            * np.clip(e / 1500.0, 0, 1)
        )
        prox = np.exp(-(((u - tu - trib["skew"][side_i, k] * e - wiggle) / half) ** 2)) * (frac < 1.0)
        np.maximum(incision, depth * prox, out=incision)
        np.maximum(tprox, prox, out=tprox)
        r = np.hypot(u - tu, d - half_w)
        np.maximum(fan, trib["fan_h"][side_i, k] * np.clip(1.0 - r / trib["fan_r"][side_i, k], 0, 1), out=fan)
        del k, tu, tdepth, tlen, frac, depth, half, prox, r, wiggle
    z -= incision
    del incision, k0, side_i
    z += fan

    # fractal roughness, damped on the plain (hummocks of a metre or two only)
    weight = 0.03 + 0.97 * np.clip(e / 1500.0, 0, 1)
    weight = weight * (1.0 + 0.3 * np.clip((z - 4000.0) / 300.0, 0, 1))  # rugged crests
    rough = np.zeros_like(z)
    for lat, s in zip(lattices, _OCTAVES, strict=True):
        amp = _ROUGH_AMP_15KM * (s / _OCTAVES[0]) ** _HURST
        n = _eval(lat, u, v)
        if 400.0 < s < 4000.0:
            # creased ("billow") octaves: V-shaped gullies and rounded spurs, as fluvial dissection
            n = 2.2 * (0.8 - np.abs(n))
        rough += amp * n
    z += weight * rough
    del rough, weight

    # main channel, braided across the plain
    v_river = v_axis + 0.55 * half_w * np.tanh(1.3 * _eval_1d(meander_coef, u))
    river_dist = np.abs(v - v_river)
    z -= 2.0 * np.exp(-((river_dist / 45.0) ** 2))
    z = np.maximum(z, floor - 3.0)
    z = _soft_clamp(z, 3700.0, 4400.0, 60.0)
    return {
        "dem": z.astype(np.float32),
        "river_dist": river_dist.astype(np.float32),
        "plain": plain,
        "valley_dist": e.astype(np.float32),
        "tributary": tprox.astype(np.float32),
        "fan": fan.astype(np.float32),
        "u": u.astype(np.float32),
        "v": v.astype(np.float32),
    }


def synthetic_dem(gbox: GeoBox, rng: np.random.Generator, frame: TerrainFrame = FULL_FRAME) -> np.ndarray:
    """Synthetic elevation of virtual Muli on ``gbox`` [m], float32.

    Parameters
    ----------
    gbox
        Grid in EPSG:32647 (any extent inside ``frame``; the full Muli extent or a piece of it).
    rng
        Random generator; the field depends only on its state and ``frame``, not on ``gbox``.
    frame
        The lattice frame (see :func:`terrain_fields`).
    """
    x, y = cell_centres(gbox)
    return terrain_fields(x, y, rng, frame)["dem"]


def slope_aspect(dem: np.ndarray, cellsize: float) -> tuple[np.ndarray, np.ndarray]:
    """Horn (1981) slope [deg] and aspect [deg clockwise from north] of a north-up grid.

    The pipeline's own kernel (:mod:`pfatlas.terrain.horn`) on the edge-replicated DEM, so the
    truth has a value on the outer ring too. Flat cells get aspect 0 (they have no facing
    direction, and every use here multiplies the aspect term by a function of slope that is 0).
    """
    from pfatlas.terrain.horn import slope_aspect_kernel

    z = np.pad(np.asarray(dem, dtype=np.float32), 1, mode="edge")
    both = slope_aspect_kernel(z, float(cellsize), float(cellsize))
    return both[0], np.nan_to_num(both[1], nan=0.0)
