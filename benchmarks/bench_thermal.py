"""Benchmark: speed of the heat-conduction solver with phase change, 1-D and 2-D.

Usage::

    .venv/bin/python benchmarks/bench_thermal.py [--years 20] [--repeat 3] [--section-years 1] [--json PATH]

Column: :func:`pfatlas.thermal.simulate_column` on the default column (141 nodes to 30 m: 0.05 m
to 5 m, then cells growing by 10 %), two layers (peat over silt, both freezing), daily steps, a
sinusoidal surface temperature crossing 0 degC every year (mean -2, amplitude 12 degC, n-factors)
and the default geothermal flux of 0.06 W m-2. Prints the first call's time (numba compiles the
column kernel, or loads it from its cache), column-years per second (best of ``--repeat``), Newton
iterations per step and the number of split steps.

Section: the same layers and surface on a 50 m x 30 m x-z section (51 x 141 nodes, 1 m across),
a warmer segment (n_thaw 1.6: bare waste rock) over its first 20 m, ``--section-years`` of daily
steps, run with the kept Newton matrix (the default) and with exact Newton (a fresh factorisation
every iteration, the baseline), in the same run: model-years per second, factorisations, speed-up
and the largest temperature difference. ``--section-years 0`` skips it. ``--json PATH`` writes
the figures.

Target: none fixed; the build runs a few hundred columns per epoch, so tens of column-years per
second keep the MAGT stage within seconds.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from _record import add_json_option, save
from pfatlas.thermal import (
    DAY,
    ColumnMesh,
    HeatFluxBase,
    Material,
    SectionMesh,
    SinusoidalSurface,
    simulate_column,
    simulate_section,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--years", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--section-years", type=int, default=1)
    add_json_option(parser)
    args = parser.parse_args()
    mesh = ColumnMesh.default()
    peat = Material(
        "peat", 0.24, 0.6, 3.5e6, 2.0e6, water_content=0.6, unfrozen_water=0.1, freezing_range=0.5
    )
    silt = Material("silt", 1.5, 2.0, 2.5e6, 1.9e6, water_content=0.3, freezing_range=0.05)
    idx = mesh.material_index([0.5, 30.0])
    surface = SinusoidalSurface(-2.0, 12.0, n_thaw=1.3, n_freeze=0.8)
    # the column's Newton kernel is compiled by numba on first use (or loaded from its cache):
    # time that once, apart, so the speed below is the solver's
    start = time.perf_counter()
    simulate_column(mesh, [peat, silt], idx, surface, HeatFluxBase(0.06), initial=-1.0, duration=DAY)
    first_call = time.perf_counter() - start
    best = np.inf
    for _ in range(args.repeat):
        start = time.perf_counter()
        res = simulate_column(
            mesh, [peat, silt], idx, surface, HeatFluxBase(0.06), initial=-1.0, years=args.years
        )
        best = min(best, time.perf_counter() - start)
    steps = res.times.size - 1
    print(f"first call (numba compile or cache load + 1 step): {first_call:.2f} s")
    print(f"nodes {mesh.n}, {args.years} years of daily steps: {best:.2f} s")
    print(f"speed {args.years / best:.1f} column-years per second")
    print(
        f"Newton iterations per step {res.newton_iterations / steps:.2f}, "
        f"split steps {res.split_steps}; ALT per year [m] {np.round(res.annual_alt(), 2)}"
    )
    results = {
        "nodes": mesh.n,
        "years": args.years,
        "repeat": args.repeat,
        "seconds": best,
        "first_call_seconds": first_call,
        "column_years_per_s": args.years / best,
        "newton_iterations_per_step": res.newton_iterations / steps,
        "split_steps": res.split_steps,
    }
    if args.section_years > 0:
        section = SectionMesh(np.linspace(0.0, 50.0, 51), mesh.z)
        warm = SinusoidalSurface(-2.0, 12.0, n_thaw=1.6, n_freeze=0.8)
        runs = {}
        for reuse in (True, False):
            start = time.perf_counter()
            out = simulate_section(
                section, [peat, silt], section.layered_index([0.5, 30.0]), [surface, warm],
                HeatFluxBase(0.06), initial=-1.0, surface_index=(section.x <= 20.0).astype(int),
                years=args.section_years, reuse_jacobian=reuse,
            )  # fmt: skip
            runs[reuse] = (time.perf_counter() - start, out)
        (t_kept, kept), (t_exact, exact) = runs[True], runs[False]
        diff = float(np.abs(kept.temperature - exact.temperature).max())
        print(
            f"section {section.shape[1]} x {section.shape[0]} nodes, {args.section_years} year(s) of daily steps:"
        )
        print(f"  kept Newton matrix: {t_kept:.1f} s = {args.section_years / t_kept:.3f} model-years/s, "
              f"{kept.factorizations} factorisations, {kept.split_steps} split steps")  # fmt: skip
        print(f"  exact Newton:       {t_exact:.1f} s = {args.section_years / t_exact:.3f} model-years/s, "
              f"{exact.factorizations} factorisations, {exact.split_steps} split steps")  # fmt: skip
        print(f"  speed-up {t_exact / t_kept:.1f}x; largest temperature difference {diff:.2e} K")
        results["section"] = {
            "nodes": int(section.n),
            "years": args.section_years,
            "kept_seconds": t_kept,
            "exact_seconds": t_exact,
            "speedup": t_exact / t_kept,
            "kept_factorizations": kept.factorizations,
            "exact_factorizations": exact.factorizations,
            "max_temperature_difference_k": diff,
        }
    save(args, "thermal", results)


if __name__ == "__main__":
    main()
