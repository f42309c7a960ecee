"""The browser viewer of an atlas folder: ``OUT/index.html`` and ``OUT/viewer/``.

:func:`write_viewer` turns the atlas rasters into what a browser can show without a server and
without network: it opens from disk (``file://``) as well as from :mod:`pfatlas.atlas.serve`.
Browsers refuse ``fetch()`` of ``file://`` URLs, so everything the page needs comes as ``<script>``
and ``<img>`` files:

``viewer/lib/``
    Leaflet, copied from the vendored package (:mod:`pfatlas.atlas.vendor`).
``viewer/viewer.js``, ``viewer/viewer.css``
    Our viewer (plain JavaScript, no build step), from ``viewer_static/``.
``viewer/data/atlas.js``
    The manifest: title, grid (affine, CRS, size), a lon/lat lattice, every layer with its legend
    (from :mod:`pfatlas.atlas.style`, the scales all products share), its images and value tiles,
    the boreholes and the mining outlines.
``viewer/img/<epoch|change/<period>|grid>/<layer>.png``
    Each layer and epoch drawn with :func:`pfatlas.atlas.style.colorize` at the *display
    resolution*: one pixel per ``factor`` x ``factor`` block of cells (``factor`` = 1 up to
    ``display_max`` cells a side, 2 for the full demo grid), coloured by the block's upper-left cell
    (decimation, never averaging, so class maps stay classes and a pixel's colour is a real cell's
    value), read window by window (:func:`pfatlas.atlas.readers.read_decimated`), so a layer never
    takes more memory than its display image. Palette PNGs (8 bit) where the scale's colours fit in
    256, RGBA PNGs otherwise.
``viewer/values/<key>/<ti>_<tj>.js``
    The values behind those pixels, for clicks from ``file://``: tiles of 256 x 256 display pixels,
    loaded only when a click needs them. Class layers store their uint8 codes; continuous layers
    int16 codes ``value = offset + code * step`` (``-32768`` nodata) with ``step`` a power of ten
    near 1/250 of the layer's colour-scale range (0.01 degC for MAGT, 0.01 m for ALT, 0.001 for
    probabilities), so a value read back is within ``step / 2`` of the cell's value. The codes are
    differenced along rows, split into low and high byte planes and deflated (the page inflates
    them with the browser's ``DecompressionStream``), then base64-encoded into a script.

Exact values of every cell at full resolution would be ~100 MB for the full demo (its fields are
noisy, so they compress poorly), which is why the file copy is at display resolution and rounded.
From ``pfatlas serve`` the page asks the server instead (``/api/cell``, see
:func:`cell_values`), which reads the COGs themselves: exact float32 values of the clicked cell.

The folder is written under a temporary name beside ``OUT/viewer`` and swapped in when complete;
``index.html`` is replaced atomically after it.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import os
import shutil
import tomllib
import uuid
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from html import escape
from pathlib import Path

import numpy as np
import rasterio
from rasterio.windows import Window

from pfatlas.atlas.readers import class_outlines, read_decimated
from pfatlas.atlas.style import (
    LAYERS,
    STYLE_FILE,
    LayerStyle,
    colorize,
    layer_files,
    load_styles,
    resolve_styles,
)
from pfatlas.atlas.vendor import leaflet_dir
from pfatlas.errors import InputError, MissingInputError

__all__ = [
    "write_viewer",
    "atlas_layers",
    "cell_values",
    "quantisation",
    "encode_codes",
    "decode_codes",
    "LayerFile",
    "INDEX",
    "VIEWER_DIR",
    "TILE",
]

log = logging.getLogger(__name__)

INDEX = "index.html"
VIEWER_DIR = "viewer"
TILE = 256  # display pixels a side of one value tile
DISPLAY_MAX = 1400  # longest side of a display image [pixels]
LATTICE = 64  # spacing of the lon/lat lattice [cells]; bilinear between its nodes: < 1e-6 deg in a UTM zone
NODATA_CODE = -32768  # int16 code of a missing continuous value
ZLIB_LEVEL = 3  # deflate level of the value tiles: 2.5x faster than 6 on the demo, 7 % larger
STATIC = Path(__file__).resolve().parent / "viewer_static"
_UNIT_LABELS = {"degC": "°C", "m3 m-3": "m³ m⁻³", "m3": "m³", "1": "", "degree": "°", "class": ""}
_SKIP_DIRS = {"change", "grid", "inputs", "tables", VIEWER_DIR}


@dataclass(frozen=True)
class LayerFile:
    """One raster of the atlas as the viewer lists it.

    ``key`` is its path below OUT without ``.tif`` (``2000/magt``, ``change/2000_2020/delta_magt``,
    ``grid/dem``); ``group`` the epoch label, ``change/<period>`` or ``grid``; ``section`` is
    ``epoch``, ``change`` or ``grid``.
    """

    key: str
    name: str
    group: str
    section: str
    path: Path


def _config(out: Path) -> dict:
    path = out / "config.toml"
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"not valid TOML: {exc}", path=path) from exc


def _epoch_labels(out: Path, config: dict) -> list[str]:
    """Epoch folders in the order of the configuration (else the sorted folders holding rasters)."""
    labels = [str(e.get("label")) for e in config.get("epochs", []) if isinstance(e, dict) and "label" in e]
    if labels:
        return labels
    return sorted(
        p.name for p in out.iterdir() if p.is_dir() and p.name not in _SKIP_DIRS and any(p.glob("*.tif"))
    )


def atlas_layers(out: str | Path, styles: dict[str, LayerStyle] | None = None) -> list[LayerFile]:
    """Every raster of the atlas the viewer shows, in display order (epoch, change, grid layers).

    Only layers that have a style (:data:`pfatlas.atlas.style.LAYERS`) and live in an epoch folder,
    ``change/<period>/`` or ``grid/`` are listed; files that resolve outside ``out`` are skipped.
    """
    out = Path(out)
    root = out.resolve()
    epochs = _epoch_labels(out, _config(out))
    found = []
    for name, paths in layer_files(out).items():
        if styles is not None and name not in styles:
            continue
        for p in paths:
            parent = p.parent.name
            if parent == "grid" and p.parent.parent == out:
                group, section = "grid", "grid"
            elif p.parent.parent.name == "change" and p.parent.parent.parent == out:
                group, section = f"change/{parent}", "change"
            elif parent in epochs and p.parent.parent == out:
                group, section = parent, "epoch"
            else:
                continue
            if not p.resolve().is_relative_to(root):
                continue
            found.append(LayerFile(f"{group}/{name}", name, group, section, p))
    sections = {"epoch": 0, "change": 1, "grid": 2}
    groups = {g: i for i, g in enumerate(epochs)}

    names = list(LAYERS)

    def rank(lf: LayerFile):
        return (sections[lf.section], names.index(lf.name) if lf.name in names else len(names), lf.name,
                groups.get(lf.group, len(groups)), lf.group)  # fmt: skip

    return sorted(found, key=rank)


def cell_values(layers: list[LayerFile], row: int, col: int) -> dict[str, float | int | None]:
    """The exact value of cell (``row``, ``col``) in each layer: float for continuous layers, the
    integer code for class layers, None for nodata. Reads one cell of each COG."""
    values: dict[str, float | int | None] = {}
    window = Window(col, row, 1, 1)
    for lf in layers:
        with rasterio.open(lf.path) as src:
            if not (0 <= row < src.height and 0 <= col < src.width):
                raise InputError(
                    f"cell ({row}, {col}) is outside the {src.height} x {src.width} grid", path=lf.path
                )
            v = src.read(1, window=window)[0, 0]
            nodata = src.nodata
        if np.issubdtype(v.dtype, np.integer):
            values[lf.key] = None if nodata is not None and v == nodata else int(v)
        else:
            bad = not np.isfinite(v) or (nodata is not None and np.isfinite(nodata) and v == nodata)
            values[lf.key] = None if bad else float(v)
    return values


def quantisation(vmin: float, vmax: float, lo: float, hi: float) -> tuple[float, float]:
    """Step and offset of the int16 codes of a continuous layer.

    ``step`` is the power of ten nearest below 1/250 of the colour-scale range ``vmax - vmin``
    (raised by factors of ten until the data range ``lo .. hi`` fits in 65 000 codes); ``offset``
    is the middle of the data range, rounded to a multiple of ``step``.

    Examples
    --------
    >>> quantisation(-4.0, 4.0, -6.3, 3.1)
    (0.01, -1.6)
    >>> quantisation(0.0, 1.0, 0.0, 1.0)
    (0.001, 0.5)
    """
    k = math.floor(math.log10(max(vmax - vmin, 1e-9) / 250.0))
    while (hi - lo) / 10.0**k > 65000:
        k += 1
    step = 10.0**k
    offset = round(round((lo + hi) / 2.0 / step) * step, max(0, -k))
    return step, offset


def encode_codes(codes: np.ndarray) -> bytes:
    """Deflated int16 codes: differenced along rows (wrapping), low byte plane then high byte plane.

    Examples
    --------
    >>> c = np.array([[3, -32768, 7], [100, 101, 99]], dtype=np.int16)
    >>> bool((decode_codes(encode_codes(c), c.shape) == c).all())
    True
    """
    d = np.diff(codes.astype(np.int32), axis=1, prepend=0) & 0xFFFF
    planes = np.concatenate([(d & 0xFF).astype(np.uint8).ravel(), (d >> 8).astype(np.uint8).ravel()])
    return zlib.compress(planes.tobytes(), ZLIB_LEVEL)


def decode_codes(data: bytes, shape: tuple[int, int]) -> np.ndarray:
    """Inverse of :func:`encode_codes` (what the viewer's JavaScript does; used by the tests)."""
    b = np.frombuffer(zlib.decompress(data), dtype=np.uint8)
    n = shape[0] * shape[1]
    d = (b[:n].astype(np.int64) | (b[n:].astype(np.int64) << 8)).reshape(shape)
    return ((np.cumsum(d, axis=1) + 32768) % 65536 - 32768).astype(np.int16)


PALETTE_TOLERANCE = 8  # largest change of a colour channel [0-255] accepted to fit a 256-colour palette


def _png(rgba: np.ndarray) -> bytes:
    """A PNG of an RGBA image: a palette PNG when it has at most 256 colours, or when the rarest
    colours beyond 256 (a 256-step scale and transparent) have a kept colour within
    PALETTE_TOLERANCE per channel to stand in for them; an RGBA PNG otherwise (e.g. the 510-step
    cyclic scale of aspect), so the image always shows the colours of the scale."""
    import io

    from PIL import Image

    h, w = rgba.shape[:2]
    rgba = np.ascontiguousarray(rgba)
    packed = rgba.view(np.uint32).reshape(-1)
    colours, inverse, counts = np.unique(packed, return_inverse=True, return_counts=True)
    buf = io.BytesIO()
    if colours.size > 256:
        keep = np.sort(np.argsort(counts, kind="stable")[-256:])
        cols = colours.view(np.uint8).reshape(-1, 4).astype(np.int32)
        diff = np.abs(cols[:, None, :] - cols[None, keep, :]).max(axis=2)
        nearest = np.argmin(diff, axis=1)
        if diff[np.arange(cols.shape[0]), nearest].max() > PALETTE_TOLERANCE:
            Image.fromarray(rgba).save(buf, format="PNG", compress_level=6)
            return buf.getvalue()
        inverse = nearest[inverse]
        colours = colours[keep]
    pal = colours.view(np.uint8).reshape(-1, 4)
    img = Image.frombytes("P", (w, h), inverse.astype(np.uint8).tobytes())
    img.putpalette(pal[:, :3].tobytes(), rawmode="RGB")
    img.save(buf, format="PNG", transparency=pal[:, 3].tobytes(), compress_level=6)
    return buf.getvalue()


def _check_grid(src, ref: dict, path: Path) -> None:
    if (src.height, src.width) != ref["shape"] or not src.transform.almost_equals(ref["transform"]):
        raise InputError(
            f"raster is {src.height} x {src.width} at {tuple(src.transform)[:6]}, not on the atlas grid "
            f"{ref['shape'][0]} x {ref['shape'][1]} at {tuple(ref['transform'])[:6]}",
            path=path,
        )


def _read(lf: LayerFile, style: LayerStyle, ref: dict, factor: int) -> np.ndarray:
    """The layer at display resolution (upper-left cell of each ``factor`` x ``factor`` block), read
    window by window: class codes as uint8 with 255 for nodata, continuous values as float32 with NaN."""
    with rasterio.open(lf.path) as src:
        _check_grid(src, ref, lf.path)
        if style.kind == "class":
            a = read_decimated(lf.path, factor)
            if src.nodata is not None and src.nodata != 255:
                a = np.where(a == src.nodata, 255, a)
            return a.astype(np.uint8)
        return read_decimated(lf.path, factor, masked=True).astype(np.float32).filled(np.nan)


def _write(path: Path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)


def _render(lf: LayerFile, style: LayerStyle, ref: dict, factor: int, tmp: Path) -> dict:
    """Image and value tiles of one layer file; returns its manifest entry."""
    a = _read(lf, style, ref, factor)
    _write(tmp / "img" / f"{lf.key}.png", _png(colorize(a, style)))
    entry = {"key": lf.key, "image": f"{VIEWER_DIR}/img/{lf.key}.png"}
    if style.kind == "class":
        codes = a
    else:
        ok = np.isfinite(a)
        lo, hi = (float(a[ok].min()), float(a[ok].max())) if ok.any() else (0.0, 0.0)
        step, offset = quantisation(style.vmin, style.vmax, lo, hi)
        a64 = np.where(ok, a, offset).astype(np.float64)  # rounded in float64, not in the data's float32
        q = np.where(ok, np.clip(np.rint((a64 - offset) / step), -32767, 32767), NODATA_CODE)
        codes = q.astype(np.int16)
        entry |= {"step": step, "offset": offset, "decimals": max(0, -round(math.log10(step)))}
    ny, nx = codes.shape
    for ti in range(math.ceil(ny / TILE)):
        for tj in range(math.ceil(nx / TILE)):
            block = np.ascontiguousarray(codes[ti * TILE : (ti + 1) * TILE, tj * TILE : (tj + 1) * TILE])
            raw = zlib.compress(block.tobytes(), ZLIB_LEVEL) if style.kind == "class" else encode_codes(block)
            b64 = base64.b64encode(raw).decode("ascii")
            _write(tmp / "values" / lf.key / f"{ti}_{tj}.js", f'PFV_TILE("{lf.key}",{ti},{tj},"{b64}");\n')
    return entry


def _legend(style: LayerStyle) -> dict:
    if style.kind == "class":
        return {"classes": [[code, name, colour] for code, (name, colour) in style.classes.items()]}
    ramp = colorize(np.linspace(style.vmin, style.vmax, 64), style)
    colours = [f"#{r:02x}{g:02x}{b:02x}" for r, g, b, _ in ramp.tolist()]
    return {"colors": colours, "vmin": style.vmin, "vmax": style.vmax, "center": style.center}


def _lonlat_lattice(ref: dict) -> dict:
    """Lon/lat of cell centres on a lattice every LATTICE cells (and the last row/column)."""
    from pyproj import Transformer

    ny, nx = ref["shape"]
    t = ref["transform"]
    rows = np.unique(np.r_[np.arange(0, ny, LATTICE), ny - 1])
    cols = np.unique(np.r_[np.arange(0, nx, LATTICE), nx - 1])
    rr, cc = np.meshgrid(rows + 0.5, cols + 0.5, indexing="ij")
    x, y = t.c + cc * t.a, t.f + rr * t.e
    lon, lat = Transformer.from_crs(ref["crs"], "EPSG:4326", always_xy=True).transform(x, y)
    return {
        "rows": rows.tolist(),
        "cols": cols.tolist(),
        "lon": np.round(lon, 8).ravel().tolist(),
        "lat": np.round(lat, 8).ravel().tolist(),
    }


def _boreholes(out: Path) -> list[dict]:
    import pandas as pd

    path = out / "tables" / "boreholes.csv"
    if not path.is_file():
        return []
    table = pd.read_csv(path)
    for col in ("id", "x", "y"):
        if col not in table.columns:
            raise InputError("the borehole table has no such column", path=path, field=col)

    def num(rec, col):
        v = pd.to_numeric(rec.get(col), errors="coerce")
        return None if pd.isna(v) else float(v)

    def text(rec, col):
        v = rec.get(col)
        return None if v is None or pd.isna(v) else str(v)

    rows = []
    for i, rec in enumerate(table.to_dict("records"), start=2):
        x, y = num(rec, "x"), num(rec, "y")
        if x is None or y is None:
            raise InputError(
                "a borehole has no coordinates", path=path, row=i, field="x" if x is None else "y"
            )
        year = num(rec, "year")
        rows.append({
            "id": text(rec, "id"), "x": x, "y": y, "magt": num(rec, "magt_c"), "alt": num(rec, "alt_m"),
            "setting": text(rec, "setting"), "year": None if year is None else int(year),
        })  # fmt: skip
    return rows


def _mining(
    layers: list[LayerFile], styles: dict[str, LayerStyle], ref: dict, epochs: list[str]
) -> dict | None:
    """Outlines of pits (1) and dumps (2) of the latest epoch that has a mining-zone raster (read
    window by window), each polygon a feature; pits first, then dumps, each from the top of the map."""
    zones = [lf for lf in layers if lf.name == "mining_zone" and lf.section == "epoch"]
    if not zones:
        return None
    lf = max(zones, key=lambda z: epochs.index(z.group) if z.group in epochs else -1)
    style = styles["mining_zone"]
    with rasterio.open(lf.path) as src:
        _check_grid(src, ref, lf.path)
    polygons = class_outlines(lf.path, (1, 2))
    features = []
    for code, polys in polygons.items():
        name, colour = style.classes.get(code, ("pit" if code == 1 else "dump", "#000000"))
        for poly in polys:
            rings = [[[round(float(x), 3), round(float(y), 3)] for x, y in ring] for ring in poly]
            features.append({"code": code, "name": name, "color": colour, "rings": rings})
    return {"epoch": lf.group, "features": features}


def _group_label(group: str) -> str:
    if group.startswith("change/"):
        a, _, b = group.split("/", 1)[1].partition("_")
        return f"{a} → {b}" if b else group.split("/", 1)[1]
    return group


def _replace_dir(tmp: Path, dest: Path) -> None:
    old = None
    if dest.exists():
        old = dest.with_name(f".{dest.name}.old-{uuid.uuid4().hex[:8]}")
        os.replace(dest, old)
    os.replace(tmp, dest)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_viewer(out: str | Path, *, display_max: int = DISPLAY_MAX, workers: int = 2) -> Path:
    """Write the browser viewer of the atlas in ``out``: ``OUT/index.html`` and ``OUT/viewer/``.

    Parameters
    ----------
    out
        The atlas folder (as ``pfatlas build`` writes it).
    display_max
        Longest side of the display images [pixels]; a grid larger than this is shown at one
        pixel per ``factor`` x ``factor`` cells (``factor = ceil(longest side / display_max)``).
    workers
        Threads rendering layers at the same time.

    Returns
    -------
    Path
        ``OUT/index.html``.

    Raises
    ------
    MissingInputError
        ``out`` holds no atlas layer, or the map library was never fetched.
    InputError
        A layer is not on the atlas grid, or the grid is not projected.
    """
    out = Path(out)
    lib = leaflet_dir()
    if not out.is_dir():
        raise MissingInputError("the atlas folder does not exist", path=out)
    styles = load_styles(out) if (out / STYLE_FILE).is_file() else resolve_styles(out)
    layers = atlas_layers(out, styles)
    if not layers:
        raise MissingInputError(
            "no atlas layer found (expected <epoch>/*.tif, change/*/*.tif, grid/*.tif)", path=out
        )
    with rasterio.open(layers[0].path) as src:
        ref = {"shape": (src.height, src.width), "transform": src.transform, "crs": src.crs}
    t = ref["transform"]
    if ref["crs"] is None or not ref["crs"].is_projected or t.b != 0 or t.d != 0 or t.e >= 0:
        raise InputError("the viewer needs a north-up grid in a projected CRS (metres)", path=layers[0].path)
    ny, nx = ref["shape"]
    factor = max(1, math.ceil(max(ny, nx) / display_max))
    config = _config(out)
    epochs = _epoch_labels(out, config)

    tmp = out / f".{VIEWER_DIR}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        with ThreadPoolExecutor(max(1, workers)) as pool:
            entries = list(pool.map(lambda lf: _render(lf, styles[lf.name], ref, factor, tmp), layers))
        manifest_layers: dict[str, dict] = {}
        for lf, entry in zip(layers, entries, strict=True):
            s = styles[lf.name]
            item = manifest_layers.setdefault(lf.name, {
                "name": lf.name, "title": s.title, "units": s.units, "unitsLabel": _UNIT_LABELS.get(s.units, s.units),
                "kind": s.kind, "section": lf.section, "legend": _legend(s), "files": {},
            })  # fmt: skip
            item["files"][lf.group] = entry
        groups = list(dict.fromkeys(lf.group for lf in layers))
        area = config.get("area", {}) if isinstance(config.get("area"), dict) else {}
        synthetic = bool(area.get("synthetic", False))
        if not area and (out / "provenance.json").is_file():
            synthetic = bool(json.loads((out / "provenance.json").read_text()).get("synthetic", False))
        manifest = {
            "version": 1,
            "title": str(area.get("name", out.resolve().name)),
            "synthetic": synthetic,
            "grid": {
                "width": nx,
                "height": ny,
                "x0": t.c,
                "y0": t.f,
                "dx": t.a,
                "dy": -t.e,
                "crs": ref["crs"].to_string(),
                "factor": factor,
                "displayWidth": math.ceil(nx / factor),
                "displayHeight": math.ceil(ny / factor),
            },  # fmt: skip
            "values": {"tile": TILE, "nodataCode": NODATA_CODE},
            "groups": [
                {
                    "id": g,
                    "label": _group_label(g),
                    "section": "grid" if g == "grid" else ("change" if g.startswith("change/") else "epoch"),
                }
                for g in groups
            ],  # fmt: skip
            "layers": list(manifest_layers.values()),
            "lonlat": _lonlat_lattice(ref),
            "boreholes": _boreholes(out),
            "mining": _mining(layers, styles, ref, epochs),
        }
        _write(
            tmp / "data" / "atlas.js",
            "window.PFATLAS = " + json.dumps(manifest, separators=(",", ":")) + ";\n",
        )
        shutil.copytree(lib, tmp / "lib", ignore=shutil.ignore_patterns(".*"))
        for name in ("viewer.js", "viewer.css"):
            shutil.copy2(STATIC / name, tmp / name)
        title = f"{manifest['title']} · pfatlas viewer" + (" (SYNTHETIC)" if synthetic else "")
        html = (STATIC / "index.html").read_text(encoding="utf-8").replace("{{TITLE}}", escape(title))
        _replace_dir(tmp, out / VIEWER_DIR)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    index = out / INDEX
    tmp_index = out / f".{INDEX}.tmp"
    tmp_index.write_text(html, encoding="utf-8")
    os.replace(tmp_index, index)
    log.info("viewer written: %s (%d layer files, display factor %d)", index, len(layers), factor)
    return index
