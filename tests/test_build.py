"""pfatlas build: stages run in order, reuse current outputs, rerun what changed, record provenance."""

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from pfatlas.build import run_build
from pfatlas.errors import ConfigError, CoverageError, InputError
from raster_compare import assert_same_rasters

BBOX = (99.0, 38.0, 99.06, 38.04)


def _dem(path, *, west=98.99, north=38.05, bump=0.0, size=(0.07, 0.09)):
    """A geographic DEM (1 arc-second, like SRTM) of a tilted plane with a bump, covering BBOX."""
    n = 3600
    h, w = int(size[0] * n), int(size[1] * n)
    rows, cols = np.mgrid[0:h, 0:w]
    z = 3800 + 0.5 * rows + 0.2 * cols + bump * np.exp(-((rows - h / 2) ** 2 + (cols - w / 2) ** 2) / 400)
    with rasterio.open(
        path, "w", driver="GTiff", width=w, height=h, count=1, dtype="float32", crs="EPSG:4326",
        transform=from_origin(west, north, 1 / n, 1 / n), nodata=-9999,
    ) as dst:  # fmt: skip
        dst.write(z.astype("float32"), 1)
    return path


def _config(tmp_path, extra=""):
    p = tmp_path / "config.toml"
    p.write_text(
        f"""
[area]
name = "test"
bbox = {list(BBOX)}
[inputs]
dem = "dem.tif"
{extra}
[[epochs]]
label = "2000"
start = 2000-06-01
end = 2000-09-30
year = 2000
[compute]
chunk = 96
cluster = "threads"
"""
    )
    return p


def test_build_reuses_and_reruns_what_changed(tmp_path):
    _dem(tmp_path / "dem.tif")
    cfg = _config(tmp_path)
    out = tmp_path / "out"
    first = run_build(cfg, out)
    assert first.ran() == ["dem", "terrain", "atlas"]  # the products of whatever layers there are
    for name in ("dem", "slope", "aspect"):
        with rasterio.open(out / "grid" / f"{name}.tif") as src:
            assert src.crs.to_epsg() == 32647 and src.res == (30.0, 30.0)
    with rasterio.open(out / "grid" / "slope.tif") as src:
        slope = src.read(1)
    # the plane rises 0.5 m per arc-second southwards and 0.2 m eastwards: ~1 degree
    assert 0.5 < np.nanmedian(slope) < 1.5
    stamp = (out / "grid" / "slope.tif").stat().st_mtime_ns

    second = run_build(cfg, out)
    assert second.reused() == ["dem", "terrain", "atlas"] and second.ran() == []
    assert (out / "grid" / "slope.tif").stat().st_mtime_ns == stamp

    _dem(tmp_path / "dem.tif", bump=50.0)  # the DEM changes: dem, terrain and the products rerun
    assert run_build(cfg, out).ran() == ["dem", "terrain", "atlas"]

    (out / "grid" / "aspect.tif").unlink()  # an output is lost: its stage reruns, not the others
    third = run_build(cfg, out)
    # the same aspect again: the products made from it stand
    assert third.ran() == ["terrain"] and third.reused() == ["dem", "atlas"]

    prov = json.loads((out / "provenance.json").read_text())
    assert prov["status"] == "complete"
    assert {"pfatlas", "GDAL", "PROJ", "numpy", "dask"} <= set(prov["software"])
    assert str((tmp_path / "dem.tif").resolve()) in prov["inputs"]
    assert [s["name"] for s in prov["stages"]] == ["dem", "terrain", "atlas"]
    assert (out / "config.toml").read_text().startswith("# pfatlas resolved configuration")


def test_dem_not_covering_fails_cleanly(tmp_path):
    _dem(tmp_path / "dem.tif", west=99.03)  # starts east of the bbox's west edge
    out = tmp_path / "out"
    with pytest.raises(CoverageError, match=r"dem.tif: does not cover the study area"):
        run_build(_config(tmp_path), out)
    assert not (out / "grid" / "dem.tif").exists()
    assert json.loads((out / "provenance.json").read_text())["status"] == "failed"
    assert not list(out.rglob("*.tmp"))


def test_duplicate_ids_across_training_and_validation(tmp_path):
    _dem(tmp_path / "dem.tif")
    rows = "id,lon,lat,magt_c,year,setting\nB1,99.02,38.02,-1.0,2005,natural\n"
    (tmp_path / "b.csv").write_text(rows)
    (tmp_path / "v.csv").write_text(rows)
    cfg = _config(tmp_path, 'boreholes = "b.csv"\nvalidation_boreholes = "v.csv"')
    with pytest.raises(InputError, match=r"v.csv, field 'id': borehole id\(s\) B1 also appear"):
        run_build(cfg, tmp_path / "out")


