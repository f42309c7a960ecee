"""The JSON record every benchmark writes, so that runs can be compared (``benchmarks/compare.py``).

A record is one JSON object::

    {"benchmark": "terrain", "machine": {"cpus", "memory_gb", "python", "platform", "load_average"},
     "pfatlas": "0.1.0", "git": "793b9dc" (or "793b9dc+dirty", or null), "date": ISO 8601 UTC,
     "results": {...the benchmark's own figures...}}

Figures in ``results`` are plain numbers with their unit in the key (``_s`` seconds, ``_gb`` gigabytes,
``_per_s`` per second, ``ratio`` dimensionless), nested in objects where that reads better.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import subprocess
import sys
from pathlib import Path

__all__ = ["add_json_option", "git_commit", "machine", "make_record", "plain", "save", "write_record"]

REPO = Path(__file__).resolve().parent.parent


def machine() -> dict:
    """CPUs, memory [GB], Python, platform and the 1-minute load average of this machine now."""
    try:
        memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    except (AttributeError, ValueError, OSError):
        memory_gb = None
    try:
        load = round(os.getloadavg()[0], 2)
    except OSError:
        load = None
    return {
        "cpus": os.cpu_count(),
        "memory_gb": None if memory_gb is None else round(memory_gb, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": load,
    }


def git_commit() -> str | None:
    """Short commit of the checkout (read-only git calls), ``+dirty`` if files are modified; None
    outside a git checkout or without git."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return f"{head}+dirty" if status else head


def _pfatlas_version() -> str | None:
    try:
        from pfatlas import __version__
    except ImportError:
        return None
    return __version__


def make_record(name: str, results: dict) -> dict:
    """The record of benchmark ``name`` with its ``results``, stamped with machine, version, commit, date."""
    return {
        "benchmark": name,
        "machine": machine(),
        "pfatlas": _pfatlas_version(),
        "git": git_commit(),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "results": results,
    }


def plain(value):
    """``value`` with numpy scalars made Python numbers and NaN / infinity made None (strict JSON)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):  # numpy scalar
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_record(path: str | Path, record: dict) -> Path:
    """Write ``record`` as indented JSON to ``path`` atomically (temporary file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(plain(record), indent=1, allow_nan=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def add_json_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--json PATH`` (write the record there) to a benchmark's argument parser."""
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="write the figures as JSON")


def save(args: argparse.Namespace, name: str, results: dict) -> None:
    """Write the record of ``results`` to ``args.json`` if that option was given."""
    if getattr(args, "json", None) is not None:
        write_record(args.json, make_record(name, results))
        sys.stdout.flush()
        print(f"record written to {args.json}", file=sys.stderr)
