"""Schema of a site scenario for ``pfatlas simulate`` (pydantic v2), and its loader.

A scenario describes one column, section (x-z) or axisymmetric (r-z) model: materials by name,
horizontal layers, rectangular regions painted over them (2-D only; ``material = "air"`` removes the
ground there: a pit, or the open air beside a dump), the surface temperature
(a sinusoid with trend and n-factors, or a CSV series; per segment of the surface in 2-D), the base
(geothermal heat flux or a fixed temperature), the grid, the run length and the output interval.
:func:`load_scenario` reads it once: unknown keys are refused, and any problem becomes one
:class:`~pfatlas.errors.ConfigError` naming the file and the key. ``pfatlas template-scenario``
prints a commented example.
"""

from __future__ import annotations

import math
from importlib.resources import files
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pfatlas.config.toml_model import KeyedError, load_toml_model
from pfatlas.errors import InputError
from pfatlas.thermal.materials import Material

__all__ = [
    "AIR",
    "GridSpec",
    "LayerSpec",
    "MaterialSpec",
    "RegionSpec",
    "Scenario",
    "SegmentSpec",
    "SurfaceSpec",
    "load_scenario",
    "template_scenario",
]


AIR = "air"  # the region material that removes ground (reserved: not a material name)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MaterialSpec(_Section):
    """Thermal properties of one material (see :class:`pfatlas.thermal.Material`)."""

    k_thawed: float = Field(gt=0)  # [W m-1 K-1]
    k_frozen: float = Field(gt=0)  # [W m-1 K-1]
    c_thawed: float = Field(gt=0)  # [J m-3 K-1]
    c_frozen: float = Field(gt=0)  # [J m-3 K-1]
    water_content: float = Field(0.0, ge=0, le=1)  # [m3 m-3]
    unfrozen_water: float = Field(0.0, ge=0, le=1)  # [m3 m-3]
    freezing_range: float = Field(0.05, gt=0)  # [K]
    freezing_point: float = 0.0  # [degC]

    @model_validator(mode="after")
    def _consistent(self):
        self.to_material("material")  # the Material's own cross-field checks
        return self

    def to_material(self, name: str) -> Material:
        try:
            return Material(name, **self.model_dump())
        except InputError as exc:
            raise KeyedError(exc.field or "", exc.detail.split(": ", 1)[-1]) from None


class LayerSpec(_Section):
    """A horizontal layer from ``top`` to ``bottom`` depth [m] of one material."""

    top: float = Field(ge=0)  # [m]
    bottom: float = Field(gt=0)  # [m]
    material: str

    @model_validator(mode="after")
    def _order(self):
        if self.bottom <= self.top:
            raise KeyedError("bottom", f"must be below top ({self.top} m)")
        return self


class RegionSpec(_Section):
    """A rectangle of one material painted over the layers (2-D): ``x`` (or r) and ``z`` ranges [m].

    ``material = "air"`` removes the ground in it (from the top of the model: a pit, or the air
    beside a dump whose top is the top of the model); the ground exposed to it takes the surface
    temperature of the segment covering its x. ``slope`` [m per m] widens air upward by that much
    on each side inside the model: sloping pit walls or dump sides (0: vertical).
    """

    x: tuple[float, float]  # [m] x or r range
    z: tuple[float, float]  # [m] depth range
    material: str
    slope: float = Field(0.0, ge=0)  # [m m-1] air only: horizontal run per metre of height

    @model_validator(mode="after")
    def _order(self):
        for key in ("x", "z"):
            lo, hi = getattr(self, key)
            if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
                raise KeyedError(key, "must be [min, max] with min < max")
        return self


