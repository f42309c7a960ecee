"""Surface of virtual Muli (SYNTHETIC): land cover, geomorphology, mining features, samples.

Everything here is derived from the synthetic terrain (:mod:`pfatlas.synth.terrain`) and seeded
random fields; no real map is used. Rules (documented in ``docs/virtual_muli.md``):

* alpine swamp meadow in flat, wet bottoms and near streams; alpine meadow on gentle and
  north-facing slopes; alpine steppe on dry south-facing slopes and fans; sparse vegetation / bare
  ground high (> ~4250 m) and steep; water in the main channel and ponds on the plain;
* classes come from competing suitability scores with spatially correlated noise (patches of a few
  hundred metres), then a majority filter, so patches are coherent, not salt-and-pepper;
* pits, dumps and roads (2020) come from polygons laid out in the fixed strike frame of the terrain,
  so a small area is a piece of the full one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely
from odc.geo.geobox import GeoBox
from pyproj import Transformer
from rasterio.features import rasterize
from scipy import ndimage

from pfatlas import SYNTHETIC_LABEL
from pfatlas.io.cog import ClassInfo
from pfatlas.synth.ground import UNIT_NAMES
from pfatlas.synth.terrain import FULL_FRAME, TerrainFrame, from_strike_frame, valley_axis

__all__ = [
    "SOURCE",
    "LANDCOVER_CLASSES",
    "CLASS_NAMES",
    "UNIT_NAMES",
    "UNIT_CLASSES",
    "geomorphology_units",
    "landcover_pre",
    "mining_features",
    "features_on_grid",
    "ponds_mask",
    "road_lines",
    "landcover_post",
    "sample_points",
]

SOURCE = SYNTHETIC_LABEL

LANDCOVER_CLASSES = (
    ClassInfo(1, "alpine swamp meadow", (38, 115, 77)),
    ClassInfo(2, "alpine meadow", (112, 173, 71)),
    ClassInfo(3, "alpine steppe", (214, 200, 120)),
    ClassInfo(4, "sparse vegetation / bare", (190, 170, 150)),
    ClassInfo(5, "water", (46, 117, 182)),
    ClassInfo(6, "open pit", (40, 40, 40)),
    ClassInfo(7, "waste dump", (150, 90, 60)),
    ClassInfo(8, "built-up / road", (230, 40, 40)),
)
CLASS_NAMES = {c.value: c.name for c in LANDCOVER_CLASSES}

UNIT_CLASSES = (
    ClassInfo(0, UNIT_NAMES[0], (245, 222, 150)),
    ClassInfo(1, UNIT_NAMES[1], (120, 190, 170)),
    ClassInfo(2, UNIT_NAMES[2], (230, 180, 110)),
    ClassInfo(3, UNIT_NAMES[3], (180, 150, 110)),
    ClassInfo(4, UNIT_NAMES[4], (170, 170, 200)),
    ClassInfo(5, UNIT_NAMES[5], (120, 100, 100)),
)


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma_cells: float) -> np.ndarray:
    """Gaussian-correlated noise with unit standard deviation (float32)."""
    n = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma_cells, mode="reflect")
    sd = float(n.std())
    return n / sd if sd > 0 else n


def _majority(classes: np.ndarray, codes: list[int], size: int, keep: np.ndarray | None = None) -> np.ndarray:
    """Majority (mode) filter over a ``size`` x ``size`` window; ``keep`` cells are not changed."""
    best = np.full(classes.shape, -1.0, dtype=np.float32)
    out = classes.copy()
    for c in codes:
        frac = ndimage.uniform_filter((classes == c).astype(np.float32), size, mode="nearest")
        better = frac > best
        out[better] = c
        best[better] = frac[better]
    if keep is not None:
        out[keep] = classes[keep]
    return out


def _wetness(fields: dict, dem: np.ndarray, slope: np.ndarray, cellsize: float, rng) -> np.ndarray:
    """Dimensionless wetness: plain, streams, hollows, gentle slopes, plus patchy noise."""
    sig = max(1.0, 300.0 / cellsize)
    hollow = np.clip((ndimage.gaussian_filter(dem, sig, mode="nearest") - dem) / 15.0, -1.0, 1.0)
    flat = np.clip(1.0 - slope / 5.0, 0.0, 1.0)
    near_river = np.exp(-fields["river_dist"] / 400.0)
    w = (
        0.9 * fields["plain"] * flat
        + 0.6 * near_river
        + 0.8 * fields["tributary"] * np.clip(1.0 - fields["valley_dist"] / 6000.0, 0, 1)
        + 0.5 * hollow
        + 0.4 * flat
        + 0.25 * _smooth_noise(rng, dem.shape, 400.0 / cellsize)
    )
    return w.astype(np.float32)


def geomorphology_units(
    fields: dict, dem: np.ndarray, slope: np.ndarray, *, cellsize: float, rng: np.random.Generator
) -> np.ndarray:
    """Geomorphology unit codes 0..5 (order of :data:`UNIT_NAMES`), uint8, from terrain position.

    Plain cells are alluvial plain, wet flats marsh lowland, tributary mouths and gentle footslopes
    alluvial-proluvial fans, high gentle ground moraine, steep or crest ground bedrock hills, the
    rest colluvial slope; a majority filter (~200 m) makes map-like units.
    """
    wet = _wetness(fields, dem, slope, cellsize, rng)
    units = np.full(dem.shape, 3, dtype=np.uint8)
    high = dem + 40.0 * _smooth_noise(rng, dem.shape, 500.0 / cellsize)
    units[(high > 4120.0) & (slope < 16.0)] = 4
    units[(slope > 24.0) | (high > 4300.0)] = 5
    fan = (fields["fan"] > 2.0) | ((fields["valley_dist"] < 900.0) & (slope < 7.0) & ~fields["plain"])
    units[fan] = 2
    units[fields["plain"]] = 0
    marsh = (wet > 1.35) & (slope < 4.0)
    units[marsh] = 1
    size = max(3, int(round(210.0 / cellsize)) | 1)
    return _majority(units, list(range(6)), size)


def landcover_pre(
    fields: dict,
    dem: np.ndarray,
    slope: np.ndarray,
    aspect: np.ndarray,
    units: np.ndarray,
    ponds: np.ndarray,
    *,
    cellsize: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Pre-mining (2000) land cover, class codes 1-5 (uint8).

    Parameters
    ----------
    fields
        Output of :func:`pfatlas.synth.terrain.terrain_fields` on the same grid.
    dem, slope, aspect
        Elevation [m], slope [deg], aspect [deg from N].
    units
        Geomorphology codes (:func:`geomorphology_units`).
    ponds
        Bool mask of ponds (water).
    cellsize
        [m].
    """
    wet = _wetness(fields, dem, slope, cellsize, rng)
    north = np.cos(np.deg2rad(aspect)) * np.clip(slope / 10.0, 0, 1)
    sig = 250.0 / cellsize
    n = [_smooth_noise(rng, dem.shape, sig * f) for f in (1.0, 1.5, 1.2, 1.0)]
    high = np.clip((dem - 4150.0) / 150.0, -2.0, 3.0)
    s_swamp = 2.4 * (wet - 0.3) + 0.3 * north - 0.06 * slope - 0.8 * np.clip(high, 0, None) + 0.45 * n[0]
    s_meadow = 0.35 + 0.7 * north - 0.025 * np.abs(slope - 12.0) - 0.35 * np.clip(high, 0, None) + 0.45 * n[1]
    s_steppe = (
        0.05
        - 0.8 * north
        + 0.5 * (units == 2)
        - 0.4 * np.clip(wet - 0.8, 0, None)
        - 0.3 * np.clip(high, 0, None)
        + 0.45 * n[2]
    )
    s_sparse = 1.6 * high + 0.06 * (slope - 22.0) + 0.35 * (units == 5) - 0.5 + 0.4 * n[3]
    scores = np.stack([s_swamp, s_meadow, s_steppe, s_sparse]).astype(np.float32)
    lc = (np.argmax(scores, axis=0) + 1).astype(np.uint8)
    del scores, s_swamp, s_meadow, s_steppe, s_sparse, n
    lc = _majority(lc, [1, 2, 3, 4], 3)
    lc = _majority(lc, [1, 2, 3, 4], 3)
    water = (fields["river_dist"] < 0.5 * _CHANNEL_WIDTH) & fields["plain"] | ponds
    lc[water] = 5
    return lc


