"""``pfatlas build``: run the stages in order, reusing what is current, recording provenance.

A build holds a lock on its output folder (:class:`~pfatlas.build.cache.BuildLock`) and starts by
removing the temporaries a killed build may have left there. Every file is written atomically and a
stage's record is written only after it succeeded, so a build interrupted in any way (Ctrl-C, a
kill, a failure) leaves the finished stages' outputs in place and a rerun resumes from them.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import importlib.util
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import dask

from pfatlas import __version__
from pfatlas.build.cache import BuildLock, HashCache, StageState, remove_stale_temporaries, stage_key
from pfatlas.build.context import BuildContext, make_context
from pfatlas.build.layout import mining_configured
from pfatlas.build.provenance import write_provenance
from pfatlas.build.stages import Stage, stages_for
from pfatlas.config import Config, load_config, resolved_toml
from pfatlas.errors import ConfigError, PfatlasError

__all__ = ["BuildReport", "run_build", "ALLOWED_FAILURES", "INTERRUPTED"]

log = logging.getLogger("pfatlas.build")

#: How many workers may die while running one task before a local cluster gives up on it
#: (``distributed.scheduler.allowed-failures``; an existing scheduler keeps its own setting).
ALLOWED_FAILURES = 3
#: The message of an interrupted build (provenance ``error``; the CLI prints it).
INTERRUPTED = "interrupted; the finished stages are kept and a rerun resumes after them"


@dataclass
class BuildReport:
    """What a build did: the output folder and, per stage, ran/reused and seconds."""

    out: Path
    stages: list[dict] = field(default_factory=list)

    def ran(self) -> list[str]:
        return [s["name"] for s in self.stages if s["status"] == "ran"]

    def reused(self) -> list[str]:
        return [s["name"] for s in self.stages if s["status"] == "reused"]


def _write_text_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def run_build(
    config: str | Path | Config,
    out: str | Path | None = None,
    *,
    force: bool = False,
    progress=None,
) -> BuildReport:
    """Run every stage the config allows into ``out``.

    Parameters
    ----------
    config
        Path of the TOML config (or a loaded :class:`Config`).
    out
        Output folder; default ``out`` beside the config file.
    force
        Rerun every stage even when its recorded outputs are current.
    progress
        Optional callable ``progress(event, stage_name, seconds)`` with event ``start``, ``ran`` or
        ``reused`` (the CLI draws its progress display from it).

    Returns
    -------
    BuildReport

    Raises
    ------
    InputError
        When another build is writing into ``out`` (see :class:`~pfatlas.build.cache.BuildLock`).
    PfatlasError
        When a stage fails on bad input, or a task killed every dask worker that ran it.
    KeyboardInterrupt
        On Ctrl-C, after the stopped stage's temporaries are removed and ``provenance.json`` says
        ``interrupted``; the next run resumes after the finished stages.
    """
    cfg = config if isinstance(config, Config) else load_config(config)
    if out is None:
        out = (cfg.source_path.parent if cfg.source_path else Path.cwd()) / "out"
    ctx = make_context(cfg, Path(out))
    ctx.out.mkdir(parents=True, exist_ok=True)
    with BuildLock(ctx.out):
        stale = remove_stale_temporaries(ctx.out, keep=_input_paths(cfg))
        if stale:
            log.info("removed %d temporary file(s) left by an earlier build", len(stale))
        return _build(cfg, ctx, force, progress)


def _input_paths(cfg: Config) -> list[Path]:
    """The config file and every input path it names (never touched by the temporaries' cleanup)."""
    paths = [] if cfg.source_path is None else [Path(cfg.source_path)]
    for value in cfg.inputs.model_dump().values():
        for p in value if isinstance(value, list) else [value]:
            if p is not None:
                paths.append(Path(p))
    return paths


def _build(cfg: Config, ctx: BuildContext, force: bool, progress) -> BuildReport:
    started = dt.datetime.now(dt.UTC)
    config_text = resolved_toml(cfg)
    _write_text_atomic(ctx.path("config.toml"), config_text)
    hashes = HashCache(ctx.path(".pfatlas", "hashes.json"))
    report = BuildReport(out=ctx.out)
    keys: dict[str, str] = {}
    all_inputs: dict[str, str] = {}
    workers = cfg.compute.workers or os.cpu_count() or 1

    def record(status: str, error: str | None = None) -> None:
        hashes.save()
        write_provenance(
            ctx.path("provenance.json"),
            config_text=config_text,
            input_hashes=all_inputs,
            stages=report.stages,
            started=started,
            status=status,
            error=error,
            synthetic=cfg.area.synthetic,
        )

    try:
        with _bounded_memory(), _executor(cfg, workers):
            for stage in stages_for(ctx):
                _run_stage(ctx, stage, hashes, keys, all_inputs, report, force, progress)
                _release_free_memory()
    except KeyboardInterrupt:
        record("interrupted", INTERRUPTED)
        raise
    except BaseException as exc:
        error = _worker_loss(exc)
        record("failed", str(error or exc))
        if error is not None:
            raise error from None
        raise
    record("complete")
    return report


#: GDAL's block cache [bytes]. Its default, 5 % of the RAM, fills with the blocks of the layers a
#: stage reads and converts, so the build's memory would grow with the area; 16 MB costs no time
#: (our reads stream: each task reads its window once), measured on the full and 4x demo.
GDAL_CACHE_BYTES = 16 * 2**20


@contextlib.contextmanager
def _bounded_memory():
    """GDAL's block cache bounded to :data:`GDAL_CACHE_BYTES` for the build (process-wide)."""
    import rasterio

    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_BYTES):
        yield


