"""The run configuration: one TOML file, validated once, defaults filled in."""

from pfatlas.config.schema import (
    Config,
    EpochConfig,
    LandCoverClass,
    SoilParameters,
    load_config,
    resolved_toml,
)
from pfatlas.config.template import template_config

__all__ = [
    "Config",
    "EpochConfig",
    "LandCoverClass",
    "SoilParameters",
    "load_config",
    "resolved_toml",
    "template_config",
]