_CHANNEL_WIDTH = 60.0  # [m] main channel width (braided gravel bed with water)


def ponds_mask(
    rng: np.random.Generator, terrain_seed, gbox: GeoBox, frame: TerrainFrame = FULL_FRAME
) -> np.ndarray:
    """Thermokarst ponds on the main plain (drawn in the fixed frame), as a bool mask on ``gbox``.

    ``terrain_seed`` is the seed given to the terrain generator and ``frame`` its frame (to find
    the same valley); the number of ponds grows with the frame's length (320 in the full frame).
    """
    n = int(round(320 * frame.u_half / FULL_FRAME.u_half))
    u = rng.uniform(-frame.u_half, frame.u_half, n)
    side = rng.uniform(-0.9, 0.9, n)
    r = rng.uniform(35.0, 140.0, n)
    v_axis, half_w = valley_axis(np.random.default_rng(terrain_seed), u, frame)
    x, y = from_strike_frame(u, v_axis + side * half_w)
    discs = [shapely.Point(xi, yi).buffer(ri, 8) for xi, yi, ri in zip(x, y, r, strict=True)]
    x0, y0, x1, y1 = gbox.extent.boundingbox
    discs = [d for d in discs if d.intersects(shapely.box(x0, y0, x1, y1))]
    if not discs:
        return np.zeros(tuple(gbox.shape), dtype=bool)
    m = rasterize(
        [(d, 1) for d in discs], out_shape=tuple(gbox.shape), transform=gbox.affine, fill=0, dtype="uint8"
    )
    return m.astype(bool)


