"""Benchmark: speed of the 1-D heat-conduction solver with phase change.

Usage::

    .venv/bin/python benchmarks/bench_thermal.py [--years 20] [--repeat 3] [--json PATH]

Runs :func:`pfatlas.thermal.simulate_column` on the default column (141 nodes to 30 m: 0.05 m to
5 m, then cells growing by 10 %), two layers (peat over silt, both freezing), daily steps, a
sinusoidal surface temperature crossing 0 degC every year (mean -2, amplitude 12 degC, n-factors)
and the default geothermal flux of 0.06 W m-2. Prints column-years per second (best of
``--repeat``), Newton iterations per step and the number of split steps; ``--json PATH`` writes them.

Target: none fixed; the build runs a few hundred columns per epoch, so tens of column-years per
second keep the MAGT stage within seconds.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from _record import add_json_option, save
from pfatlas.thermal import ColumnMesh, HeatFluxBase, Material, SinusoidalSurface, simulate_column


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--years", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    add_json_option(parser)
    args = parser.parse_args()
    mesh = ColumnMesh.default()
    peat = Material(
        "peat", 0.24, 0.6, 3.5e6, 2.0e6, water_content=0.6, unfrozen_water=0.1, freezing_range=0.5
    )
    silt = Material("silt", 1.5, 2.0, 2.5e6, 1.9e6, water_content=0.3, freezing_range=0.05)
    idx = mesh.material_index([0.5, 30.0])
    surface = SinusoidalSurface(-2.0, 12.0, n_thaw=1.3, n_freeze=0.8)
    best = np.inf
    for _ in range(args.repeat):
        start = time.perf_counter()
        res = simulate_column(
            mesh, [peat, silt], idx, surface, HeatFluxBase(0.06), initial=-1.0, years=args.years
        )
        best = min(best, time.perf_counter() - start)
    steps = res.times.size - 1
    print(f"nodes {mesh.n}, {args.years} years of daily steps: {best:.2f} s")
    print(f"speed {args.years / best:.1f} column-years per second")
    print(
        f"Newton iterations per step {res.newton_iterations / steps:.2f}, "
        f"split steps {res.split_steps}; ALT per year [m] {np.round(res.annual_alt(), 2)}"
    )
    save(
        args,
        "thermal",
        {
            "nodes": mesh.n,
            "years": args.years,
            "repeat": args.repeat,
            "seconds": best,
            "column_years_per_s": args.years / best,
            "newton_iterations_per_step": res.newton_iterations / steps,
            "split_steps": res.split_steps,
        },
    )


if __name__ == "__main__":
    main()