def _release_free_memory() -> None:
    """Hand the heap's free memory back to the OS after a stage (glibc's ``malloc_trim``): the
    allocator keeps what numpy and GDAL freed, so each stage would start above the last one's
    high-water mark. A no-op where there is no glibc."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _worker_loss(exc: BaseException) -> PfatlasError | None:
    """The error to show when a task killed every worker that ran it (``KilledWorker``), else None."""
    try:
        from distributed.scheduler import KilledWorker
    except ImportError:  # pragma: no cover - distributed is a dependency
        return None
    if not isinstance(exc, KilledWorker):
        return None
    return PfatlasError(
        f"dask workers died {exc.allowed_failures + 1} times while running one task ({exc.task}); this is "
        "usually memory: lower [compute] chunk, or give the workers more memory (fewer workers per "
        "machine), then rerun (the finished stages are kept)"
    )


@contextlib.contextmanager
def _executor(cfg: Config, workers: int):
    """Where the dask graphs of the build run (config ``compute``).

    ``scheduler`` set: the existing ``dask.distributed`` scheduler at that address. Else by
    ``cluster``: ``"local"`` (the default) a local ``dask.distributed`` cluster started for the
    build and closed after it, whose one worker runs ``workers`` threads (one per core) in this
    process: the scheduling, the client and the diagnostics of a cluster, without copying data
    between processes. ``"processes"``: a local cluster on 127.0.0.1 of ``workers`` worker
    processes (default 1) with ``threads_per_worker`` threads each (default: the cores shared among
    them), whose workers a nanny restarts when they die. ``"threads"``: dask's threaded scheduler
    in this process, ``workers`` threads. The results are the same; on one machine the threaded
    scheduler is the fastest and worker processes the slowest (docs/scaling.md).
    """
    c = cfg.compute
    if c.scheduler is None and c.cluster == "threads":
        with dask.config.set(scheduler="threads", num_workers=workers):
            yield
        return
    from distributed import Client, LocalCluster

    with contextlib.ExitStack() as stack:
        stack.enter_context(_quiet_abandoned_gathers())
        # the fitted forests travel with their predict graphs (10-20 MB): expected, not a problem
        settings = {"distributed.admin.large-graph-warning-threshold": "128MB"}
        if c.scheduler is not None:
            try:
                client = Client(c.scheduler, timeout="10s", set_as_default=True)
            except OSError as exc:
                raise ConfigError(f"cannot reach the dask scheduler at {c.scheduler}: {exc}",
                                  path=cfg.source_path, field="compute.scheduler") from None  # fmt: skip
            stack.enter_context(client)
            stack.enter_context(dask.config.set(settings))
            log.info("dask: scheduler %s, %d worker(s)", c.scheduler, len(client.scheduler_info()["workers"]))
            yield
            return
        # the scheduler's HTTP server on the loopback, a free port (its dashboard pages need bokeh,
        # not a dependency)
        dashboard = "127.0.0.1:0"
        bokeh = importlib.util.find_spec("bokeh") is not None
        if c.cluster == "local":
            # the client's own threads (model fits, COG compression) are the worker's: same process
            stack.enter_context(dask.config.set({**settings, "num_workers": workers}))
            cluster = stack.enter_context(
                LocalCluster(n_workers=1, threads_per_worker=workers, processes=False, dashboard_address=dashboard,
                             silence_logs=logging.ERROR)
            )  # fmt: skip
            stack.enter_context(Client(cluster, set_as_default=True))
            log.info("dask: local cluster, 1 worker of %d thread(s) in this process, dashboard %s",
                     workers, cluster.dashboard_link if bokeh else "off (pip install bokeh)")  # fmt: skip
            yield
            return
        n_workers = c.workers or 1
        threads = c.threads_per_worker or max(1, (os.cpu_count() or 1) // n_workers)
        # a task whose worker dies is rescheduled on another (the nanny restarts the dead one) until
        # ALLOWED_FAILURES workers died running it
        # worker processes get the same bounded GDAL cache (an environment variable, in MB)
        environ = {**dask.config.get("distributed.nanny.pre-spawn-environ", {}),
                   "GDAL_CACHEMAX": str(GDAL_CACHE_BYTES // 2**20)}  # fmt: skip
        stack.enter_context(
            dask.config.set(
                {
                    **settings,
                    "distributed.scheduler.allowed-failures": ALLOWED_FAILURES,
                    "distributed.nanny.pre-spawn-environ": environ,
                }
            )  # fmt: skip
        )
        cluster = stack.enter_context(
            LocalCluster(n_workers=n_workers, threads_per_worker=threads, processes=True, host="127.0.0.1",
                         dashboard_address=dashboard, silence_logs=logging.ERROR)
        )  # fmt: skip
        client = stack.enter_context(Client(cluster, set_as_default=True))
        client.register_plugin(_ignore_sigint_plugin(), name="pfatlas-ignore-sigint")
        log.info("dask: local cluster of %d worker process(es) x %d thread(s)", n_workers, threads)
        yield


class _AbandonedGather(logging.Filter):
    """Drops asyncio's "Task exception was never retrieved" about the distributed client's internal
    ``AllExit``: what an interrupted or failed ``gather`` leaves behind, not an error of the build."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return type(exc).__name__ != "AllExit"


