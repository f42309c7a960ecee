"""Run a site :class:`~pfatlas.thermal.scenario.Scenario` and write its outputs.

Orchestration and I/O only: the scenario becomes a mesh, a material index, surface and base
conditions for :func:`~pfatlas.thermal.simulate_column` or :func:`~pfatlas.thermal.simulate_section`;
the result is written as ``temperature.nc`` (temperature and ice content in time, NetCDF3 through
scipy) and ``summary.csv`` (ALT and MAGT per year), each to a temporary name then renamed.
"""

from __future__ import annotations

import csv
import os
import warnings
from pathlib import Path

import numpy as np
import psutil
import xarray as xr

from pfatlas.errors import InputError, MissingInputError, PfatlasWarning
from pfatlas.thermal.column import (
    DAY,
    ColumnMesh,
    ColumnResult,
    FixedTemperatureBase,
    HeatFluxBase,
    SeriesSurface,
    SinusoidalSurface,
    run_steps,
    saved_count,
    simulate_column,
)
from pfatlas.thermal.figure import write_figure
from pfatlas.thermal.mesh2d import AxisymmetricMesh, SectionMesh, SectionResult, simulate_section
from pfatlas.thermal.scenario import AIR, Scenario, _SurfaceFields

__all__ = ["memory_needed", "read_air_series", "run_scenario", "scenario_model"]

# Peak memory of a run over the size of its stored steps in float64: the enthalpy (the temperature
# is written over it), the thawed fraction, the ice content and the float32 copies written. Measured
# 5.3 on the template made a 51 x 141 section, 20 years daily (2.2 GB over the 0.25 GB of a
# started process, for 0.42 GB of float64 field).
MEMORY_PER_STORED = 5.5


