"""The build survives what interrupts it: a worker killed mid-stage, Ctrl-C, kill -9, a damaged chunk.

The slow tests build a reduced small virtual Muli (DEM, terrain, geomorphology, samples, the two
composites and land covers; no products) and compare every raster with one uninterrupted threaded
build of the same inputs (:func:`reference`).
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import tomllib
from pathlib import Path

import dask.array as dsa
import numpy as np
import pytest
import rasterio
import tomli_w

from pfatlas.build import run_build
from pfatlas.build.cache import TEMPORARY_NAME, BuildLock, remove_stale_temporaries
from pfatlas.build.runner import INTERRUPTED
from pfatlas.build.stages import Stage
from pfatlas.config import load_config
from pfatlas.errors import InputError, PfatlasError
from pfatlas.grid import grid_from_bbox, wrap_on_grid
from pfatlas.io.cog import write_cog
from raster_compare import assert_same_rasters
from terminal import default_sigint

# the demo inputs warn on purpose (classes without training samples): shown, not errors
pytestmark = pytest.mark.filterwarnings("default::pfatlas.errors.PfatlasWarning")

BBOX = (99.0, 38.0, 99.06, 38.04)
PFATLAS = str(Path(sys.executable).with_name("pfatlas"))
TIMEOUT = 240  # [s] longest any watcher or build of these tests may wait before the test fails


def _field(g):
    """A float32 layer on ``g`` whose every value is different (a misplaced chunk shows)."""
    ny, nx = g.shape
    return (np.arange(ny * nx, dtype="float64").reshape(ny, nx) * 0.25).astype("float32")


def _temporaries(out: Path) -> list[Path]:
    return [p for p in out.rglob("*") if TEMPORARY_NAME.match(p.name) or p.name.endswith(".part")]


def _wait_for(out: Path, pattern: str, proc: subprocess.Popen | None = None) -> Path:
    """The first path under ``out`` matching ``pattern`` (fails after TIMEOUT or when ``proc`` ends)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < TIMEOUT:
        hits = list(out.glob(pattern))
        if hits:
            return hits[0]
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the build ended (status {proc.returncode}) before {pattern} appeared")
        time.sleep(0.005)
    raise AssertionError(f"{pattern} did not appear in {TIMEOUT} s")


# --- the COG writer: what a killed or failing write leaves ----------------------------------------