class _SurfaceFields(_Section):
    mean: float | None = None  # [degC] mean air temperature at the start
    amplitude: float = Field(0.0, ge=0)  # [K] half the annual range
    trend: float = 0.0  # [K per year]
    phase_days: float = 0.0  # [d] the sinusoid rises through the mean this many days after the start
    n_thaw: float = Field(1.0, gt=0)  # [-] surface / air temperature above 0 degC
    n_freeze: float = Field(1.0, gt=0)  # [-] surface / air temperature below 0 degC
    series: Path | None = None  # CSV: day (from the start), air_temperature_c

    @model_validator(mode="after")
    def _one_kind(self):
        if (self.mean is None) == (self.series is None):
            raise KeyedError("mean", "give either mean (a sinusoid) or series (a CSV file), not both")
        return self


class SegmentSpec(_SurfaceFields):
    """A part ``x`` = [min, max] [m] of a 2-D model's surface with its own temperature."""

    x: tuple[float, float]

    @model_validator(mode="after")
    def _order(self):
        if not self.x[0] < self.x[1]:
            raise KeyedError("x", "must be [min, max] with min < max")
        return self


class SurfaceSpec(_SurfaceFields):
    """Surface temperature; ``segments`` override it over parts of a 2-D model's surface."""

    segments: list[SegmentSpec] = Field(default_factory=list)


class BaseSpec(_Section):
    """Lower boundary: ``heat_flux`` [W m-2] upward, or a fixed ``temperature`` [degC]."""

    heat_flux: float | None = None
    temperature: float | None = None

    @model_validator(mode="after")
    def _one_kind(self):
        if self.heat_flux is not None and self.temperature is not None:
            raise KeyedError("temperature", "give either heat_flux or temperature, not both")
        return self

    @property
    def flux(self) -> float:
        """The base heat flux [W m-2] (SPEC default 0.06 when neither key is given)."""
        return 0.06 if self.heat_flux is None else self.heat_flux


class GridSpec(_Section):
    """Node spacing: ``dz`` to ``fine_depth``, then growing by ``growth`` to ``depth`` [m]; in 2-D
    ``width`` [m] across (x from 0, or r from the axis) at spacing ``dx`` [m]."""

    depth: float = Field(30.0, gt=0)  # [m]
    dz: float = Field(0.05, gt=0)  # [m]
    fine_depth: float = Field(5.0, gt=0)  # [m]
    growth: float = Field(1.1, ge=1.0)  # [-]
    width: float | None = Field(None, gt=0)  # [m]
    dx: float | None = Field(None, gt=0)  # [m]


class OutputSpec(_Section):
    """Output interval [d] (a multiple of the time step) and, in 2-D, the x (or r) positions [m]
    of the summary's columns (default: the centre of a section, the axis of an axisymmetric model)."""

    interval_days: float = Field(1.0, gt=0)
    columns: list[float] | None = None


