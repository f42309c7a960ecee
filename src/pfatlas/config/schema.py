"""Schema of the pfatlas TOML configuration (pydantic v2).

The config is read once by :func:`load_config`: unknown keys are refused (a typo is an error, not a
silent default), every number has the default of SPEC.md, paths are resolved relative to the config
file, and any problem becomes one :class:`~pfatlas.errors.ConfigError` naming the file and the key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Literal, get_args

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pfatlas.config.toml_model import load_toml_model

__all__ = [
    "Config",
    "AreaConfig",
    "InputsConfig",
    "EpochConfig",
    "ClimateConfig",
    "CompositeConfig",
    "LandCoverClass",
    "LandCoverConfig",
    "MagtConfig",
    "ThermalStabilityConfig",
    "SoilParameters",
    "ActiveLayerConfig",
    "GroundIceConfig",
    "MiningConfig",
    "ComputeConfig",
    "ProductsConfig",
    "load_config",
    "resolved_toml",
    "DEFAULT_CLASSES",
]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AreaConfig(_Section):
    name: str = "study area"
    bbox: tuple[float, float, float, float]  # lon_min, lat_min, lon_max, lat_max [deg, WGS84]
    resolution: float = Field(30.0, gt=0)  # [m]
    crs: str = "auto"  # "auto": UTM zone of the bbox centre; else any CRS string pyproj reads
    synthetic: bool = False  # label every output "synthetic"

    @field_validator("bbox")
    @classmethod
    def _bbox_order(cls, v):
        lon0, lat0, lon1, lat1 = v
        if not (lon0 < lon1 and lat0 < lat1):
            raise ValueError("must be [lon_min, lat_min, lon_max, lat_max] with min < max")
        if not (-180 <= lon0 <= 180 and -180 <= lon1 <= 180 and -90 <= lat0 <= 90 and -90 <= lat1 <= 90):
            raise ValueError("must be in degrees of longitude and latitude (WGS84)")
        return v


class InputsConfig(_Section):
    dem: Path
    landsat: list[Path] = Field(default_factory=list)
    boreholes: Path | None = None
    validation_boreholes: Path | None = None
    borehole_logs: Path | None = None
    samples: Path | None = None
    geomorphology: Path | None = None
    mining: Path | None = None


class EpochConfig(_Section):
    label: str
    start: dt.date  # first day of the Landsat composite window
    end: dt.date  # last day (inclusive)
    year: int  # the year the epoch represents (mining features started by then apply)

    @model_validator(mode="after")
    def _ordered(self):
        if self.end < self.start:
            raise ValueError(f"epoch '{self.label}': end {self.end} is before start {self.start}")
        if not self.label or "/" in self.label or self.label.strip() != self.label:
            raise ValueError(f"epoch label '{self.label}' must be a plain non-empty name (used as a folder)")
        return self


class ClimateConfig(_Section):
    station_name: str = "Yeniugou"
    station_elevation_m: float = 3320.0  # [m] Yeniugou (CMA)
    station_maat_c: float = -2.57  # [degC] Yeniugou 1981-2010 (CMA via iffylaw/PIC)
    station_thawing_index_cdays: float | None = Field(None, gt=0)  # [degC day] air thawing index
    lapse_rate_c_per_km: float = Field(5.6, gt=0)  # [degC km-1] Qilian air lapse (Chen R.S. et al. 2014)
    thawing_index_source: Literal["station", "lst"] = "station"


class CompositeConfig(_Section):
    months: list[int] = Field(default_factory=lambda: [6, 7, 8, 9])  # growing season Jun-Sep
    statistic: Literal["median"] = "median"

    @field_validator("months")
    @classmethod
    def _months(cls, v):
        if not v or any(m < 1 or m > 12 for m in v):
            raise ValueError("months must be a non-empty list of 1..12")
        return sorted(set(v))


class LandCoverClass(_Section):
    code: int = Field(ge=0, le=254)
    name: str
    color: str = "#808080"  # display colour
    # [m] training plot half-width for this class (None: landcover.plot_radius_m); 0 for classes
    # narrower than a plot, whose plot would be mostly other covers (roads, ditches)
    plot_radius_m: float | None = Field(None, ge=0, le=300)

    @field_validator("color")
    @classmethod
    def _hex(cls, v):
        s = v.lstrip("#")
        if len(s) != 6 or any(c not in "0123456789abcdefABCDEF" for c in s):
            raise ValueError(f"colour '{v}' must be '#rrggbb'")
        return "#" + s.lower()

    @property
    def rgb(self) -> tuple[int, int, int]:
        s = self.color.lstrip("#")
        return int(s[0:2], 16), int(s[2:4], 16), int(s[4:6], 16)


DEFAULT_CLASSES = [
    LandCoverClass(code=1, name="alpine swamp meadow", color="#2e7d5b"),
    LandCoverClass(code=2, name="alpine meadow", color="#7cb342"),
    LandCoverClass(code=3, name="alpine steppe", color="#d4c26a"),
    LandCoverClass(code=4, name="sparse vegetation / bare", color="#b0a59a"),
    LandCoverClass(code=5, name="water", color="#2b6cb0"),
    LandCoverClass(code=6, name="open pit", color="#3b3b3b"),
    LandCoverClass(code=7, name="waste dump", color="#8d5a3b"),
    LandCoverClass(code=8, name="built-up / road", color="#d62728", plot_radius_m=0.0),
]


class LandCoverConfig(_Section):
    classes: list[LandCoverClass] = Field(default_factory=lambda: list(DEFAULT_CLASSES))
    n_estimators: int = Field(150, ge=10)
    seed: int = 0
    validation_fraction: float = Field(0.3, gt=0, lt=1)  # held-out share of the samples
    # half-width [m] of the square plot around each training point whose cells all train the forest
    # with the point's class (30 m: the 3 x 3 cells of a 90 m plot); 0 = the point's cell only
    plot_radius_m: float = Field(30.0, ge=0, le=300)
    # train each epoch's forest also on the other epochs' training samples (each with its own
    # epoch's features), of the classes sampled in this epoch; false: the epoch's own samples only
    pool_epochs: bool = True
    # compound classification (Swain 1978): the classes of a cell in all epochs decided together, a
    # change between consecutive epochs having this prior probability; false: each epoch on its own
    compound_epochs: bool = True
    change_prior: float = Field(0.2, gt=0, lt=1)
    # radii [m] of the local-relief features (elevation minus the window mean); the largest also sets
    # the window of the height-above-local-minimum feature
    relief_radii_m: list[float] = Field(default_factory=lambda: [150.0, 1000.0], min_length=1)

    @field_validator("classes")
    @classmethod
    def _unique(cls, v):
        codes = [c.code for c in v]
        names = [c.name.strip().lower() for c in v]
        if len(set(codes)) != len(codes):
            raise ValueError(f"class codes must be unique, got {codes}")
        if len(set(names)) != len(names):
            raise ValueError("class names must be unique")
        return v


class MagtConfig(_Section):
    model: Literal["auto", "mlr", "rf"] = "auto"  # auto: the better by leave-one-out CV
    n_estimators: int = Field(500, ge=10)
    seed: int = 0
    cv_block_km: float = Field(5.0, gt=0)  # block size of the spatially blocked CV [km]
    cv_n_estimators: int = Field(50, ge=10)  # trees of the forests refitted in each CV fold


class ThermalStabilityConfig(_Section):
    # Cheng (1984) MAGT breaks [degC]: extremely stable | stable | sub-stable | transitional | unstable | none
    breaks: list[float] = Field(default_factory=lambda: [-5.0, -3.0, -1.5, -0.5, 0.0])

    @field_validator("breaks")
    @classmethod
    def _increasing(cls, v):
        if len(v) != 5 or any(v[i] >= v[i + 1] for i in range(len(v) - 1)):
            raise ValueError("breaks must be 5 strictly increasing MAGT values [degC]")
        return v


class SoilParameters(_Section):
    k_t: float = Field(gt=0)  # thawed thermal conductivity [W m-1 K-1]
    rho_d: float = Field(gt=0)  # dry density [kg m-3]
    w: float = Field(ge=0)  # gravimetric total water content [kg kg-1]
    w_u: float = Field(ge=0)  # gravimetric unfrozen water content at the freezing front [kg kg-1]
    n_t: float = Field(gt=0)  # thawing n-factor [-]

    @model_validator(mode="after")
    def _ice(self):
        if self.w_u >= self.w:
            raise ValueError(f"w_u ({self.w_u}) must be smaller than w ({self.w})")
        return self


def _default_soils() -> dict[str, SoilParameters]:
    # n_t: iffylaw/PIC Thaw_depth_Stefan.R (meadow/steppe 1.60, grassland 1.39, bare 2.55);
    # k_t within the permamodel thawed ranges (silt 1.05-1.90, sand 1.05-2.15, peat 0.14-0.24 W/m/K);
    # waste rock 0.62-2.08 W/m/K (Tan & Ritchie 1997). Calibrated on measured ALT by stage 8.
    return {
        "alpine swamp meadow": SoilParameters(k_t=1.20, rho_d=900.0, w=0.55, w_u=0.10, n_t=1.39),
        "alpine meadow": SoilParameters(k_t=1.50, rho_d=1300.0, w=0.28, w_u=0.06, n_t=1.60),
        "alpine steppe": SoilParameters(k_t=1.40, rho_d=1500.0, w=0.16, w_u=0.04, n_t=1.60),
        "sparse vegetation / bare": SoilParameters(k_t=1.80, rho_d=1700.0, w=0.10, w_u=0.02, n_t=2.55),
        "open pit": SoilParameters(k_t=2.00, rho_d=1900.0, w=0.08, w_u=0.02, n_t=2.55),
        "waste dump": SoilParameters(k_t=1.20, rho_d=1800.0, w=0.06, w_u=0.01, n_t=2.55),
        "built-up / road": SoilParameters(k_t=1.80, rho_d=1900.0, w=0.08, w_u=0.02, n_t=2.55),
    }


class ActiveLayerConfig(_Section):
    method: Literal["stefan", "kudryavtsev"] = "stefan"
    latent_heat_j_kg: float = Field(3.34e5, gt=0)  # [J kg-1] latent heat of fusion of water
    calibration: Literal["per_class", "per_unit", "per_class_and_unit", "overall", "none"] = (
        "per_class_and_unit"
    )
    soils: dict[str, SoilParameters] = Field(default_factory=_default_soils)


class GroundIceConfig(_Section):
    depth_below_table_m: float = Field(10.0, gt=0)  # [m] integrate from ALT to ALT + this
    rho_ice_kg_m3: float = Field(917.0, gt=0)  # [kg m-3]


class MiningConfig(_Section):
    # without mining polygons, take pits and dumps from the land-cover classes below (with the
    # default depth, height and age); needs a land-cover map
    from_landcover: bool = True
    pit_class: str = "open pit"
    dump_class: str = "waste dump"
    default_pit_depth_m: float = Field(50.0, gt=0)  # [m] pits from the land cover
    default_dump_height_m: float = Field(30.0, gt=0)  # [m] dumps from the land cover
    default_age_years: float = Field(10.0, gt=0)  # [yr] their age at the epoch
    # mean annual temperature of the new surfaces [degC] relative to the natural ground surface
    pit_floor_warming_c: float = 1.5  # bare rock floor (n_t 2.55 vs 1.6, no organic layer)
    dump_surface_warming_c: float = 1.2  # dark coarse waste rock, before the lapse over its height
    pit_lake_bottom_c: float = 3.5  # [degC] mean annual bottom temperature of a pit lake
    geothermal_heat_flux_w_m2: float = Field(0.06, gt=0)  # [W m-2]
    ground_conductivity: float = Field(2.0, gt=0)  # [W m-1 K-1] frozen ground / rock
    ground_heat_capacity: float = Field(2.0e6, gt=0)  # [J m-3 K-1]
    ground_water_content: float = Field(0.05, ge=0, lt=1)  # [m3 m-3] ice + water below the ALT
    waste_rock_conductivity: float = Field(1.35, gt=0)  # [W m-1 K-1], 0.62-2.08 (Tan & Ritchie 1997)
    waste_rock_heat_capacity: float = Field(1.8e6, gt=0)  # [J m-3 K-1]
    waste_rock_water_content: float = Field(0.10, ge=0, lt=1)  # [m3 m-3]
    domain_depth_m: float = Field(200.0, gt=20)  # [m] model depth below the natural surface
    reach_m: float = Field(1000.0, gt=0)  # [m] model width beyond the feature's edge
    dt_days: float = Field(90.0, gt=0)  # [day] time step of the runs (mean annual forcing)
    affected_threshold_c: float = Field(0.1, gt=0)  # [degC] |delta MAGT| that defines the ring


#: Where a build runs without a scheduler (``compute.cluster``, ``pfatlas build --cluster``).
Cluster = Literal["local", "processes", "threads"]
CLUSTERS: tuple[str, ...] = get_args(Cluster)


class ComputeConfig(_Section):
    chunk: int = Field(1024, ge=64)  # chunk edge [cells]
    workers: int | None = Field(None, ge=1)  # threads (None: 1 per core); "processes": processes (1)
    scheduler: str | None = None  # address of an existing dask.distributed scheduler
    # without a scheduler: a local dask.distributed cluster in this process ("local"), one of
    # worker processes ("processes"), or dask's threaded scheduler without a cluster ("threads")
    cluster: Cluster = "local"
    threads_per_worker: int | None = Field(None, ge=1)  # threads of each local worker; None: cores / workers


class ProductsConfig(_Section):
    enabled: bool = True  # plates, PDF atlas, viewer, STAC catalog and area tables after the layers
    plate_dpi: int = Field(150, ge=50, le=600)  # resolution of the map plates [dots per inch]


class Config(_Section):
    area: AreaConfig
    inputs: InputsConfig
    epochs: list[EpochConfig]
    climate: ClimateConfig = Field(default_factory=ClimateConfig)
    composite: CompositeConfig = Field(default_factory=CompositeConfig)
    landcover: LandCoverConfig = Field(default_factory=LandCoverConfig)
    magt: MagtConfig = Field(default_factory=MagtConfig)
    thermal_stability: ThermalStabilityConfig = Field(default_factory=ThermalStabilityConfig)
    active_layer: ActiveLayerConfig = Field(default_factory=ActiveLayerConfig)
    ground_ice: GroundIceConfig = Field(default_factory=GroundIceConfig)
    mining: MiningConfig = Field(default_factory=MiningConfig)
    compute: ComputeConfig = Field(default_factory=ComputeConfig)
    products: ProductsConfig = Field(default_factory=ProductsConfig)
    source_path: Path | None = Field(None, exclude=True)  # the TOML file this came from

    @field_validator("epochs")
    @classmethod
    def _epochs(cls, v):
        if not v:
            raise ValueError("at least one [[epochs]] table is needed")
        labels = [e.label for e in v]
        if len(set(labels)) != len(labels):
            raise ValueError(f"epoch labels must be unique, got {labels}")
        return v

    def epoch(self, label: str) -> EpochConfig:
        for e in self.epochs:
            if e.label == label:
                return e
        raise KeyError(label)

    def section_hash(self, *names: str) -> str:
        """Stable hash of some sections (used to decide whether a stage must rerun)."""
        dump = self.model_dump(mode="json", include=set(names))
        return hashlib.sha256(json.dumps(dump, sort_keys=True).encode()).hexdigest()[:16]


def load_config(path: str | Path) -> Config:
    """Read, validate and resolve a pfatlas TOML config.

    Parameters
    ----------
    path
        The TOML file. Relative input paths in it are taken relative to its folder.

    Returns
    -------
    Config
        Frozen, with every default filled in and absolute input paths.

    Raises
    ------
    MissingInputError
        The file does not exist.
    ConfigError
        The TOML is malformed or a value is invalid (the message names the key).
    """
    path = Path(path)
    cfg = load_toml_model(path, Config, what="config file", template_command="pfatlas template-config")
    base = path.parent.resolve()

    def res(p: Path | None) -> Path | None:
        return None if p is None else (p if p.is_absolute() else (base / p)).resolve()

    inputs = cfg.inputs.model_copy(
        update={
            name: ([res(p) for p in value] if isinstance(value, list) else res(value))
            for name, value in cfg.inputs
        }
    )
    return cfg.model_copy(update={"inputs": inputs, "source_path": path.resolve()})


def resolved_toml(cfg: Config) -> str:
    """The config with every default filled in, as TOML text (written to ``OUT/config.toml``)."""
    data = cfg.model_dump(mode="json", exclude_none=True)
    for e, raw in zip(data["epochs"], cfg.epochs, strict=True):
        e["start"], e["end"] = raw.start, raw.end
    head = "# pfatlas resolved configuration: every default filled in, absolute input paths\n"
    if cfg.area.synthetic:
        head += "# SYNTHETIC data (pfatlas virtual Muli)\n"
    return head + tomli_w.dumps(data)
