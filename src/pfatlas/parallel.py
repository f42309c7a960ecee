"""Where the work runs: how many threads this process may use, whether a cluster is there."""

from __future__ import annotations

import os

import dask

__all__ = ["local_threads", "on_cluster"]


def local_threads() -> int:
    """Threads for work done in this process outside dask's graphs (reading sample points, fitting a
    model on them, compressing a COG): the threaded scheduler's worker count (the build's
    ``--workers``), else (none set, or a dask.distributed cluster) the machine's cores."""
    n = dask.config.get("num_workers", None)
    return max(1, int(n)) if n else max(1, os.cpu_count() or 1)


def on_cluster() -> bool:
    """Whether a dask.distributed client is the current scheduler (its workers run the tasks)."""
    try:
        from distributed import default_client

        default_client()
    except (ImportError, ValueError):
        return False
    return True
