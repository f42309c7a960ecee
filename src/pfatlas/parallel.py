"""Where the work runs: how many threads this process may use, whether a cluster is there."""

from __future__ import annotations

import os

import dask

__all__ = ["local_threads", "on_cluster"]


def local_threads() -> int:
    """Threads for work done in this process outside dask's graphs (reading sample points, fitting a
    model on them, compressing a COG): the build's ``--workers`` under the threaded scheduler or the
    in-process cluster (dask's ``num_workers``), else (none set, worker processes, a remote
    cluster) the machine's cores."""
    n = dask.config.get("num_workers", None)
    return max(1, int(n)) if n else max(1, os.cpu_count() or 1)


def on_cluster() -> bool:
    """Whether the current scheduler is a dask.distributed cluster whose workers are other
    processes (worker processes of this machine, or remote ones). False for dask's threaded
    scheduler and for a cluster whose workers are threads of this process (``inproc://``
    scheduler, the build's default): there, work that holds the GIL gains nothing from tasks."""
    try:
        from distributed import default_client

        client = default_client()
    except (ImportError, ValueError):
        return False
    return not str(client.scheduler.address).startswith("inproc://")
