"""Stratigraphy statistics per geomorphology unit from the borehole logs.

Each log sample (top, bottom, soil, w [% gravimetric, ice + unfrozen water], rho_d [kg m-3]) gives
an ice content ``theta_i = max(w - w_u, 0) rho_d / rho_ice`` [m3 m-3], with the unfrozen water w_u
by soil type (:data:`UNFROZEN_WATER`). Only the frozen part of a log counts: below the borehole's
permafrost table (its measured ``alt_m``, else the mapped ALT at its cell); logs of boreholes
without permafrost are not used. Per unit, each depth bin of :data:`DEPTH_STEP_M` averages every
log sample overlapping it, weighted by the overlap; bins no log reaches take the nearest bin with
data. A unit with no usable log takes the statistics of all logs (:class:`PfatlasWarning` naming it).

Blank values: a blank dry density takes the soil's typical value (:data:`DRY_DENSITY_DEFAULT`); a
blank water content is accepted for bedrock only (massive rock is often not sampled: it counts as
ice-free, w = w_u) and is an error in any other soil.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from pfatlas.errors import InputError, PfatlasWarning
from pfatlas.groundice.classes import SOILS
from pfatlas.groundice.profile import IceProfile, ProfileSet

__all__ = [
    "UNFROZEN_WATER",
    "DRY_DENSITY_DEFAULT",
    "DEPTH_STEP_M",
    "sample_ice",
    "profile_from_samples",
    "unit_profiles",
]

# Unfrozen gravimetric water content at about -1 degC [kg kg-1] (orders of magnitude of the
# unfrozen-water curves of Anderson & Tice 1972 and Williams & Smith 1989 for these soils).
UNFROZEN_WATER = {
    "gravel": 0.01,
    "sand": 0.02,
    "silt": 0.06,
    "clay": 0.11,
    "peat": 0.25,
    "bedrock": 0.005,
    "ice": 0.02,
}
# Typical dry density [kg m-3] used where a log leaves it blank.
DRY_DENSITY_DEFAULT = {
    "gravel": 1900.0,
    "sand": 1600.0,
    "silt": 1400.0,
    "clay": 1350.0,
    "peat": 300.0,
    "bedrock": 2400.0,
    "ice": 700.0,
}
DEPTH_STEP_M = 0.1  # [m] bin size of the unit profiles
PROFILE_DEPTH_M = 100.0  # [m] the profiles extend (at constant value) to this depth


def sample_ice(logs: pd.DataFrame, rho_ice_kg_m3: float, path: str | Path | None = None) -> pd.DataFrame:
    """Per-sample ice content: adds ``w`` [kg kg-1], ``rho_d`` [kg m-3], ``w_u``, ``theta_i`` [m3 m-3].

    Raises
    ------
    InputError
        A blank water content in a soil other than bedrock (row = the table row, header = 1).
    """
    df = logs.reset_index(drop=True).copy()
    soil = df["soil"].astype(str).str.strip().str.lower()
    w = pd.to_numeric(df["water_content_pct"], errors="coerce").to_numpy(dtype="float64") / 100.0
    blank = ~np.isfinite(w)
    bad = np.flatnonzero(blank & (soil != "bedrock").to_numpy())
    if bad.size:
        i = int(bad[0])
        raise InputError(
            f"blank water content in a {soil[i]} layer of borehole '{df['borehole_id'][i]}' "
            f"({df['top_m'][i]:g}-{df['bottom_m'][i]:g} m; {bad.size} such row(s)): the ground-ice stage "
            "needs it (only bedrock may be blank, counted as ice-free)",
            path=path,
            row=i + 2,
            field="water_content_pct",
        )
    w_u = soil.map(UNFROZEN_WATER).to_numpy(dtype="float64")
    w = np.where(blank, w_u, w)
    rho = pd.to_numeric(df.get("dry_density_kg_m3"), errors="coerce")
    rho = rho.to_numpy(dtype="float64") if rho is not None else np.full(len(df), np.nan)
    rho = np.where(np.isfinite(rho), rho, soil.map(DRY_DENSITY_DEFAULT).to_numpy(dtype="float64"))
    df["soil"] = soil
    df["w"], df["w_u"], df["rho_d"] = w, w_u, rho
    df["theta_i"] = np.maximum(w - w_u, 0.0) * rho / rho_ice_kg_m3
    return df


def _edges() -> np.ndarray:
    n = int(round(PROFILE_DEPTH_M / DEPTH_STEP_M))
    return np.arange(n + 1) * DEPTH_STEP_M


def profile_from_samples(samples: pd.DataFrame, table_depth: Mapping[str, float]) -> IceProfile | None:
    """Mean profile of the frozen parts of the logs in ``samples`` (output of :func:`sample_ice`).

    ``table_depth`` maps borehole id -> depth of its permafrost table [m]. None if nothing is frozen.
    """
    edges = _edges()
    nb = edges.size - 1
    wsum = np.zeros(nb)
    acc = {k: np.zeros(nb) for k in ("theta", "rho_d", "rho_w")}
    soil_acc = np.zeros((len(SOILS), nb))
    for _, s in samples.iterrows():
        top = max(float(s["top_m"]), float(table_depth.get(s["borehole_id"], np.nan)))
        bot = float(s["bottom_m"])
        if not (np.isfinite(top) and bot > top):
            continue
        i0 = int(np.floor(top / DEPTH_STEP_M))
        i1 = min(int(np.ceil(bot / DEPTH_STEP_M)), nb)
        if i0 >= nb:
            continue
        lo, hi = edges[i0:i1], edges[i0 + 1 : i1 + 1]
        ov = np.clip(np.minimum(hi, bot) - np.maximum(lo, top), 0.0, None)
        wsum[i0:i1] += ov
        acc["theta"][i0:i1] += ov * s["theta_i"]
        acc["rho_d"][i0:i1] += ov * s["rho_d"]
        acc["rho_w"][i0:i1] += ov * s["rho_d"] * s["w"]
        soil_acc[SOILS.index(s["soil"]), i0:i1] += ov
    have = wsum > 0
    if not have.any():
        return None
    # nearest bin with data for the bins no log reaches
    idx = np.flatnonzero(have)
    pos = np.searchsorted(idx, np.arange(nb))
    left = idx[np.clip(pos - 1, 0, idx.size - 1)]
    right = idx[np.clip(pos, 0, idx.size - 1)]
    near = np.where(np.abs(np.arange(nb) - left) <= np.abs(right - np.arange(nb)), left, right)
    near = np.where(have, np.arange(nb), near)
    mean = {k: (v[near] / wsum[near]) for k, v in acc.items()}
    return IceProfile(edges, mean["theta"], mean["rho_d"], mean["rho_w"], soil_acc[:, near] / wsum[near])


def unit_profiles(
    samples: pd.DataFrame,
    borehole_unit: Mapping[str, int],
    table_depth: Mapping[str, float],
    unit_names: Mapping[int, str],
) -> tuple[ProfileSet, pd.DataFrame]:
    """One profile per geomorphology unit, the all-logs fallback, and a table of logs per unit.

    Parameters
    ----------
    samples
        Output of :func:`sample_ice` (logs of the boreholes to use).
    borehole_unit
        Borehole id -> unit code at its cell.
    table_depth
        Borehole id -> depth of its permafrost table [m] (boreholes without permafrost: absent).
    unit_names
        Unit code -> name (the geomorphology raster's CLASS_NAMES).

    Returns
    -------
    (ProfileSet, DataFrame with unit_code, unit, n_logs, profile_source)

    Warns
    -----
    PfatlasWarning
        For each unit with no usable log (it takes the statistics of all logs).
    """
    usable = samples[samples["borehole_id"].isin([b for b, z in table_depth.items() if np.isfinite(z)])]
    fallback = profile_from_samples(usable, table_depth)
    if fallback is None:
        raise InputError(
            "no borehole log reaches below a permafrost table (no natural borehole in permafrost with a log): "
            "the ground-ice statistics cannot be made",
            field="borehole_logs",
        )
    profiles, rows, missing = {}, [], []
    for code, name in sorted(unit_names.items()):
        ids = [b for b, u in borehole_unit.items() if u == code]
        sub = usable[usable["borehole_id"].isin(ids)]
        prof = profile_from_samples(sub, table_depth) if len(sub) else None
        n_logs = int(sub["borehole_id"].nunique()) if len(sub) else 0
        if prof is None:
            missing.append(name)
            source = "all logs (fallback)"
        else:
            profiles[int(code)] = prof
            source = "unit logs"
        rows.append({"unit_code": int(code), "unit": name, "n_logs": n_logs, "profile_source": source})
    if missing:
        warnings.warn(
            f"geomorphology unit(s) {', '.join(repr(m) for m in missing)} have no borehole log in permafrost: "
            "their ground ice uses the statistics of all logs",
            PfatlasWarning,
            stacklevel=2,
        )
    return ProfileSet(profiles, fallback), pd.DataFrame(rows)
