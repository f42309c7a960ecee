"""How many threads the work in this process may use."""

from __future__ import annotations

import os

import dask

__all__ = ["local_threads"]


def local_threads() -> int:
    """Threads for work done in this process outside dask's graphs (reading sample points, fitting a
    model on them, compressing a COG): the threaded scheduler's worker count (the build's
    ``--workers``), else (none set, or a dask.distributed cluster) the machine's cores."""
    n = dask.config.get("num_workers", None)
    return max(1, int(n)) if n else max(1, os.cpu_count() or 1)
