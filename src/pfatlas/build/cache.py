"""Stage reuse: a stage reruns only when its inputs, parameters or upstream stages changed.

A stage's *key* is a hash of its name, the pfatlas version, its parameters, the content hashes of
its input files and the keys of the stages it depends on. After a stage succeeds, its key and the
size and mtime of each output are recorded in ``OUT/.pfatlas/state/<stage>.json``. On the next
run the stage is reused when the key matches and every output is still there unchanged. Content
hashes of inputs are memoised by (path, size, mtime) in ``OUT/.pfatlas/hashes.json`` so large
Landsat folders are hashed once.

Between runs the output folder may also hold what a killed build left behind: temporary files and
folders (every file pfatlas writes is written under a hidden temporary name beside its target and
renamed when complete). :class:`BuildLock` keeps a second build out of a folder a build is writing
into, and :func:`remove_stale_temporaries`, called under that lock at the start of a build, removes
them so they neither pollute the atlas nor accumulate.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
from collections.abc import Iterable
from pathlib import Path

from pfatlas.errors import InputError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no lock
    fcntl = None

__all__ = ["BuildLock", "HashCache", "StageState", "TEMPORARY_NAME", "remove_stale_temporaries", "stage_key"]

log = logging.getLogger("pfatlas.build")

#: Names of the temporary files and folders pfatlas writes beside their targets: hidden, and ending
#: ``.tmp`` (``pfatlas.io.cog.atomic_path``, the text and JSON writers), ``.tmp.png`` (plates),
#: ``.tmp-<8 hex>`` (the viewer folder being written) or ``.old-<8 hex>`` (the viewer folder being
#: replaced).
TEMPORARY_NAME = re.compile(r"^\..+\.(tmp|tmp\.png|tmp-[0-9a-f]{8}|old-[0-9a-f]{8})$")


def _atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


class HashCache:
    """SHA-256 of files, memoised by (path, size, mtime_ns)."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self._memo = json.loads(path.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            self._memo = {}

    def file(self, path: Path) -> str:
        st = path.stat()
        tag = f"{st.st_size}:{st.st_mtime_ns}"
        hit = self._memo.get(str(path))
        if hit and hit[0] == tag:
            return hit[1]
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                h.update(block)
        digest = h.hexdigest()
        self._memo[str(path)] = [tag, digest]
        return digest

    def files(self, paths: Iterable[Path]) -> dict[str, str]:
        """Hashes of files, and of every file under folders (sorted, by relative path)."""
        out = {}
        for p in paths:
            p = Path(p)
            if p.is_dir():
                for q in sorted(x for x in p.rglob("*") if x.is_file()):
                    out[str(q)] = self.file(q)
            elif p.exists():
                out[str(p)] = self.file(p)
        return out

    def save(self) -> None:
        _atomic_write_text(self.path, json.dumps(self._memo, indent=0, sort_keys=True))


def stage_key(
    name: str, version: str, params: dict, input_hashes: dict[str, str], upstream: dict[str, str]
) -> str:
    """The hash that decides whether a stage's recorded outputs can be reused."""
    payload = json.dumps(
        {"stage": name, "version": version, "params": params, "inputs": input_hashes, "upstream": upstream},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


class StageState:
    """The record of a finished stage in ``OUT/.pfatlas/state/``."""

    def __init__(self, out: Path, name: str):
        self.out = out
        self.path = out / ".pfatlas" / "state" / (name.replace("/", "__") + ".json")

    def _stamp(self, rel: str) -> list[int] | None:
        p = self.out / rel
        if not p.exists():
            return None
        st = p.stat()
        return [st.st_size, st.st_mtime_ns]

    def is_current(self, key: str) -> bool:
        try:
            rec = json.loads(self.path.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return False
        if rec.get("key") != key:
            return False
        return all(self._stamp(rel) == stamp for rel, stamp in rec.get("outputs", {}).items())

    def outputs(self) -> list[str]:
        try:
            return list(json.loads(self.path.read_text(encoding="utf-8")).get("outputs", {}))
        except (FileNotFoundError, json.JSONDecodeError):
            return []

    def record(self, key: str, outputs: Iterable[Path], seconds: float) -> None:
        rels = sorted(str(Path(p).resolve().relative_to(self.out.resolve())) for p in outputs)
        rec = {"key": key, "seconds": round(seconds, 3), "outputs": {r: self._stamp(r) for r in rels}}
        _atomic_write_text(self.path, json.dumps(rec, indent=1))

    def forget(self) -> None:
        if self.path.exists():
            self.path.unlink()


class BuildLock:
    """An exclusive lock on an output folder for the time of a build (``OUT/.pfatlas/build.lock``).

    An advisory ``flock``: the kernel releases it when the process ends however it ends, so a
    killed build never leaves a stale lock. A second build into the same folder is refused while
    the first runs (two builds would overwrite each other's stage records and temporaries).

    Raises
    ------
    InputError
        When another process holds the lock.
    """

    def __init__(self, out: Path):
        self.path = Path(out) / ".pfatlas" / "build.lock"
        self._fd: int | None = None

    def __enter__(self) -> BuildLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                holder = self.path.read_text(encoding="utf-8").strip() or "another process"
                raise InputError(
                    f"another pfatlas build ({holder}) is writing into this folder; wait for it to "
                    "finish or build into another --out",
                    path=self.path.parent.parent,
                ) from None
            except OSError as exc:  # no flock on this file system (e.g. Lustre mounted without it)
                log.warning("cannot lock %s (%s): make sure no other build writes into it", self.path.parent.parent,
                            exc.strerror)  # fmt: skip
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}".encode())
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the flock
            self._fd = None


def remove_stale_temporaries(out: Path, keep: Iterable[Path] = ()) -> list[Path]:
    """Remove the temporary files and folders (:data:`TEMPORARY_NAME`) under ``out``.

    Only safe while no other process writes into ``out`` (hold a :class:`BuildLock`). Folders
    that hold any path of ``keep`` (the build's inputs, e.g. the demo's ``OUT/inputs``) are not
    entered.

    Returns
    -------
    list of Path
        What was removed.
    """
    out = Path(out).resolve()
    keep = [Path(p).resolve() for p in keep]
    removed = []
    for folder, dirs, files in os.walk(out):
        here = Path(folder)
        for name in list(dirs):
            p = here / name
            if TEMPORARY_NAME.match(name):
                shutil.rmtree(p, ignore_errors=True)
                removed.append(p)
                dirs.remove(name)
            elif p.is_symlink() or any(k == p or p in k.parents for k in keep):
                dirs.remove(name)
        for name in files:
            if TEMPORARY_NAME.match(name):
                (here / name).unlink(missing_ok=True)
                removed.append(here / name)
    return removed
