"""``pfatlas demo``: generate the synthetic virtual-Muli inputs (once per seed and size), then build."""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from pfatlas import __version__
from pfatlas.errors import ConfigError

__all__ = ["DemoReport", "run_demo", "SIZES"]

SIZES = ("full", "small", "4x")  # the names of pfatlas.synth.generate.SIZES (imported lazily there)


@dataclass
class DemoReport:
    out: Path
    inputs: Path
    config: Path
    generated: bool
    generate_seconds: float
    build_seconds: float


def run_demo(
    outdir: str | Path,
    *,
    size: str = "full",
    seed: int = 0,
    build: bool = True,
    progress=None,
    log=print,
) -> DemoReport:
    """Generate virtual Muli into ``outdir/inputs`` and build the atlas into ``outdir``.

    The inputs are regenerated only when ``outdir/inputs`` does not hold a complete generation of
    the same size, seed and pfatlas version (marker file written last), so rerunning the demo only
    redoes the build stages that changed. ``size`` is one of :data:`SIZES`: ``full`` (the Muli
    extent), ``small`` (a piece of its centre, for tests) or ``4x`` (twice the Muli extent each way,
    another realization of the same construction; ~20 M cells per layer).
    """
    if size not in SIZES:
        raise ConfigError(f"--size must be one of {', '.join(SIZES)}, got '{size}'", field="size")
    from pfatlas.synth.generate import generate_virtual_muli

    out = Path(outdir).resolve()
    inputs = out / "inputs"
    marker = inputs / ".pfatlas-demo.json"
    want = {"size": size, "seed": seed, "version": __version__}
    t0 = time.perf_counter()
    generated = False
    try:
        have = json.loads(marker.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        have = None
    config = inputs / "config.toml"
    if have != want or not config.exists():
        if inputs.exists():
            shutil.rmtree(inputs)
        log(f"generating the synthetic virtual-Muli inputs (size {size}, seed {seed}) ...")
        config = Path(generate_virtual_muli(out, size=size, seed=seed))
        tmp = marker.with_name(marker.name + ".tmp")
        tmp.write_text(json.dumps(want), encoding="utf-8")
        os.replace(tmp, marker)
        generated = True
    t1 = time.perf_counter()
    if build:
        from pfatlas.build import run_build

        run_build(config, out, progress=progress)
    t2 = time.perf_counter()
    return DemoReport(out, inputs, config, generated, t1 - t0, t2 - t1)
