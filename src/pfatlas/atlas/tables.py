"""Area by class of every class layer of an atlas, and the inventory of the atlas rasters.

For each class layer (uint8 with a ``CLASS_NAMES`` tag: land cover, permafrost, thermal
stability, ice class, mining zone of each epoch, the permafrost transition of each change, the
geomorphology units of the grid) :func:`write_area_tables` writes
``OUT/tables/area_<layer>_<group>.csv`` (``<group>`` is the epoch label, ``<a>_<b>`` for a change,
``grid`` for the grid layers) with the columns ``code, class, area [km2], share [%]`` and a final
``total`` row, and all of them in one long table ``OUT/tables/area_by_class.csv`` (``layer, epoch,
code, class, area [km2], share [%]``, ``epoch`` holding the group label as in the file names;
without the total rows). With n_k the cells of code k and
a the cell area [m2] (from the raster's transform; the CRS must be projected, in metres)::

    area_k = n_k a / 1e6  [km2],    share_k = 100 n_k / sum_j n_j  [%]

where the sum runs over the valid cells (every code but the nodata value 255); every named class
gets a row, with 0 where it does not occur. Rasters are read window by window
(:func:`pfatlas.atlas.readers.read_windows`), so memory stays bounded on any grid.

:func:`atlas_rasters` lists the atlas rasters by group (epochs from ``OUT/config.toml``, then the
changes, then the grid); the QGIS styles and the STAC catalog use the same inventory.
"""

from __future__ import annotations

import datetime as dt
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import rasterio

from pfatlas.atlas.readers import read_windows
from pfatlas.errors import ConfigError, InputError, MissingInputError
from pfatlas.io.cog import CLASS_NODATA
from pfatlas.io.table_writer import write_table

__all__ = [
    "AtlasConfig",
    "RasterGroup",
    "read_atlas_config",
    "atlas_rasters",
    "class_names",
    "class_counts",
    "area_table",
    "write_area_tables",
    "AREA_COLUMNS",
]

#: Columns of an area table.
AREA_COLUMNS = ["code", "class", "area [km2]", "share [%]"]


@dataclass(frozen=True)
class AtlasConfig:
    """What the atlas products need from ``OUT/config.toml``."""

    name: str
    synthetic: bool
    epochs: list[tuple[str, dt.date, dt.date]]  # (label, first day, last day) of each composite window


@dataclass(frozen=True)
class RasterGroup:
    """Atlas rasters that belong together: one epoch, one change between epochs, or the grid."""

    kind: str  # "epoch", "change" or "grid"
    label: str  # epoch label, "<a>_<b>" or "grid"
    folder: Path
    layers: dict[str, Path] = field(default_factory=dict)  # layer name -> COG


def _as_date(value, path: Path, key: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(f"'{value}' is not a date (YYYY-MM-DD)", path=path, field=key) from None


def read_atlas_config(out: str | Path) -> AtlasConfig:
    """Area name, synthetic flag and epochs of the atlas in ``out`` (from ``OUT/config.toml``).

    Raises
    ------
    MissingInputError
        No ``config.toml`` in ``out``.
    ConfigError
        It is not TOML, or it has no epochs with a label, start and end.
    """
    path = Path(out) / "config.toml"
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MissingInputError("no config.toml: is this an atlas folder written by `pfatlas build`?",
                                path=path) from None  # fmt: skip
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"not valid TOML: {err}", path=path) from None
    area = doc.get("area", {})
    epochs = []
    for i, e in enumerate(doc.get("epochs", [])):
        key = f"epochs[{i}]"
        if not isinstance(e, dict) or not all(k in e for k in ("label", "start", "end")):
            raise ConfigError("each epoch needs a label, a start and an end", path=path, field=key)
        epochs.append((str(e["label"]), _as_date(e["start"], path, key + ".start"),
                       _as_date(e["end"], path, key + ".end")))  # fmt: skip
    if not epochs:
        raise ConfigError("no epochs", path=path, field="epochs")
    return AtlasConfig(str(area.get("name", "study area")), bool(area.get("synthetic", False)), epochs)


def _tifs(folder: Path) -> dict[str, Path]:
    return {p.stem: p for p in sorted(folder.glob("*.tif")) if not p.name.startswith(".")}


