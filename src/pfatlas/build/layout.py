"""Where each epoch's layers live, with and without the mining-impact stage.

Without mining the natural layers (MAGT, permafrost, stability, ALT, ground ice) are the atlas and
are written to ``OUT/<epoch>/``. With mining (mining polygons in the config, or pits and dumps
taken from the land cover) the natural stages write to ``OUT/<epoch>/natural/`` -- the ground as
it would be without mining -- and the ``mining_impact/<epoch>`` stage writes the atlas layers
to ``OUT/<epoch>/`` (the natural ones where no pit or dump reaches).
"""

from __future__ import annotations

from pathlib import Path

from pfatlas.build.context import BuildContext
from pfatlas.config import Config

__all__ = [
    "mining_configured",
    "natural_dir",
    "final_stage",
    "natural_landcover",
    "landcover_stage",
    "NATURAL",
    "ATLAS_LAYERS",
]

NATURAL = "natural"

#: The layers the mining stage rewrites (the rest of the epoch folder is shared).
ATLAS_LAYERS = (
    "magt",
    "magt_se",
    "permafrost",
    "permafrost_probability",
    "thermal_stability",
    "alt",
    "ground_ice",
    "ice_volume",
    "ice_class",
)


def mining_configured(cfg: Config) -> bool:
    """Whether the build has a mining-impact stage: polygons given, or pits and dumps from the
    land cover (``mining.from_landcover``, needs land-cover samples and scenes)."""
    if cfg.inputs.mining is not None:
        return True
    return bool(cfg.mining.from_landcover and cfg.inputs.samples is not None and cfg.inputs.landsat)


def natural_dir(ctx: BuildContext, label: str) -> Path:
    """Folder of the natural (without mining) layers of epoch ``label``."""
    return ctx.path(label, NATURAL) if mining_configured(ctx.cfg) else ctx.path(label)


def final_stage(ctx: BuildContext, label: str) -> str:
    """Name of the stage that writes the atlas layers of epoch ``label`` into ``OUT/<label>/``."""
    return f"mining_impact/{label}" if mining_configured(ctx.cfg) else f"ground_ice/{label}"


def natural_landcover(ctx: BuildContext, label: str) -> Path:
    """The land cover the natural stages read: with mining, the map with the mined cells given
    the class of the nearest unmined cell (``OUT/<epoch>/natural/landcover.tif``)."""
    return natural_dir(ctx, label) / "landcover.tif"


def landcover_stage(ctx: BuildContext, label: str) -> str:
    """Name of the stage that writes :func:`natural_landcover`."""
    return f"natural_landcover/{label}" if mining_configured(ctx.cfg) else f"landcover/{label}"