class Scenario(_Section):
    """One site model, validated (see the module docstring and ``pfatlas template-scenario``)."""

    name: str = "scenario"
    geometry: Literal["column", "section", "axisymmetric"] = "column"
    years: float = Field(gt=0)  # model years of 365 days
    time_step_days: float = Field(1.0, gt=0)  # [d]
    initial_temperature: float | None = None  # [degC]; None: the mean surface temperature of year 1
    grid: GridSpec = Field(default_factory=GridSpec)
    materials: dict[str, MaterialSpec]
    layers: list[LayerSpec] = Field(min_length=1)
    regions: list[RegionSpec] = Field(default_factory=list)
    surface: SurfaceSpec
    base: BaseSpec = Field(default_factory=BaseSpec)
    output: OutputSpec = Field(default_factory=OutputSpec)

    @model_validator(mode="after")
    def _consistent(self):
        names = set(self.materials)
        if AIR in names:
            raise KeyedError(f"materials.{AIR}", f"'{AIR}' is reserved: the regions where there is no ground")
        for key, items in (("layers", self.layers), ("regions", self.regions)):
            for i, item in enumerate(items):
                if item.material not in names and not (key == "regions" and item.material == AIR):
                    extra = f"; or '{AIR}' to remove ground" if key == "regions" else ""
                    raise KeyedError(
                        f"{key}[{i}].material",
                        f"unknown material '{item.material}' (defined: {', '.join(sorted(names))}{extra})",
                    )
                if key == "regions" and item.material != AIR and item.slope > 0:
                    raise KeyedError(f"{key}[{i}].slope", f"only for material '{AIR}' (sloping walls)")
                if item.material == AIR and item.z[0] > 0:
                    raise KeyedError(
                        f"{key}[{i}].z", f"air must reach the top of the model (z from 0, not {item.z[0]})"
                    )
                if item.material == AIR and item.z[1] >= self.grid.depth:
                    raise KeyedError(
                        f"{key}[{i}].z",
                        f"air must end above the base of the model (grid.depth = {self.grid.depth} m)",
                    )
        if self.layers[0].top != 0:
            raise KeyedError("layers[0].top", "the first layer must start at the surface (0 m)")
        for i in range(1, len(self.layers)):
            above, layer = self.layers[i - 1], self.layers[i]
            if layer.top < above.bottom:
                raise KeyedError(
                    f"layers[{i}].top", f"overlaps layers[{i - 1}] (which ends at {above.bottom} m)"
                )
            if layer.top > above.bottom:
                raise KeyedError(f"layers[{i}].top", f"leaves a gap below layers[{i - 1}] ({above.bottom} m)")
        if self.layers[-1].bottom < self.grid.depth:
            raise KeyedError(
                f"layers[{len(self.layers) - 1}].bottom",
                f"layers must reach the base of the model (grid.depth = {self.grid.depth} m)",
            )
        if self.geometry == "column":
            for key, bad in (
                ("regions", bool(self.regions)),
                ("surface.segments", bool(self.surface.segments)),
                ("output.columns", self.output.columns is not None),
                ("grid.width", self.grid.width is not None or self.grid.dx is not None),
            ):
                if bad:
                    raise KeyedError(key, "only for geometry 'section' or 'axisymmetric'")
        elif self.grid.width is None or self.grid.dx is None:
            raise KeyedError("grid.width", f"geometry '{self.geometry}' needs grid.width and grid.dx")
        elif self.output.columns is not None:
            for i, x in enumerate(self.output.columns):
                if not 0 <= x <= self.grid.width:
                    raise KeyedError(f"output.columns[{i}]", f"must be within [0, {self.grid.width}] m")
        steps = self.years * 365.0 / self.time_step_days
        if abs(steps - round(steps)) > 1e-6:
            raise KeyedError("time_step_days", "the run must be a whole number of time steps")
        every = self.output.interval_days / self.time_step_days
        if abs(every - round(every)) > 1e-6 or round(every) < 1:
            raise KeyedError("output.interval_days", "must be a whole multiple of time_step_days")
        return self

    def material_list(self) -> tuple[list[Material], dict[str, int]]:
        """The materials as :class:`~pfatlas.thermal.Material` objects and their index by name."""
        order = list(self.materials)
        return [self.materials[n].to_material(n) for n in order], {n: i for i, n in enumerate(order)}


def _resolve_series(surface: SurfaceSpec, base: Path) -> SurfaceSpec:
    def res(p: Path | None) -> Path | None:
        return None if p is None else (p if p.is_absolute() else base / p).resolve()

    segments = [s.model_copy(update={"series": res(s.series)}) for s in surface.segments]
    return surface.model_copy(update={"series": res(surface.series), "segments": segments})


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario TOML file.

    Parameters
    ----------
    path
        The TOML file; a surface ``series`` path in it is taken relative to its folder.

    Raises
    ------
    MissingInputError
        The file does not exist.
    ConfigError
        The TOML is malformed or a value is invalid (the message names the file and the key).
    """
    path = Path(path)
    scenario = load_toml_model(
        path, Scenario, what="scenario file", template_command="pfatlas template-scenario"
    )
    surface = _resolve_series(scenario.surface, path.parent.resolve())
    return scenario.model_copy(update={"surface": surface})


def template_scenario() -> str:
    """The commented scenario template (a 1-D column under a meadow)."""
    return files("pfatlas").joinpath("templates/scenario.toml").read_text(encoding="utf-8")