def read_air_series(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Days [d] and air temperatures [degC] from a CSV with columns ``day, air_temperature_c``."""
    if not path.is_file():
        raise MissingInputError("surface series file does not exist", path=path)
    days, temps = [], []
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        for col in ("day", "air_temperature_c"):
            if col not in (reader.fieldnames or []):
                raise InputError("missing column", path=path, field=col)
        for row_no, row in enumerate(reader, start=2):
            try:
                days.append(float(row["day"]))
                temps.append(float(row["air_temperature_c"]))
            except (TypeError, ValueError):
                raise InputError(
                    "not a number", path=path, row=row_no, field="day/air_temperature_c"
                ) from None
    if len(days) < 2 or np.any(np.diff(days) <= 0) or not np.all(np.isfinite(temps)):
        raise InputError("need >= 2 rows with increasing days and finite temperatures", path=path)
    return np.array(days), np.array(temps)


def _surface(spec: _SurfaceFields):
    if spec.series is not None:
        days, temps = read_air_series(spec.series)
        return SeriesSurface(days * DAY, temps, n_thaw=spec.n_thaw, n_freeze=spec.n_freeze)
    return SinusoidalSurface(
        spec.mean,
        spec.amplitude,
        trend=spec.trend,
        t0=spec.phase_days * DAY,
        n_thaw=spec.n_thaw,
        n_freeze=spec.n_freeze,
    )


def scenario_model(scenario: Scenario) -> dict:
    """The solver's arguments for a scenario: ``mesh``, ``materials``, ``material_index``,
    ``surface``, ``base``, ``initial``, ``years``, ``dt`` [s], ``save_every`` (and for 2-D
    ``surface_index`` and ``active``, False in the air regions)."""
    g = scenario.grid
    column = ColumnMesh.default(
        depth=g.depth, dz=g.dz, fine_depth=min(g.fine_depth, g.depth), growth=g.growth
    )
    materials, by_name = scenario.material_list()
    bottoms = [layer.bottom for layer in scenario.layers]
    surface = _surface(scenario.surface)
    base = (
        HeatFluxBase(scenario.base.flux)
        if scenario.base.temperature is None
        else FixedTemperatureBase(scenario.base.temperature)
    )
    dt = scenario.time_step_days * DAY
    model = {
        "materials": materials,
        "base": base,
        "years": scenario.years,
        "dt": dt,
        "save_every": int(round(scenario.output.interval_days / scenario.time_step_days)),
    }
    if scenario.geometry == "column":
        mesh = column
        index = column.material_index(bottoms)
        surfaces = surface
    else:
        nx = int(round(g.width / g.dx)) + 1
        cls = SectionMesh if scenario.geometry == "section" else AxisymmetricMesh
        mesh = cls(np.linspace(0.0, g.width, nx), column.z)
        index = mesh.layered_index(bottoms)
        active = np.ones(mesh.shape, dtype=bool)
        x, z = mesh.nodes
        for region in scenario.regions:
            (x0, x1), (z0, z1) = region.x, region.z
            if region.material == AIR:  # open inside: its edges are the exposed ground surface
                widen = region.slope * (z1 - z)  # sloping walls: wider towards the top
                left = (x0 <= 0.0) | (x > x0 - widen)
                right = (x1 >= g.width) | (x < x1 + widen)
                active[(z < z1) & left & right] = False
            else:  # bounds inclusive
                inside = (x >= x0) & (x <= x1) & (z >= z0) & (z <= z1)
                index[inside] = by_name[region.material]
                active[inside] = True
        model["active"] = active
        surfaces = [surface]
        seg = np.zeros(nx, dtype=int)
        for k, spec in enumerate(scenario.surface.segments, start=1):
            surfaces.append(_surface(spec))
            seg[(mesh.x >= spec.x[0]) & (mesh.x <= spec.x[1])] = k
        model["surface_index"] = seg
    if scenario.initial_temperature is not None:
        initial = scenario.initial_temperature
    else:
        first = surfaces[0] if isinstance(surfaces, list) else surfaces
        initial = float(np.mean(first(np.arange(365) * DAY)))
    model.update(mesh=mesh, material_index=index, surface=surfaces, initial=initial)
    return model


def memory_needed(scenario: Scenario, model: dict | None = None) -> float:
    """Estimated peak memory [bytes] of a run of ``scenario`` (its :func:`scenario_model`, built
    if not given): its stored steps x its nodes x ``MEMORY_PER_STORED`` x 8 bytes."""
    model = scenario_model(scenario) if model is None else model
    n_steps, _ = run_steps(model["years"], None, model["dt"])
    return MEMORY_PER_STORED * 8.0 * saved_count(n_steps, model["save_every"]) * model["mesh"].n


def _size(nbytes: float) -> str:
    return f"{nbytes / 1e9:.1f} GB" if nbytes >= 1e9 else f"{nbytes / 1e6:.0f} MB"


def _check_memory(scenario: Scenario, model: dict, source: str | Path | None) -> None:
    """Refuse a run whose stored field cannot fit in this machine's memory; warn past half of it."""
    need, total = memory_needed(scenario, model), psutil.virtual_memory().total
    if need <= total / 2:
        return
    what = (
        f"storing every {scenario.output.interval_days:g} days needs about {_size(need)} of memory"
        f" and this machine has {_size(total)}"
    )
    if need > total:
        raise InputError(f"{what}: raise output.interval_days", path=source, field="output.interval_days")
    warnings.warn(f"{what}; a larger output.interval_days stores less", PfatlasWarning, stacklevel=3)


def _summary_columns(scenario: Scenario, x: np.ndarray) -> list[int]:
    if scenario.output.columns is not None:
        wanted = scenario.output.columns
    else:
        wanted = [0.0 if scenario.geometry == "axisymmetric" else x[-1] / 2]
    return [int(np.argmin(np.abs(x - w))) for w in wanted]


def _summary_rows(result: ColumnResult, position: dict[str, str] | None) -> list[dict]:
    alt, alt_0c = result.annual_alt(), result.annual_alt(isotherm=True)
    magt, zaa = result.annual_magt()
    rows = []
    for k in range(alt.size):
        row = dict(position) if position else {}
        row.update(
            year=k + 1,
            alt_m=_fmt(alt[k]),
            alt_0c_m=_fmt(alt_0c[k]),
            magt_c=_fmt(magt[k]),
            zaa_m=_fmt(zaa[k]),
        )
        rows.append(row)
    return rows


def _fmt(v: float) -> str:
    return "" if not np.isfinite(v) else f"{v:.4f}"


def _dataset(scenario: Scenario, result: ColumnResult | SectionResult) -> xr.Dataset:
    dims = ["time", "z"]
    coords = {
        "time": (
            "time",
            result.times / DAY,
            {"units": "days", "long_name": "time since the start of the run"},
        ),
        "z": (
            "z",
            result.z,
            {"units": "m", "long_name": "depth below the ground surface", "positive": "down"},
        ),
    }
    if isinstance(result, SectionResult):
        h = "x" if result.geometry == "section" else "r"
        dims.append(h)
        long = "horizontal distance" if h == "x" else "radius from the axis"
        coords[h] = (h, result.x, {"units": "m", "long_name": long})
    temp, ice = result.temperature.astype(np.float32), result.ice_content.astype(np.float32)
    if isinstance(result, SectionResult) and result.active is not None:
        temp[:, ~result.active] = np.nan  # air: no ground there
        ice[:, ~result.active] = np.nan
    data = {
        "temperature": (dims, temp, {"units": "degC", "long_name": "ground temperature"}),
        "ice_content": (dims, ice, {"units": "m3 m-3", "long_name": "volumetric ice content"}),
    }
    attrs = {
        "title": f"pfatlas site simulation: {scenario.name}",
        "geometry": scenario.geometry,
        "scenario": scenario.model_dump_json(),
    }
    return xr.Dataset(data, coords=coords, attrs=attrs)


def _replace(tmp: Path, final: Path) -> None:
    try:
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def run_scenario(
    scenario: Scenario, outdir: str | Path, *, source: str | Path | None = None, progress=None
) -> dict[str, Path]:
    """Run ``scenario`` and write ``temperature.nc`` and ``summary.csv`` into ``outdir``.

    Parameters
    ----------
    scenario
        A validated scenario (see :func:`~pfatlas.thermal.scenario.load_scenario`).
    outdir
        Output folder, created if needed.
    source
        The scenario's file, named in errors.
    progress
        Called as ``progress(steps done, steps in all)`` after each time step.

    Raises
    ------
    InputError
        The stored field would not fit in this machine's memory (:func:`memory_needed`; past half
        of it, a :class:`~pfatlas.errors.PfatlasWarning`).

    Returns
    -------
    dict
        ``{"temperature": path, "summary": path, "figure": path}``. ``temperature.nc`` holds ``temperature``
        [degC] and ``ice_content`` [m3 m-3] on (time [days], z [m], and x or r [m] in 2-D) at the
        scenario's output interval, and the scenario (JSON) as the global attribute ``scenario``.
        ``summary.csv`` has ``year, alt_m, alt_0c_m, magt_c, zaa_m`` per complete year (empty where
        there is no permafrost or the model is too shallow for MAGT), computed from the stored
        field (``alt_m`` from the thaw front holding the latent heat taken up, ``alt_0c_m`` from
        the 0 degC isotherm, the top of a partly thawed zone), with
        ``x_m`` or ``r_m`` and ``surface_m`` first in 2-D for each summary column: the depth of its
        ground surface below the top of the model (a pit's floor; 0 without air above it), from
        which its ALT and ``zaa_m`` are measured. Air nodes are NaN in ``temperature.nc``.
        ``temperature.png`` is a quick look (:mod:`pfatlas.thermal.figure`).
    """
    model = scenario_model(scenario)
    _check_memory(scenario, model, source)
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    model["progress"] = progress
    if scenario.geometry == "column":
        result = simulate_column(**model)
        rows = _summary_rows(result, None)
    else:
        result = simulate_section(**model)
        h = "x_m" if scenario.geometry == "section" else "r_m"
        rows = []
        for i in _summary_columns(scenario, result.x):
            position = {h: f"{result.x[i]:.3f}", "surface_m": f"{result.z[result.ground_top(i)]:.3f}"}
            rows += _summary_rows(result.column(i), position)
    paths = {"temperature": outdir / "temperature.nc", "summary": outdir / "summary.csv"}

    tmp = outdir / ".temperature.nc.part"
    try:
        _dataset(scenario, result).to_netcdf(tmp, engine="scipy", format="NETCDF3_64BIT")
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _replace(tmp, paths["temperature"])

    tmp = outdir / ".summary.csv.part"
    fields = list(rows[0]) if rows else ["year", "alt_m", "alt_0c_m", "magt_c", "zaa_m"]
    with tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    _replace(tmp, paths["summary"])
    paths["figure"] = write_figure(result, scenario.name, outdir / "temperature.png")
    return paths
