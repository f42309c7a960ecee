"""Run `pfatlas` in a child process and measure its wall time and peak memory.

Two peaks are measured, because the build is not always one process:

- ``peak_gb``: the peak resident memory of the `pfatlas` process itself (``ru_maxrss``, exact,
  threads included);
- ``tree_peak_gb``: the peak of the summed resident memory of that process and all its descendants
  (plate renderers, dask worker processes), sampled every 0.1 s by a thread of this process (psutil;
  the list of descendants is refreshed every 0.5 s). Pages shared between processes (libraries)
  count once per process, so the sum errs high; a spike shorter than the sampling interval can be
  missed, so the figure to compare with a memory target is the larger of the two (``peak_any_gb``).
  (The proportional set size would count shared pages once, but reading it costs about 2 ms per
  process and sample, a tenth of a core at this rate: it would slow the build it measures.)
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from dataclasses import dataclass

import psutil

_CHILD = (
    "import resource, sys\n"
    "from pfatlas.cli.main import main\n"
    "code = main(sys.argv[1:])\n"
    "print('MAXRSS_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
    "sys.exit(code)\n"
)


@dataclass(frozen=True)
class ChildRun:
    """Wall time [s] and peak memory [GB] of one `pfatlas` invocation."""

    seconds: float
    peak_gb: float
    tree_peak_gb: float | None
    stdout: str = ""

    @property
    def peak_any_gb(self) -> float:
        """The larger of the process's exact peak and the sampled peak of its process tree [GB]."""
        return max(self.peak_gb, self.tree_peak_gb or 0.0)


def _rss_bytes(proc: psutil.Process) -> int:
    """Resident memory of one process [bytes]; 0 once it has ended."""
    try:
        return proc.memory_info().rss
    except psutil.Error:
        return 0


class _TreeSampler(threading.Thread):
    """Samples the summed RSS of a process and its descendants until stopped; keeps the peak."""

    def __init__(self, pid: int, interval: float = 0.1, refresh: int = 5):
        super().__init__(daemon=True)
        self.pid, self.interval, self.refresh = pid, interval, refresh
        self.peak = 0
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            root = psutil.Process(self.pid)
        except psutil.Error:
            return
        procs = [root]
        i = 0
        while not self.stop.is_set():
            if i % self.refresh == 0:  # listing descendants scans /proc: not at every sample
                try:
                    procs = [root, *root.children(recursive=True)]
                except psutil.Error:
                    return
            i += 1
            self.peak = max(self.peak, sum(_rss_bytes(p) for p in procs))
            self.stop.wait(self.interval)


def measure_pfatlas(args: list[str]) -> ChildRun:
    """Run ``pfatlas ARGS`` in a child process; its wall time, peak memory and captured stdout.

    Raises SystemExit (after echoing the child's stderr) when the command fails.
    """
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    sampler = _TreeSampler(proc.pid)
    sampler.start()
    stdout, stderr = proc.communicate()
    seconds = time.perf_counter() - t0
    sampler.stop.set()
    sampler.join()
    if proc.returncode != 0:
        sys.stderr.write(stdout + stderr)
        raise SystemExit(f"pfatlas {' '.join(args)} failed with exit code {proc.returncode}")
    kb = [int(line.split()[1]) for line in stderr.splitlines() if line.startswith("MAXRSS_KB")]
    tree = sampler.peak / 1024**3 if sampler.peak else None
    return ChildRun(seconds, kb[-1] / 1024**2, tree, stdout)


def run_pfatlas(args: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS [GB] of one `pfatlas ARGS` invocation (threads included)."""
    run = measure_pfatlas(args)
    return run.seconds, run.peak_gb