def _polygon(u0, v0, length, width, angle_deg, rng, n=40) -> shapely.Polygon:
    """Irregular elongated polygon in the strike frame, returned in map coordinates."""
    t = np.linspace(0.0, 2 * np.pi, n, endpoint=False)
    wobble = 1.0
    for k in (2, 3, 5):
        wobble = wobble + rng.uniform(-0.08, 0.08) * np.cos(k * t + rng.uniform(0, 2 * np.pi))
    a = np.deg2rad(angle_deg)
    pu = 0.5 * length * np.cos(t) * wobble
    pv = 0.5 * width * np.sin(t) * wobble
    uu = u0 + pu * np.cos(a) - pv * np.sin(a)
    vv = v0 + pu * np.sin(a) + pv * np.cos(a)
    x, y = from_strike_frame(uu, vv)
    return shapely.Polygon(np.column_stack([x, y]))


# clusters of the mining belt along strike [km] and pits per cluster (11 pits, 19 dumps in all);
# the central cluster (u ~ 0) is the one inside the ``small`` demo area
_CLUSTERS = ((-31.0, 2, 3), (-17.0, 2, 4), (0.0, 3, 4), (15.0, 2, 4), (29.0, 2, 4))
_TARGET_AREA_M2 = 30.5e6  # Li F. et al. 2021: 30.47 km2 of pits and dumps by Aug 2014


