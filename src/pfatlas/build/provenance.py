"""``provenance.json``: what made an atlas (versions, config, input hashes, stage timings)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

__all__ = ["software_versions", "write_provenance"]

_PACKAGES = (
    "pfatlas", "numpy", "scipy", "pandas", "xarray", "dask", "distributed", "rasterio", "pyproj",
    "odc-geo", "shapely", "geopandas", "pyogrio", "scikit-learn", "numba", "matplotlib", "pydantic",
)  # fmt: skip


def software_versions() -> dict[str, str]:
    """Versions of Python, the libraries pfatlas uses, GDAL and PROJ."""
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    import pyproj
    import rasterio

    out["GDAL"] = rasterio.__gdal_version__
    out["PROJ"] = pyproj.proj_version_str
    return out


def write_provenance(
    path: Path,
    *,
    config_text: str,
    input_hashes: dict[str, str],
    stages: list[dict],
    started: dt.datetime,
    status: str,
    error: str | None = None,
    synthetic: bool = False,
) -> Path:
    """Write ``provenance.json`` atomically."""
    record = {
        "synthetic": synthetic,
        "software": software_versions(),
        "platform": {"system": platform.platform(), "cpus": os.cpu_count()},
        "started": started.isoformat(timespec="seconds"),
        "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "status": status,
        "error": error,
        "config_sha256": hashlib.sha256(config_text.encode()).hexdigest(),
        "config": config_text,
        "inputs": input_hashes,
        "stages": stages,
    }
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(record, indent=1), encoding="utf-8")
    os.replace(tmp, path)
    return path
