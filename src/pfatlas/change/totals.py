"""Totals of the change from epoch A to epoch B: permafrost area, ground-ice volume, mean changes.

With a the cell area [m2] and N the permafrost transition counts (:mod:`pfatlas.change.transition`,
rows A, columns B; codes 0 no, 1 yes):

    area_A = a sum_j N[yes, j],  area_B = a sum_i N[i, yes]                      [km2 after / 1e6]
    lost   = a N[yes, no],       gained = a N[no, yes],      net = area_B - area_A

(net = gained - lost when the same cells are mapped in both epochs; a cell mapped in one epoch
only counts in that epoch's area but in neither lost nor gained.) Ground-ice volume with V the
per-cell volume [m3], NaN taken as 0 (no permafrost table known: no volume counted), as in the
ground-ice totals of each epoch:

    total_E = sum V_E,   lost = sum max(V_A - V_B, 0),   gained = sum max(V_B - V_A, 0)
    net = total_B - total_A = gained - lost                                                [m3]
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from pfatlas.change.difference import check_same_grid

__all__ = ["ice_volume_sums", "permafrost_totals", "change_summary"]


def ice_volume_sums(a: xr.DataArray, b: xr.DataArray) -> dict:
    """Lazy totals [m3] of the ground-ice volume per cell of two epochs (NaN as 0, float64).

    Returns a dict ``total_a``, ``total_b``, ``lost``, ``gained`` of 0-d dask arrays (numpy
    scalars for numpy inputs); compute them with the stage's other reductions.
    """
    check_same_grid(a, b)
    va = a.astype(np.float64).fillna(0.0)
    vb = b.astype(np.float64).fillna(0.0)
    diff = vb - va
    return {
        "total_a": va.sum().data,
        "total_b": vb.sum().data,
        "lost": (-diff).clip(min=0.0).sum().data,
        "gained": diff.clip(min=0.0).sum().data,
    }


def permafrost_totals(
    counts: np.ndarray, codes_a: list[int], codes_b: list[int], cell_area_m2: float
) -> dict:
    """Permafrost areas [km2] from computed transition counts of the permafrost layers.

    ``codes_a`` / ``codes_b`` are the codes in the order of the rows / columns of ``counts``
    (they must hold 0 = no permafrost and 1 = permafrost).

    >>> n = np.array([[2, 1, 0, 0], [3, 4, 1, 0], [0, 0, 5, 0], [0, 0, 0, 0]])
    >>> t = permafrost_totals(n, [0, 1], [0, 1], 1e6)
    >>> t["area_a"], t["area_b"], t["lost"], t["gained"], t["net"]
    (8.0, 5.0, 3.0, 1.0, -3.0)
    """
    n = np.asarray(counts, dtype=np.int64)
    ia0, ia1 = codes_a.index(0), codes_a.index(1)
    ib0, ib1 = codes_b.index(0), codes_b.index(1)

    def km2(cells) -> float:
        return float(cells) * float(cell_area_m2) / 1e6  # m2 first: no 0.0009 rounding in each value

    return {
        "area_a": km2(n[ia1, :].sum()),
        "area_b": km2(n[:, ib1].sum()),
        "lost": km2(n[ia1, ib0]),
        "gained": km2(n[ia0, ib1]),
        "net": km2(n[:, ib1].sum() - n[ia1, :].sum()),
    }


def change_summary(
    label_a: str,
    label_b: str,
    permafrost: dict,
    ice: dict | None,
    means: dict[str, float],
) -> tuple[pd.DataFrame, dict]:
    """The totals as a table (``quantity, unit, value``) and as a metrics dict.

    Parameters
    ----------
    label_a, label_b
        Epoch labels.
    permafrost
        :func:`permafrost_totals` [km2].
    ice
        Computed :func:`ice_volume_sums` [m3], or None when the build has no ground ice.
    means
        Mean change over cells valid in both epochs per layer: ``magt`` [degC], ``alt`` [m]
        (a layer the build lacks is left out).
    """
    a, b = label_a, label_b
    rows = [
        (f"permafrost_area_{a}_km2", "km2", permafrost["area_a"]),
        (f"permafrost_area_{b}_km2", "km2", permafrost["area_b"]),
        ("permafrost_lost_km2", "km2", permafrost["lost"]),
        ("permafrost_gained_km2", "km2", permafrost["gained"]),
        ("permafrost_net_change_km2", "km2", permafrost["net"]),
    ]
    if ice is not None:
        ta, tb = float(ice["total_a"]), float(ice["total_b"])
        rows += [
            (f"ice_volume_{a}_m3", "m3", ta),
            (f"ice_volume_{b}_m3", "m3", tb),
            ("ice_volume_lost_m3", "m3", float(ice["lost"])),
            ("ice_volume_gained_m3", "m3", float(ice["gained"])),
            ("ice_volume_net_change_m3", "m3", tb - ta),
        ]
    units = {"magt": "degC", "alt": "m"}
    for layer in ("magt", "alt"):
        if layer in means:
            rows.append((f"mean_{layer}_change_{units[layer]}", units[layer], float(means[layer])))
    df = pd.DataFrame(rows, columns=["quantity", "unit", "value"])
    metrics = {"epoch_a": a, "epoch_b": b, **{q: v for q, _, v in rows}}
    return df, metrics
