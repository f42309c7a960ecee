"""QGIS layer styles (``.qml``) beside the atlas rasters, on the atlas colour scales.

QGIS loads ``<name>.qml`` beside ``<name>.tif`` as the default style when the raster is added,
so a layer opens with the colours of the plates, the PDF and the viewer
(:mod:`pfatlas.atlas.style`):

* class layers: the *paletted* renderer, one entry per class with its code, colour and name;
* continuous layers: the *singlebandpseudocolor* renderer, an interpolated colour ramp with fixed
  limits (``vmin``/``vmax`` of the layer's scale, the same in every epoch; values beyond them take
  the end colours) sampled at :data:`N_STOPS` values placed by the scale's normalisation, so a
  diverging scale keeps its centre where the plates have it.

Why a product step and not the COG writer: the limits of a continuous scale come from all epochs
of the atlas, known only once the build is complete.

The class names GDAL itself reads (the ``<layer>.tif.aux.xml`` sidecar: category names and a
raster attribute table) are written with each class COG by :mod:`pfatlas.io.cog`.
:func:`write_class_sidecars` writes them again for every atlas class layer from the COG's own
``CLASS_NAMES`` tag and colour table: a layer put in place by other means (a hard link of the
natural layer for an epoch without mining, a copy) gets its sidecar, and a sidecar left from an
earlier file (or with GDAL's cached statistics of it) is replaced.
"""

from __future__ import annotations

import math
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import rasterio

from pfatlas.atlas.style import STYLE_FILE, LayerStyle, load_styles, resolve_styles
from pfatlas.atlas.tables import atlas_rasters, class_names
from pfatlas.io.cog import ClassInfo, atomic_path, class_pam_xml, pam_sidecar

__all__ = ["qml_path", "qml_document", "write_qml_styles", "write_class_sidecars", "N_STOPS", "QGIS_VERSION"]

N_STOPS = 21  # colours of a continuous ramp (QGIS interpolates linearly between them)
QGIS_VERSION = "3.34.0"  # the version written into the style; QGIS reads styles of other 3.x versions
_DOCTYPE = "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"


def qml_path(tif: str | Path) -> Path:
    """The style file QGIS looks for beside a raster: same name, ``.qml``."""
    return Path(tif).with_suffix(".qml")


def _hex(rgb) -> str:
    return "#{:02x}{:02x}{:02x}".format(*(int(v) for v in rgb[:3]))


def _decimals(vmin: float, vmax: float) -> int:
    """Decimals that show about three significant steps of the range."""
    span = abs(vmax - vmin) or abs(vmax) or 1.0
    return int(min(6, max(0, 2 - math.floor(math.log10(span)))))


def _renderer_pipe(root: ET.Element, renderer: ET.Element) -> None:
    pipe = ET.SubElement(root, "pipe")
    provider = ET.SubElement(pipe, "provider")
    ET.SubElement(provider, "resampling", enabled="false", maxOversampling="2",
                  zoomedInResamplingMethod="nearestNeighbour", zoomedOutResamplingMethod="nearestNeighbour")  # fmt: skip
    pipe.append(renderer)
    ET.SubElement(pipe, "brightnesscontrast", brightness="0", contrast="0", gamma="1")
    ET.SubElement(pipe, "huesaturation", saturation="0", grayscaleMode="0", colorizeOn="0", colorizeRed="255",
                  colorizeGreen="128", colorizeBlue="128", colorizeStrength="100", invertColors="0")  # fmt: skip
    ET.SubElement(pipe, "rasterresampler", maxOversampling="2")
    ET.SubElement(root, "blendMode").text = "0"


def _paletted(style: LayerStyle) -> ET.Element:
    r = ET.Element("rasterrenderer", type="paletted", band="1", opacity="1", alphaBand="-1", nodataColor="")
    ET.SubElement(r, "rasterTransparency")
    palette = ET.SubElement(r, "colorPalette")
    for code, (name, colour) in sorted(style.classes.items()):
        ET.SubElement(palette, "paletteEntry", value=str(code), color=colour, alpha="255", label=name)
    return r


