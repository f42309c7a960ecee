"""Map plates of an atlas folder: ``OUT/plates/*.png`` and their index ``OUT/plates/plates.json``.

One plate per atlas layer and epoch (``<epoch>_<layer>.png``), per change layer
(``change_<a>_<b>_<layer>.png``), per grid layer (``grid_dem.png``, ``grid_geomorphology.png``) and a
pre/post side-by-side plate of each key layer (``compare_<layer>_<a>_<b>.png``), on an A4 landscape
page. Every plate has the layer on the atlas colour scale (:mod:`pfatlas.atlas.style`, the same in
every epoch, diverging scales centred on 0) over a hillshade of ``OUT/grid/dem.tif``, a legend (a
colour bar with units, or the classes present in the atlas with their share of the mapped area), a
graticule in degrees labelled at the frame, a scale bar with the scale at A4, a north arrow pointing
to true north (rotated by the grid convergence at the map centre), a title with the area name, the
boreholes (natural and in mined ground) on the MAGT, ALT, permafrost and stability plates, the
outlines of pits and dumps (``mining_zone`` codes 1 and 2) where an epoch has them, and a source
note ("SYNTHETIC data ..." for a synthetic atlas).

Terrain shading: the Lambertian cosine of the angle between the surface normal and a light from
azimuth 315 deg, altitude 45 deg (:class:`matplotlib.colors.LightSource` direction), not stretched,
so flat ground shows exactly the legend colour; slopes facing the light are lightened and slopes
facing away darkened in proportion (:func:`pfatlas.atlas.cartography.shade`). Rasters are read at
the size the map is drawn (GDAL picks the COG overview), never at more cells than the plate has
pixels; the class counts of the legends and the outlines of pits and dumps are read window by window
(:mod:`pfatlas.atlas.readers`), so no plate holds a whole layer.

Drawing uses :class:`matplotlib.figure.Figure` with the Agg canvas inside
:func:`matplotlib.rc_context`, so no global Matplotlib state changes; plates are drawn in a pool of
``spawn``-ed worker processes and each PNG is written under a temporary name, then renamed.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import textwrap
import tomllib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import rasterio

from pfatlas.atlas.cartography import (
    NODATA_GREY,
    cjk_font,
    display_name,
    dms,
    hillshade,
    nice_down,
    plot_rc,
    shade,
)
from pfatlas.atlas.readers import class_outlines, read_windows
from pfatlas.atlas.style import STYLE_FILE, LayerStyle, colorize, load_styles, resolve_styles
from pfatlas.errors import InputError, MissingInputError

__all__ = ["render_plates", "plate_specs", "plate_index", "PlateSpec", "atlas_meta", "PAGE_IN", "KEY_LAYERS",
           "INDEX_FILE"]  # fmt: skip

PAGE_IN = (11.69, 8.27)  # A4 landscape [in]
INDEX_FILE = "plates.json"
#: Layers with a pre/post side-by-side plate.
KEY_LAYERS = ("landcover", "magt", "permafrost", "thermal_stability", "alt", "ground_ice", "ice_class")
#: Epoch layers in atlas order; the mining layers get a section of their own.
EPOCH_LAYERS = ("landcover", "landcover_probability", "magt", "magt_se", "permafrost",
                "permafrost_probability", "thermal_stability", "alt", "ground_ice", "ice_volume", "ice_class")  # fmt: skip
MINING_LAYERS = ("mining_zone", "mining_delta_magt", "mining_delta_alt")
CHANGE_LAYERS = ("delta_magt", "delta_permafrost_probability", "permafrost_transition", "delta_alt",
                 "delta_ground_ice", "delta_ice_volume")  # fmt: skip
GRID_LAYERS = ("dem", "geomorphology")
BOREHOLE_LAYERS = ("magt", "alt", "permafrost", "permafrost_probability", "thermal_stability")
_NOT_EPOCHS = {"grid", "change", "plates", "tables", "inputs", "viewer", "natural", "composite", "stac"}
_NO_VALUE = {"alt": "no permafrost, or no soil parameters (water)", "ground_ice": "no permafrost",
             "delta_alt": "no ALT in one of the epochs", "delta_ground_ice": "no ground-ice value in one of the epochs"}  # fmt: skip
_UNITS = {"degC": "°C", "m3 m-3": "m³ m⁻³", "m3": "m³ per cell", "degree": "°", "m": "m", "1": ""}


# ------------------------------------------------------------------------------------ atlas meta


def _config(out: Path) -> dict:
    path = out / "config.toml"
    if not path.exists():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"cannot read the resolved config: {exc}", path=path) from exc


def atlas_meta(out: str | Path) -> dict:
    """Facts every product prints: area name, synthetic flag, epochs, pfatlas version, build date,
    the source note and the grid (shape, transform, CRS) of ``OUT/grid/dem.tif``."""
    from pfatlas import __version__

    out = Path(out)
    dem = out / "grid" / "dem.tif"
    if not dem.exists():
        raise MissingInputError("the atlas has no DEM; the plates need OUT/grid/dem.tif for the hillshade",
                                path=dem)  # fmt: skip
    cfg = _config(out)
    prov = {}
    if (out / "provenance.json").exists():
        try:
            prov = json.loads((out / "provenance.json").read_text())
        except json.JSONDecodeError:
            prov = {}
    area = cfg.get("area", {})
    synthetic = bool(area.get("synthetic", prov.get("synthetic", False)))
    date = str(prov.get("finished") or prov.get("started") or _dt.date.today().isoformat())[:10]
    labels = [str(e["label"]) for e in cfg.get("epochs", []) if "label" in e]
    if not labels:
        labels = sorted(p.name for p in out.iterdir() if p.is_dir() and p.name not in _NOT_EPOCHS
                        and not p.name.startswith(".") and any(p.glob("*.tif")))  # fmt: skip
    from pyproj import CRS

    with rasterio.open(dem) as src:
        if src.crs is None or not src.crs.is_projected:
            raise InputError("the atlas grid must have a projected CRS (metres) for the plates", path=dem)
        grid = {"shape": src.shape, "transform": tuple(src.transform)[:6], "crs": src.crs.to_wkt(),
                "epsg": src.crs.to_epsg(), "crs_name": CRS.from_wkt(src.crs.to_wkt()).name}  # fmt: skip
    note = ("SYNTHETIC data (pfatlas virtual Muli) — not real observations" if synthetic
            else f"pfatlas {__version__}, {date}")  # fmt: skip
    return {"area": str(area.get("name", out.name)), "synthetic": synthetic, "epochs": labels,
            "version": __version__, "date": date, "note": note, "bbox": area.get("bbox"), "config": cfg,
            **grid}  # fmt: skip


# ----------------------------------------------------------------------------------------- specs


@dataclass(frozen=True)
class PlateSpec:
    """One plate to draw: its file stem, kind (epoch, change, grid, compare), layer, epochs, rasters."""

    name: str
    kind: str
    layer: str
    epochs: tuple[str, ...]
    paths: tuple[Path, ...]
    section: str
    title: str


def _pairs(out: Path, epochs: list[str]) -> list[tuple[str, str]]:
    pairs = []
    for d in sorted(p for p in (out / "change").glob("*") if p.is_dir()):
        match = [(a, b) for a in epochs for b in epochs if f"{a}_{b}" == d.name]
        if match:
            pairs.append(match[0])
    return pairs or list(zip(epochs[:-1], epochs[1:], strict=True))


def plate_specs(out: str | Path, styles: dict[str, LayerStyle] | None = None) -> list[PlateSpec]:
    """Every plate of the atlas folder ``out``, in atlas order: study area, the layers by theme
    (each epoch, then its pre/post plate), mining, change. Only layers with a colour style count."""
    out = Path(out)
    meta = atlas_meta(out)
    styles = _styles(out) if styles is None else styles
    epochs = meta["epochs"]
    pairs = _pairs(out, epochs)
    title = lambda layer: styles[layer].title  # noqa: E731
    specs = [PlateSpec(f"grid_{n}", "grid", n, (), (out / "grid" / f"{n}.tif",), "Study area", title(n))
             for n in GRID_LAYERS if n in styles and (out / "grid" / f"{n}.tif").exists()]  # fmt: skip
    for layer in EPOCH_LAYERS + MINING_LAYERS:
        if layer not in styles:
            continue
        section = "Mining impact" if layer in MINING_LAYERS else styles[layer].title
        have = [e for e in epochs if (out / e / f"{layer}.tif").exists()]
        specs += [PlateSpec(f"{e}_{layer}", "epoch", layer, (e,), (out / e / f"{layer}.tif",), section,
                            f"{title(layer)}, {e}") for e in have]  # fmt: skip
        if layer in KEY_LAYERS:
            specs += [PlateSpec(f"compare_{layer}_{a}_{b}", "compare", layer, (a, b),
                                (out / a / f"{layer}.tif", out / b / f"{layer}.tif"), section,
                                f"{title(layer)}, {a} and {b}") for a, b in pairs if a in have and b in have]  # fmt: skip
    for a, b in pairs:
        folder = out / "change" / f"{a}_{b}"
        names = [n for n in CHANGE_LAYERS if (folder / f"{n}.tif").exists()]
        names += sorted(p.stem for p in folder.glob("*.tif") if p.stem not in CHANGE_LAYERS)
        specs += [PlateSpec(f"change_{a}_{b}_{n}", "change", n, (a, b), (folder / f"{n}.tif",),
                            f"Change {a} → {b}", f"{title(n)}, {a} → {b}") for n in names if n in styles]  # fmt: skip
    return specs


def _styles(out: Path) -> dict[str, LayerStyle]:
    return load_styles(out) if (out / STYLE_FILE).exists() else resolve_styles(out)


def plate_index(out: str | Path) -> list[dict]:
    """The plates written by :func:`render_plates` (``OUT/plates/plates.json``), in atlas order: each a
    dict with ``path`` (relative to ``out``), ``title``, ``layer``, ``epoch``, ``kind``, ``section``,
    ``width``, ``height``, ``dpi`` and ``map_box`` (pixel box of the (first) map, left, top, right,
    bottom)."""
    path = Path(out) / "plates" / INDEX_FILE
    if not path.exists():
        raise MissingInputError("no plate index; run render_plates first", path=path)
    return json.loads(path.read_text())


# -------------------------------------------------------------------------------- shared context


@dataclass
class _Context:
    out: Path
    meta: dict
    styles: dict[str, LayerStyle]
    counts: dict[str, dict[int, int]]  # class cells per file (str path)
    present: dict[str, list[int]]  # class codes present in the atlas, per layer
    outlines: dict[str, dict[int, list[np.ndarray]]]  # epoch -> {1 pit, 2 dump: rings}
    boreholes: dict | None
    graticule: dict
    north_deg: float  # true north, clockwise from grid north at the map centre [deg]
    cjk: str | None = None
    shade_cache: dict = field(default_factory=dict)


def _counts(path: Path) -> dict[int, int]:
    """Cells per class code of a uint8 layer (255, nodata, left out), read window by window."""
    n = np.zeros(256, dtype=np.int64)
    for _, a in read_windows(path):
        n += np.bincount(a.ravel(), minlength=256)
    return {int(c): int(n[c]) for c in np.flatnonzero(n) if c != 255}


def _outlines(zone: Path) -> dict[int, list[np.ndarray]]:
    """Rings of the pits (1) and dumps (2) of a mining-zone raster, read window by window."""
    polygons = class_outlines(zone, (1, 2))
    return {code: [ring for poly in polys for ring in poly] for code, polys in polygons.items()}


def _boreholes(out: Path) -> dict | None:
    import pandas as pd

    path = out / "tables" / "boreholes.csv"
    if not path.exists():
        return None
    df = pd.read_csv(path)
    missing = [c for c in ("x", "y") if c not in df.columns]
    if missing:
        raise InputError("the boreholes table has no projected coordinates", path=path, field=missing[0])
    setting = df["setting"].astype(str) if "setting" in df.columns else pd.Series("natural", index=df.index)

    def num(c: str) -> np.ndarray:
        return pd.to_numeric(df[c], errors="coerce").to_numpy("float64") if c in df else np.full(len(df), np.nan)  # fmt: skip

    return {"x": num("x"), "y": num("y"), "natural": (setting == "natural").to_numpy(), "magt": num("magt_c"),
            "alt": num("alt_m")}  # fmt: skip


def _graticule(meta: dict) -> tuple[dict, float]:
    """Lines of constant longitude and latitude on the grid, their step, and true north [deg]."""
    from pyproj import CRS, Transformer

    (ny, nx), t = meta["shape"], meta["transform"]
    x0, x1, y0, y1 = t[2], t[2] + nx * t[0], t[5] + ny * t[4], t[5]  # left, right, bottom, top
    crs = CRS.from_wkt(meta["crs"])
    fwd = Transformer.from_crs(crs, 4326, always_xy=True)
    inv = Transformer.from_crs(4326, crs, always_xy=True)
    s = np.linspace(0.0, 1.0, 101)
    bx = np.concatenate([x0 + (x1 - x0) * s, np.full(101, x1), x0 + (x1 - x0) * s, np.full(101, x0)])
    by = np.concatenate([np.full(101, y0), y0 + (y1 - y0) * s, np.full(101, y1), y0 + (y1 - y0) * s])
    lon, lat = fwd.transform(bx, by)
    span = max(np.ptp(lon), np.ptp(lat))
    steps = [s / 3600 for s in (15, 30, 60, 120, 300, 600, 900, 1200, 1800, 3600, 7200, 18000, 36000)]
    step = next((s for s in steps if span / s <= 6), steps[-1])
    lines = []
    for kind, lo, hi, olo, ohi in (("lon", lon.min(), lon.max(), lat.min(), lat.max()),
                                   ("lat", lat.min(), lat.max(), lon.min(), lon.max())):  # fmt: skip
        other = np.linspace(olo - 0.05 * (ohi - olo), ohi + 0.05 * (ohi - olo), 200)
        for v in np.arange(math.ceil(lo / step - 1e-9) * step, hi + 1e-12, step):
            const = np.full_like(other, v)
            gx, gy = inv.transform(const, other) if kind == "lon" else inv.transform(other, const)
            label = dms(v, step, "E", "W") if kind == "lon" else dms(v, step, "N", "S")
            lines.append({"kind": kind, "label": label, "x": np.asarray(gx), "y": np.asarray(gy)})
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    clon, clat = fwd.transform(cx, cy)
    nx_, ny_ = inv.transform(clon, clat + 0.01)
    north = math.degrees(math.atan2(nx_ - cx, ny_ - cy))
    lonlat = (float(lon.min()), float(lon.max()), float(lat.min()), float(lat.max()))
    return {"lines": lines, "step": step, "extent": (x0, x1, y0, y1), "lonlat": lonlat}, north


def _context(out: Path, specs: list[PlateSpec], styles: dict[str, LayerStyle]) -> _Context:
    meta = atlas_meta(out)
    files = {str(p) for s in specs for p in s.paths if styles[s.layer].kind == "class"}
    counts = {f: _counts(Path(f)) for f in sorted(files)}
    present: dict[str, set[int]] = {}
    for s in specs:
        if styles[s.layer].kind == "class":
            for p in s.paths:
                present.setdefault(s.layer, set()).update(counts[str(p)])
    outlines = {e: _outlines(out / e / "mining_zone.tif") for e in meta["epochs"]
                if (out / e / "mining_zone.tif").exists()}  # fmt: skip
    grat, north = _graticule(meta)
    cjk = cjk_font()
    return _Context(out, meta, styles, counts, {k: sorted(v) for k, v in present.items()}, outlines,
                    _boreholes(out), grat, north, cjk)  # fmt: skip


# ---------------------------------------------------------------------------------------- layout

_TITLE_H = 1.05  # band for the title and subtitle [in]
_LEFT = 0.8  # room for the latitude labels [in]
_PANEL_W = 2.6  # legend panel of a single plate [in]


def _fit(aspect: float, w_max: float, h_max: float) -> tuple[float, float]:
    return (w_max, w_max / aspect) if w_max / aspect <= h_max else (h_max * aspect, h_max)


def _layout(kind: str, aspect: float) -> dict:
    """Map rectangles and legend rectangle (x, y, w, h in inches from the lower left of the page)."""
    pw, ph = PAGE_IN
    top = ph - _TITLE_H
    if kind != "compare":
        w, h = _fit(aspect, pw - _LEFT - _PANEL_W - 0.55, top - 0.85)
        x = _LEFT + w + 0.4
        return {"maps": [(_LEFT, top - h, w, h)], "legend": (x, 0.75, pw - x - 0.2, top - 0.75),
                "sides": [("left", "bottom")], "horizontal": False}  # fmt: skip
    band = 2.2  # legend band under the maps [in]
    w, h = _fit(aspect, (pw - 2 * _LEFT - 0.3) / 2, top - 0.75 - 0.75 - band)
    y = top - 0.3 - h - max(0.0, (top - 0.75 - (0.75 + h + band)) / 2)  # centred between title and footer
    return {"maps": [(_LEFT, y, w, h), (pw - _LEFT - w, y, w, h)], "legend": (_LEFT, y - 0.45 - band, pw - 2 * _LEFT, band),
            "sides": [("left", "bottom"), ("right", "bottom")], "horizontal": True}  # fmt: skip


def _frac(rect: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    pw, ph = PAGE_IN
    return (rect[0] / pw, rect[1] / ph, rect[2] / pw, rect[3] / ph)


def _inch_axes(fig, rect):
    """An invisible axes whose data coordinates are inches from its lower left corner."""
    ax = fig.add_axes(_frac(rect))
    ax.set_xlim(0, rect[2])
    ax.set_ylim(0, rect[3])
    ax.set_axis_off()
    return ax


# ------------------------------------------------------------------------------------ map drawing


def _light(ctx: _Context, shape: tuple[int, int], window=None) -> np.ndarray:
    """Hillshade of the DEM (or of a window of it) read at ``shape``, cached per process."""
    key = (shape, None if window is None else tuple(window.flatten()))
    if key not in ctx.shade_cache:
        (ny, nx), t = ctx.meta["shape"], ctx.meta["transform"]
        ny, nx = (ny, nx) if window is None else (window.height, window.width)
        dem = _read(ctx.out / "grid" / "dem.tif", shape, ctx, window).astype("float64")
        ok = np.isfinite(dem)
        filled = np.where(ok, dem, np.nanmean(dem) if ok.any() else 0.0)
        light = hillshade(filled, abs(t[0]) * nx / shape[1], abs(t[4]) * ny / shape[0])
        light[~ok] = np.nan
        ctx.shade_cache[key] = light
    return ctx.shade_cache[key]


def _read(path: Path, shape: tuple[int, int], ctx: _Context, window=None) -> np.ndarray:
    if not path.exists():
        raise MissingInputError("layer file of a plate is missing", path=path)
    with rasterio.open(path) as src:
        same = src.shape == tuple(ctx.meta["shape"]) and np.allclose(
            tuple(src.transform)[:6], ctx.meta["transform"]
        )
        if not same:
            raise InputError(f"not on the atlas grid of grid/dem.tif ({src.height} x {src.width} cells, "
                             f"transform {tuple(src.transform)[:6]})", path=path)  # fmt: skip
        a = src.read(1, out_shape=shape, window=window)
        nodata = src.nodata
    if a.dtype.kind == "f":
        a = a.astype("float32")
        if nodata is not None and not math.isnan(nodata):
            a[np.isclose(a, nodata)] = np.nan
    return a


def _draw_map(fig, rect, img, ctx: _Context, sides, m_per_in: float):
    x0, x1, y0, y1 = ctx.graticule["extent"]  # left, right, bottom, top
    ax = fig.add_axes(_frac(rect))
    ax.imshow(img, extent=(x0, x1, y0, y1), interpolation="nearest", origin="upper", zorder=0)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_xticks([])
    ax.set_yticks([])
    tick = 0.06 * m_per_in
    for line in ctx.graticule["lines"]:
        # mid grey: seen on light and dark colours
        ax.plot(line["x"], line["y"], color="0.45", lw=0.5, alpha=0.9, dashes=(5, 3), zorder=2)
        if line["kind"] == "lon":
            o = np.argsort(line["y"])
            edges = [("bottom", y0, -1), ("top", y1, 1)]
            for side, ye, sgn in edges:
                xe = float(np.interp(ye, line["y"][o], line["x"][o]))
                if side in sides and x0 + 0.04 * (x1 - x0) < xe < x1 - 0.04 * (x1 - x0):
                    ax.plot([xe, xe], [ye, ye + sgn * tick], color="black", lw=0.7, clip_on=False)
                    ax.text(xe, ye + sgn * 1.6 * tick, line["label"], ha="center", fontsize=7.5,
                            va="top" if sgn < 0 else "bottom", clip_on=False)  # fmt: skip
        else:
            o = np.argsort(line["x"])
            for side, xe, sgn in (("left", x0, -1), ("right", x1, 1)):
                ye = float(np.interp(xe, line["x"][o], line["y"][o]))
                if side in sides and y0 + 0.04 * (y1 - y0) < ye < y1 - 0.04 * (y1 - y0):
                    ax.plot([xe, xe + sgn * tick], [ye, ye], color="black", lw=0.7, clip_on=False)
                    ax.text(xe + sgn * 1.6 * tick, ye, line["label"], va="center", rotation=90,
                            ha="right" if sgn < 0 else "left", fontsize=7.5, clip_on=False)  # fmt: skip
    return ax


def _draw_outlines(ax, rings: dict[int, list[np.ndarray]], epoch: str = "") -> list[tuple[str, dict]]:
    from matplotlib.collections import LineCollection
    from matplotlib.patheffects import withStroke

    drawn = []
    for code, label, ls in ((1, "open pit", "solid"), (2, "waste dump", (0, (3.0, 1.5)))):
        label += f" (outline, {epoch})" if epoch else " (outline)"
        if rings.get(code):
            kw = {"colors": "black", "linewidths": 0.9, "linestyles": ls}
            lc = LineCollection(
                rings[code], zorder=4, path_effects=[withStroke(linewidth=2.4, foreground="white")], **kw
            )
            ax.add_collection(lc)
            drawn.append((label, {"kind": "line", **kw}))
    return drawn


def _draw_boreholes(ax, bh: dict, style: LayerStyle, layer: str, mined: bool) -> list[tuple[str, dict]]:
    value = bh.get(layer) if layer in ("magt", "alt") else None
    drawn = []
    for sel, marker, size, label in ((bh["natural"], "o", 20, "borehole, natural ground"),
                                     (~bh["natural"], "^", 30, "borehole, pit or dump")):  # fmt: skip
        if not mined and marker == "^":
            continue
        sel = sel & np.isfinite(bh["x"]) & np.isfinite(bh["y"])
        if not sel.any():
            continue
        face = np.tile([1.0, 1.0, 1.0, 1.0], (int(sel.sum()), 1))
        if value is not None:
            v = value[sel]
            ok = np.isfinite(v)
            face[ok] = colorize(v[ok], style) / 255.0
        ax.scatter(bh["x"][sel], bh["y"][sel], s=size, marker=marker, c=face, edgecolors="black",
                   linewidths=0.6, zorder=5)  # fmt: skip
        drawn.append((label, {"kind": "marker", "marker": marker, "size": size}))
    if drawn and value is not None:
        what = "measured MAGT" if layer == "magt" else "measured ALT"
        drawn.append((f"marker fill: {what} on the same scale (white: none)", {"kind": "note"}))
    return drawn


def _draw_detail(fig, ax, rect, path: Path, style: LayerStyle, ctx: _Context, epoch: str, dpi: int) -> None:
    """A detail (6 km wide, at most a third of the map) of the mines where most features lie, in the map
    corner freest of them, and its frame on the map: mining changes reach ~1 km, a few millimetres on
    the whole map."""
    from matplotlib.patches import Rectangle
    from rasterio.windows import Window

    rings = [r for code in (1, 2) for r in ctx.outlines[epoch].get(code, [])]
    if not rings:
        return
    (ny, nx), t = ctx.meta["shape"], ctx.meta["transform"]
    x0, x1, y0, y1 = ctx.graticule["extent"]
    w = min(round(6000.0 / abs(t[0])), nx // 3)  # at least 3x the scale of the map
    h = min(ny, round(w * 2 / 3 * abs(t[0]) / abs(t[4])))
    cents = np.array([r.mean(axis=0) for r in rings])
    near = [(np.abs(cents - c) <= (w * abs(t[0]) / 2, h * abs(t[4]) / 2)).all(axis=1).sum() for c in cents]
    cx, cy = cents[int(np.argmax(near))]
    col = int(np.clip(round((cx - t[2]) / t[0] - w / 2), 0, nx - w))
    row = int(np.clip(round((cy - t[5]) / t[4] - h / 2), 0, ny - h))
    win = Window(col, row, w, h)
    bx0, by1 = t[2] + col * t[0], t[5] + row * t[4]
    bx1, by0 = bx0 + w * t[0], by1 + h * t[4]
    iw = 0.36 * rect[2]
    ih = iw * h / w
    pts = np.concatenate(rings)
    spots = [(rect[0] + 0.06 + i * (rect[2] - iw - 0.12), rect[1] + 0.06 + j * (rect[3] - ih - 0.12))
             for j in (0, 1) for i in (0, 1)]  # fmt: skip

    def crowd(spot):
        mx0, my0 = (
            x0 + (spot[0] - rect[0]) / rect[2] * (x1 - x0),
            y0 + (spot[1] - rect[1]) / rect[3] * (y1 - y0),
        )
        mx1, my1 = mx0 + iw / rect[2] * (x1 - x0), my0 + ih / rect[3] * (y1 - y0)
        inside = (pts[:, 0] > mx0) & (pts[:, 0] < mx1) & (pts[:, 1] > my0) & (pts[:, 1] < my1)
        box_hit = bx0 < mx1 and bx1 > mx0 and by0 < my1 and by1 > my0
        return int(inside.sum()) + 10**6 * box_hit

    ix, iy = min(spots, key=crowd)
    shape = (min(h, round(ih * dpi)), min(w, round(iw * dpi)))
    inset = fig.add_axes(_frac((ix, iy, iw, ih)))
    inset.imshow(shade(colorize(_read(path, shape, ctx, win), style), _light(ctx, shape, win)),
                 extent=(bx0, bx1, by0, by1), interpolation="nearest", origin="upper")  # fmt: skip
    inset.set_xlim(bx0, bx1)
    inset.set_ylim(by0, by1)
    inset.set_xticks([])
    inset.set_yticks([])
    for sp in inset.spines.values():
        sp.set_linewidth(1.2)
    _draw_outlines(inset, ctx.outlines[epoch])
    ax.add_patch(Rectangle((bx0, by0), bx1 - bx0, by1 - by0, fill=False, edgecolor="black", lw=1.0, zorder=6))
    scale = (bx1 - bx0) / iw / 0.0254
    inset.text(0.02, 0.97, f"detail at 1 : {round(scale, -3):,.0f}".replace(",", " "), transform=inset.transAxes,
               va="top", fontsize=7, bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.85, "pad": 1.5})  # fmt: skip
    bar = nice_down(0.3 * (bx1 - bx0))
    inset.plot([bx0 + 0.05 * (bx1 - bx0), bx0 + 0.05 * (bx1 - bx0) + bar], [by0 + 0.07 * (by1 - by0)] * 2,
               color="black", lw=2.5, solid_capstyle="butt", path_effects=_halo())  # fmt: skip
    inset.text(bx0 + 0.05 * (bx1 - bx0) + bar / 2, by0 + 0.1 * (by1 - by0), f"{bar / 1000:g} km" if bar >= 1000
               else f"{bar:g} m", ha="center", va="bottom", fontsize=7, path_effects=_halo())  # fmt: skip


def _halo():
    from matplotlib.patheffects import withStroke

    return [withStroke(linewidth=2.4, foreground="white")]


# ----------------------------------------------------------------------------------------- legend


def _units(style: LayerStyle) -> str:
    return _UNITS.get(style.units, style.units)


def _legend_rows(style: LayerStyle, values, light, ctx: _Context, spec: PlateSpec) -> list[tuple[str, str, str]]:  # fmt: skip
    """(colour, label, share) of each class present in the atlas, and of "no value" when the plate has it."""
    grey = "#%02x%02x%02x" % ((NODATA_GREY,) * 3)
    terrain = np.isfinite(light)
    if style.kind == "continuous":
        gap = any((~np.isfinite(v) & terrain).any() for v in values)
        return [(grey, "no value: " + _NO_VALUE.get(spec.layer, "not defined"), "")] if gap else []
    rows = []
    for c in ctx.present.get(spec.layer, sorted(style.classes)):
        name, colour = style.classes[c]
        shares = []
        for p in spec.paths:
            n = ctx.counts.get(str(p), {})
            tot = sum(v for k, v in n.items() if k in style.classes)
            pct = 100.0 * n.get(c, 0) / tot if tot else math.nan
            shares.append("-" if not tot else "<0.1" if 0 < pct < 0.05 else f"{pct:.1f}")
        rows.append((colour, display_name(name, bool(ctx.cjk)) or f"class {c}", " → ".join(shares) + " %"))
    if any((~np.isin(v, list(style.classes)) & terrain).any() for v in values):
        rows.append((grey, "no value", ""))
    return rows


def _legend_layer(fig, rect, style: LayerStyle, values, light, ctx: _Context, spec: PlateSpec, horizontal: bool) -> None:  # fmt: skip
    """Draw the layer's legend (colour bar or classes, and "no value") from the top of ``rect``."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.patches import Rectangle

    ax = _inch_axes(fig, rect)
    w, h = rect[2], rect[3]
    head = textwrap.fill(style.title, 60 if horizontal else 32)
    ax.text(0, h, head, va="top", fontsize=9, fontweight="bold")
    y = h - 0.19 * (head.count("\n") + 1) - 0.15
    if style.kind == "continuous":
        fin = [v[np.isfinite(v)] for v in values]
        lo = min((float(f.min()) for f in fin if f.size), default=style.vmin)
        hi = max((float(f.max()) for f in fin if f.size), default=style.vmax)
        tol = 1e-6 * (style.vmax - style.vmin)
        extend = ["neither", "min", "max", "both"][(lo < style.vmin - tol) + 2 * (hi > style.vmax + tol)]
        sm = ScalarMappable(norm=style.norm(), cmap=style.colormap())
        change = spec.layer.startswith(("delta_", "mining_delta_"))
        if horizontal:
            cax = fig.add_axes(_frac((rect[0] + 0.15, rect[1] + y - 0.3, min(4.5, w - 0.5), 0.2)))
            y -= 0.95
        else:
            ch = max(1.0, min(3.2, y - 0.55 - 0.45 * len(_legend_rows(style, values, light, ctx, spec))))
            cax = fig.add_axes(_frac((rect[0] + 0.1, rect[1] + y - ch - 0.1, 0.22, ch)))
            y -= ch + 0.4
        cb = fig.colorbar(sm, cax=cax, orientation="horizontal" if horizontal else "vertical", extend=extend)
        cb.set_label((_units(style) + ("   (0: no change)" if change else "")).strip(), fontsize=8)
        cb.ax.tick_params(labelsize=7.5)
    rows = _legend_rows(style, values, light, ctx, spec)
    if style.kind == "class" and rows:
        note = "share of mapped area" + (", " + " → ".join(spec.epochs) if len(spec.paths) > 1 else "")
        ax.text(min(w, 3.4) - 0.08, y + 0.03, note, fontsize=6.5, color="0.35", ha="right", va="bottom")
    ncol = max(1, int(w // 3.6)) if horizontal else 1
    col_w = min(w / ncol, 3.4)
    texts = [textwrap.fill(r[1], 34 if horizontal else 30) for r in rows]
    heights = [0.08 + 0.15 * (t.count("\n") + 1) for t in texts]
    per_col = max(1, math.ceil(len(rows) / ncol))
    for i, ((colour, _, share), text) in enumerate(zip(rows, texts, strict=True)):
        col = i // per_col
        cx, yy = col * col_w, y - sum(heights[col * per_col : i])
        ax.add_patch(Rectangle((cx, yy - 0.17), 0.3, 0.17, facecolor=colour, edgecolor="0.3", lw=0.5))
        ax.text(cx + 0.4, yy - 0.085 + 0.075 * text.count("\n"), text, va="center", fontsize=7.8, linespacing=1.1)  # fmt: skip
        if share:
            ax.text(cx + col_w - 0.08, yy - 0.085, share, va="center", ha="right", fontsize=7, color="0.3")


def _legend_overlays(fig, rect, items: list[tuple[str, dict]]) -> float:
    """Draw the overlay legend in ``rect`` (nothing when ``rect`` is None); return its height [in]."""
    from matplotlib.lines import Line2D

    texts = [textwrap.fill(label, 38 if kw["kind"] == "note" else 30) for label, kw in items]
    height = 0.45 + sum(0.1 + 0.14 * (t.count("\n") + 1) for t in texts) if items else 0.0
    if rect is None or not items:
        return height
    ax = _inch_axes(fig, rect)
    ax.text(0, rect[3], "Overlays", va="top", fontsize=9, fontweight="bold")
    y = rect[3] - 0.4
    for (_, kw), text in zip(items, texts, strict=True):
        note = kw["kind"] == "note"
        if kw["kind"] == "marker":
            ax.scatter([0.15], [y], s=kw["size"], marker=kw["marker"], c="white", edgecolors="black", linewidths=0.6)  # fmt: skip
        elif kw["kind"] == "line":
            ax.add_line(Line2D([0, 0.3], [y, y], color="black", lw=0.9, linestyle=kw["linestyles"]))
        ax.text(0.0 if note else 0.4, y + (0.07 * text.count("\n") if note else 0), text, va="center",
                fontsize=6.8 if note else 7.8, color="0.3" if note else "black")  # fmt: skip
        y -= 0.1 + 0.14 * (text.count("\n") + 1)
    return height


def _north_and_scale(fig, rect, ctx: _Context, m_per_in: float) -> None:
    from matplotlib.patches import Polygon, Rectangle

    ax = _inch_axes(fig, rect)
    w = rect[2]
    th = math.radians(ctx.north_deg)
    rot = lambda x, y: (x * math.cos(th) + y * math.sin(th), -x * math.sin(th) + y * math.cos(th))  # noqa: E731
    cx, cy, r = 0.3, rect[3] - 0.55, 0.32
    left = [rot(0, r), rot(-0.11, -r), rot(0, -0.6 * r)]
    right = [rot(0, r), rot(0.11, -r), rot(0, -0.6 * r)]
    for pts, face in ((left, "black"), (right, "white")):
        ax.add_patch(Polygon([(cx + a, cy + b) for a, b in pts], closed=True, facecolor=face, edgecolor="black", lw=0.7))  # fmt: skip
    nx_, ny_ = rot(0, r + 0.13)
    ax.text(cx + nx_, cy + ny_, "N", ha="center", va="center", fontsize=10, fontweight="bold")
    g = ctx.north_deg
    ax.text(0.72, cy, textwrap.fill(f"true north at the map centre, {abs(g):.2f}° {'west' if g < 0 else 'east'} "
                                    "of grid north", 28), va="center", fontsize=7, color="0.25")  # fmt: skip
    bar_max = min(w - 0.5, 2.2)
    length = nice_down(bar_max * m_per_in)
    km = length >= 1000
    bar = length / m_per_in
    lead = int(round(length / 10 ** math.floor(math.log10(length))))
    nseg = {1: 4, 2: 4, 5: 5}[lead]
    y0 = cy - 0.75
    for i in range(nseg):
        ax.add_patch(Rectangle((0.1 + i * bar / nseg, y0), bar / nseg, 0.07, facecolor="black" if i % 2 == 0 else "white",
                               edgecolor="black", lw=0.6))  # fmt: skip
    fmt = lambda v: f"{v / 1000:g}" if km else f"{v:g}"  # noqa: E731
    for v in np.linspace(0.0, length, 3 if nseg == 4 else 6):
        ax.text(0.1 + v / m_per_in, y0 + 0.11, fmt(v), ha="center", va="bottom", fontsize=7)
    ax.text(0.1 + bar + 0.08, y0 + 0.035, "km" if km else "m", va="center", fontsize=7)
    scale = m_per_in / 0.0254
    digits = 10 ** max(0, int(math.log10(scale)) - 1)
    ax.text(0.1, y0 - 0.12, f"1 : {round(scale / digits) * digits:,.0f} on A4".replace(",", " ")
            + f"   ·   {ctx.meta['crs_name']}", va="top", fontsize=7, color="0.25")  # fmt: skip


# ------------------------------------------------------------------------------------------ plate


def _draw(spec: PlateSpec, ctx: _Context, dpi: int, number: int) -> dict:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    meta, style = ctx.meta, ctx.styles[spec.layer]
    (ny, nx), t = meta["shape"], meta["transform"]
    lay = _layout(spec.kind, nx * abs(t[0]) / (ny * abs(t[4])))
    mw, mh = lay["maps"][0][2:]
    shape = (min(ny, max(2, round(mh * dpi))), min(nx, max(2, round(mw * dpi))))
    m_per_in = nx * abs(t[0]) / mw
    fig = Figure(figsize=PAGE_IN, dpi=dpi)
    FigureCanvasAgg(fig)
    light = _light(ctx, shape)
    values = [_read(p, shape, ctx) for p in spec.paths]
    overlays: list[tuple[str, dict]] = []
    axes = []
    for i, (rect, v) in enumerate(zip(lay["maps"], values, strict=True)):
        ax = _draw_map(fig, rect, shade(colorize(v, style), light), ctx, lay["sides"][i], m_per_in)
        axes.append(ax)
        epoch = spec.epochs[i] if spec.kind in ("epoch", "compare") else (spec.epochs or [None])[-1]
        if spec.layer == "dem":  # the study-area map shows where the mines and boreholes are
            epoch = ([e for e in ctx.meta["epochs"] if e in ctx.outlines] or [None])[-1]
        drawn = _draw_outlines(ax, ctx.outlines[epoch], epoch if spec.kind == "grid" else "") if epoch in ctx.outlines else []  # fmt: skip
        if ctx.boreholes is not None and spec.layer in BOREHOLE_LAYERS + ("dem",) and spec.kind != "change":
            drawn += _draw_boreholes(ax, ctx.boreholes, style, spec.layer, mined=epoch in ctx.outlines)
        overlays += [d for d in drawn if d[0] not in [o[0] for o in overlays]]
        if spec.layer in MINING_LAYERS and epoch in ctx.outlines:
            _draw_detail(fig, ax, rect, spec.paths[i], style, ctx, epoch, dpi)
        if spec.kind == "compare":
            fig.text(_frac(rect)[0], _frac((0, rect[1] + rect[3] + 0.08, 0, 0))[1], spec.epochs[i],
                     fontsize=12, fontweight="bold", va="bottom")  # fmt: skip
    overlays.sort(key=lambda o: ["line", "marker", "note"].index(o[1]["kind"]))
    lx, ly, lw, lh = lay["legend"]
    if lay["horizontal"]:
        _legend_layer(fig, (lx, ly, lw - 5.2, lh), style, values, light, ctx, spec, True)
        _legend_overlays(fig, (lx + lw - 5.0, ly, 2.5, lh), overlays)
        _north_and_scale(fig, (lx + lw - 2.4, ly, 2.4, lh), ctx, m_per_in)
    else:
        over_h = _legend_overlays(fig, None, overlays)
        _legend_layer(fig, (lx, ly + 1.6 + over_h, lw, lh - 1.6 - over_h), style, values, light, ctx, spec, False)  # fmt: skip
        _legend_overlays(fig, (lx, ly + 1.6, lw, over_h), overlays)
        _north_and_scale(fig, (lx, ly, lw, 1.35), ctx, m_per_in)
    _frame(fig, spec, ctx, number)
    fig.canvas.draw()
    pw, ph = fig.canvas.get_width_height()
    box = axes[0].get_window_extent()
    _save_png(fig, ctx.out / "plates" / f"{spec.name}.png", dpi, {"Title": spec.title, "Source": meta["note"],
              "Software": f"pfatlas {meta['version']}"})  # fmt: skip
    return {"path": f"plates/{spec.name}.png", "title": spec.title, "layer": spec.layer,
            "epoch": "_".join(spec.epochs) or None, "epochs": list(spec.epochs), "kind": spec.kind,
            "section": spec.section, "number": number, "width": pw, "height": ph, "dpi": dpi,
            "map_box": [round(box.x0), round(ph - box.y1), round(box.x1), round(ph - box.y0)],
            "sources": [str(p.relative_to(ctx.out)) for p in spec.paths]}  # fmt: skip


def _save_png(fig, dst: Path, dpi: int, text: dict[str, str]) -> None:
    """Write the drawn figure as a 256-colour PNG (about 4x smaller than RGBA, and embedded as an
    indexed image by the PDF), under a temporary name, then renamed."""
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    rgb = Image.fromarray(np.asarray(fig.canvas.buffer_rgba())[..., :3])
    img = rgb.quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    palette = img.getpalette()
    k = img.getpixel((0, 0))  # the page corner: the palette entry of the white page stays exactly white
    palette[3 * k : 3 * k + 3] = [255, 255, 255]
    img.putpalette(palette)
    info = PngInfo()
    for k, v in text.items():
        info.add_itxt(k, v)
    tmp = dst.with_name(f".{dst.stem}.{os.getpid()}.tmp.png")
    img.save(tmp, format="PNG", dpi=(dpi, dpi), pnginfo=info)
    os.replace(tmp, dst)


def _frame(fig, spec: PlateSpec, ctx: _Context, number: int) -> None:
    meta = ctx.meta
    pw, ph = PAGE_IN
    t = meta["transform"]
    fig.text(_LEFT / pw, (ph - 0.28) / ph, spec.title, fontsize=16, fontweight="bold", va="top")
    sub = f"{meta['area']}   ·   {meta['crs_name']}" + (f" (EPSG:{meta['epsg']})" if meta["epsg"] else "")
    sub += f"   ·   {abs(t[0]):g} m cells"
    fig.text(_LEFT / pw, (ph - 0.68) / ph, sub, fontsize=9, color="0.3", va="top")
    fig.text(1 - 0.2 / pw, (ph - 0.28) / ph, f"Plate {number}", fontsize=10, color="0.3", va="top", ha="right")  # fmt: skip
    if not spec.title.startswith(spec.section):
        fig.text(1 - 0.2 / pw, (ph - 0.5) / ph, spec.section, fontsize=8, color="0.4", va="top", ha="right")
    synthetic = meta["synthetic"]
    fig.text(_LEFT / pw, 0.3 / ph, meta["note"], fontsize=9 if synthetic else 8, va="bottom",
             fontweight="bold" if synthetic else "normal", color="#b2182b" if synthetic else "0.2")  # fmt: skip
    src = ", ".join(str(p.relative_to(ctx.out)) for p in spec.paths)
    fig.text(_LEFT / pw, 0.12 / ph, f"Layer: {src}; shaded relief from grid/dem.tif (sun azimuth 315°, altitude 45°)",
             fontsize=6.5, color="0.4", va="bottom")  # fmt: skip
    fig.text(1 - 0.2 / pw, 0.12 / ph, f"pfatlas {meta['version']} · built {meta['date']} · {spec.name}.png",
             fontsize=6.5, color="0.4", va="bottom", ha="right")  # fmt: skip


_WORKER: dict = {}


def _render(spec: PlateSpec, ctx: _Context, dpi: int, number: int) -> dict:
    from matplotlib import rc_context

    with rc_context(plot_rc(ctx.cjk)):
        return _draw(spec, ctx, dpi, number)


def _init_worker(ctx: _Context, dpi: int) -> None:
    _WORKER.update(ctx=ctx, dpi=dpi)


def _task(job: tuple[PlateSpec, int]) -> dict:
    return _render(job[0], _WORKER["ctx"], _WORKER["dpi"], job[1])


def render_plates(out: str | Path, *, dpi: int = 150, workers: int = 2) -> list[Path]:
    """Draw every plate of the atlas folder ``out`` into ``OUT/plates/`` and write its index.

    Parameters
    ----------
    out
        The atlas folder (``pfatlas build`` output); needs ``OUT/grid/dem.tif``.
    dpi
        Resolution of the PNGs [dots per inch] on an A4 landscape page (150: 1754 x 1240 pixels;
        300 for print).
    workers
        Processes drawing plates in parallel (1: in this process). They are started with ``spawn``
        (safe beside threads), so a script that calls this at its top level needs the usual
        ``if __name__ == "__main__":`` guard.

    Returns
    -------
    list of Path
        The PNGs, in atlas order, then ``OUT/plates/plates.json`` (see :func:`plate_index`).
        PNGs of an earlier run that are no longer plates of the atlas are removed.
    """
    out = Path(out)
    if not isinstance(dpi, int) or not 50 <= dpi <= 600:
        raise InputError(f"plate resolution must be a whole number of dots per inch in 50-600, not {dpi!r}",
                         field="dpi")  # fmt: skip
    styles = _styles(out)
    specs = plate_specs(out, styles)
    ctx = _context(out, specs, styles)
    folder = out / "plates"
    folder.mkdir(parents=True, exist_ok=True)
    jobs = [(s, i + 1) for i, s in enumerate(specs)]
    n = max(1, min(int(workers), os.cpu_count() or 1, len(jobs)))
    if n == 1:
        entries = [_render(s, ctx, dpi, k) for s, k in jobs]
    else:
        with ProcessPoolExecutor(n, mp_context=get_context("spawn"), initializer=_init_worker,
                                 initargs=(ctx, dpi)) as pool:  # fmt: skip
            entries = list(pool.map(_task, jobs))
    keep = {Path(e["path"]).name for e in entries}
    for old in folder.glob("*.png"):
        if old.name not in keep:
            old.unlink()
    index = folder / INDEX_FILE
    tmp = folder / f".{INDEX_FILE}.tmp"
    tmp.write_text(json.dumps(entries, indent=1, ensure_ascii=False))
    os.replace(tmp, index)
    return [out / e["path"] for e in entries] + [index]