def test_boreholes_get_elevation_from_the_dem(tmp_path):
    _dem(tmp_path / "dem.tif")
    (tmp_path / "b.csv").write_text("id,lon,lat,elevation_m,magt_c,year,setting\nB1,99.02,38.02,,-1.0,2005,natural\n"
                                    "B2,99.03,38.03,3900,-1.2,2005,natural\n")  # fmt: skip
    run_build(_config(tmp_path, 'boreholes = "b.csv"'), tmp_path / "out")
    import pandas as pd

    df = pd.read_csv(tmp_path / "out" / "tables" / "boreholes.csv")
    assert list(df["elevation_source"]) == ["dem", "table"]
    # B1 lies 0.03 deg = 108 arc-seconds south and 108 east of the DEM's corner: 3800 + 54 + 21.6 m
    assert abs(df["elevation_m"][0] - (3800 + 0.5 * 108 + 0.2 * 108)) < 1.0
    assert df["elevation_m"][1] == 3900


# --- Landsat composites through the build ----------------------------------------------------


def _landsat_config(tmp_path, qa_value):
    import datetime as dt

    from test_landsat import TARGET, make_scene

    bbox = [99.0, 38.0, 99.1, 38.05]  # the bbox TARGET was made from
    _dem(tmp_path / "dem.tif", west=98.98, north=38.07, size=(0.1, 0.14))
    scenes = tmp_path / "landsat"
    for day in (dt.date(2020, 7, 3), dt.date(2020, 8, 20), dt.date(2020, 10, 7)):  # October is out of season
        qa = np.full(tuple(g + 12 for g in TARGET.shape), qa_value, "uint16")
        make_scene(scenes, acquired=day, qa=qa)
    p = tmp_path / "config.toml"
    p.write_text(
        f'[area]\nbbox = {bbox}\n[inputs]\ndem = "dem.tif"\nlandsat = ["landsat"]\n'
        '[[epochs]]\nlabel = "2020"\nstart = 2020-06-01\nend = 2020-10-31\nyear = 2020\n'
    )
    return p, TARGET


@pytest.mark.filterwarnings("ignore:Use `@` matmul instead of `\\*` mul operator:PendingDeprecationWarning")
def test_composite_stage_uses_the_season_only(tmp_path):
    from pfatlas.io.landsat import QA_CLEAR

    cfg, target = _landsat_config(tmp_path, QA_CLEAR)
    report = run_build(cfg, tmp_path / "out")
    assert "composite/2020" in report.ran()
    folder = tmp_path / "out" / "2020" / "composite"
    with rasterio.open(folder / "clear_count.tif") as src:
        assert src.shape == tuple(target.shape)
        count = src.read(1)
    # two scenes in Jun-Sep (the October one is outside the configured months) cover every cell
    assert np.nanmax(count) == 2 and np.nanmin(count) == 2
    with rasterio.open(folder / "ndvi.tif") as src:
        ndvi = src.read(1)
        assert src.tags()["units"] == "1"
    assert np.all(np.isfinite(ndvi)) and np.all(np.abs(ndvi) <= 1)
    with rasterio.open(folder / "lst.tif") as src:
        assert src.tags()["units"] == "degC"


@pytest.mark.filterwarnings("ignore:Use `@` matmul instead of `\\*` mul operator:PendingDeprecationWarning")
def test_epoch_with_no_clear_pixel_is_an_error_and_writes_nothing(tmp_path):
    from pfatlas.errors import NoClearPixelError
    from pfatlas.io.landsat import QA_CLOUD

    cfg, _ = _landsat_config(tmp_path, QA_CLOUD)
    with pytest.raises(NoClearPixelError, match="epoch '2020' has no clear pixel"):
        run_build(cfg, tmp_path / "out")
    folder = tmp_path / "out" / "2020" / "composite"
    assert not folder.exists() or not any(folder.iterdir())


# --- dask.distributed: the same results on a local cluster, at odd chunks, and on a scheduler with
# --- workers started as separate processes (`dask scheduler`, `dask worker`) --------------------


