"""``pfatlas validate``: check every input of a config without running any stage."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pfatlas.build.context import make_context
from pfatlas.config import Config, load_config
from pfatlas.errors import CoverageError, InputError, NoClearPixelError, PfatlasError

__all__ = ["ValidationReport", "validate_config"]


@dataclass
class ValidationReport:
    """One line per checked input; problems and warnings collected rather than stopping at the first."""

    config: Path
    checked: list[tuple[str, str]] = field(default_factory=list)  # (input, summary)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def validate_config(config: str | Path | Config) -> ValidationReport:
    """Check the config and every input it names: existence, format, CRS, coverage, content.

    Nothing is computed or written. Returns a report whose ``problems`` list every error found
    (each naming its file, row and field) and whose ``warnings`` list what the build would warn.
    """
    cfg = config if isinstance(config, Config) else load_config(config)
    report = ValidationReport(config=cfg.source_path or Path("."))
    ctx = make_context(cfg, Path("."))
    gbox = ctx.gbox
    report.checked.append(
        ("grid", f"{gbox.shape[1]} x {gbox.shape[0]} cells of {cfg.area.resolution:g} m, {gbox.crs}")
    )

    def check(name: str, fn: Callable[[], str]) -> None:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                report.checked.append((name, fn()))
            except PfatlasError as exc:
                report.problems.append(str(exc))
        report.warnings.extend(str(w.message) for w in caught)

    def dem() -> str:
        from pfatlas.io.raster import covers, raster_info

        info = raster_info(cfg.inputs.dem)
        if not covers(info, gbox):
            raise CoverageError("DEM does not cover the study area", path=cfg.inputs.dem)
        return f"{info.shape[1]} x {info.shape[0]} cells, {info.crs.name}"

    check("dem", dem)

    if cfg.inputs.landsat:

        def landsat() -> str:
            from pfatlas.composite.seasonal import select_scenes
            from pfatlas.io.landsat import find_scenes
            from pfatlas.io.raster import overlaps, raster_info

            scenes = find_scenes(list(cfg.inputs.landsat))
            parts = []
            for e in cfg.epochs:
                sel = select_scenes(scenes, e.start, e.end, tuple(cfg.composite.months))
                if not sel:
                    raise NoClearPixelError(
                        f"epoch '{e.label}' has no Landsat scene between {e.start} and {e.end} in months "
                        f"{cfg.composite.months} ({len(scenes)} scene(s) found in total)",
                        field=f"epochs.{e.label}",
                    )
                for s in sel:
                    if not overlaps(raster_info(s.qa_pixel), gbox):
                        raise CoverageError("scene does not overlap the study area", path=s.folder)
                parts.append(f"{e.label}: {len(sel)} scene(s)")
            return f"{len(scenes)} scene(s); " + ", ".join(parts)

        check("landsat", landsat)

    if cfg.inputs.boreholes is not None:

        def boreholes() -> str:
            from pfatlas.build.stages import check_disjoint_ids
            from pfatlas.io.tables import read_borehole_logs, read_boreholes

            ids = set()
            n = []
            frames = []
            for p in (cfg.inputs.boreholes, cfg.inputs.validation_boreholes):
                if p is not None:
                    df = read_boreholes(p, gbox)
                    frames.append(df)
                    ids |= set(df["id"])
                    n.append(f"{len(df)} in {Path(p).name}")
            if len(frames) == 2:
                check_disjoint_ids(frames[0], frames[1], cfg.inputs.validation_boreholes)
            if cfg.inputs.borehole_logs is not None:
                logs = read_borehole_logs(cfg.inputs.borehole_logs, known_ids=ids)
                n.append(f"{len(logs)} log layers")
            return ", ".join(n)

        check("boreholes", boreholes)

    if cfg.inputs.samples is not None:

        def samples() -> str:
            from pfatlas.io.vectors import read_samples

            df = read_samples(
                cfg.inputs.samples,
                gbox,
                {c.code: c.name for c in cfg.landcover.classes},
                [e.label for e in cfg.epochs],
            )
            return f"{len(df)} points, " + ", ".join(
                f"{k}: {v}" for k, v in df["epoch"].value_counts().sort_index().items()
            )

        check("samples", samples)

    if cfg.inputs.geomorphology is not None:

        def geomorphology() -> str:
            from pfatlas.io.vectors import read_geomorphology

            gdf = read_geomorphology(cfg.inputs.geomorphology, gbox)
            return f"{len(gdf)} polygons, units: {', '.join(sorted(set(gdf['unit'])))}"

        check("geomorphology", geomorphology)

    if cfg.inputs.mining is not None:

        def mining() -> str:
            from pfatlas.io.vectors import read_mining

            gdf = read_mining(cfg.inputs.mining, gbox)
            kinds = gdf["kind"].value_counts().to_dict()
            return f"{len(gdf)} features ({kinds.get('pit', 0)} pits, {kinds.get('dump', 0)} dumps)"

        check("mining", mining)

    def stage_settings() -> str:
        from pfatlas.errors import ConfigError

        cfg_path = cfg.source_path
        runs_alt = (
            cfg.inputs.boreholes is not None and cfg.inputs.samples is not None and bool(cfg.inputs.landsat)
        )
        if not runs_alt:
            return "active layer not run (needs boreholes, samples and Landsat)"
        if cfg.climate.thawing_index_source == "station" and cfg.climate.station_thawing_index_cdays is None:
            raise ConfigError(
                "the active-layer stage needs the reference station's air thawing index [degC day]",
                path=cfg_path,
                field="climate.station_thawing_index_cdays",
            )
        if (
            cfg.active_layer.calibration in ("per_unit", "per_class_and_unit")
            and cfg.inputs.geomorphology is None
        ):
            raise ConfigError(
                f'active_layer.calibration = "{cfg.active_layer.calibration}" needs inputs.geomorphology '
                '(or choose "per_class")',
                path=cfg_path,
                field="active_layer.calibration",
            )
        return f"active layer: {cfg.active_layer.method}, calibration {cfg.active_layer.calibration}"

    check("settings", stage_settings)
    return report


def raise_if_invalid(report: ValidationReport) -> None:
    """Raise one InputError listing every problem of ``report``."""
    if not report.ok:
        lines = "\n  - ".join(report.problems)
        raise InputError(f"{len(report.problems)} problem(s) in the inputs:\n  - {lines}", path=report.config)