def atlas_rasters(out: str | Path, config: AtlasConfig | None = None) -> list[RasterGroup]:
    """The atlas rasters of ``out``: ``OUT/<epoch>/*.tif`` for the configured epochs (in their
    order), ``OUT/change/<a>_<b>/*.tif`` and ``OUT/grid/*.tif``; empty groups are left out.

    Sub-folders (``natural/``, ``composite/``), hidden temporary files and other folders
    (``inputs/``, ``tables/``, ...) are not atlas layers.
    """
    out = Path(out)
    config = read_atlas_config(out) if config is None else config
    groups = [RasterGroup("epoch", label, out / label, _tifs(out / label)) for label, _, _ in config.epochs]
    groups += [
        RasterGroup("change", d.name, d, _tifs(d)) for d in sorted((out / "change").glob("*")) if d.is_dir()
    ]
    groups.append(RasterGroup("grid", "grid", out / "grid", _tifs(out / "grid")))
    return [g for g in groups if g.layers]


def class_names(src: rasterio.io.DatasetReader) -> dict[int, str] | None:
    """``{code: name}`` of a class layer (its ``CLASS_NAMES`` tag), or None for a continuous layer."""
    if src.dtypes[0] != "uint8" or "CLASS_NAMES" not in src.tags():
        return None
    try:
        return {int(k): str(v) for k, v in json.loads(src.tags()["CLASS_NAMES"]).items()}
    except (ValueError, AttributeError):
        raise InputError("the CLASS_NAMES tag is not JSON {code: name}", path=src.name,
                         field="CLASS_NAMES") from None  # fmt: skip


def class_counts(path: str | Path) -> tuple[np.ndarray, float]:
    """Cells per code (an array of 256 counts) of a uint8 raster, read tile by tile, and the
    cell area [m2].

    Raises
    ------
    InputError
        The raster is not uint8, or its CRS is not projected in metres (a cell area in m2 needs it).
    """
    with rasterio.open(path) as src:
        if src.dtypes[0] != "uint8":
            raise InputError(f"a class layer must be uint8, not {src.dtypes[0]}", path=path)
        if src.crs is None or not src.crs.is_projected or src.crs.linear_units_factor[1] != 1.0:
            raise InputError("cell areas need a projected CRS in metres", path=path)
        t = src.transform
        cell_m2 = abs(t.a * t.e - t.b * t.d)
    counts = np.zeros(256, dtype=np.int64)
    for _, a in read_windows(path):
        counts += np.bincount(a.ravel(), minlength=256)
    return counts, cell_m2


def area_table(path: str | Path) -> pd.DataFrame:
    """The area table of one class layer (see the module docstring), total row included."""
    with rasterio.open(path) as src:
        names = class_names(src)
    if names is None:
        raise InputError("not a class layer (uint8 with a CLASS_NAMES tag)", path=path)
    counts, cell_m2 = class_counts(path)
    codes = sorted(set(names) | {int(c) for c in np.flatnonzero(counts) if c != CLASS_NODATA})
    n = counts[codes]
    valid = int(n.sum())
    area = [round(float(k) * cell_m2 / 1e6, 6) for k in n]
    share = [round(100.0 * float(k) / valid, 4) if valid else 0.0 for k in n]
    rows = [
        [c, names.get(c, f"code {c} (unnamed)"), a, s] for c, a, s in zip(codes, area, share, strict=True)
    ]
    rows.append(["", "total", round(valid * cell_m2 / 1e6, 6), 100.0 if valid else 0.0])
    return pd.DataFrame(rows, columns=AREA_COLUMNS)


def write_area_tables(out: str | Path) -> list[Path]:
    """Write the area tables of every class layer of the atlas in ``out`` and the combined table.

    Parameters
    ----------
    out
        An atlas folder written by ``pfatlas build``.

    Returns
    -------
    list of Path
        ``OUT/tables/area_<layer>_<group>.csv`` for each class layer, then
        ``OUT/tables/area_by_class.csv``. Each is written atomically, with a ``source`` column
        when the atlas is synthetic.
    """
    out = Path(out)
    config = read_atlas_config(out)
    tables = out / "tables"
    written, long = [], []
    for group in atlas_rasters(out, config):
        for name, path in group.layers.items():
            with rasterio.open(path) as src:
                if class_names(src) is None:
                    continue
            df = area_table(path)
            written.append(
                write_table(df, tables / f"area_{name}_{group.label}.csv", synthetic=config.synthetic)
            )
            long.append(df.iloc[:-1].assign(layer=name, epoch=group.label))
    cols = ["layer", "epoch", *AREA_COLUMNS]
    combined = pd.concat(long, ignore_index=True)[cols] if long else pd.DataFrame(columns=cols)
    written.append(write_table(combined, tables / "area_by_class.csv", synthetic=config.synthetic))
    return written