def test_write_killed_before_a_chunk_is_complete_leaves_only_temporaries(tmp_path):
    """A process killed at the worst moment of a chunk write (the chunk's file written, not yet
    renamed) leaves no file under the real name, only temporaries; the rewrite is exact and the
    temporaries are what a build's start removes."""
    child = textwrap.dedent("""
        import os, sys
        import dask.array as dsa
        from test_resilience import BBOX, _field
        from pfatlas.grid import grid_from_bbox, wrap_on_grid
        from pfatlas.io.cog import write_cog
        g = grid_from_bbox(BBOX)
        z = wrap_on_grid(dsa.from_array(_field(g), chunks=50), g, "z", units="m", long_name="z")
        os.replace = lambda *a, **k: os._exit(9)  # SIGKILL-like: no cleanup runs
        write_cog(z, sys.argv[1], gbox=g, units="m", description="z")
    """)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}  # the child imports _field from here
    done = subprocess.run([sys.executable, "-c", child, str(tmp_path / "z.tif")], env=env, timeout=120,
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 9, done.stderr
    assert not (tmp_path / "z.tif").exists()
    (left,) = tmp_path.iterdir()  # the chunk folder of the killed write
    assert TEMPORARY_NAME.match(left.name)
    assert [p.name for p in left.iterdir() if p.name.endswith(".part")]
    assert not list(left.glob("r*_c*.tif"))  # no chunk ever got its real name

    g = grid_from_bbox(BBOX)
    z = wrap_on_grid(dsa.from_array(_field(g), chunks=50), g, "z", units="m", long_name="z")
    write_cog(z, tmp_path / "z.tif", gbox=g, units="m", description="z")
    with rasterio.open(tmp_path / "z.tif") as src:
        np.testing.assert_array_equal(src.read(1), _field(g))
    assert remove_stale_temporaries(tmp_path) == [left]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["z.tif"]


def test_damaged_chunk_is_a_clear_error_and_keeps_the_previous_file(tmp_path, monkeypatch):
    import pfatlas.io.cog as cog

    g = grid_from_bbox(BBOX)
    z = wrap_on_grid(dsa.from_array(_field(g), chunks=60), g, "z", units="m", long_name="z")
    path = write_cog(z, tmp_path / "z.tif", gbox=g, units="m", description="z")
    before = path.read_bytes()

    write = cog._ChunkWriter.__setitem__

    def torn(self, key, value):  # the first chunk's file loses its second half after the write
        write(self, key, value)
        if key[0].start == 0 and key[1].start == 0:
            name = Path(self.folder) / "r0_c0.tif"
            name.write_bytes(name.read_bytes()[: name.stat().st_size // 2])

    monkeypatch.setattr(cog._ChunkWriter, "__setitem__", torn)
    with pytest.raises(PfatlasError, match=r"z.tif: the computed chunks could not be read back \(r0_c0.tif"):
        write_cog(z * 2, path, gbox=g, units="m", description="z")
    assert path.read_bytes() == before  # the previous complete version, untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["z.tif"]


# --- the output folder between builds --------------------------------------------------------------


def test_stale_temporaries_are_removed_outside_the_inputs(tmp_path):
    out = tmp_path / "out"
    stale = [out / "grid" / ".dem.tif.0123abcd.tmp", out / ".provenance.json.tmp", out / "plates" / ".p1.77.tmp.png",
             out / ".viewer.old-0123abcd", out / ".pfatlas" / "state" / ".dem.json.tmp"]  # fmt: skip
    kept = [out / "grid" / "dem.tif", out / ".pfatlas" / "state" / "dem.json", out / "inputs" / ".dem.tif.tmp",
            out / "notes.tmp", out / "grid" / ".dem.tif.tmpl"]  # fmt: skip
    for p in stale + kept:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("x")
    chunks = out / "2000" / ".magt.tif.89abcdef.tmp"  # a chunk folder, with its files
    chunks.mkdir(parents=True)
    (chunks / "r0_c0.tif").write_text("x")
    (chunks / "r0_c128.tif.0000aaaa.part").write_text("x")
    removed = remove_stale_temporaries(out, keep=[out / "inputs" / "dem.tif"])
    assert sorted(removed) == sorted([*stale, chunks])
    assert all(p.exists() for p in kept) and not any(p.exists() for p in [*stale, chunks])


def test_a_second_build_into_the_same_folder_is_refused(tmp_path):
    from test_build import _config, _dem

    _dem(tmp_path / "dem.tif")
    out = tmp_path / "out"
    with BuildLock(out):
        with pytest.raises(InputError, match=rf"out: another pfatlas build \(pid {os.getpid()}\) is writing"):
            run_build(_config(tmp_path), out)
    with BuildLock(out) as lock:  # released: taken again at once
        assert lock.path.read_text() == f"pid {os.getpid()}"


def test_a_file_system_without_flock_builds_unlocked_with_a_warning(tmp_path, monkeypatch, caplog):
    import errno

    import pfatlas.build.cache as cache

    def no_flock(fd, op):
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(cache.fcntl, "flock", no_flock)
    with caplog.at_level("WARNING", logger="pfatlas.build"), BuildLock(tmp_path / "out"):
        pass
    assert "cannot lock" in caplog.text and "make sure no other build writes into it" in caplog.text


def test_a_task_that_kills_every_worker_is_a_clear_error(tmp_path, monkeypatch):
    from distributed.scheduler import KilledWorker

    import pfatlas.build.runner as runner
    from test_build import _config, _dem

    def run(ctx):
        raise KilledWorker(("predict-chunk", 3, 1), None, 3)

    monkeypatch.setattr(runner, "stages_for", lambda ctx: [Stage("dem", run)])
    _dem(tmp_path / "dem.tif")
    with pytest.raises(PfatlasError, match=r"dask workers died 4 times while running one task \(\('predict-chunk', 3, 1\)\); this is usually memory"):  # fmt: skip
        run_build(_config(tmp_path), tmp_path / "out")
    prov = json.loads((tmp_path / "out" / "provenance.json").read_text())
    assert prov["status"] == "failed" and prov["error"].startswith("dask workers died 4 times")


# --- a small build killed or interrupted, then rerun ----------------------------------------------


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """The small virtual Muli (284 x 353 cells) reduced to the stages up to the land cover, in
    chunks of 192 cells (4 per layer), no products; returns the config."""
    from pfatlas.synth.generate import generate_virtual_muli

    folder = tmp_path_factory.mktemp("resilience")
    config = Path(generate_virtual_muli(folder, size="small", seed=0))
    doc = tomllib.loads(config.read_text())
    for key in ("boreholes", "validation_boreholes", "borehole_logs", "mining"):
        doc["inputs"].pop(key, None)
    doc.setdefault("mining", {})["from_landcover"] = False
    doc["products"] = {"enabled": False}
    doc["compute"] = {"chunk": 192, "cluster": "threads"}
    config.write_text(tomli_w.dumps(doc))
    return config


@pytest.fixture(scope="module")
def reference(inputs) -> Path:
    """An uninterrupted threaded build of :func:`inputs`."""
    report = run_build(inputs, inputs.parent / "reference")
    assert report.ran() == ["dem", "terrain", "geomorphology", "samples", "composite/2000", "composite/2020",
                            *LANDCOVER]  # fmt: skip
    return report.out


LANDCOVER = ["landcover_forest/2000", "landcover_forest/2020", "landcover/2000", "landcover/2020"]
# a chunk of the 2000 forest's class probabilities is written: the predict-and-write pass is under way
FOREST_CHUNK = "2000/landcover_forest/.probability_*.tif.*.tmp/r*_c*.tif"


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie waiting to be reaped is dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "\nState:\tZ" in status.read_text())


def _on_cluster(config: Path, workers: int = 2):
    cfg = load_config(config)
    compute = cfg.compute.model_copy(update={"cluster": "processes", "workers": workers})
    return cfg.model_copy(update={"compute": compute})


@pytest.mark.slow
def test_worker_killed_mid_stage_loses_nothing(inputs, reference, tmp_path):
    """SIGKILL of one of two local-cluster workers while the 2000 forest's class probabilities are being written:
    the nanny restarts it, the scheduler reruns its tasks, the rasters equal the threaded build's."""
    from distributed import default_client

    out = tmp_path / "out"
    seen: dict = {}

    def worker_pids() -> set[int]:
        return set(default_client().run(os.getpid).values())

    def kill_one():
        try:
            seen["chunk"] = _wait_for(out, FOREST_CHUNK)
            before = worker_pids()
            seen["victim"] = victim = min(before)
            os.kill(victim, signal.SIGKILL)
            seen["killed_at"] = t0 = time.monotonic()
            while time.monotonic() - t0 < 60 and "restarted" not in seen:
                try:
                    new = worker_pids() - before
                except Exception:  # the dead worker's address is still listed for a moment
                    new = set()
                if new:
                    seen["restarted"] = new
                time.sleep(0.1)
        except BaseException as exc:  # reported by the test below
            seen["error"] = exc

    watcher = threading.Thread(target=kill_one, daemon=True)
    watcher.start()
    report = run_build(_on_cluster(inputs), out)
    finished_at = time.monotonic()
    watcher.join(timeout=60)
    assert "error" not in seen, seen.get("error")
    # a worker was killed while the build was writing the land cover, before the build ended (the
    # nanny's restart is seen when the build lasts long enough for it: not always on a busy machine)
    assert seen.get("victim") and seen["killed_at"] < finished_at, seen
    assert not _alive(seen["victim"])
    assert report.ran()[-4:] == LANDCOVER
    assert json.loads((out / "provenance.json").read_text())["status"] == "complete"
    assert not _temporaries(out)
    assert_same_rasters(reference, out)


@pytest.mark.slow
@pytest.mark.parametrize("cluster", [["--cluster", "processes", "--workers", "2"], ["--cluster", "local"]],
                         ids=["worker-processes", "in-process-cluster"])  # fmt: skip
def test_ctrl_c_stops_cleanly_and_the_rerun_resumes(inputs, reference, tmp_path, cluster):
    """SIGINT to the process group of `pfatlas build` on a local cluster of worker processes, and on
    the default in-process one (what Ctrl-C in a terminal does) while the 2000 composite is being
    written: exit 130 with one line and no traceback, no temporary left, provenance
    ``interrupted``; the rerun reuses the four finished stages."""
    out = tmp_path / "out"
    proc = subprocess.Popen([PFATLAS, "build", str(inputs), "--out", str(out), *cluster],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=default_sigint)  # fmt: skip
    try:
        _wait_for(out, "2000/composite/.*.tmp/r*_c*.tif", proc)
        t0 = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        stopped = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, err
    assert stopped < 30, f"{stopped:.1f} s to stop"
    assert "Traceback" not in err, err
    assert err.strip().splitlines()[-1] == f"build {INTERRUPTED}"
    assert not _temporaries(out)
    prov = json.loads((out / "provenance.json").read_text())
    finished = ["dem", "terrain", "geomorphology", "samples"]
    assert prov["status"] == "interrupted" and [s["name"] for s in prov["stages"]] == finished
    assert not list((out / "2000").rglob("*.tif"))  # the interrupted stage wrote nothing

    rerun = run_build(inputs, out)
    assert rerun.reused() == finished
    assert rerun.ran() == ["composite/2000", "composite/2020", *LANDCOVER]
    assert_same_rasters(reference, out)


@pytest.mark.slow
def test_kill_9_of_the_build_neither_breaks_nor_pollutes_the_rerun(inputs, reference, tmp_path):
    """SIGKILL of a threaded `pfatlas build` while the 2000 forest's probabilities are being written leaves its
    temporary chunk folders; the rerun removes them, reuses the finished stages, and equals the
    reference."""
    out = tmp_path / "out"
    proc = subprocess.Popen([PFATLAS, "-q", "build", str(inputs), "--out", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    try:
        _wait_for(out, FOREST_CHUNK, proc)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert _temporaries(out)  # what the killed build left
    assert not (out / "2000" / "landcover.tif").exists()

    rerun = run_build(inputs, out)
    assert rerun.reused() == ["dem", "terrain", "geomorphology", "samples", "composite/2000",
                              "composite/2020"]  # fmt: skip
    assert rerun.ran() == LANDCOVER
    assert not _temporaries(out)
    assert_same_rasters(reference, out)
