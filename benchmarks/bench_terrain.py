"""Benchmark: pfatlas slope + aspect against ``gdaldem slope`` + ``gdaldem aspect``.

Usage::

    .venv/bin/python benchmarks/bench_terrain.py [--size N] [--chunks 1024] [--workdir DIR] [--json PATH]

Builds a synthetic fractal DEM of N x N cells (default 2240 x 2240 = 5.0 million cells, about the
Muli area at 30 m) in UTM 47N, writes it as a GeoTIFF in a temporary folder, then times, each from
the file on disk to two float32 GeoTIFFs on disk (uncompressed, as gdaldem writes by default):

- ``gdaldem slope`` + ``gdaldem aspect`` (two subprocesses; skipped with a note if absent);
- pfatlas, numpy path: rasterio read, :func:`pfatlas.terrain.slope` and :func:`~pfatlas.terrain.aspect`,
  rasterio write;
- pfatlas, dask path: :func:`pfatlas.io.raster.read_to_grid` (chunks), the same functions, one
  ``dask.array.store`` of both layers (threads);
- pfatlas ``terrain_for_file`` (dask, COG with overviews: more work than the others, for reference).

numba compilation is excluded (warm-up on a tiny array first). Prints seconds, Mcells/s and the
ratio of each time to gdaldem's, and checks that pfatlas and gdaldem agree on the slope. Without
``gdaldem`` on the PATH it says "gdaldem not installed" and times pfatlas alone. ``--json PATH``
writes the figures (``speed_ratio_*``: gdaldem's time / pfatlas's, above 1 when pfatlas is faster).

Target: none fixed; the build's terrain stage should stay within a small factor of gdaldem.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import threading
import time
import warnings
from pathlib import Path

import dask.array as dsa
import numpy as np
import rasterio
from odc.geo.geobox import GeoBox
from rasterio.transform import Affine

from _record import add_json_option, save
from pfatlas.grid import wrap_on_grid
from pfatlas.io.raster import read_to_grid
from pfatlas.terrain import aspect, slope, terrain_for_file

warnings.filterwarnings("ignore", "Use `@` matmul", PendingDeprecationWarning)  # affine 3 vs odc-geo
warnings.filterwarnings("ignore", "Dataset has no geotransform")  # rasterio MEM warp (odc-geo#131)

CRS = "EPSG:32647"
RES = 30.0  # [m]


def fractal_dem(n: int, seed: int = 0) -> np.ndarray:
    """Fractal (spectral synthesis, power ~ k^-3.2) surface scaled to 3700-4400 m, float32."""
    rng = np.random.default_rng(seed)
    ky = np.fft.fftfreq(n)[:, None]
    kx = np.fft.rfftfreq(n)[None, :]
    k = np.hypot(kx, ky)
    k[0, 0] = 1.0
    spectrum = (rng.normal(size=k.shape) + 1j * rng.normal(size=k.shape)) * k**-1.6
    spectrum[0, 0] = 0.0
    z = np.fft.irfft2(spectrum, s=(n, n))
    z = (z - z.min()) / (z.max() - z.min())
    return (3700.0 + 700.0 * z).astype("float32")


def write_gtiff(path: Path, arrays, transform, *, dask_arrays: bool = False) -> None:
    """Plain float32 GeoTIFF(s), NaN nodata, uncompressed (gdaldem's default output)."""
    for p, a in zip(path, arrays, strict=True):
        profile = dict(
            driver="GTiff", width=a.shape[1], height=a.shape[0], count=1, dtype="float32", nodata=np.nan,
            crs=CRS, transform=transform,
        )  # fmt: skip
        with rasterio.open(p, "w", **profile) as dst:
            dst.write(np.asarray(a), 1)


class _Windows:
    """dask.array.store target writing windows of an open dataset under a lock."""

    def __init__(self, dst):
        self.dst, self.lock = dst, threading.Lock()

    def __setitem__(self, key, value):
        rows, cols = key
        win = rasterio.windows.Window(cols.start, rows.start, cols.stop - cols.start, rows.stop - rows.start)
        with self.lock:
            self.dst.write(value, 1, window=win)


def run_gdaldem(dem: Path, out: Path) -> float:
    t0 = time.perf_counter()
    for what in ("slope", "aspect"):
        subprocess.run(
            ["gdaldem", what, "-q", "-alg", "Horn", str(dem), str(out / f"gd_{what}.tif")], check=True
        )
    return time.perf_counter() - t0


def run_numpy(dem: Path, out: Path) -> float:
    t0 = time.perf_counter()
    with rasterio.open(dem) as src:
        z = src.read(1)
        gbox = GeoBox(z.shape, src.transform, src.crs.to_wkt())
    da = wrap_on_grid(z, gbox, "dem", units="m", long_name="elevation")
    s, a = slope(da), aspect(da)
    write_gtiff([out / "np_slope.tif", out / "np_aspect.tif"], [s.values, a.values], gbox.affine)
    return time.perf_counter() - t0


def run_dask(dem: Path, out: Path, chunks: int) -> float:
    t0 = time.perf_counter()
    with rasterio.open(dem) as src:
        gbox = GeoBox((src.height, src.width), src.transform, src.crs.to_wkt())
    da = read_to_grid(dem, gbox, resampling="nearest", chunks=chunks, name="dem")
    s, a = slope(da), aspect(da)
    ny, nx = gbox.shape
    profile = dict(
        driver="GTiff", width=nx, height=ny, count=1, dtype="float32", nodata=np.nan, crs=CRS,
        transform=gbox.affine, tiled=True, blockxsize=512, blockysize=512,
    )  # fmt: skip
    with (
        rasterio.open(out / "dk_slope.tif", "w", **profile) as d1,
        rasterio.open(out / "dk_aspect.tif", "w", **profile) as d2,
    ):
        dsa.store([s.data, a.data], [_Windows(d1), _Windows(d2)], lock=False)
    return time.perf_counter() - t0


def run_file_tool(dem: Path, out: Path, chunks: int) -> float:
    t0 = time.perf_counter()
    terrain_for_file(dem, out / "cog", chunks=chunks)
    return time.perf_counter() - t0


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=2240, help="DEM edge [cells] (default 2240: 5.0 Mcells)")
    ap.add_argument("--chunks", type=int, default=1024, help="dask chunk edge [cells]")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each case; the best time is shown")
    ap.add_argument("--workdir", type=Path, default=None, help="folder for the files (default: a temp dir)")
    add_json_option(ap)
    args = ap.parse_args(argv)

    tmp = None
    if args.workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench_terrain_")
        work = Path(tmp.name)
    else:
        work = args.workdir
        work.mkdir(parents=True, exist_ok=True)
    n = args.size
    cells = n * n
    dem = work / "dem_utm47.tif"
    transform = Affine(RES, 0.0, 450_000.0, 0.0, -RES, 4_230_000.0)
    z = fractal_dem(n)
    write_gtiff([dem], [z], transform)
    del z

    # warm up numba (compilation is a one-off cost; cached on disk afterwards)
    small = GeoBox((8, 8), transform, CRS)
    tiny = wrap_on_grid(np.zeros((8, 8), "float32"), small, "dem", units="m", long_name="elevation")
    slope(tiny), aspect(tiny), slope(tiny.chunk(4)).values, aspect(tiny.chunk(4)).values

    print(f"DEM {n} x {n} = {cells / 1e6:.2f} Mcells, float32, {CRS} {RES:g} m, in {work}")
    print(f"{os.cpu_count()} cores; dask threaded scheduler; each numba kernel call is single-threaded")
    print(f"best of {args.repeat} runs each")

    def best(func, *fargs):
        return min(func(*fargs) for _ in range(max(1, args.repeat)))

    rows = []  # (key in the record, label, seconds)
    if shutil.which("gdaldem"):
        rows.append(("gdaldem", "gdaldem slope + aspect", best(run_gdaldem, dem, work)))
    else:
        print("note: gdaldem not installed (Debian: apt install gdal-bin): no reference timing")
    rows.append(("numpy", "pfatlas numpy (read, slope, aspect, write)", best(run_numpy, dem, work)))
    rows.append(("dask", f"pfatlas dask chunks {args.chunks} (same)", best(run_dask, dem, work, args.chunks)))
    rows.append(
        (
            "cog",
            f"pfatlas terrain_for_file (COG), chunks {args.chunks}",
            best(run_file_tool, dem, work, args.chunks),
        )
    )

    ref = rows[0][2] if rows[0][0] == "gdaldem" else None
    print(f"\n{'run':<48} {'seconds':>8} {'Mcells/s':>9} {'x gdaldem':>10}")
    for _, name, sec in rows:
        ratio = f"{sec / ref:10.2f}" if ref else f"{'-':>10}"
        print(f"{name:<48} {sec:8.2f} {cells / sec / 1e6:9.2f} {ratio}")
    results = {
        "cells": cells,
        "chunks": args.chunks,
        "repeat": args.repeat,
        "gdaldem_installed": ref is not None,
        "runs": {key: {"seconds": sec, "cells_per_s": cells / sec} for key, _, sec in rows},
    }
    for key, _, sec in rows:
        if ref and key != "gdaldem":
            results[f"speed_ratio_{key}_vs_gdaldem"] = ref / sec

    if ref:
        with rasterio.open(work / "gd_slope.tif") as g, rasterio.open(work / "np_slope.tif") as p:
            gs, ps = g.read(1), p.read(1)
        valid = gs != -9999
        same_mask = np.array_equal(valid, np.isfinite(ps))
        diff = np.abs(ps[valid] - gs[valid]).max()
        # bound of gdaldem's float32 window sums (see tests/test_terrain.py): sqrt(2) 22 u Zmax / (8 res)
        with rasterio.open(dem) as src:
            zmax = float(np.nanmax(src.read(1)))
        bound = np.degrees(np.sqrt(2.0) * 22.0 * 2.0**-24 * zmax / (8.0 * RES))
        print(
            f"\nslope max |pfatlas - gdaldem| = {diff:.2e} deg; bound of gdaldem's float32 sums: {bound:.2e} deg"
        )
        print(f"same NaN / nodata mask: {same_mask}")
        results.update(
            slope_max_abs_diff_deg=float(diff), slope_diff_bound_deg=float(bound), same_mask=same_mask
        )
    save(args, "terrain", results)
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