@contextlib.contextmanager
def _quiet_abandoned_gathers():
    logger, flt = logging.getLogger("asyncio"), _AbandonedGather()
    logger.addFilter(flt)
    try:
        yield
    finally:
        logger.removeFilter(flt)


def _ignore_sigint_plugin():
    """A worker plugin making the local cluster's workers (and those the nannies restart) ignore
    SIGINT: Ctrl-C in a terminal reaches the whole process group, and the build process, which
    closes the cluster, is the one to act on it (the workers would print tracebacks)."""
    import signal

    from distributed.diagnostics.plugin import WorkerPlugin

    class IgnoreSigint(WorkerPlugin):
        def setup(self, worker):
            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGINT, signal.SIG_IGN)

    return IgnoreSigint()


class _PeakRss:
    """Peak resident memory [GB] of this process while a block runs: a thread samples
    ``/proc/self/statm`` every 20 ms (Linux; elsewhere ``peak`` stays None)."""

    def __init__(self, interval: float = 0.02):
        self.interval = interval
        self.peak: float | None = None
        self._stop = threading.Event()
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

    def _sample(self) -> None:
        try:
            rss = int(Path("/proc/self/statm").read_text().split()[1]) * self._page / 1024**3
        except (OSError, ValueError, IndexError):
            return
        self.peak = rss if self.peak is None else max(self.peak, rss)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self):
        self._sample()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._sample()
        if self.peak is not None:
            self.peak = round(self.peak, 3)


def _run_stage(
    ctx: BuildContext,
    stage: Stage,
    hashes: HashCache,
    keys: dict[str, str],
    all_inputs: dict[str, str],
    report: BuildReport,
    force: bool,
    progress,
) -> None:
    inputs = hashes.files(stage.inputs(ctx))
    all_inputs.update(inputs)
    upstream = {d: keys[d] for d in stage.depends}
    # where the natural layers go depends on whether mining is configured (pfatlas.build.layout)
    params = {"params": stage.params(ctx), "natural_layout": mining_configured(ctx.cfg)}
    key = stage_key(stage.name, __version__, params, inputs, upstream)
    keys[stage.name] = key
    state = StageState(ctx.out, stage.name)
    if not force and state.is_current(key):
        report.stages.append(
            {"name": stage.name, "status": "reused", "seconds": 0.0, "outputs": state.outputs()}
        )
        if progress:
            progress("reused", stage.name, 0.0)
        log.info("%s: reused (inputs and parameters unchanged)", stage.name)
        return
    if progress:
        progress("start", stage.name, 0.0)
    state.forget()
    t0 = time.perf_counter()
    with _PeakRss() as rss:
        outputs = stage.run(ctx)
    seconds = time.perf_counter() - t0
    peak = rss.peak
    state.record(key, outputs, seconds)
    rels = [str(Path(p).resolve().relative_to(ctx.out)) for p in outputs]
    report.stages.append({"name": stage.name, "status": "ran", "seconds": round(seconds, 3),
                          "peak_rss_gb": peak, "outputs": rels})  # fmt: skip
    if progress:
        progress("ran", stage.name, seconds)
    log.info("%s: %.1f s, %d output(s)", stage.name, seconds, len(outputs))
