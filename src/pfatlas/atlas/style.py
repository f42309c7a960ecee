"""One colour scale per layer for every product: plates, the PDF, the viewer and the QGIS styles.

A layer's scale is fixed across epochs, so that two maps of the same layer compare by eye: MAGT and
every change on a diverging scale centred on 0, ALT, ice and probabilities on sequential scales, each
with limits taken over *all* epochs of the atlas (robust 2nd-98th percentiles of the files of that
layer, rounded to a readable step; symmetric about the centre for diverging scales). Class layers
take their colours and names from the COG itself (colour table and ``CLASS_NAMES`` tag), so the
products show what GDAL and QGIS show.

:func:`resolve_styles` computes the scales of an atlas folder once and :func:`write_styles` stores
them as ``OUT/atlas_style.json``; every renderer reads :func:`load_styles`.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import rasterio

__all__ = [
    "LayerStyle",
    "LAYERS",
    "layer_files",
    "resolve_styles",
    "write_styles",
    "load_styles",
    "colorize",
    "STYLE_FILE",
]

STYLE_FILE = "atlas_style.json"
_NOT_LAYERS = {"inputs", "plates", "viewer", "stac", "tables"}  # folders of OUT that hold no atlas layer
_SAMPLE = 1_000_000  # cells read per file to find the limits (an overview level when there is one)


@dataclass(frozen=True)
class _Default:
    title: str
    units: str
    cmap: str = "viridis"
    diverging: bool = False
    vmin: float | None = None  # fixed limits; None: from the data of all epochs
    vmax: float | None = None


#: Display defaults per layer name (epoch layers, change layers ``delta_*`` and grid layers).
LAYERS: dict[str, _Default] = {
    "landcover": _Default("Land cover", "class"),
    "landcover_probability": _Default("Land-cover class probability", "1", "cividis", vmin=0.0, vmax=1.0),
    "magt": _Default("Mean annual ground temperature", "degC", "RdBu_r", diverging=True),
    "magt_se": _Default("Standard error of MAGT", "degC", "magma_r"),
    "permafrost": _Default("Permafrost", "class"),
    "permafrost_probability": _Default(
        "Probability of permafrost, P(MAGT < 0)", "1", "PuBu", vmin=0.0, vmax=1.0
    ),
    "thermal_stability": _Default("Thermal stability (Cheng 1984)", "class"),
    "alt": _Default("Active-layer thickness", "m", "YlOrBr"),
    "ground_ice": _Default("Volumetric ground-ice content, 10 m below the table", "m3 m-3", "GnBu", vmin=0.0),
    "ice_volume": _Default("Ground-ice volume per cell", "m3", "GnBu", vmin=0.0),
    "ice_class": _Default("Ice-content class (GB 50324-2014)", "class"),
    "mining_delta_magt": _Default("MAGT change by mining", "degC", "RdBu_r", diverging=True),
    "mining_delta_alt": _Default("ALT change by mining", "m", "BrBG_r", diverging=True),
    "mining_zone": _Default("Mining zone", "class"),
    "delta_magt": _Default("MAGT change", "degC", "RdBu_r", diverging=True),
    "delta_alt": _Default("ALT change", "m", "BrBG_r", diverging=True),
    "delta_ground_ice": _Default("Ground-ice content change", "m3 m-3", "PuOr", diverging=True),
    "delta_ice_volume": _Default("Ground-ice volume change per cell", "m3", "PuOr", diverging=True),
    "delta_permafrost_probability": _Default("Change of P(permafrost)", "1", "PuOr", diverging=True),
    "permafrost_transition": _Default("Permafrost transition", "class"),
    "dem": _Default("Elevation", "m", "gist_earth"),
    "slope": _Default("Slope", "degree", "pink_r", vmin=0.0),
    "aspect": _Default("Aspect", "degree", "twilight", vmin=0.0, vmax=360.0),
    "geomorphology": _Default("Geomorphology unit", "class"),
}


@dataclass(frozen=True)
class LayerStyle:
    """How one layer is drawn everywhere.

    Continuous layers: ``cmap`` (a Matplotlib colormap name), ``vmin``/``vmax`` and, for diverging
    scales, ``center`` (0). Class layers: ``classes`` maps each code to (name, "#rrggbb").
    """

    name: str
    title: str
    units: str
    kind: str  # "continuous" or "class"
    cmap: str = ""
    vmin: float = 0.0
    vmax: float = 1.0
    center: float | None = None
    classes: dict[int, tuple[str, str]] = field(default_factory=dict)

    def norm(self):
        """The Matplotlib normalisation of the scale (continuous layers)."""
        from matplotlib.colors import Normalize, TwoSlopeNorm

        if self.center is not None and self.vmin < self.center < self.vmax:
            return TwoSlopeNorm(vcenter=self.center, vmin=self.vmin, vmax=self.vmax)
        return Normalize(vmin=self.vmin, vmax=self.vmax)

    def colormap(self):
        """The Matplotlib colormap (continuous) or a ListedColormap over the codes (classes)."""
        import matplotlib

        if self.kind == "class":
            from matplotlib.colors import ListedColormap

            return ListedColormap([c for _, c in self.classes.values()])
        return matplotlib.colormaps[self.cmap]


def layer_files(out: str | Path) -> dict[str, list[Path]]:
    """Every layer of an atlas folder by name: ``OUT/<epoch>/*.tif``, ``OUT/change/*/*.tif`` and
    ``OUT/grid/*.tif`` (not the natural and composite sub-folders, nor the demo's ``inputs/``)."""
    out = Path(out)
    found: dict[str, list[Path]] = {}
    for p in sorted(out.glob("*/*.tif")) + sorted(out.glob("change/*/*.tif")):
        if p.name.startswith(".") or p.parent.name in _NOT_LAYERS:
            continue
        found.setdefault(p.stem, []).append(p)
    return found


def _nice_step(x: float) -> float:
    """The smallest of 1, 2, 2.5 or 5 times a power of ten that is >= ``x`` (> 0)."""
    p = 10.0 ** math.floor(math.log10(x))
    return next(s * p for s in (1.0, 2.0, 2.5, 5.0, 10.0) if s * p >= x * (1 - 1e-12))


def _sample(path: Path) -> np.ndarray:
    """About _SAMPLE values of a layer (NaN: nodata), read at a decimated size: memory bounded on any grid."""
    with rasterio.open(path) as src:
        f = max(1, int(math.sqrt(src.width * src.height / _SAMPLE)))
        a = src.read(1, out_shape=(max(1, src.height // f), max(1, src.width // f)), masked=True)
        return a.astype("float64").filled(np.nan)


def _class_meta(path: Path) -> tuple[dict, dict]:
    """The tags and the colour table (empty when none) of a class layer; no cell is read."""
    with rasterio.open(path) as src:
        cmap = {}
        if src.dtypes[0] == "uint8":
            try:
                cmap = src.colormap(1)
            except ValueError:
                cmap = {}
        return src.tags(), cmap


def _class_style(name: str, d: _Default, paths: list[Path]) -> LayerStyle:
    classes: dict[int, tuple[str, str]] = {}
    for p in paths:
        tags, cmap = _class_meta(p)
        names = json.loads(tags.get("CLASS_NAMES", "{}"))
        for k, v in names.items():
            r, g, b = cmap.get(int(k), (128, 128, 128, 255))[:3]
            classes.setdefault(int(k), (v, f"#{r:02x}{g:02x}{b:02x}"))
    return LayerStyle(name, d.title, "class", "class", classes=dict(sorted(classes.items())))


def resolve_styles(out: str | Path) -> dict[str, LayerStyle]:
    """The style of every layer found in ``out`` (see the module docstring)."""
    styles = {}
    for name, paths in layer_files(out).items():
        d = LAYERS.get(name)
        if d is None:
            continue
        if d.units == "class":
            styles[name] = _class_style(name, d, paths)
            continue
        vals = [v[np.isfinite(v)] for v in (_sample(p) for p in paths)]
        v = np.concatenate(vals) if vals else np.array([])
        if d.diverging:
            nz = np.abs(v[v != 0])  # a mining change is exactly 0 on most of the map
            lo = -(hi := _nice_step(float(np.percentile(nz, 98))) if nz.size else 1.0)
        else:
            lo, hi = (float(x) for x in np.percentile(v, [2, 98])) if v.size else (0.0, 1.0)
            step = _nice_step(max(hi - lo, 0.1 * max(abs(lo), abs(hi)), 1e-9) / 10.0)
            lo = d.vmin if d.vmin is not None else round(math.floor(lo / step + 1e-9) * step, 12)
            hi = d.vmax if d.vmax is not None else round(math.ceil(hi / step - 1e-9) * step, 12)
            if hi <= lo:
                hi = lo + 1.0
        styles[name] = LayerStyle(name, d.title, d.units, "continuous", d.cmap, float(lo), float(hi),
                                  0.0 if d.diverging else None)  # fmt: skip
    return styles


def write_styles(out: str | Path, styles: dict[str, LayerStyle] | None = None) -> Path:
    """Write ``OUT/atlas_style.json`` (atomically) and return its path."""
    out = Path(out)
    styles = resolve_styles(out) if styles is None else styles
    doc = {
        k: asdict(s) | {"classes": {str(c): list(v) for c, v in s.classes.items()}} for k, s in styles.items()
    }
    path = out / STYLE_FILE
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(doc, indent=1))
    os.replace(tmp, path)
    return path


def load_styles(out: str | Path) -> dict[str, LayerStyle]:
    """Read ``OUT/atlas_style.json`` (written by :func:`write_styles`)."""
    doc = json.loads((Path(out) / STYLE_FILE).read_text())
    return {
        k: LayerStyle(**(v | {"classes": {int(c): tuple(x) for c, x in v["classes"].items()}}))
        for k, v in doc.items()
    }


def colorize(values: np.ndarray, style: LayerStyle) -> np.ndarray:
    """RGBA uint8 image (ny, nx, 4) of ``values`` on the layer's scale; nodata is transparent.

    Nodata: NaN for continuous layers, 255 (or any code without a class) for class layers.
    """
    values = np.asarray(values)
    rgba = np.zeros((*values.shape, 4), dtype=np.uint8)
    if style.kind == "class":
        for code, (_, colour) in style.classes.items():
            sel = values == code
            rgba[sel] = [int(colour[i : i + 2], 16) for i in (1, 3, 5)] + [255]
        return rgba
    v = values.astype("float64")
    ok = np.isfinite(v)
    rgba[ok] = style.colormap()(np.clip(style.norm()(v[ok]), 0.0, 1.0), bytes=True)
    return rgba
