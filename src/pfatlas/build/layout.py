"""Where each epoch's layers live, with and without the mining-impact stage.

Without mining the natural layers (MAGT, permafrost, stability, ALT, ground ice) are the atlas and
are written to ``OUT/<epoch>/``. With mining (mining polygons in the config, or pits and dumps
taken from the land cover) the natural stages write to ``OUT/<epoch>/natural/`` -- the ground as
it would be without mining -- and the ``mining_impact/<epoch>`` stage writes the atlas layers
to ``OUT/<epoch>/`` (the natural ones where no pit or dump reaches).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pfatlas.build.context import BuildContext
from pfatlas.config import Config

__all__ = [
    "mining_configured",
    "natural_dir",
    "final_stage",
    "natural_landcover",
    "landcover_stage",
    "measurement_epochs",
    "borehole_landcover",
    "borehole_landcover_inputs",
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


def measurement_epochs(ctx: BuildContext, years) -> np.ndarray:
    """The epoch label nearest each measurement year (the earlier one on a tie)."""
    epochs = sorted(ctx.cfg.epochs, key=lambda e: e.year)
    ey = np.array([e.year for e in epochs], dtype=float)
    y = np.asarray(years, dtype=float).reshape(-1)
    nearest = np.argmin(np.abs(y[:, None] - ey[None, :]), axis=1)  # first minimum: the earlier epoch
    return np.array([epochs[i].label for i in nearest], dtype=object)


def borehole_landcover(ctx: BuildContext, boreholes: pd.DataFrame, label: str) -> np.ndarray:
    """Class code (float, NaN where unmapped) of each borehole's cell in the natural land cover of
    the epoch nearest its measurement year (epoch ``label``'s where the year is unknown).

    A borehole describes the ground when it was measured, so the land cover that goes with it is
    the one of that time, whichever epoch is being mapped: every epoch's models are then fitted on
    the same table, and a map changes between epochs only where its land cover does (a borehole
    whose cell the two maps classify differently would otherwise tilt one class's coefficients,
    and every cell of that class would change between the epochs).
    """
    from pfatlas.io.raster import sample_points

    rows, cols = boreholes["row"].to_numpy(), boreholes["col"].to_numpy()
    years = (
        boreholes["year"].to_numpy(dtype=float) if "year" in boreholes else np.full(len(boreholes), np.nan)
    )
    which = np.full(len(boreholes), label, dtype=object)
    known = np.isfinite(years)
    which[known] = measurement_epochs(ctx, years[known])
    out = np.full(len(boreholes), np.nan)
    for label in dict.fromkeys(which.tolist()):
        m = which == label
        out[m] = sample_points(natural_landcover(ctx, label), rows[m], cols[m])
    return out


def borehole_landcover_inputs(ctx: BuildContext) -> tuple[list[Path], list[str]]:
    """The land-cover files :func:`borehole_landcover` may read, and the stages that write them."""
    labels = [e.label for e in ctx.cfg.epochs]
    return [natural_landcover(ctx, e) for e in labels], [landcover_stage(ctx, e) for e in labels]
