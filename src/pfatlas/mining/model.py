"""The thermal model of one pit or dump: an axisymmetric enthalpy run and its MAGT change by radius.

A feature is idealised as a disc of its footprint's area (radius ``a``), at the centre of an r-z
mesh that reaches ``a + reach_m`` sideways and ``domain_depth_m`` below the natural surface:

- **natural ground**: one material (frozen/thawed conductivity and heat capacity, water content
  with a freezing range), initially on the steady geotherm ``T(z) = MAGT + q z / k_f`` below a
  surface held at the local pre-mining MAGT (mean annual values: the surface temperature stands
  for the ground temperature at the depth of zero annual amplitude; the annual wave is left out);
- **pit**: the nodes above the floor inside the disc are air; the floor and the walls are held at
  ``MAGT + pit_floor_warming`` (bare rock), or at the lake-bottom temperature for a pit lake. The
  rock under the floor starts at its pre-mining temperature, ``q depth / k_f`` warmer than the
  ground at the same depth below the natural surface;
- **dump**: the mesh top is the dump top; beside the dump the nodes above the natural surface are
  air; the waste rock starts at, and its top and sides are held at, ``MAGT + dump_surface_warming
  - lapse height``; the buried original ground starts on its natural geotherm;
- base: the geothermal heat flux ``q``; the far side (``a + reach_m``) exchanges no heat.

The run goes from the start year to the epoch year (backward Euler, steps of ``dt_days``). A
natural column on the same depths and steps (the control) removes what is not the feature's
doing. The result is the change of MAGT at the depth of zero annual amplitude below the present
surface (the pit floor, the dump top, the natural surface outside) by radius.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pfatlas.errors import InputError
from pfatlas.thermal import (
    DAY,
    AxisymmetricMesh,
    ColumnMesh,
    HeatFluxBase,
    Material,
    simulate_column,
    simulate_section,
)

__all__ = [
    "FeatureRun",
    "GroundModel",
    "RadialChange",
    "check_run",
    "run_feature",
    "radial_nodes",
    "depth_nodes",
]

YEAR_DAYS = 365.25


@dataclass(frozen=True)
class GroundModel:
    """Materials and geometry shared by every feature run (config ``mining``)."""

    ground: Material
    waste: Material
    heat_flux_w_m2: float = 0.06
    domain_depth_m: float = 200.0
    reach_m: float = 1000.0
    zaa_depth_m: float = 15.0
    dt_days: float = 90.0


@dataclass(frozen=True)
class FeatureRun:
    """One representative pit or dump (a feature, or a group of similar ones)."""

    kind: str  # "pit" | "dump"
    radius_m: float  # equivalent disc radius [m]
    depth_m: float  # pit depth [m] (0 for dumps)
    height_m: float  # dump height [m] (0 for pits)
    years: float  # from the start year to the epoch year [yr]
    magt_c: float  # local pre-mining MAGT [degC]
    new_surface_c: float  # mean annual temperature of the new surface (floor, lake bottom, dump top)


@dataclass(frozen=True)
class RadialChange:
    """Change of MAGT [degC] by radius [m] from the feature's centre (edge at ``radius_m``)."""

    r: np.ndarray
    delta_magt: np.ndarray
    radius_m: float


def radial_nodes(a: float, reach: float) -> np.ndarray:
    """Radii [m]: about 12 nodes inside the disc, 10 m spacing across the edge, growing outside."""
    inner = np.linspace(
        0.0, max(a - 40.0, 0.0), max(int(np.ceil(max(a - 40.0, 0.0) / max(a / 12, 10.0))), 1) + 1
    )
    edge = np.arange(inner[-1] + 10.0, a + 60.0 + 1e-9, 10.0)
    r = list(np.concatenate([inner, edge]))
    step = 10.0
    while r[-1] < a + reach - 1e-9:
        step = min(step * 1.25, 150.0)
        r.append(min(r[-1] + step, a + reach))
    return np.unique(np.round(np.asarray(r), 6))


def depth_nodes(top: float, zaa: float, bottom: float, *, must: tuple[float, ...] = ()) -> np.ndarray:
    """Depths [m] from 0 to ``bottom``: 1 m spacing in the top 20 m and from ``top - 5`` to
    ``top + zaa + 5`` (a pit floor or the natural surface under a dump, and the depth of zero
    annual amplitude below it), at most 5 m between them, then growing by 20 % per node to 20 m;
    the depths in ``must`` are nodes.

    >>> z = depth_nodes(100.0, 15.0, 200.0)
    >>> bool(np.all(np.diff(z[(z >= 95) & (z <= 120)]) == 1.0)), bool(np.diff(z).max() <= 20.0)
    (True, True)
    """
    fine = [(0.0, 20.0), (max(top - 5.0, 0.0), top + zaa + 5.0)]
    z = [0.0]
    step = 1.0
    while z[-1] < bottom - 1e-9:
        here = z[-1]
        if any(a - 1e-9 <= here < b - 1e-9 for a, b in fine):
            step = 1.0
        else:
            nxt = min((a for a, _ in fine if a > here + 1e-9), default=None)
            step = min(step * 1.2, 5.0 if nxt is not None else 20.0)
            if nxt is not None:
                step = min(step, nxt - here)
        z.append(min(here + step, bottom))
    z = np.unique(np.round(np.concatenate([np.asarray(z), np.asarray(must, dtype=float)]), 6))
    return z