def _pseudocolor(style: LayerStyle) -> ET.Element:
    lo, hi = float(style.vmin), float(style.vmax)
    nd = _decimals(lo, hi)
    r = ET.Element("rasterrenderer", type="singlebandpseudocolor", band="1", opacity="1", alphaBand="-1",
                   nodataColor="", classificationMin=repr(lo), classificationMax=repr(hi))  # fmt: skip
    ET.SubElement(r, "rasterTransparency")
    origin = ET.SubElement(r, "minMaxOrigin")
    for tag, text in (("limits", "None"), ("extent", "WholeRaster"), ("statAccuracy", "Estimated"),
                      ("cumulativeCutLower", "0.02"), ("cumulativeCutUpper", "0.98"), ("stdDevFactor", "2")):  # fmt: skip
        ET.SubElement(origin, tag).text = text
    shader = ET.SubElement(ET.SubElement(r, "rastershader"), "colorrampshader", colorRampType="INTERPOLATED",
                           classificationMode="1", clip="0", minimumValue=repr(lo), maximumValue=repr(hi),
                           labelPrecision=str(nd))  # fmt: skip
    t = np.linspace(0.0, 1.0, N_STOPS)
    values = np.asarray(style.norm().inverse(t), dtype="float64")
    values[0], values[-1] = lo, hi  # exact ends
    colours = style.colormap()(t, bytes=True)
    units = "" if style.units in ("", "1") else f" {style.units}"
    for v, c in zip(values, colours, strict=True):
        ET.SubElement(
            shader,
            "item",
            value=repr(round(float(v), 12)),
            color=_hex(c),
            alpha="255",
            label=f"{v:.{nd}f}{units}",
        )
    return r


def qml_document(style: LayerStyle) -> str:
    """The QGIS style (QML text) of one layer: paletted for classes, a colour ramp otherwise.

    Examples
    --------
    >>> s = LayerStyle("pf", "Permafrost", "class", "class", classes={0: ("no", "#e6c896"), 1: ("yes", "#4682c8")})
    >>> doc = ET.fromstring(qml_document(s))
    >>> [(e.get("value"), e.get("color"), e.get("label")) for e in doc.iter("paletteEntry")]
    [('0', '#e6c896', 'no'), ('1', '#4682c8', 'yes')]
    """
    root = ET.Element("qgis", version=QGIS_VERSION, styleCategories="AllStyleCategories",
                      hasScaleBasedVisibilityFlag="0", minScale="1e+08", maxScale="0")  # fmt: skip
    _renderer_pipe(root, _paletted(style) if style.kind == "class" else _pseudocolor(style))
    ET.indent(root, space=" ")
    return _DOCTYPE + ET.tostring(root, encoding="unicode") + "\n"


def _file_class_style(path: Path) -> LayerStyle | None:
    """The style of a class layer the atlas styles do not know, from the file itself."""
    with rasterio.open(path) as src:
        names = class_names(src)
        if names is None:
            return None
        cmap = src.colormap(1)
    classes = {c: (n, _hex(cmap.get(c, (128, 128, 128)))) for c, n in sorted(names.items())}
    return LayerStyle(path.stem, path.stem, "class", "class", classes=classes)


def write_qml_styles(out: str | Path, styles: dict[str, LayerStyle] | None = None) -> list[Path]:
    """Write ``<layer>.qml`` beside every atlas raster of ``out`` (see the module docstring).

    Parameters
    ----------
    out
        An atlas folder written by ``pfatlas build``.
    styles
        The atlas scales; by default ``OUT/atlas_style.json`` when it exists, else resolved from
        the rasters (:func:`pfatlas.atlas.style.resolve_styles`).

    Returns
    -------
    list of Path
        The style files written (each atomically). A continuous layer without an atlas scale gets
        none.
    """
    out = Path(out)
    if styles is None:
        styles = load_styles(out) if (out / STYLE_FILE).exists() else resolve_styles(out)
    written = []
    for group in atlas_rasters(out):
        for name, tif in group.layers.items():
            style = styles.get(name) or _file_class_style(tif)
            if style is None:
                continue
            written.append(_write_text(qml_path(tif), qml_document(style)))
    return written


def _write_text(path: Path, text: str) -> Path:
    tmp = atomic_path(path)
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_class_sidecars(out: str | Path) -> list[Path]:
    """Write ``<layer>.tif.aux.xml`` (class names for GDAL and QGIS) beside every atlas class layer.

    Parameters
    ----------
    out
        An atlas folder written by ``pfatlas build``.

    Returns
    -------
    list of Path
        The sidecars, each written atomically from its COG's ``CLASS_NAMES`` tag and colour table
        (see the module docstring).
    """
    written = []
    for group in atlas_rasters(out):
        for tif in group.layers.values():
            with rasterio.open(tif) as src:
                names = class_names(src)
                if names is None:
                    continue
                try:
                    cmap = src.colormap(1)
                except ValueError:
                    cmap = {}
            classes = [
                ClassInfo(c, n, tuple(cmap.get(c, (128, 128, 128))[:3])) for c, n in sorted(names.items())
            ]
            written.append(_write_text(pam_sidecar(tif), class_pam_xml(classes)))
    return written
