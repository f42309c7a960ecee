"""What every build stage receives: the config, the output folder, the grid."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from odc.geo.geobox import GeoBox

from pfatlas import SYNTHETIC_LABEL
from pfatlas.config import Config
from pfatlas.grid import grid_from_bbox

__all__ = ["BuildContext", "make_context", "SYNTHETIC_TAG"]

SYNTHETIC_TAG = SYNTHETIC_LABEL


@dataclass(frozen=True)
class BuildContext:
    """The frozen facts of one build: config, output folder, target grid, chunk size."""

    cfg: Config
    out: Path
    gbox: GeoBox
    chunk: int

    def path(self, *parts: str) -> Path:
        """A path inside the output folder."""
        return self.out.joinpath(*parts)

    @property
    def tags(self) -> dict[str, str]:
        """Tags every written raster carries."""
        tags = {"software": "pfatlas", "area": self.cfg.area.name}
        if self.cfg.area.synthetic:
            tags["source"] = SYNTHETIC_TAG
        return tags


def make_context(cfg: Config, out: Path) -> BuildContext:
    """Build the grid from the config's area and bundle it with the output folder."""
    crs = None if cfg.area.crs == "auto" else cfg.area.crs
    gbox = grid_from_bbox(cfg.area.bbox, cfg.area.resolution, crs)
    return BuildContext(cfg=cfg, out=Path(out).resolve(), gbox=gbox, chunk=cfg.compute.chunk)
