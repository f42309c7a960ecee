"""Cartographic primitives of the plates and the PDF: terrain shading, fonts, degree labels.

Terrain shading is the Lambertian cosine of the angle between the surface normal and a light from
azimuth 315 deg, altitude 45 deg (:class:`matplotlib.colors.LightSource` direction), not stretched,
so flat ground shows exactly the legend colour; slopes facing the light are lightened and slopes
facing away darkened in proportion (:func:`shade`). Kernels on numpy arrays, no file I/O.
"""

from __future__ import annotations

import functools
import math
import re

import numpy as np

__all__ = ["hillshade", "shade", "cjk_font", "display_name", "plot_rc", "dms", "nice_down", "NODATA_GREY"]

_SUN = (315.0, 45.0)  # hillshade light: azimuth, altitude [deg]
_SHADE_STRENGTH = 0.75  # fraction of the illumination difference from flat ground applied to the colours
NODATA_GREY = 255  # no value: white paper, shaded like the terrain (0-255)
_CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN",
                 "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "Droid Sans Fallback", "SimHei",
                 "Microsoft YaHei", "PingFang SC", "Heiti SC", "AR PL UMing CN", "Noto Sans CJK JP")  # fmt: skip
_CJK_CHARS = re.compile(r"[\u2e80-\u9fff\u3000-\u303f\uf900-\ufaff\uff00-\uffef]")
_CJK_PAREN = re.compile(r"\s*[(\uff08][^()\uff08\uff09]*[\u2e80-\u9fff][^()\uff08\uff09]*[)\uff09]")


# ----------------------------------------------------------------------------------------- fonts


@functools.cache
def cjk_font() -> str | None:
    """The family name of an installed font with Chinese glyphs, or None when there is none.

    Class names carry Chinese terms (e.g. ``less-ice (少冰冻土)``); DejaVu Sans has no CJK glyphs.
    """
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    found = {f.name: f.fname for f in font_manager.fontManager.ttflist}
    for family in _CJK_FAMILIES:
        if family in found:
            try:
                if ord("冰") in FT2Font(found[family]).get_charmap():
                    return family
            except (OSError, RuntimeError):
                continue
    return None


def display_name(name: str, cjk: bool) -> str:
    """A class name as a plate can show it: unchanged with a CJK font, else without the Chinese part.

    >>> display_name("less-ice (少冰冻土)", cjk=False)
    'less-ice'
    >>> display_name("less-ice (少冰冻土)", cjk=True)
    'less-ice (少冰冻土)'
    >>> display_name("稳定型", cjk=False)
    ''
    """
    if cjk or not _CJK_CHARS.search(name):
        return name
    return " ".join(_CJK_CHARS.sub("", _CJK_PAREN.sub("", name)).split())


def plot_rc(cjk: str | None) -> dict:
    """The Matplotlib settings of every plate and PDF page (used only inside ``rc_context``)."""
    return {"font.family": ["DejaVu Sans", cjk] if cjk else ["DejaVu Sans"], "font.size": 8.5, "axes.linewidth": 0.7,
            "figure.facecolor": "white", "savefig.facecolor": "white", "image.interpolation": "nearest",
            "pdf.fonttype": 42, "path.simplify": True, "xtick.labelsize": 7.5, "ytick.labelsize": 7.5}  # fmt: skip


# -------------------------------------------------------------------------------- pure drawing


def hillshade(dem: np.ndarray, dx: float, dy: float, *, vert_exag: float = 1.0) -> np.ndarray:
    """Illumination [0-1] of a north-up DEM [m] with cells dx, dy [m] by a sun at azimuth 315, altitude 45.

    The cosine of the angle between the surface normal and the direction of
    ``matplotlib.colors.LightSource(315, 45)``, clipped at 0 (self-shadow); flat ground gives
    sin(45 deg). NaN where the DEM or a neighbour is NaN.

    >>> float(hillshade(np.full((3, 3), 4000.0), 30.0, 30.0)[1, 1].round(4))
    0.7071
    >>> ramp = np.tile(np.arange(3.0) * 30.0, (3, 1))  # rising to the east at 45 deg: faces west
    >>> float(hillshade(ramp, 30.0, 30.0)[1, 1].round(4))
    0.8536
    """
    from matplotlib.colors import LightSource

    light = LightSource(azdeg=_SUN[0], altdeg=_SUN[1]).direction  # east, north, up
    z = np.asarray(dem, dtype="float64") * vert_exag
    d_row, d_col = np.gradient(z, dy, dx)  # rows run south
    normal = np.stack([-d_col, d_row, np.ones_like(z)], axis=-1)
    normal /= np.linalg.norm(normal, axis=-1, keepdims=True)
    return np.clip(normal @ light, 0.0, 1.0)


def shade(rgba: np.ndarray, light: np.ndarray, *, strength: float = _SHADE_STRENGTH) -> np.ndarray:
    """RGB uint8 of a layer's RGBA over the terrain: transparent (no value) cells shaded white, no terrain white.

    With t = strength x (light - sin 45 deg), a colour c becomes c (1 + t) where t < 0 (away from
    the sun) and c + (255 - c) t where t > 0; flat ground (t = 0) keeps the legend colour exactly.

    >>> px = np.array([[[200, 100, 0, 255]]], dtype=np.uint8)
    >>> shade(px, np.array([[math.sqrt(0.5)]])).tolist()
    [[[200, 100, 0]]]
    >>> shade(px, np.array([[0.0]]), strength=1.0).tolist()  # full shadow: x (1 - 0.707)
    [[[59, 29, 0]]]
    """
    rgb = np.where(rgba[..., 3:4] > 0, rgba[..., :3], NODATA_GREY).astype("float64")
    ok = np.isfinite(light)
    t = np.clip(strength * (np.where(ok, light, 0.0) - math.sqrt(0.5)), -1.0, 1.0)[..., None]
    out = np.where(t < 0, rgb * (1.0 + t), rgb + (255.0 - rgb) * t)
    out[~ok] = 255.0
    return np.rint(out).astype(np.uint8)


def dms(value: float, step: float, pos: str, neg: str) -> str:
    """Degrees as 99°10'E (seconds only when the step needs them)."""
    hemi = pos if value >= 0 else neg
    s = round(abs(value) * 3600)
    d, m, sec = s // 3600, (s % 3600) // 60, s % 60
    if step * 3600 % 60:
        return f"{d}°{m:02d}'{sec:02d}\"{hemi}"
    return f"{d}°{m:02d}'{hemi}"


def nice_down(x: float) -> float:
    """The largest of 1, 2 or 5 times a power of ten that is <= x (> 0)."""
    p = 10.0 ** math.floor(math.log10(x))
    return max(s * p for s in (1.0, 2.0, 5.0) if s * p <= x * (1 + 1e-9))