def mining_features(rng: np.random.Generator, terrain_seed, frame: TerrainFrame = FULL_FRAME) -> list[dict]:
    """Open pits and waste dumps of the full virtual Muli (fixed frame, map coordinates).

    The same belt about the centre in every frame; only the valley they sit beside follows
    ``frame``.

    Parameters
    ----------
    rng
        Generator for the layout.
    terrain_seed
        The seed given to the terrain generator (to place pits beside the same valley).
    frame
        The terrain's frame.

    Returns
    -------
    list of dict
        ``kind`` ("pit"/"dump"), ``name``, ``start_year``, ``depth_m`` (pits, else NaN),
        ``height_m`` (dumps, else NaN), ``pit_lake`` (bool), ``pit`` (name of the pit a dump
        belongs to), ``geometry`` (shapely Polygon, EPSG:32647). 11 pits and 19 dumps of ~30.5 km2.
    """
    feats: list[dict] = []
    pit_no = 0
    dump_no = 0
    for cu, n_pits, n_dumps in _CLUSTERS:
        us = cu * 1000.0 + (np.arange(n_pits) - (n_pits - 1) / 2) * 3000.0 + rng.uniform(-400, 400, n_pits)
        v_axis, half_w = valley_axis(np.random.default_rng(terrain_seed), us, frame)
        sides = np.where(np.arange(n_pits) % 2 == 0, 1.0, -1.0) * (1.0 if rng.uniform() < 0.5 else -1.0)
        dumps_of = np.full(n_pits, n_dumps // n_pits)
        dumps_of[: n_dumps % n_pits] += 1
        for i in range(n_pits):
            pit_no += 1
            length = rng.uniform(1600.0, 2800.0)
            width = rng.uniform(450.0, 850.0)
            off = half_w[i] + 0.5 * width + rng.uniform(150.0, 500.0)
            pv = v_axis[i] + sides[i] * off
            start = int(rng.integers(2003, 2011))
            depth = float(np.round(rng.uniform(40.0, 150.0)))
            name = f"pit {pit_no:02d}"
            feats.append(
                {
                    "kind": "pit",
                    "name": name,
                    "start_year": start,
                    "depth_m": depth,
                    "height_m": float("nan"),
                    "pit_lake": bool(depth > 80.0 and rng.uniform() < 0.6),
                    "pit": name,
                    "_uv": (us[i], pv, length, width, rng.uniform(-8, 8)),
                    "_side": sides[i],
                }
            )
            for j in range(dumps_of[i]):
                dump_no += 1
                dl = rng.uniform(900.0, 1700.0)
                dw = rng.uniform(500.0, 950.0)
                if j == 0:  # upslope of the pit
                    du, dv = us[i] + rng.uniform(-400, 400), pv + sides[i] * (0.5 * width + 0.5 * dw + 120.0)
                else:  # at one end of the pit, along strike
                    end = 1.0 if j % 2 else -1.0
                    du, dv = (
                        us[i] + end * (0.5 * length + 0.5 * dl + 120.0),
                        pv + sides[i] * rng.uniform(0, 300),
                    )
                feats.append(
                    {
                        "kind": "dump",
                        "name": f"dump {dump_no:02d}",
                        "start_year": int(min(2012, start + rng.integers(0, 3))),
                        "depth_m": float("nan"),
                        "height_m": float(np.round(rng.uniform(20.0, 80.0))),
                        "pit_lake": False,
                        "pit": name,
                        "_uv": (du, dv, dl, dw, rng.uniform(-15, 15)),
                        "_side": sides[i],
                    }
                )
    # scale all outlines about their centres so the total matches the published 30.47 km2
    area = 0.25 * np.pi * sum(f["_uv"][2] * f["_uv"][3] for f in feats)
    k = float(np.sqrt(_TARGET_AREA_M2 / area))
    shape_rng = rng
    for f in feats:
        u0, v0, ln, wd, ang = f.pop("_uv")
        f.pop("_side")
        f["geometry"] = _polygon(u0, v0, ln * k, wd * k, ang, shape_rng)
    # dumps may not overlap pits or each other: trim a dump by what earlier features occupy
    taken = None
    for f in feats:
        if taken is not None and f["kind"] == "dump":
            g = f["geometry"].difference(taken.buffer(60.0))
            if g.geom_type == "MultiPolygon":
                g = max(g.geoms, key=lambda p: p.area)
            f["geometry"] = g
        taken = f["geometry"] if taken is None else taken.union(f["geometry"])
    return feats


def features_on_grid(
    features: list[dict], gbox: GeoBox, min_cells: int = 20
) -> tuple[list[dict], list[np.ndarray]]:
    """Features with at least ``min_cells`` cells on ``gbox`` and their bool masks."""
    kept, masks = [], []
    for f in features:
        m = rasterize(
            [(f["geometry"], 1)], out_shape=tuple(gbox.shape), transform=gbox.affine, fill=0, dtype="uint8"
        )
        if int(m.sum()) >= min_cells:
            kept.append(f)
            masks.append(m.astype(bool))
    return kept, masks


def road_lines(
    features: list[dict], terrain_seed, *, post: bool, frame: TerrainFrame = FULL_FRAME
) -> list[shapely.LineString]:
    """Road centre lines (map coordinates): the valley road, and in ``post`` the haul roads.

    The valley road runs along the north edge of the plain from one end of the terrain's
    ``frame`` to the other; haul roads join each pit to it and to its dumps.
    """
    u = np.arange(-frame.u_half, frame.u_half + 1.0, 500.0)
    v_axis, half_w = valley_axis(np.random.default_rng(terrain_seed), u, frame)
    x, y = from_strike_frame(u, v_axis + 0.85 * half_w)
    main = shapely.LineString(np.column_stack([x, y]))
    roads = [main]
    if post:
        for f in features:
            c = f["geometry"].centroid
            p = main.interpolate(main.project(c))
            roads.append(shapely.LineString([(c.x, c.y), (p.x, p.y)]))
            if f["kind"] == "dump":
                pit = next(g for g in features if g["name"] == f["pit"])
                pc = pit["geometry"].centroid
                roads.append(shapely.LineString([(c.x, c.y), (pc.x, pc.y)]))
    return roads


def landcover_post(
    pre: np.ndarray,
    features: list[dict],
    masks: list[np.ndarray],
    road_mask: np.ndarray,
    *,
    epoch_year: int,
) -> np.ndarray:
    """Post-mining land cover: pre-mining classes plus pits (6), dumps (7), roads (8).

    A pit with a lake holds water (5) in its deepest third (the centre of the outline).
    """
    lc = pre.copy()
    lc[road_mask] = 8
    for f, m in zip(features, masks, strict=True):
        if f["start_year"] > epoch_year:
            continue
        if f["kind"] == "pit":
            lc[m] = 6
            if f["pit_lake"]:
                inner = ndimage.distance_transform_edt(m)
                lc[m & (inner > 0.55 * inner.max())] = 5
        else:
            lc[m] = 7
    return lc


def sample_points(
    landcover: np.ndarray,
    gbox: GeoBox,
    *,
    n: int,
    epoch: str,
    rng: np.random.Generator,
    label_noise: float = 0.02,
    min_per_class: int = 6,
) -> pd.DataFrame:
    """Stratified land-cover sample points with ~2 % label noise.

    Each present class gets at least ``min_per_class`` points, the rest is shared in proportion to
    class area; points fall in homogeneous 3x3 neighbourhoods where possible (as field crews pick
    representative plots), jittered inside the cell.

    Returns
    -------
    pandas.DataFrame
        Columns ``lon``, ``lat`` [deg, WGS84], ``class`` (name), ``epoch``, ``source``.
    """
    valid = landcover != 255
    codes = [c for c in CLASS_NAMES if int((landcover == c).sum()) >= 9]
    counts = np.array([(landcover == c).sum() for c in codes], dtype=float)
    base = np.full(len(codes), min_per_class)
    extra = max(0, n - base.sum())
    alloc = base + np.floor(extra * counts / counts.sum()).astype(int)
    alloc[np.argmax(counts)] += n - alloc.sum()
    homog = np.zeros(landcover.shape, dtype=bool)
    for c in codes:
        frac = ndimage.uniform_filter((landcover == c).astype(np.float32), 3, mode="nearest")
        homog |= (landcover == c) & (frac > 0.99)
    rows, cols, labels = [], [], []
    for c, k in zip(codes, alloc, strict=True):
        cand = np.flatnonzero((landcover == c) & homog & valid)
        if cand.size < k:
            cand = np.flatnonzero(landcover == c)
        pick = rng.choice(cand, size=min(k, cand.size), replace=False)
        r, q = np.unravel_index(pick, landcover.shape)
        rows.append(r)
        cols.append(q)
        labels.extend([c] * len(pick))
    rows = np.concatenate(rows) + rng.uniform(0.1, 0.9, len(labels))
    cols = np.concatenate(cols) + rng.uniform(0.1, 0.9, len(labels))
    labels = np.array(labels)
    flip = rng.uniform(size=len(labels)) < label_noise
    for i in np.flatnonzero(flip):
        labels[i] = rng.choice([c for c in codes if c != labels[i]])
    xs, ys = gbox.affine * (cols, rows)
    tr = Transformer.from_crs(gbox.crs.to_wkt(), "EPSG:4326", always_xy=True)
    lon, lat = tr.transform(np.asarray(xs), np.asarray(ys))
    df = pd.DataFrame(
        {
            "lon": np.round(lon, 6),
            "lat": np.round(lat, 6),
            "class": [CLASS_NAMES[int(c)] for c in labels],
            "epoch": epoch,
            "source": SOURCE,
        }
    )
    return df.iloc[rng.permutation(len(df))].reset_index(drop=True)
