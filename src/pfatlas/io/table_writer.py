"""Atomic CSV writer for the tables pfatlas produces."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from pfatlas import SYNTHETIC_LABEL
from pfatlas.io.cog import atomic_path

__all__ = ["write_table", "SYNTHETIC_SOURCE"]

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
