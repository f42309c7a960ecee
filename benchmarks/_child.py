"""Run `pfatlas` in a child process and measure its wall time and peak resident memory."""

from __future__ import annotations

import subprocess
import sys
import time

_CHILD = (
    "import resource, sys\n"
    "from pfatlas.cli.main import main\n"
    "code = main(sys.argv[1:])\n"
    "print('MAXRSS_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def run_pfatlas(args: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS [GB] of one `pfatlas ARGS` invocation (threads included)."""
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", _CHILD, *args], check=False, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - t0
    if r.returncode != 0:
        sys.stderr.write(r.stderr)
        raise SystemExit(f"pfatlas {' '.join(args)} failed with exit code {r.returncode}")
    kb = [int(line.split()[1]) for line in r.stderr.splitlines() if line.startswith("MAXRSS_KB")]
    return seconds, kb[-1] / 1024**2