def _grid_build(tmp_path, name: str, compute: str) -> Path:
    """A DEM + terrain build (no products) with the given [compute] table; returns its output."""
    from pfatlas.grid import grid_from_bbox

    folder = tmp_path / name
    folder.mkdir()
    # the DEM on the build grid (read without a warp): GDAL's warp of a lon/lat DEM differs by up to
    # ~4 mm between chunkings (its approximate transformer is fitted per destination window)
    g = grid_from_bbox(BBOX, 30.0, None)
    yy, xx = np.mgrid[0 : g.shape[0], 0 : g.shape[1]]
    z = (3500.0 + 2.0 * xx + 1.5 * yy + 40.0 * np.sin(xx / 7.0) * np.cos(yy / 5.0)).astype("float32")
    with rasterio.open(folder / "dem.tif", "w", driver="GTiff", width=g.shape[1], height=g.shape[0], count=1,
                       dtype="float32", crs=g.crs.to_wkt(), transform=g.affine) as dst:  # fmt: skip
        dst.write(z, 1)
    (folder / "config.toml").write_text(
        f'[area]\nname = "test"\nbbox = {list(BBOX)}\n[inputs]\ndem = "dem.tif"\n'
        '[[epochs]]\nlabel = "2000"\nstart = 2000-06-01\nend = 2000-09-30\nyear = 2000\n'
        f"[products]\nenabled = false\n[compute]\n{compute}\n"
    )
    run_build(folder / "config.toml", folder / "out")
    return folder / "out"


@pytest.mark.slow
def test_local_clusters_and_odd_chunks_give_the_threads_result(tmp_path, caplog):
    ref = _grid_build(tmp_path, "threads", 'cluster = "threads"\nchunk = 128')
    with caplog.at_level(logging.INFO, logger="pfatlas.build"):
        local = _grid_build(tmp_path, "local", "workers = 2\nchunk = 101")  # the default cluster
    assert "dask: local cluster, 1 worker of 2 thread(s) in this process" in caplog.text
    assert_same_rasters(ref, local)
    one = _grid_build(tmp_path, "one", 'cluster = "processes"\nworkers = 1\nchunk = 77')
    two = _grid_build(tmp_path, "two", 'cluster = "processes"\nworkers = 2\nchunk = 93')
    assert_same_rasters(ref, one)
    assert_same_rasters(ref, two)


@pytest.mark.slow
def test_build_on_a_scheduler_and_workers_in_separate_processes(tmp_path):
    import subprocess
    import sys
    import time

    dask_cli = Path(sys.executable).with_name("dask")
    sched_file = tmp_path / "scheduler.json"
    procs = [subprocess.Popen([str(dask_cli), "scheduler", "--host", "127.0.0.1", "--port", "0",
                               "--no-dashboard", "--scheduler-file", str(sched_file)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]  # fmt: skip
    try:
        t0 = time.monotonic()
        while not sched_file.exists() and time.monotonic() - t0 < 60:
            time.sleep(0.2)
        address = json.loads(sched_file.read_text())["address"]
        for _ in range(2):
            procs.append(subprocess.Popen([str(dask_cli), "worker", address, "--nthreads", "1",
                                           "--host", "127.0.0.1", "--no-dashboard"],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))  # fmt: skip
        from distributed import Client

        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
        assert address.startswith("tcp://127.0.0.1:")
        out = _grid_build(tmp_path, "cluster", f'scheduler = "{address}"\nchunk = 100')
        ref = _grid_build(tmp_path, "threads", 'cluster = "threads"')
        assert_same_rasters(ref, out)
        prov = json.loads((out / "provenance.json").read_text())
        assert prov["status"] == "complete"
    finally:
        for p in procs[::-1]:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)


def test_unreachable_scheduler_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot reach the dask scheduler at tcp://127.0.0.1:9"):
        _grid_build(tmp_path, "none", 'scheduler = "tcp://127.0.0.1:9"')


def test_atlas_without_the_viewer_library_warns_and_writes_the_rest(tmp_path, monkeypatch):
    """A pip install that never fetched Leaflet: the build completes, the viewer is left out with a
    warning naming the fix, the other products are written."""
    import pfatlas.atlas.vendor as vendor
    from pfatlas.errors import MissingInputError, PfatlasWarning

    def missing():
        raise MissingInputError("the viewer's map library is missing: run python -m pfatlas.atlas.vendor")

    monkeypatch.setattr(vendor, "leaflet_dir", missing)
    _dem(tmp_path / "dem.tif")
    with pytest.warns(PfatlasWarning, match="atlas viewer not written.*pfatlas.atlas.vendor"):
        run_build(_config(tmp_path), tmp_path / "out")
    out = tmp_path / "out"
    assert not (out / "index.html").exists()
    assert (out / "atlas.pdf").is_file() and (out / "catalog.json").is_file()


def test_the_build_bounds_gdals_block_cache():
    """GDAL's cache (default 5 % of the RAM) would hold the blocks of every layer read: bounded."""
    from rasterio.env import get_gdal_config

    from pfatlas.build.runner import GDAL_CACHE_BYTES, _bounded_memory, _release_free_memory

    with _bounded_memory():
        assert int(get_gdal_config("GDAL_CACHEMAX")) == GDAL_CACHE_BYTES <= 64 * 2**20
    _release_free_memory()  # harmless anywhere (a no-op without glibc)