def check_run(run: FeatureRun, model: GroundModel) -> None:
    """Refuse a run that cannot be modelled (InputError naming the field)."""
    if run.kind not in ("pit", "dump"):
        raise InputError(f"kind must be 'pit' or 'dump', got {run.kind!r}", field="kind")
    if run.kind == "pit" and not (run.depth_m > 0):
        raise InputError(f"a pit needs a depth > 0 m, got {run.depth_m!r}", field="depth_m")
    if run.kind == "dump" and not (run.height_m > 0):
        raise InputError(f"a dump needs a height > 0 m, got {run.height_m!r}", field="height_m")
    if run.kind == "pit" and run.depth_m + model.zaa_depth_m + 20.0 > model.domain_depth_m:
        raise InputError(
            f"a pit {run.depth_m:g} m deep does not fit in the model domain ({model.domain_depth_m:g} m "
            f"deep; it needs the pit depth + the depth of zero annual amplitude + 20 m); raise "
            "mining.domain_depth_m",
            field="depth_m",
        )
    if not (run.radius_m > 0):
        raise InputError(f"the feature has no area (radius {run.radius_m!r} m)", field="geometry")
    if not (run.years > 0):
        raise InputError(
            f"the feature must start before the epoch (got {run.years:g} years)", field="start_year"
        )


def run_feature(run: FeatureRun, model: GroundModel) -> RadialChange:
    """Simulate one feature and return its change of MAGT by radius (see the module docstring)."""
    check_run(run, model)
    a = float(run.radius_m)
    q, kf = model.heat_flux_w_m2, model.ground.k_frozen
    zaa = model.zaa_depth_m
    h = float(run.height_m) if run.kind == "dump" else 0.0
    d = float(run.depth_m) if run.kind == "pit" else 0.0
    r = radial_nodes(a, model.reach_m)
    z = depth_nodes(max(d, h), zaa, model.domain_depth_m + h, must=(d, h))
    mesh = AxisymmetricMesh(r, z)
    R, Z = mesh.nodes
    inside = R <= a + 1e-9
    depth_nat = Z - h  # depth below the natural surface [m]
    active = np.ones(mesh.shape, dtype=bool)
    material = np.zeros(mesh.shape, dtype=int)
    surface = np.zeros(mesh.shape, dtype=int)  # 0 natural surface, 1 the feature's surface
    initial = run.magt_c + q * np.maximum(depth_nat, 0.0) / kf
    if run.kind == "pit":
        active[inside & (Z < d - 1e-9)] = False
        surface[inside | (Z > 1e-9)] = 1  # floor and walls (the rim stays natural)
    else:
        active[~inside & (depth_nat < -1e-9)] = False
        body = inside & (depth_nat < -1e-9)
        material[body] = 1
        initial = np.where(body, run.new_surface_c, initial)
        surface[:] = 1
        surface[~inside & (np.abs(depth_nat) < 1e-9)] = 0
    steps = max(int(np.ceil(run.years * YEAR_DAYS / model.dt_days)), 1)
    dt = run.years * YEAR_DAYS * DAY / steps
    surfaces = [lambda t, v=run.magt_c: v, lambda t, v=run.new_surface_c: v]
    base = HeatFluxBase(q)
    res = simulate_section(
        mesh, [model.ground, model.waste], material, surfaces, base, initial=initial,
        surface_index=surface, active=active, duration=steps * dt,
        dt=dt, save_every=steps,
    )  # fmt: skip
    col = ColumnMesh(np.unique(np.round(np.concatenate([z[z >= h] - h, [zaa]]), 6)))
    ctrl = simulate_column(
        col, [model.ground], np.zeros(col.z.size, int), lambda t, v=run.magt_c: v, base,
        initial=run.magt_c + q * col.z / kf, duration=steps * dt, dt=dt, save_every=steps,
    )  # fmt: skip
    t_ctrl = float(np.interp(zaa, col.z, ctrl.temperature[-1]))
    final = res.temperature[-1]
    top = np.where(inside, d if run.kind == "pit" else 0.0, h)  # present surface depth per column
    at_zaa = np.array([np.interp(top[0, j] + zaa, z, final[:, j]) for j in range(r.size)])
    return RadialChange(r=r, delta_magt=at_zaa - t_ctrl, radius_m=a)
