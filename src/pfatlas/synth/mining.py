"""Virtual Muli: the mining-impact truth (SYNTHETIC), from analytic linear heat conduction.

Formulated independently of the pipeline's enthalpy solver (stage 10), so that agreement between
the two is evidence, not an echo. For every pit and dump that exists in the epoch:

1. a change of mean annual surface temperature ``dT_s`` over its footprint (pit floor, pit-lake
   bottom or new dump surface; values and reasons in ``docs/virtual_muli.md``, "Mining impact");
2. its effect at the depth of zero annual amplitude ``z`` below and around the footprint from the
   half-space solution: the steady response is the Poisson-kernel convolution
   ``dT(x, y, z) = int P(x - x', y - y', z) dT_s(x', y') dx' dy'`` with
   ``P = z / (2 pi (r^2 + z^2)^(3/2))``, integrated exactly over each cell (solid angle of the
   cell seen from depth ``z``) and truncated at ``KERNEL_RADIUS``; it is multiplied by the 1-D
   transient factor ``erfc(z / (2 sqrt(kappa t)))`` for ``t`` years since the start year;
3. for pits the removal of ``depth_m`` of ground: the rock now at the depth of zero annual
   amplitude started ``G depth`` warmer (geothermal gradient ``G``); that excess decays as
   ``G depth erf(z / (2 sqrt(kappa t)))`` towards the new surface condition;
4. post-mining ALT and ground ice: pit floors thaw as bare rock at the floor's elevation, dumps as
   waste rock at the dump's top; ground ice is integrated over the 10 m below the new permafrost
   table (pits: ``depth_m`` deeper in the original profile, the ice above is lost; dumps: waste
   rock first, then the buried original profile whose former active layer is now frozen).

Cells farther than the kernel radius from every feature, or where ``|dT| < 0.005 degC`` outside
the footprints, are copied from the pre-mining truth unchanged.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.signal import fftconvolve
from scipy.special import erf, erfc

from pfatlas.errors import InputError
from pfatlas.synth import ground as g

__all__ = ["mining_truth", "poisson_kernel", "surface_response", "disc_centreline"]

ZAA_DEPTH = 15.0  # [m] depth of zero annual amplitude (MAGT depth)
DIFFUSIVITY = 1.0e-6  # [m2 s-1] frozen ground / rock (k 2.0 W m-1 K-1, C 2.0e6 J m-3 K-1)
YEAR_S = 365.25 * 86400.0  # [s]
GEOTHERMAL_GRADIENT = 0.025  # [K m-1] 0.06 W m-2 / 2.4 W m-1 K-1 (frozen sedimentary rock)
PIT_FLOOR_DTS = 1.5  # [degC] bare coal / rock pit floor versus the natural surface
PIT_LAKE_BOTTOM = 3.5  # [degC] mean annual bottom temperature of a pit lake
DUMP_DTS = 1.2  # [degC] new waste-rock surface, before the air-lapse cooling of its top
DTS_JITTER = 0.2  # [degC] standard deviation of the per-feature surface change
KERNEL_RADIUS = 750.0  # [m] truncation radius of the Poisson kernel
NEGLIGIBLE = 0.005  # [degC] changes below this outside the footprints are set to exactly 0
RING_THRESHOLD = 0.1  # [degC] |delta MAGT| that defines the affected ring
BARE_N = 2.55  # [-] thawing n-factor of bare ground (iffylaw/PIC)
PIT_FLOOR_SATURATION = 0.35  # [-] degree of saturation of the fractured floor rock
DUMP_SATURATION = 0.30  # [-] waste rock in the thaw season
DUMP_FROZEN_WATER = 0.06  # [kg kg-1] total water of frozen waste rock (infiltrated snowmelt)
DUMP_RHO_D = 1900.0  # [kg m-3] waste rock dry density
FLOOR_RHO_D = 2300.0  # [kg m-3] pit-floor rock dry density


def poisson_kernel(depth: float, cellsize: float, radius: float) -> np.ndarray:
    """Cell-integrated Poisson kernel of the half-space at ``depth`` [m].

    Entry ``(i, j)`` is the integral of ``z / (2 pi (x^2 + y^2 + z^2)^(3/2))`` over the cell
    centred ``(j, i) * cellsize`` from the centre, i.e. the solid angle of that cell seen from
    depth ``z`` divided by ``2 pi``; the antiderivative is
    ``F(x, y) = arctan(x y / (z sqrt(x^2 + y^2 + z^2))) / (2 pi)``. Cells whose centre is farther
    than ``radius`` are 0. The untruncated kernel sums to 1.

    >>> k = poisson_kernel(15.0, 30.0, 3000.0)
    >>> round(float(k.sum()), 3)   # 1 - z / sqrt(R^2 + z^2), about
    0.995
    """
    r = int(math.ceil(radius / cellsize))
    c = (np.arange(-r, r + 1) * cellsize).astype(np.float64)
    edges = np.concatenate([c - cellsize / 2.0, [c[-1] + cellsize / 2.0]])
    xx, yy = np.meshgrid(edges, edges)
    f = np.arctan(xx * yy / (depth * np.sqrt(xx * xx + yy * yy + depth * depth))) / (2.0 * np.pi)
    k = f[1:, 1:] - f[:-1, 1:] - f[1:, :-1] + f[:-1, :-1]
    cx, cy = np.meshgrid(c, c)
    k[np.hypot(cx, cy) > radius] = 0.0
    return k


def surface_response(
    dts: np.ndarray, *, depth: float, cellsize: float, radius: float = KERNEL_RADIUS
) -> np.ndarray:
    """Steady temperature change [degC] at ``depth`` below a map of surface change ``dts`` [degC].

    Convolution of ``dts`` (0 outside the features) with :func:`poisson_kernel` via FFT; the
    array is treated as zero-padded beyond its edges.
    """
    k = poisson_kernel(depth, cellsize, radius)
    return fftconvolve(np.asarray(dts, dtype=np.float64), k, mode="same")


def disc_centreline(dts: float, radius: float, depth):
    """Analytic steady change [degC] on the axis below a disc of surface change ``dts``.

    ``dT(z) = dT_s (1 - z / sqrt(z^2 + a^2))`` (integral of the Poisson kernel over the disc).
    """
    z = np.asarray(depth, dtype=np.float64)
    return dts * (1.0 - z / np.sqrt(z * z + radius * radius))


def _transient(years: float) -> tuple[float, float]:
    """(erfc, erf) of ``z / (2 sqrt(kappa t))`` at the depth of zero annual amplitude."""
    zeta = ZAA_DEPTH / (2.0 * math.sqrt(DIFFUSIVITY * years * YEAR_S))
    return float(erfc(zeta)), float(erf(zeta))


def _check_features(features, masks, shape) -> None:
    if len(features) != len(masks):
        raise InputError(f"{len(features)} features but {len(masks)} masks", field="feature_masks")
    for i, (f, m) in enumerate(zip(features, masks, strict=True)):
        row = i + 1
        name = f.get("name", f"feature {row}") if isinstance(f, dict) else f"feature {row}"
        if not isinstance(f, dict):
            raise InputError("a feature must be a dict", row=row, field="features")
        kind = f.get("kind")
        if kind not in ("pit", "dump"):
            raise InputError(f"{name}: kind must be 'pit' or 'dump', got {kind!r}", row=row, field="kind")
        sy = f.get("start_year")
        if isinstance(sy, bool) or not isinstance(sy, (int, np.integer)):
            raise InputError(
                f"{name}: start_year must be an integer year, got {sy!r}", row=row, field="start_year"
            )
        key = "depth_m" if kind == "pit" else "height_m"
        v = f.get(key)
        if (
            isinstance(v, bool)
            or not isinstance(v, (int, float, np.number))
            or not (math.isfinite(v) and v > 0)
        ):
            raise InputError(
                f"{name}: {key} must be a positive number of metres, got {v!r}", row=row, field=key
            )
        if kind == "pit" and not isinstance(f.get("pit_lake", False), (bool, np.bool_)):
            raise InputError(f"{name}: pit_lake must be true or false", row=row, field="pit_lake")
        m = np.asarray(m)
        if m.shape != shape or m.dtype != bool:
            raise InputError(
                f"{name}: mask must be a bool array of shape {shape}, got {m.dtype} {m.shape}",
                row=row,
                field="feature_masks",
            )


def mining_truth(
    pre: dict,
    *,
    features: list[dict],
    feature_masks: list[np.ndarray],
    epoch_year: int,
    cellsize: float,
    seed: int | np.random.SeedSequence,
) -> dict[str, np.ndarray]:
    """Post-mining ground truth and mining-impact maps of one epoch (SYNTHETIC).

    Parameters
    ----------
    pre
        Output of :func:`pfatlas.synth.ground.ground_truth` (its hidden ``_`` fields are used).
    features
        One dict per pit or dump: ``kind`` ("pit"/"dump"), ``start_year``, ``depth_m`` (pits) or
        ``height_m`` (dumps) [m], ``pit_lake`` (bool), ``name``.
    feature_masks
        Bool footprint of each feature on the grid (pits win where a pit and a dump overlap).
    epoch_year
        Year of the epoch; features starting later are ignored.
    cellsize
        Cell size [m].
    seed
        Integer seed or :class:`numpy.random.SeedSequence` (per-feature surface changes).

    Returns
    -------
    dict
        Post-mining ``magt``, ``permafrost``, ``thermal_stability``, ``alt``, ``ground_ice``,
        ``ice_volume``, ``ice_class`` (as in ``ground_truth``), ``mining_delta_magt`` [degC],
        ``mining_delta_alt`` [m] (NaN where ALT is undefined before or after), ``mining_zone``
        uint8 (0 none, 1 pit, 2 dump, 3 affected ring), and hidden ``_feature_index`` (int16,
        -1 none), ``_surface_shift`` [m] (-depth in pits, +height on dumps), ``_pit_lake``.
    """
    magt_pre = pre["magt"]
    shape = magt_pre.shape
    _check_features(features, feature_masks, shape)
    if not (isinstance(cellsize, (int, float, np.number)) and cellsize > 0):
        raise InputError(f"must be a positive number of metres, got {cellsize!r}", field="cellsize")
    rng = np.random.default_rng(g.sub_seed(seed, 10))
    jitter = rng.normal(0.0, DTS_JITTER, len(features))

    fidx = np.full(shape, -1, dtype=np.int16)
    shift = np.zeros(shape, dtype=np.float32)
    lake = np.zeros(shape, dtype=bool)
    active = [i for i, f in enumerate(features) if int(f["start_year"]) <= int(epoch_year)]
    boxes = {}
    for i in sorted(active, key=lambda j: features[j]["kind"] == "pit"):
        f, m = features[i], np.asarray(feature_masks[i])
        rows, cols = np.nonzero(m.any(axis=1))[0], np.nonzero(m.any(axis=0))[0]
        if rows.size == 0:
            continue
        boxes[i] = (rows[0], rows[-1] + 1, cols[0], cols[-1] + 1)
        fidx[m] = i
        if f["kind"] == "pit":
            shift[m] = -float(f["depth_m"])
            lake[m] = bool(f.get("pit_lake", False))
        else:
            shift[m] = float(f["height_m"])
            lake[m] = False

    r = int(math.ceil(KERNEL_RADIUS / cellsize))
    kernel = poisson_kernel(ZAA_DEPTH, float(cellsize), KERNEL_RADIUS)
    delta = np.zeros(shape, dtype=np.float64)
    years = {}
    for i, (r0, r1, c0, c1) in boxes.items():
        f = features[i]
        w = (slice(max(r0 - r, 0), min(r1 + r, shape[0])), slice(max(c0 - r, 0), min(c1 + r, shape[1])))
        own = fidx[w] == i
        if not own.any():
            continue
        t = max(float(epoch_year) - float(f["start_year"]), 0.5)  # [yr]
        years[i] = t
        f_erfc, f_erf = _transient(t)
        if f["kind"] == "pit" and bool(f.get("pit_lake", False)):
            dts = np.where(own, PIT_LAKE_BOTTOM - np.nan_to_num(magt_pre[w], nan=PIT_LAKE_BOTTOM), 0.0)
        elif f["kind"] == "pit":
            dts = np.where(own, PIT_FLOOR_DTS + jitter[i], 0.0)
        else:
            dts = np.where(own, DUMP_DTS + jitter[i] - g.AIR_LAPSE * float(f["height_m"]), 0.0)
        delta[w] += f_erfc * fftconvolve(dts, kernel, mode="same")
        if f["kind"] == "pit":
            delta[w] += np.where(own, GEOTHERMAL_GRADIENT * float(f["depth_m"]) * f_erf, 0.0)

    valid = np.isfinite(magt_pre)
    infeat = fidx >= 0
    delta[~infeat & (np.abs(delta) < NEGLIGIBLE)] = 0.0
    delta[~valid] = 0.0
    changed = valid & (infeat | (delta != 0.0))

    magt = magt_pre.copy()
    magt[changed] = (magt_pre[changed] + delta[changed]).astype(np.float32)
    alt = pre["alt"].copy()
    ice = pre["ground_ice"].copy()
    vol = pre["ice_volume"].copy()
    icls = pre["ice_class"].copy()
    _recompute_columns(pre, magt, changed, fidx, shift, lake, years, features, alt, ice, vol, icls)

    zone = np.zeros(shape, dtype=np.uint8)
    zone[~infeat & (np.abs(delta) > RING_THRESHOLD)] = 3
    zone[infeat & (shift < 0)] = 1
    zone[infeat & (shift > 0)] = 2
    with np.errstate(invalid="ignore"):
        d_magt = (magt - magt_pre).astype(np.float32)
        d_alt = (alt - pre["alt"]).astype(np.float32)
    return {
        "magt": magt,
        "permafrost": g.permafrost_from_magt(magt),
        "thermal_stability": g.thermal_stability_from_magt(magt),
        "alt": alt,
        "ground_ice": ice,
        "ice_volume": vol,
        "ice_class": icls,
        "mining_delta_magt": d_magt,
        "mining_delta_alt": d_alt,
        "mining_zone": zone,
        "_feature_index": fidx,
        "_surface_shift": shift,
        "_pit_lake": lake,
    }


def _single_layer(n, soil, water, rho):
    """A one-layer (half-space) column for :func:`pfatlas.synth.ground.stefan_multilayer`."""
    return [
        (
            np.zeros(n),
            np.full(n, np.inf),
            np.full(n, soil, dtype=np.int8),
            np.full(n, water, dtype=np.float32),
            np.full(n, rho, dtype=np.float32),
        )
    ]


def _recompute_columns(pre, magt, changed, fidx, shift, lake, years, features, alt, ice, vol, icls):
    """ALT and ground ice of the changed cells (in place), by setting: ring, pit, lake, dump."""
    idx = np.flatnonzero(changed)
    if idx.size == 0:
        return
    flat = {
        k: pre[k].ravel()[idx]
        for k in (
            "_units",
            "_thickness_factor",
            "_saturation",
            "_water_mult",
            "_alt_mult",
            "_elevation",
            "_thaw_index_surface",
            "_thaw_days",
            "alt",
            "magt",
        )
    }
    t_post = magt.ravel()[idx].astype(np.float64)
    fi = fidx.ravel()[idx]
    sh = shift.ravel()[idx].astype(np.float64)
    lk = lake.ravel()[idx]
    n = idx.size
    layers = g.cell_layers(flat["_units"].astype(np.intp), flat["_thickness_factor"].astype(np.float64))
    sat = flat["_saturation"].astype(np.float64)
    alt_pre = flat["alt"].astype(np.float64)
    alt_orig = np.nan_to_num(alt_pre, nan=0.0)
    new_alt = np.full(n, np.nan)
    z_top = np.full(n, np.nan)  # window top below the present surface [m]
    offset = np.zeros(n)  # depth of the original surface below the present one [m]
    pf = t_post < 0

    ring = fi < 0
    d_t = t_post - flat["magt"]
    factor = np.sqrt(
        np.maximum(1.0 + flat["_thaw_days"] * d_t / np.maximum(flat["_thaw_index_surface"], 1.0), 0.25)
    )
    new_alt[ring] = alt_pre[ring] * factor[ring]
    fresh = ring & pf & ~np.isfinite(alt_pre)  # a ring cell that froze (a cooling feature)
    if fresh.any():
        sub = [tuple(a[fresh] for a in layer) for layer in layers]
        i_s = flat["_thaw_index_surface"][fresh].astype(np.float64)
        t_m = i_s / np.maximum(flat["_thaw_days"][fresh], 1.0)
        new_alt[fresh] = g.stefan_multilayer(i_s * g.DAY, sub, sat[fresh], t_m) * flat["_alt_mult"][fresh]
        alt_orig[fresh] = new_alt[fresh]
    z_top[ring] = new_alt[ring]

    pit = (fi >= 0) & (sh < 0) & ~lk
    if pit.any():
        cols = _single_layer(int(pit.sum()), g.BEDROCK, 0.0, FLOOR_RHO_D)
        s = np.full(int(pit.sum()), PIT_FLOOR_SATURATION)
        maat = g.maat_at(flat["_elevation"][pit] + sh[pit])
        i_s = BARE_N * g.air_thawing_index(maat)
        t_m = i_s / np.maximum(g.thaw_season_days(maat), 1.0)
        new_alt[pit] = g.stefan_multilayer(i_s * g.DAY, cols, s, t_m) * flat["_alt_mult"][pit]
        z_top[pit] = new_alt[pit]
        offset[pit] = sh[pit]

    lakes = (fi >= 0) & lk
    if lakes.any():
        cols = _single_layer(int(lakes.sum()), g.BEDROCK, 0.0, FLOOR_RHO_D)
        t_years = np.array([years.get(int(j), 0.5) for j in fi[lakes]])
        i_lake = PIT_LAKE_BOTTOM * t_years * g.YEAR_DAYS * g.DAY
        z_top[lakes] = g.stefan_multilayer(
            i_lake, cols, np.ones(int(lakes.sum())), np.full(int(lakes.sum()), PIT_LAKE_BOTTOM)
        )  # talik depth
        offset[lakes] = sh[lakes]

    dump = (fi >= 0) & (sh > 0)
    if dump.any():
        cols = _single_layer(int(dump.sum()), g.WASTE, 0.0, DUMP_RHO_D)
        s = np.full(int(dump.sum()), DUMP_SATURATION)
        maat = g.maat_at(flat["_elevation"][dump] + sh[dump])
        i_s = BARE_N * g.air_thawing_index(maat)
        t_m = i_s / np.maximum(g.thaw_season_days(maat), 1.0)
        new_alt[dump] = g.stefan_multilayer(i_s * g.DAY, cols, s, t_m) * flat["_alt_mult"][dump]
        z_top[dump] = new_alt[dump]
        offset[dump] = sh[dump]

    top = np.where(pf, z_top, 0.0)
    sums = g.ice_window(
        layers, sat, flat["_water_mult"], top, top + g.ICE_WINDOW, alt_orig, t_post, offset=offset
    )
    ice_s, wmass, dmass, rows = sums
    # waste rock above the buried original surface (dumps)
    h_w = np.where(dump, np.maximum(np.minimum(offset, top + g.ICE_WINDOW) - top, 0.0), 0.0)
    wu = g.unfrozen_water(g.SOIL_WU1[g.WASTE], t_post)
    ice_s = ice_s + np.maximum(DUMP_FROZEN_WATER - wu, 0.0) * DUMP_RHO_D / g.RHO_ICE * h_w
    wmass = wmass + DUMP_FROZEN_WATER * DUMP_RHO_D * h_w
    dmass = dmass + DUMP_RHO_D * h_w
    rows[g.SOIL_GB_ROW[g.WASTE]] += h_w
    theta, volume, cls, _ = g.finish_ice(ice_s, wmass, dmass, rows, float(pre["_cell_area"]))

    new_alt[~pf | lakes] = np.nan
    theta[~pf] = np.nan
    volume[~pf] = np.nan
    cls[~pf] = 0
    # ring cells that had no permafrost before stay without it (their MAGT only warmed)
    alt.ravel()[idx] = new_alt.astype(np.float32)
    ice.ravel()[idx] = theta
    vol.ravel()[idx] = volume
    icls.ravel()[idx] = cls
