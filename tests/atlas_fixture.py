"""A tiny atlas folder, laid out as `pfatlas build` writes it, for the tests of the products.

Two epochs (2000 natural, 2020 with one pit and one dump), the change folder, the grid layers,
boreholes and a few tables, on a 64 x 96 grid of 30 m cells in UTM 47N near Muli. Values follow
simple smooth fields (not physics): the product tests check drawing and cataloguing, and read the
values back from these rasters.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from odc.geo.geobox import GeoBox

from pfatlas.grid import wrap_on_grid
from pfatlas.io.cog import ClassInfo, Layer, write_cogs

SHAPE = (64, 96)
EPSG = 32647
X0, Y0 = 540000.0, 4210000.0  # upper-left corner [m], ~99.45 E 38.03 N
CELL = 30.0
EPOCHS = ("2000", "2020")

LANDCOVER = [ClassInfo(1, "alpine swamp meadow", (46, 125, 91)), ClassInfo(2, "alpine meadow", (124, 179, 66)),
             ClassInfo(3, "alpine steppe", (212, 194, 106)), ClassInfo(5, "water", (43, 108, 176)),
             ClassInfo(6, "open pit", (59, 59, 59)), ClassInfo(7, "waste dump", (141, 90, 59))]  # fmt: skip
PERMAFROST = [ClassInfo(0, "no permafrost", (230, 200, 150)), ClassInfo(1, "permafrost", (70, 130, 200))]
STABILITY = [ClassInfo(3, "substable", (107, 174, 214)), ClassInfo(4, "transitional", (253, 174, 97)),
             ClassInfo(5, "unstable", (215, 48, 39)), ClassInfo(6, "no permafrost", (220, 220, 220))]  # fmt: skip
ICE = [ClassInfo(0, "no permafrost", (220, 220, 220)), ClassInfo(1, "less-ice", (222, 235, 247)),
       ClassInfo(2, "ice-poor", (158, 202, 225)), ClassInfo(3, "ice-rich", (66, 146, 198))]  # fmt: skip
ZONES = [ClassInfo(0, "not affected", (235, 235, 235)), ClassInfo(1, "open pit", (59, 59, 59)),
         ClassInfo(2, "waste dump", (141, 90, 59)), ClassInfo(3, "affected ring", (230, 120, 40))]  # fmt: skip
TRANSITION = [ClassInfo(1, "stable permafrost", (70, 130, 200)), ClassInfo(2, "permafrost lost", (215, 48, 39)),
              ClassInfo(3, "new permafrost", (44, 162, 95)), ClassInfo(4, "stable no permafrost", (230, 200, 150))]  # fmt: skip
UNITS = [ClassInfo(0, "alluvial plain", (141, 211, 199)), ClassInfo(2, "bedrock hills", (190, 186, 218))]

PIT = (slice(20, 30), slice(30, 42))  # rows, cols
DUMP = (slice(36, 46), slice(50, 64))


def gbox() -> GeoBox:
    from affine import Affine

    return GeoBox(SHAPE, Affine(CELL, 0.0, X0, 0.0, -CELL, Y0), f"EPSG:{EPSG}")


def _fields():
    yy, xx = np.mgrid[0 : SHAPE[0], 0 : SHAPE[1]].astype("float64")
    dem = 3900.0 + 4.0 * xx + 2.0 * yy + 30.0 * np.sin(xx / 9.0) * np.cos(yy / 7.0)
    magt = -0.5 - (dem - 3900.0) / 250.0  # colder uphill: -0.5 .. -3
    magt[:, :8] = 0.4  # a warm valley strip without permafrost
    lc = np.where(xx < 30, 1, np.where(xx < 60, 2, 3)).astype("uint8")
    lc[:6, 80:] = 5
    unit = np.where(yy < 32, 0, 2).astype("uint8")
    return dem, magt, lc, unit


def _stab(magt):
    return np.select([magt < -1.5, magt < -0.5, magt < 0.0], [3, 4, 5], 6).astype("uint8")


def make_atlas(root: str | Path) -> Path:
    """Write the tiny atlas into ``root`` (created) and return it."""
    out = Path(root)
    g = gbox()
    dem, magt0, lc0, unit = _fields()
    w = lambda a, n, u: wrap_on_grid(a, g, n, units=u, long_name=n)  # noqa: E731
    tags = {"source": "synthetic (pfatlas virtual Muli)", "area": "tiny test atlas"}
    layers = [
        Layer(w(dem.astype("float32"), "dem", "m"), out / "grid" / "dem.tif", "m", "elevation", tags=tags),
        Layer(w(unit, "geomorphology", "class"), out / "grid" / "geomorphology.tif", "class", "unit",
              classes=UNITS, tags=tags),
    ]  # fmt: skip
    per_epoch = {}
    for e in EPOCHS:
        magt, lc = magt0.copy(), lc0.copy()
        zone = np.zeros(SHAPE, dtype="uint8")
        if e == "2020":
            magt += 0.2
            lc[PIT], lc[DUMP] = 6, 7
            zone[PIT], zone[DUMP] = 1, 2
            ring = np.zeros(SHAPE, bool)
            ring[15:51, 25:69] = True
            zone[ring & (zone == 0)] = 3
            magt[PIT] += 1.5
            magt[DUMP] += 0.8
        pf = (magt < 0).astype("uint8")
        alt = np.where(pf == 1, 2.0 + 0.3 * (magt + 3.0), np.nan)
        ice = np.where(pf == 1, 0.1 + 0.05 * unit, np.nan)
        ice_cls = np.where(pf == 1, 1 + unit.astype("int64") // 2 + (magt < -2), 0).astype("uint8")
        per_epoch[e] = {"magt": magt, "alt": alt, "pf": pf}
        d = out / e
        layers += [
            Layer(w(lc, "landcover", "class"), d / "landcover.tif", "class", f"land cover {e}", classes=LANDCOVER, tags=tags),
            Layer(w(magt.astype("float32"), "magt", "degC"), d / "magt.tif", "degC", f"MAGT {e}", tags=tags),
            Layer(w(np.full(SHAPE, 0.3, "float32"), "magt_se", "degC"), d / "magt_se.tif", "degC", "SE", tags=tags),
            Layer(w(pf, "permafrost", "class"), d / "permafrost.tif", "class", f"permafrost {e}", classes=PERMAFROST, tags=tags),
            Layer(w((1 / (1 + np.exp(magt / 0.3))).astype("float32"), "permafrost_probability", "1"),
                  d / "permafrost_probability.tif", "1", "P(MAGT < 0)", tags=tags),
            Layer(w(_stab(magt), "thermal_stability", "class"), d / "thermal_stability.tif", "class", "stability",
                  classes=STABILITY, tags=tags),
            Layer(w(alt.astype("float32"), "alt", "m"), d / "alt.tif", "m", f"ALT {e}", tags=tags),
            Layer(w(ice.astype("float32"), "ground_ice", "m3 m-3"), d / "ground_ice.tif", "m3 m-3", "ice", tags=tags),
            Layer(w(np.nan_to_num(ice * 10 * 900).astype("float32"), "ice_volume", "m3"), d / "ice_volume.tif", "m3",
                  "ice volume", tags=tags),
            Layer(w(ice_cls, "ice_class", "class"), d / "ice_class.tif", "class", "ice class", classes=ICE, tags=tags),
        ]  # fmt: skip
        if e == "2020":
            dm = magt - (magt0 + 0.2)
            da = np.where(zone > 0, 0.4, 0.0)
            layers += [
                Layer(w(dm.astype("float32"), "mining_delta_magt", "degC"), d / "mining_delta_magt.tif", "degC",
                      "MAGT change by mining", tags=tags),
                Layer(w(da.astype("float32"), "mining_delta_alt", "m"), d / "mining_delta_alt.tif", "m",
                      "ALT change by mining", tags=tags),
                Layer(w(zone, "mining_zone", "class"), d / "mining_zone.tif", "class", "mining zone", classes=ZONES,
                      tags=tags),
            ]  # fmt: skip
    a, b = per_epoch["2000"], per_epoch["2020"]
    trans = np.select([(a["pf"] == 1) & (b["pf"] == 1), a["pf"] == 1, b["pf"] == 1], [1, 2, 3], 4).astype(
        "uint8"
    )
    c = out / "change" / "2000_2020"
    layers += [
        Layer(w((b["magt"] - a["magt"]).astype("float32"), "delta_magt", "degC"), c / "delta_magt.tif", "degC",
              "MAGT 2020 - 2000", tags=tags),
        Layer(w((b["alt"] - a["alt"]).astype("float32"), "delta_alt", "m"), c / "delta_alt.tif", "m",
              "ALT 2020 - 2000", tags=tags),
        Layer(w(trans, "permafrost_transition", "class"), c / "permafrost_transition.tif", "class",
              "permafrost transition", classes=TRANSITION, tags=tags),
    ]  # fmt: skip
    write_cogs(layers, gbox=g)

    tables = out / "tables"
    tables.mkdir(parents=True, exist_ok=True)
    rows, cols = np.array([5, 25, 40, 60]), np.array([10, 35, 55, 90])
    x, y = X0 + (cols + 0.5) * CELL, Y0 - (rows + 0.5) * CELL
    from pyproj import Transformer

    lon, lat = Transformer.from_crs(EPSG, 4326, always_xy=True).transform(x, y)
    pd.DataFrame({
        "id": ["BH01", "BH02", "BH03", "BH04"], "x": x, "y": y, "lon": lon, "lat": lat,
        "elevation_m": dem[rows, cols], "magt_c": [0.3, -1.2, -0.8, -2.5], "alt_m": [np.nan, 2.4, 3.1, 1.9],
        "year": 2012, "setting": ["natural", "mined", "natural", "natural"], "row": rows, "col": cols,
        "source": "synthetic (pfatlas virtual Muli)",
    }).to_csv(tables / "boreholes.csv", index=False)  # fmt: skip
    pd.DataFrame({"statistic": ["overall_accuracy", "kappa"], "value": [0.89, 0.85]}).to_csv(
        tables / "landcover_accuracy_summary_2000.csv", index=False
    )
    pd.DataFrame({"quantity": ["permafrost_lost_km2"], "unit": ["km2"], "value": [0.2]}).to_csv(
        tables / "change_2000_2020.csv", index=False
    )
    (out / "config.toml").write_text(
        "# pfatlas resolved configuration\n"
        'epochs = [\n    { label = "2000", start = 2000-06-01, end = 2000-09-30, year = 2000 },\n'
        '    { label = "2020", start = 2020-06-01, end = 2020-09-30, year = 2020 },\n]\n\n'
        '[area]\nname = "tiny test atlas (synthetic)"\nbbox = [99.45, 38.01, 99.49, 38.04]\n'
        'resolution = 30.0\ncrs = "auto"\nsynthetic = true\n'
    )
    (out / "provenance.json").write_text(json.dumps({"synthetic": True, "status": "complete"}))
    return out
