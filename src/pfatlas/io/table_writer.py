"""The tables pfatlas produces: atomic CSV and JSON writers, and the reader of its own tables."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from pfatlas import SYNTHETIC_LABEL
from pfatlas.io.cog import atomic_path

__all__ = ["write_table", "write_json", "read_table", "SYNTHETIC_SOURCE"]

SYNTHETIC_SOURCE = SYNTHETIC_LABEL


def write_table(df: pd.DataFrame, path: str | Path, *, synthetic: bool = False) -> Path:
    """Write ``df`` as UTF-8 CSV under a temporary name, then rename it into place.

    When ``synthetic`` is true a ``source`` column saying so is added (if absent), so the label
    travels with the table wherever it is copied.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if synthetic and "source" not in df.columns:
        df = df.assign(source=SYNTHETIC_SOURCE)
    tmp = atomic_path(path)
    try:
        df.to_csv(tmp, index=False, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def write_json(data: dict, path: str | Path) -> Path:
    """Write a small JSON file (metrics, model descriptions) atomically, UTF-8, NaN allowed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = atomic_path(path)
    try:
        tmp.write_text(
            json.dumps(data, indent=1, ensure_ascii=False, allow_nan=True) + "\n", encoding="utf-8"
        )
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def read_table(
    path: str | Path, text_columns: tuple[str, ...] = ("id", "borehole_id", "epoch")
) -> pd.DataFrame:
    """Read back a table an earlier stage wrote (already checked at ingest), ids kept as text."""
    path = Path(path)
    head = pd.read_csv(path, nrows=0).columns
    return pd.read_csv(path, dtype={c: str for c in text_columns if c in head})
