"""Stage reuse: a stage reruns only when its inputs, parameters or upstream stages changed.

A stage's *key* is a hash of its name, the pfatlas version, its parameters, the content hashes of
its input files and the keys of the stages it depends on. After a stage succeeds, its key and the
size and mtime of each output are recorded in ``OUT/.pfatlas/state/<stage>.json``. On the next
run the stage is reused when the key matches and every output is still there unchanged. Content
hashes of inputs are memoised by (path, size, mtime) in ``OUT/.pfatlas/hashes.json`` so large
Landsat folders are hashed once.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path

__all__ = ["HashCache", "StageState", "stage_key"]


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
