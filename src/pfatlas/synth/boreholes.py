"""Virtual Muli: synthetic boreholes and borehole logs from the hidden truth (SYNTHETIC).

Boreholes are placed the way a field campaign places them: in clusters along accessible valleys
and gentle slopes (weighted towards low slope and low position in the relief), with cluster
centres spread over elevation bands so the sample spans the elevation range, and a few clusters
where the ground is near 0 degC (the permafrost lower limit). Natural boreholes are measured in
2000-2012 on the pre-mining truth; boreholes in mined ground (pits and dumps) in the post-mining
epoch on the post-mining truth. Measurement noise: MAGT 0.15 degC (1 sigma), ALT 0.05 m,
elevation 1 m (GPS / levelling). Logs sample the truth stratigraphy of the borehole's cell.
Details and sources: ``docs/virtual_muli.md``, "Boreholes and logs".
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pyproj import Transformer
from scipy.ndimage import binary_erosion, distance_transform_edt, gaussian_filter

from pfatlas.errors import InputError
from pfatlas.synth import ground as g

__all__ = ["make_boreholes", "make_logs", "BOREHOLE_COLUMNS", "LOG_COLUMNS"]

BOREHOLE_COLUMNS = ["id", "lon", "lat", "elevation_m", "magt_c", "alt_m", "year", "setting"]
LOG_COLUMNS = ["borehole_id", "top_m", "bottom_m", "soil", "water_content_pct", "dry_density_kg_m3"]
FULL_CELLS = 2653 * 1884  # cells of the full-size virtual Muli grid
MAGT_NOISE = 0.15  # [degC] 1-sigma measurement error of MAGT (thermistor + ZAA interpolation)
ALT_NOISE = 0.05  # [m] 1-sigma error of a measured ALT (probing / thermistor interpolation)
ELEV_NOISE = 1.0  # [m] GPS / levelled elevation
ALT_MEASURED_SHARE = 0.85  # [-] share of permafrost boreholes with a measured ALT
CLUSTER_SIGMA = 600.0  # [m] spread of boreholes around a cluster centre
CLUSTER_REACH = 1800.0  # [m] farthest a borehole is from its cluster centre
MIN_SPACING = 90.0  # [m] between boreholes of a cluster
MAX_SLOPE = 20.0  # [deg] steepest ground a drill rig reaches
FEATURE_BUFFER = 150.0  # [m] natural boreholes keep this far from pits and dumps
WATER_NOISE = 0.06  # [-] relative error of a gravimetric water content
DENSITY_NOISE = 0.03  # [-] relative error of a dry density


def _counts(ncells: int) -> tuple[int, int, int]:
    """(natural training, validation, mined) borehole counts for a grid of ``ncells``.

    The natural counts grow with the area (48 and 25 on the full grid, at least 20 and 10); the
    mined count only up to the full grid's 10, since every size has the same mining belt.

    >>> _counts(FULL_CELLS), _counts(4 * FULL_CELLS), _counts(FULL_CELLS // 50)
    ((48, 25, 10), (192, 100, 10), (20, 10, 4))
    """
    scale = ncells / FULL_CELLS
    n_train = max(int(round(48 * scale)), 20)
    n_val = max(int(round(25 * scale)), 10)
    n_mined = int(np.clip(round(10 * scale), 4, 10))
    return n_train, n_val, n_mined


def _slope_deg(elev: np.ndarray, cellsize: float) -> np.ndarray:
    gy, gx = np.gradient(np.where(np.isfinite(elev), elev, np.nanmean(elev)).astype(np.float32), cellsize)
    return np.rad2deg(np.arctan(np.hypot(gx, gy)))


def _pick_near(rng, cand, weight, centre, n, cellsize, used):
    """Up to ``n`` cells of ``cand`` around ``centre`` (row, col), Gaussian in distance."""
    reach = int(np.ceil(CLUSTER_REACH / cellsize))
    r0, c0 = centre
    rs = slice(max(r0 - reach, 0), min(r0 + reach + 1, cand.shape[0]))
    cs = slice(max(c0 - reach, 0), min(c0 + reach + 1, cand.shape[1]))
    rr, cc = np.mgrid[rs, cs]
    ok = cand[rs, cs] & ~used[rs, cs]
    d2 = ((rr - r0) ** 2 + (cc - c0) ** 2) * cellsize**2
    w = np.where(ok, weight[rs, cs] * np.exp(-d2 / (2 * CLUSTER_SIGMA**2)), 0.0).ravel()
    rr, cc = rr.ravel(), cc.ravel()
    out = []
    spacing2 = (MIN_SPACING / cellsize) ** 2
    for _ in range(n):
        tot = w.sum()
        if not tot > 0:
            break
        k = rng.choice(w.size, p=w / tot)
        out.append((int(rr[k]), int(cc[k])))
        w[(rr - rr[k]) ** 2 + (cc - cc[k]) ** 2 <= spacing2] = 0.0
    for r, c in out:
        used[r, c] = True
    return out


def _place_natural(rng, cand, weight, elev, magt, n_total, cellsize):
    """Cluster centres by elevation band (+ near the lower limit), then members around each."""
    used = np.zeros(cand.shape, dtype=bool)
    n_clusters = max(3, int(np.ceil(n_total / 4)))
    ev = elev[cand]
    near_limit = cand & (np.abs(np.nan_to_num(magt, nan=9.0)) < 0.6)
    n_ll = min(2 if n_total > 40 else 1, n_clusters - 1) if near_limit.any() else 0
    n_band = n_clusters - n_ll
    edges = np.linspace(*np.percentile(ev, [2, 98]), n_band + 1)
    sizes = np.full(n_clusters, n_total // n_clusters)
    sizes[: n_total % n_clusters] += 1
    rng.shuffle(sizes)
    cells: list[tuple[int, int]] = []
    for j in range(n_clusters):
        if j < n_ll:
            pool = near_limit & ~used
        else:
            e0, e1 = edges[j - n_ll], edges[j - n_ll + 1]
            pool = cand & ~used & (elev >= e0) & (elev <= e1)
        if not pool.any():
            pool = cand & ~used
        if not pool.any():
            break
        flat = np.flatnonzero(pool)
        p = weight.ravel()[flat]
        k = flat[rng.choice(flat.size, p=p / p.sum())]
        centre = divmod(int(k), cand.shape[1])
        cells += _pick_near(
            rng,
            cand,
            weight,
            centre,
            int(sizes[j]) + (n_total - len(cells) - sizes[j:].sum()),
            cellsize,
            used,
        )
    while len(cells) < n_total and (cand & ~used).any():  # top up where clusters ran dry
        flat = np.flatnonzero(cand & ~used)
        k = flat[rng.integers(flat.size)]
        cells += _pick_near(
            rng, cand, weight, divmod(int(k), cand.shape[1]), n_total - len(cells), cellsize, used
        )
    return cells[:n_total]


def _to_lonlat(gbox, rows, cols, rng):
    """Point coordinates (lon, lat) [deg] inside the cells, 12 m at most from the centre."""
    rows = np.asarray(rows, dtype=np.float64) + 0.5 + rng.uniform(-0.4, 0.4, len(rows))
    cols = np.asarray(cols, dtype=np.float64) + 0.5 + rng.uniform(-0.4, 0.4, len(cols))
    xs, ys = gbox.affine * (cols, rows)
    tr = Transformer.from_crs(gbox.crs.to_wkt(), "EPSG:4326", always_xy=True)
    lon, lat = tr.transform(np.asarray(xs), np.asarray(ys))
    return np.round(lon, 6), np.round(lat, 6)


def make_boreholes(
    pre: dict,
    post: dict,
    *,
    landcover_pre: np.ndarray,
    landcover_post: np.ndarray,
    elevation: np.ndarray,
    units: np.ndarray,
    gbox,
    features: list[dict],
    seed: int | np.random.SeedSequence,
    post_year: int = 2020,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Training and validation boreholes of the synthetic area (SYNTHETIC).

    Parameters
    ----------
    pre, post
        Outputs of :func:`~pfatlas.synth.ground.ground_truth` and
        :func:`~pfatlas.synth.mining.mining_truth`.
    landcover_pre, landcover_post
        Land-cover codes of the two epochs (uint8).
    elevation
        Elevation [m] on the grid (pre-mining surface).
    units
        Geomorphology unit codes (uint8).
    gbox
        The target grid (odc-geo GeoBox, projected CRS).
    features
        The mining features (dicts as for ``mining_truth``).
    seed
        Integer seed or :class:`numpy.random.SeedSequence`.
    post_year
        Year the boreholes in mined ground are measured.

    Returns
    -------
    tuple of pandas.DataFrame
        (training, validation) with columns ``id, lon, lat, elevation_m, magt_c, alt_m, year,
        setting``. Training: 48 natural boreholes on the full grid (in proportion to the area,
        at least 20) then ~10 (4 on small grids) in mined ground; validation: ~25 (at least 10)
        natural boreholes. MAGT [degC], ALT [m] (NaN where not
        measured or no permafrost), elevation [m], lon/lat [deg WGS84].
    """
    shape = tuple(gbox.shape)
    for name, arr in (
        ("landcover_pre", landcover_pre),
        ("landcover_post", landcover_post),
        ("elevation", elevation),
        ("units", units),
        ("pre['magt']", pre["magt"]),
        ("post['magt']", post["magt"]),
    ):
        if np.shape(arr) != shape:
            raise InputError(f"shape {np.shape(arr)} differs from the grid's {shape}", field=name)
    rng = np.random.default_rng(g.sub_seed(seed, 20))
    cellsize = float(abs(gbox.resolution.x))
    elevation = np.asarray(elevation, dtype=np.float32)
    n_train, n_val, n_mined = _counts(int(np.prod(shape)))

    fidx = post.get("_feature_index", np.full(shape, -1, dtype=np.int16))
    far = (
        distance_transform_edt(fidx < 0) * cellsize > FEATURE_BUFFER
        if (fidx >= 0).any()
        else np.ones(shape, bool)
    )
    slope = _slope_deg(elevation, cellsize)
    cand = (
        np.isfinite(pre["magt"])
        & np.isin(landcover_pre, (1, 2, 3, 4))
        & np.isin(landcover_post, (1, 2, 3, 4))
        & (slope < MAX_SLOPE)
        & far
        & (post["mining_zone"] == 0)
        & (units != g.NODATA_U8)
    )
    if cand.sum() < n_train + n_val:
        raise InputError(
            f"only {int(cand.sum())} cells can hold a natural borehole; need {n_train + n_val}",
            field="landcover_pre",
        )
    smooth = gaussian_filter(
        np.where(np.isfinite(elevation), elevation, np.nanmean(elevation)), 1500.0 / cellsize
    )
    rel = elevation - smooth  # [m] negative in valleys
    weight = np.exp(-slope / 6.0) / (1.0 + np.exp(np.clip(rel / 60.0, -50, 50)))
    weight = np.where(cand, weight, 0.0) + 1e-12 * cand
    del smooth, rel
    cells = _place_natural(rng, cand, weight, elevation, pre["magt"], n_train + n_val, cellsize)
    order = rng.permutation(len(cells))
    val_set = set(order[:n_val].tolist())
    rows = np.array([c[0] for c in cells])
    cols = np.array([c[1] for c in cells])
    lon, lat = _to_lonlat(gbox, rows, cols, rng)
    magt_true = pre["magt"][rows, cols].astype(np.float64)
    alt_true = pre["alt"][rows, cols].astype(np.float64)
    measured = rng.random(len(cells)) < ALT_MEASURED_SHARE
    nat = pd.DataFrame(
        {
            "lon": lon,
            "lat": lat,
            "elevation_m": np.round(elevation[rows, cols] + rng.normal(0, ELEV_NOISE, len(cells)), 1),
            "magt_c": np.round(magt_true + rng.normal(0, MAGT_NOISE, len(cells)), 2),
            "alt_m": np.round(np.where(measured, alt_true + rng.normal(0, ALT_NOISE, len(cells)), np.nan), 2),
            "year": rng.integers(2000, 2013, len(cells)),
            "setting": "natural",
        }
    )
    is_val = np.array([i in val_set for i in range(len(cells))])
    train = nat[~is_val].reset_index(drop=True)
    val = nat[is_val].reset_index(drop=True)
    train.insert(0, "id", [f"BH{i + 1:02d}" for i in range(len(train))])
    val.insert(0, "id", [f"VB{i + 1:02d}" for i in range(len(val))])

    mined = _mined(rng, post, landcover_post, elevation, gbox, features, n_mined, post_year)
    train = pd.concat([train, mined], ignore_index=True) if len(mined) else train
    for df in (train, val):
        df["year"] = df["year"].astype(np.int64)
    return train[BOREHOLE_COLUMNS], val[BOREHOLE_COLUMNS]


def _mined(rng, post, landcover_post, elevation, gbox, features, n, post_year) -> pd.DataFrame:
    """Boreholes in mined ground: one per feature in turn (pits ~40 %), interior cells."""
    fidx = post.get("_feature_index")
    if fidx is None or n <= 0:
        return pd.DataFrame(columns=BOREHOLE_COLUMNS)
    ok = (
        np.isin(post["mining_zone"], (1, 2))
        & ~post["_pit_lake"]
        & np.isfinite(post["magt"])
        & (landcover_post != g.WATER)
    )
    ok &= binary_erosion(fidx >= 0, iterations=1)
    present = [int(i) for i in np.unique(fidx[ok]) if i >= 0]
    pits = [i for i in present if features[i]["kind"] == "pit"]
    dumps = [i for i in present if features[i]["kind"] == "dump"]
    rng.shuffle(pits)
    rng.shuffle(dumps)
    n_pit = min(len(pits), max(1, int(round(0.4 * n)))) if pits else 0
    chosen = [pits[k % len(pits)] for k in range(n_pit)] if pits else []
    chosen += [dumps[k % len(dumps)] for k in range(n - n_pit)] if dumps else []
    chosen += [pits[k % len(pits)] for k in range(n - len(chosen))] if pits and len(chosen) < n else []
    cells, used = [], set()
    for i in chosen:
        flat = np.flatnonzero(ok & (fidx == i))
        flat = np.array([k for k in flat if k not in used]) if used else flat
        if flat.size == 0:
            continue
        k = int(flat[rng.integers(flat.size)])
        used.add(k)
        cells.append((*divmod(k, fidx.shape[1]), i))
    if not cells:
        return pd.DataFrame(columns=BOREHOLE_COLUMNS)
    rows = np.array([c[0] for c in cells])
    cols = np.array([c[1] for c in cells])
    lon, lat = _to_lonlat(gbox, rows, cols, rng)
    m = len(cells)
    surface = elevation[rows, cols] + post["_surface_shift"][rows, cols]
    alt = post["alt"][rows, cols].astype(np.float64)
    return pd.DataFrame(
        {
            "id": [f"MB{i + 1:02d}" for i in range(m)],
            "lon": lon,
            "lat": lat,
            "elevation_m": np.round(surface + rng.normal(0, ELEV_NOISE, m), 1),
            "magt_c": np.round(post["magt"][rows, cols] + rng.normal(0, MAGT_NOISE, m), 2),
            "alt_m": np.round(alt + rng.normal(0, ALT_NOISE, m), 2),
            "year": np.full(m, int(post_year)),
            "setting": [features[c[2]]["kind"] for c in cells],
        }
    )


# --- logs ----------------------------------------------------------------------------------------
def _cells_of(boreholes: pd.DataFrame, pre: dict, crs) -> tuple[np.ndarray, np.ndarray]:
    """Grid (row, col) of each borehole from its lon/lat; raises if one is off the grid."""
    for col in ("id", "lon", "lat", "setting"):
        if col not in boreholes.columns:
            raise InputError(f"column '{col}' is missing", field=col)
    lon = pd.to_numeric(boreholes["lon"], errors="coerce").to_numpy(dtype=np.float64)
    lat = pd.to_numeric(boreholes["lat"], errors="coerce").to_numpy(dtype=np.float64)
    for name, v in (("lon", lon), ("lat", lat)):
        bad = np.flatnonzero(~np.isfinite(v))
        if bad.size:
            raise InputError(
                f"borehole {boreholes['id'].iloc[bad[0]]!r}: not a number", row=int(bad[0]) + 1, field=name
            )
    tr = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    x, y = tr.transform(lon, lat)
    gx, gy = pre["_x"], pre["_y"]
    col = np.rint((np.asarray(x) - gx[0]) / (gx[1] - gx[0])).astype(np.int64)
    row = np.rint((np.asarray(y) - gy[0]) / (gy[1] - gy[0])).astype(np.int64)
    out = np.flatnonzero((col < 0) | (col >= gx.size) | (row < 0) | (row >= gy.size))
    if out.size:
        k = int(out[0])
        raise InputError(
            f"borehole {boreholes['id'].iloc[k]!r} at ({lon[k]}, {lat[k]}) is outside the grid",
            row=k + 1,
            field="lon",
        )
    return row, col


def make_logs(
    boreholes: pd.DataFrame,
    pre: dict,
    units: np.ndarray,
    unit_names,
    seed: int | np.random.SeedSequence,
    *,
    crs="EPSG:32647",
) -> pd.DataFrame:
    """Borehole logs sampled from the truth stratigraphy (SYNTHETIC).

    One log per natural borehole, 15-20 m deep: the template layers of the borehole's
    geomorphology unit with the cell's thickness factor (layer boundaries picked with 0.1 m
    error), split at the permafrost table, with the ice-enriched zone below it as its own sample
    and samples at most 1 m (active layer) or 2.5 m (permafrost) long. Water content is the
    truth at the sample's mid-depth (gravimetric, ice + unfrozen water) with 6 % relative error,
    dry density with 3 %. A sample of mineral soil with a water content of 100 % or more is
    logged as ``ice`` (ice layer with soil).

    Parameters
    ----------
    boreholes
        Borehole table (columns ``id, lon, lat, setting`` at least).
    pre
        Output of :func:`~pfatlas.synth.ground.ground_truth`.
    units
        Geomorphology unit codes on the grid (uint8).
    unit_names
        Name of each unit code (index = code); names as in :data:`~pfatlas.synth.ground.UNIT_NAMES`.
    seed
        Integer seed or :class:`numpy.random.SeedSequence`.
    crs
        CRS of the grid (``pre['_x']``, ``pre['_y']``).

    Returns
    -------
    pandas.DataFrame
        Columns ``borehole_id, top_m, bottom_m, soil, water_content_pct, dry_density_kg_m3``.
    """
    code_of = {}
    for i, name in enumerate(unit_names):
        if name not in g.UNIT_NAMES:
            raise InputError(
                f"unknown geomorphology unit {name!r} (known: {list(g.UNIT_NAMES)})",
                row=i + 1,
                field="unit_names",
            )
        code_of[i] = g.UNIT_NAMES.index(name)
    if np.shape(units) != np.shape(pre["magt"]):
        raise InputError(
            f"shape {np.shape(units)} differs from the grid's {np.shape(pre['magt'])}", field="units"
        )
    rows, cols = _cells_of(boreholes, pre, crs)
    rng = np.random.default_rng(g.sub_seed(seed, 30))
    out = []
    for k in range(len(boreholes)):
        if str(boreholes["setting"].iloc[k]) != "natural":
            continue
        r, c = int(rows[k]), int(cols[k])
        u = int(units[r, c])
        if u not in code_of:
            continue
        out += _log_one(rng, str(boreholes["id"].iloc[k]), code_of[u], pre, r, c)
    return pd.DataFrame(out, columns=LOG_COLUMNS)


def _log_one(rng, bid: str, unit: int, pre: dict, r: int, c: int) -> list[tuple]:
    thick = float(pre["_thickness_factor"][r, c])
    sat = float(pre["_saturation"][r, c])
    wmult = float(pre["_water_mult"][r, c])
    alt = float(pre["alt"][r, c])
    magt = float(pre["magt"][r, c])
    depth = float(np.round(rng.uniform(15.0, 20.0) * 2) / 2)
    bottoms = g.T_BOTTOM[unit] * thick
    picks = [b + rng.normal(0, 0.1) for b in bottoms if np.isfinite(b) and b < depth - 0.2]
    cuts = {0.0, depth}
    layer_of = []  # (top, bottom, layer index) from the picked boundaries
    prev = 0.0
    for i, b in enumerate(picks):
        b = max(b, prev + 0.1)
        layer_of.append((prev, b, i))
        prev = b
    layer_of.append((prev, depth, len(picks)))
    cuts.update(b for _, b, _ in layer_of)
    pf = np.isfinite(alt) and alt < depth
    if pf:
        cuts.update(z for z in (alt, alt + g.ENRICHED_ZONE) if z < depth)
    edges = sorted(round(z, 1) for z in cuts)
    pieces = []
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        step = 1.0 if (not pf or b <= alt + 1e-9) else 2.5
        n = max(1, int(np.ceil((b - a) / step - 1e-9)))
        zz = np.round(np.linspace(a, b, n + 1), 1)
        pieces += [(z0, z1) for z0, z1 in zip(zz[:-1], zz[1:], strict=True) if z1 > z0]
    rows = []
    for z0, z1 in pieces:
        mid = 0.5 * (z0 + z1)
        li = next(i for t, b, i in layer_of if t <= mid <= b + 1e-9)
        soil = int(g.T_SOIL[unit, li])
        rho_fixed = float(g.T_RHO[unit, li])
        wa, rho_th = g.active_water(np.int8(soil), sat, rho_fixed)
        wa, rho_th = float(wa), float(rho_th)
        if not pf:
            w, rho = (wa, rho_th) if mid < 3.0 else (wa / max(sat, 1e-3), rho_th)  # saturated below 3 m
        elif mid < alt:
            w, rho = wa, rho_th
        else:
            w = float(g.T_WATER[unit, li]) * wmult
            if mid < alt + g.ENRICHED_ZONE:
                w *= 1.0 + float(g.SOIL_ENRICH[soil])
            wu = float(g.unfrozen_water(g.SOIL_WU1[soil], magt))
            rho = (
                rho_fixed
                if np.isfinite(rho_fixed)
                else float(g.saturated_dry_density(w, wu, g.SOIL_RHO_S[soil]))
            )
        name = g.SOIL_NAMES[soil]
        if w >= 1.0 and soil not in (g.PEAT, g.BEDROCK):
            name = "ice"
        w_obs = 100.0 * w * (1.0 + rng.normal(0, WATER_NOISE))
        rho_obs = rho * (1.0 + rng.normal(0, DENSITY_NOISE))
        rows.append(
            (bid, float(z0), float(z1), name, round(max(w_obs, 0.1), 1), float(np.round(rho_obs, -1)))
        )
    return rows
