"""Ice-content classes of frozen ground after GB 50324-2014 (Code for engineering geological
investigation of frozen ground, Table 3.2.2), by soil type and total water content.

The standard classes permafrost by its total gravimetric water content w (ice + unfrozen water,
[% of dry mass]) with breaks that depend on the soil:

==========================================  =====  =====  =====  =====
soil group (our log soils)                   t1     t2     t3     t4
==========================================  =====  =====  =====  =====
gravel, coarse/medium sand, fines <= 15 %    10     15     25     44
  (gravel, bedrock)
silty and fine sand (sand)                   14     18     28     44
silt (silt; peat, which the standard         17     21     32     44
  excludes, is classed with silt)
clayey soil (clay), w_p = plastic limit      w_p    w_p+4  w_p+15 w_p+35
==========================================  =====  =====  =====  =====

w < t1: 1 less-ice (少冰冻土); t1..t2: 2 ice-moderate (多冰冻土); t2..t3: 3 ice-rich (富冰冻土);
t3..t4: 4 ice-saturated (饱冰冻土); >= t4: 5 ice layer with soil (含土冰层). A log layer recorded as
``ice`` is class 5. Codes: 0 no permafrost, 255 nodata. Logs do not record the fines content of
gravel, so gravel takes the clean-coarse row; the plastic limit of clay is taken as 20 % (typical
of the silty clays of the plateau; the logs do not give it).
"""

from __future__ import annotations

import numpy as np

from pfatlas.io.cog import ClassInfo

__all__ = [
    "SOILS",
    "ICE_CLASSES",
    "ICE_CLASS_NAMES_ZH",
    "CLAY_PLASTIC_LIMIT_PCT",
    "class_breaks_pct",
    "ice_class_code",
    "ice_class_infos",
]

SOILS: tuple[str, ...] = ("gravel", "sand", "silt", "clay", "peat", "bedrock", "ice")  # index = soil id
CLAY_PLASTIC_LIMIT_PCT = 20.0  # [%] assumed plastic limit w_p of clay

_BREAKS = {
    "gravel": (10.0, 15.0, 25.0, 44.0),
    "bedrock": (10.0, 15.0, 25.0, 44.0),
    "sand": (14.0, 18.0, 28.0, 44.0),
    "silt": (17.0, 21.0, 32.0, 44.0),
    "peat": (17.0, 21.0, 32.0, 44.0),
    "clay": tuple(CLAY_PLASTIC_LIMIT_PCT + d for d in (0.0, 4.0, 15.0, 35.0)),
    "ice": (-np.inf, -np.inf, -np.inf, -np.inf),  # always "ice layer with soil"
}

ICE_CLASSES = {
    0: ("no permafrost", (220, 220, 220)),
    1: ("less-ice", (222, 235, 247)),
    2: ("ice-moderate", (158, 202, 225)),
    3: ("ice-rich", (66, 146, 198)),
    4: ("ice-saturated", (8, 81, 156)),
    5: ("ice layer with soil", (8, 29, 88)),
}
ICE_CLASS_NAMES_ZH = {
    0: "无多年冻土",
    1: "少冰冻土",
    2: "多冰冻土",
    3: "富冰冻土",
    4: "饱冰冻土",
    5: "含土冰层",
}


def class_breaks_pct() -> np.ndarray:
    """Breaks t1..t4 [%] per soil id (rows in the order of :data:`SOILS`)."""
    return np.array([_BREAKS[s] for s in SOILS], dtype="float64")


def ice_class_code(soil_id, water_content_pct) -> np.ndarray:
    """GB 50324-2014 ice-content class (1-5) of soil ``soil_id`` (index into :data:`SOILS`) at
    total water content ``water_content_pct`` [%]; 255 where either is missing.

    Examples
    --------
    >>> ice_class_code(np.array([2, 2, 0]), np.array([16.9, 17.0, 50.0])).tolist()  # silt, silt, gravel
    [1, 2, 5]
    """
    sid = np.asarray(soil_id)
    w = np.asarray(water_content_pct, dtype="float64")
    ok = (sid >= 0) & (sid < len(SOILS)) & np.isfinite(w)
    br = class_breaks_pct()[np.where(ok, sid, 0)]
    code = 1 + (w[..., None] >= br).sum(axis=-1)
    return np.where(ok, code, 255).astype("uint8")


def ice_class_infos() -> list[ClassInfo]:
    """Class table of ``ice_class.tif`` (codes, English names with the Chinese term, colours)."""
    return [ClassInfo(c, f"{n} ({ICE_CLASS_NAMES_ZH[c]})", rgb) for c, (n, rgb) in ICE_CLASSES.items()]
