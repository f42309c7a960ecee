"""Fetch the viewer's map library (Leaflet) from the npm registry, checked against its integrity.

The repository holds only our own code. The browser viewer needs Leaflet (BSD-2-Clause), so the
install steps (``make demo``/``make test``) run this module once, which downloads the exact
release tarball named below, checks its SHA-512 against the ``dist.integrity`` value the npm
registry publishes for that version (hard-coded here, so a changed tarball is refused), and keeps
only the files the viewer uses: ``dist/leaflet.js``, ``dist/leaflet.css``, ``dist/images/*`` and
``LICENSE``. They land in ``src/pfatlas/atlas/_vendor/leaflet/`` (ignored by git, shipped in a
wheel as package data) with a stamp file holding the integrity string, so a second run with the
files present does nothing.

Run it as ``python -m pfatlas.atlas.vendor`` (``--force`` fetches again).
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import shutil
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path

__all__ = [
    "LEAFLET_VERSION",
    "LEAFLET_URL",
    "LEAFLET_INTEGRITY",
    "VENDOR_DIR",
    "fetch_leaflet",
    "install_tarball",
    "leaflet_dir",
    "check_integrity",
]

LEAFLET_VERSION = "1.9.4"
LEAFLET_URL = f"https://registry.npmjs.org/leaflet/-/leaflet-{LEAFLET_VERSION}.tgz"
#: ``dist.integrity`` of leaflet 1.9.4 in the npm registry metadata (https://registry.npmjs.org/leaflet/1.9.4)
LEAFLET_INTEGRITY = (
    "sha512-nxS1ynzJOmOlHp+iL3FyWqK89GtNL8U8rvlMOsQdTTssxZwCXh8N2NB3GDQOL+YR3XnWyZAxwQixURb+FA74PA=="
)
VENDOR_DIR = Path(__file__).resolve().parent / "_vendor" / "leaflet"
STAMP = ".integrity"
#: Files of the npm package kept, as (path in the tarball under ``package/``, path under VENDOR_DIR).
_KEEP_FILES = {"dist/leaflet.js": "leaflet.js", "dist/leaflet.css": "leaflet.css", "LICENSE": "LICENSE"}
_KEEP_DIR = ("dist/images/", "images/")
#: Files the viewer cannot work without (checked by :func:`leaflet_dir`).
REQUIRED = ("leaflet.js", "leaflet.css", "LICENSE")


def check_integrity(data: bytes, integrity: str) -> None:
    """Raise ``ValueError`` unless ``data`` has the Subresource-Integrity hash ``integrity``.

    ``integrity`` is ``"<algorithm>-<base64 digest>"`` as npm writes it (sha512 or sha1).

    Examples
    --------
    >>> check_integrity(b"abc", "sha1-qZk+NkcGgWq6PiVxeFDCbJzQ2J0=")
    """
    algo, _, expected = integrity.partition("-")
    if algo not in ("sha512", "sha384", "sha256", "sha1") or not expected:
        raise ValueError(f"unsupported integrity string {integrity!r}")
    got = base64.b64encode(hashlib.new(algo, data).digest()).decode("ascii")
    if got != expected:
        raise ValueError(f"integrity check failed: expected {algo}-{expected}, got {algo}-{got}")


def _members(tar: tarfile.TarFile) -> dict[str, tarfile.TarInfo]:
    """The regular files of the kept set, by their path under VENDOR_DIR (no links, no '..')."""
    keep = {}
    for m in tar.getmembers():
        if not m.isfile() or not m.name.startswith("package/"):
            continue
        rel = m.name[len("package/") :]
        if rel in _KEEP_FILES:
            keep[_KEEP_FILES[rel]] = m
        elif rel.startswith(_KEEP_DIR[0]):
            name = rel[len(_KEEP_DIR[0]) :]
            if name and "/" not in name and name not in (".", ".."):
                keep[_KEEP_DIR[1] + name] = m
    return keep


def install_tarball(data: bytes, integrity: str, dest: str | Path = VENDOR_DIR) -> Path:
    """Check ``data`` (an npm package tarball) against ``integrity`` and extract the kept files.

    The files are extracted into a temporary folder beside ``dest``, which then replaces ``dest``,
    so an interrupted run never leaves a partial library behind.

    Returns
    -------
    Path
        ``dest``.
    """
    check_integrity(data, integrity)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        tmp.chmod(0o755)  # mkdtemp makes it private; the library is read by everyone
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            members = _members(tar)
            missing = [f for f in REQUIRED if f not in members]
            if missing:
                raise ValueError(f"the tarball lacks {', '.join(missing)}")
            for rel, m in members.items():
                target = tmp / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(m) as src:  # a regular file (checked in _members)
                    target.write_bytes(src.read())
        (tmp / STAMP).write_text(integrity + "\n")
        old = None
        if dest.exists():
            old = dest.with_name(f".{dest.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(dest, old)
        os.replace(tmp, dest)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _is_installed(dest: Path, integrity: str) -> bool:
    stamp = dest / STAMP
    return (
        all((dest / f).is_file() for f in REQUIRED)
        and stamp.is_file()
        and stamp.read_text().strip() == integrity
    )


def fetch_leaflet(
    dest: str | Path = VENDOR_DIR,
    *,
    url: str = LEAFLET_URL,
    integrity: str = LEAFLET_INTEGRITY,
    force: bool = False,
    timeout: float = 60.0,
) -> Path:
    """Download Leaflet into ``dest`` unless it is there already (with the same integrity stamp).

    Raises
    ------
    ValueError
        The downloaded tarball does not match ``integrity``.
    OSError
        The download failed.
    """
    dest = Path(dest)
    if not force and _is_installed(dest, integrity):
        return dest
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (fixed https URL)
        data = resp.read()
    return install_tarball(data, integrity, dest)


def leaflet_dir(dest: str | Path = VENDOR_DIR) -> Path:
    """The folder of the vendored Leaflet files; a clear error when they were never fetched.

    Raises
    ------
    pfatlas.errors.MissingInputError
        The files are missing (run ``python -m pfatlas.atlas.vendor`` or ``make demo``).
    """
    dest = Path(dest)
    missing = [f for f in REQUIRED if not (dest / f).is_file()]
    if missing:
        from pfatlas.errors import MissingInputError

        raise MissingInputError(
            f"the viewer's map library (Leaflet {LEAFLET_VERSION}) is not installed ({', '.join(missing)} "
            "missing); fetch it once with `python -m pfatlas.atlas.vendor` (`make demo` and `make test` "
            "do this)",
            path=dest,
        )
    return dest


def main(argv: list[str] | None = None) -> int:
    """Command line: fetch Leaflet into the package (``--force`` to fetch again)."""
    args = sys.argv[1:] if argv is None else argv
    if any(a not in ("--force",) for a in args):
        print("usage: python -m pfatlas.atlas.vendor [--force]", file=sys.stderr)
        return 2
    try:
        dest = fetch_leaflet(force="--force" in args)
    except (OSError, ValueError) as exc:
        print(f"error: could not fetch Leaflet {LEAFLET_VERSION} from {LEAFLET_URL}: {exc}", file=sys.stderr)
        return 1
    print(f"Leaflet {LEAFLET_VERSION} in {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
