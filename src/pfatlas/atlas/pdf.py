"""The PDF atlas, ``OUT/atlas.pdf``: what a person reads without the code.

A4 landscape pages in this order: a cover (title, area, epochs, a "SYNTHETIC" banner for the demo,
date, pfatlas version), the contents with page numbers, the study area and its data (extent in
degrees, grid, area, inputs, boreholes), a summary of the methods with their references, the map
plates of :func:`pfatlas.atlas.plates.render_plates` in atlas order, the tables that matter (area by
class, thermal stability, ground ice per unit, change totals, transition matrices) and the accuracy
and validation tables (land cover, MAGT and ALT cross-validation, mining boreholes, the metrics of
every stage and, for the demo, the scores against the synthetic truth). Every table file is
optional: what exists is shown, what does not is left out. Long tables continue on further pages.

Plates are embedded as 256-colour images at no more than 150 dpi (the PDF writer stores them
indexed), which keeps the full demo's atlas near 20 MB. The file is written under a temporary name
and renamed.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pfatlas.atlas.cartography import cjk_font, display_name, plot_rc
from pfatlas.atlas.plates import PAGE_IN, _graticule, atlas_meta, plate_index, render_plates
from pfatlas.atlas.readers import count_valid
from pfatlas.errors import InputError

__all__ = ["write_atlas_pdf", "PDF_FILE"]

PDF_FILE = "atlas.pdf"
_MAX_DPI = 150  # plates are embedded at no more than this resolution [dots per inch]
_MARGIN = 0.6  # page margin [in]
_TABLE_TOP = 1.55  # space above a table for its title and caption [in]
_RED = "#b2182b"
_UNIT_SUFFIX = [("_m3_m3", " [m³ m⁻³]"), ("_degC", " [°C]"), ("_km2", " [km²]"), ("_m3", " [m³]"),
                ("_m2", " [m²]"), ("_pct", " [%]"), ("_m", " [m]"), ("_c", " [°C]")]  # fmt: skip


@dataclass
class _Page:
    """One page: its contents entry (empty: not listed), section and drawing function."""

    title: str
    section: str
    draw: Callable
    plate: bool = False  # a plate carries its own source note


# --------------------------------------------------------------------------------------- text


def _chars(width_in: float, size: float) -> int:
    """Characters of DejaVu Sans at ``size`` points that fit in ``width_in`` inches (mean glyph 0.56 em)."""
    return max(8, int(width_in / (0.56 * size / 72.0)))


def _wrap(text: str, width_in: float, size: float) -> list[str]:
    lines = []
    for para in text.split("\n"):
        lines += textwrap.wrap(para, _chars(width_in, size)) or [""]
    return lines


def _line_h(size: float) -> float:
    return 1.35 * size / 72.0


def _head(fig, title: str, section: str, subtitle: str = "") -> None:
    pw, ph = PAGE_IN
    fig.text(_MARGIN / pw, (ph - 0.3) / ph, section, fontsize=8, color="0.4", va="top")
    fig.text(_MARGIN / pw, (ph - 0.5) / ph, title, fontsize=15, fontweight="bold", va="top")
    if subtitle:
        lines = _wrap(subtitle, pw - 2 * _MARGIN, 8.5)[:3]
        fig.text(_MARGIN / pw, (ph - 0.9) / ph, "\n".join(lines), fontsize=8.5, color="0.25", va="top")


def _foot(fig, meta: dict, page: int, total: int, plate: bool = False) -> None:
    pw, ph = PAGE_IN
    if plate:
        fig.text(0.5, 0.12 / ph, f"page {page} of {total}", fontsize=8, color="0.3", ha="center")
        return
    syn = meta["synthetic"]
    fig.text(_MARGIN / pw, 0.22 / ph, meta["note"], fontsize=8, color=_RED if syn else "0.3",
             fontweight="bold" if syn else "normal")  # fmt: skip
    fig.text(0.5, 0.22 / ph, f"Permafrost atlas · {meta['area']}", fontsize=7.5, color="0.4", ha="center")
    fig.text(1 - _MARGIN / pw, 0.22 / ph, f"page {page} of {total}", fontsize=8, color="0.3", ha="right")


def _blocks_pages(blocks: list[tuple[str, str]], cols: int = 2, size: float = 8.6) -> list[list[list[tuple]]]:
    """Flow (heading, paragraph) blocks line by line into columns and pages (pages -> columns -> lines of
    (kind, text)); a heading never ends a column."""
    pw, ph = PAGE_IN
    col_w = (pw - 2 * _MARGIN - 0.4 * (cols - 1)) / cols
    cap = ph - 1.3 - 0.7
    height = {"h": 1.25, "p": 1.0, "gap": 0.6}
    pages: list[list[list[tuple]]] = [[[]]]
    used = 0.0
    for heading, para in blocks:
        lines = [("h", heading)] if heading else []
        lines += [("p", t) for t in _wrap(para, col_w, size)] + [("gap", "")]
        for i, (kind, text) in enumerate(lines):
            need = _line_h(size) * height[kind] + (_line_h(size) * 2 if kind == "h" else 0.0)
            if used + need > cap and pages[-1][-1] and not (kind == "gap" and i == len(lines) - 1):
                if len(pages[-1]) < cols:
                    pages[-1].append([])
                else:
                    pages.append([[]])
                used = 0.0
            pages[-1][-1].append((kind, text))
            used += _line_h(size) * height[kind]
    return pages


def _draw_columns(
    fig, columns: list[list[tuple]], cols: int = 2, size: float = 8.6, top: float = 1.3
) -> None:
    pw, ph = PAGE_IN
    col_w = (pw - 2 * _MARGIN - 0.4 * (cols - 1)) / cols
    for c, lines in enumerate(columns):
        x, y = _MARGIN + c * (col_w + 0.4), ph - top
        for kind, text in lines:
            h = _line_h(size) * (1.25 if kind == "h" else 0.6 if kind == "gap" else 1.0)
            if kind != "gap":
                fig.text(x / pw, y / ph, text, fontsize=size + (0.8 if kind == "h" else 0), va="top",
                         fontweight="bold" if kind == "h" else "normal")  # fmt: skip
            y -= h


# ------------------------------------------------------------------------------------- images


def _image(
    path: Path, dpi: int, crop: tuple[int, int, int, int] | None = None, max_w: int | None = None
) -> np.ndarray:
    """RGB array of a plate (or a crop of it) at no more than ``_MAX_DPI`` (or ``max_w`` pixels wide),
    with at most 256 colours so that the PDF stores it indexed."""
    from PIL import Image

    with Image.open(path) as src:
        im = src.convert("RGB")
    if crop is not None:
        im = im.crop(crop)
    scale = min(1.0, _MAX_DPI / dpi, (max_w or im.width) / im.width)
    if scale < 1.0:
        im = im.resize(
            (max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.Resampling.LANCZOS
        )
        im = im.quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE).convert("RGB")
    return np.asarray(im)


def _put_image(
    fig, img: np.ndarray, rect: tuple[float, float, float, float]
) -> tuple[float, float, float, float]:
    """Draw ``img`` centred in ``rect`` (x, y, w, h [in]) at its own aspect, unresampled; return where [in]."""
    pw, ph = PAGE_IN
    x, y, w, h = rect
    aspect = img.shape[1] / img.shape[0]
    iw, ih = (w, w / aspect) if w / aspect <= h else (h * aspect, h)
    ax = fig.add_axes(((x + (w - iw) / 2) / pw, (y + (h - ih) / 2) / ph, iw / pw, ih / ph))
    ax.imshow(img, interpolation="none", aspect="auto")
    ax.set_axis_off()
    return (x + (w - iw) / 2, y + (h - ih) / 2, iw, ih)


# -------------------------------------------------------------------------------------- tables


def _fmt(v) -> tuple[str, bool]:
    """Cell text and whether it is a number (right-aligned)."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–", True
    if isinstance(v, bool | np.bool_):
        return ("yes" if v else "no"), False
    if isinstance(v, int | np.integer) or (
        isinstance(v, float | np.floating) and float(v).is_integer() and abs(v) < 1e15
    ):
        return f"{int(v):,}".replace(",", " "), True
    if isinstance(v, float | np.floating):
        return (f"{v:,.0f}".replace(",", " ") if abs(v) >= 1000 else f"{v:.4g}"), True
    return str(v), False


def _pretty(col: str, cjk: bool) -> str:
    name = display_name(str(col), cjk) or str(col)
    for suffix, unit in _UNIT_SUFFIX:
        if name.endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)] + unit
            break
    return name.replace("[km2]", "[km²]").replace("[m3]", "[m³]").replace("_", " ")


def _clean(df: pd.DataFrame, cjk: bool) -> pd.DataFrame:
    """Drop the provenance column, Chinese-only text without a CJK font, and columns left empty."""
    df = df.drop(columns=[c for c in df.columns if c == "source"])
    if not cjk:
        text = [c for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])]
        df = df.astype({c: object for c in text})
        for c in text:
            df[c] = df[c].map(lambda v: display_name(v, False) if isinstance(v, str) else v)
        df = df[[c for c in df.columns if c not in text or not df[c].map(lambda v: v in ("", None)).all()]]
    return df


def _fit_table(header: list[str], cells: list[list[str]], avail_w: float):
    """Font size, wrapped header and cells and column widths [in] that fit ``avail_w``."""
    for fs in (8.0, 7.5, 7.0, 6.5, 6.0):
        for wrap in (60, 40, 28, 18):
            head = [textwrap.fill(h, max(8, min(wrap, 18))) for h in header]
            body = [[textwrap.fill(c, wrap) if len(c) > wrap else c for c in row] for row in cells]
            char = 0.58 * fs / 72.0
            widths = [max(len(line) for t in [head[j]] + [r[j] for r in body] for line in t.split("\n")) * char + 0.16
                      for j in range(len(header))]  # fmt: skip
            if sum(widths) <= avail_w:
                return fs, head, body, widths
    scale = avail_w / sum(widths)
    return fs, head, body, [w * scale for w in widths]


def _table_pages(title: str, caption: str, df: pd.DataFrame, section: str, cjk: bool) -> list[_Page]:
    """The pages of one table: rows split so that no page overflows; the first page is in the contents."""
    df = _clean(df, cjk)
    if df.empty or not len(df.columns):
        return []
    pw, ph = PAGE_IN
    fmt = [[_fmt(v) for v in row] for row in df.astype(object).itertuples(index=False)]
    cells = [[display_name(t, cjk) or t if not num else t for t, num in row] for row in fmt]
    nums = [[num for _, num in row] for row in fmt]
    fs, head, body, widths = _fit_table([_pretty(c, cjk) for c in df.columns], cells, pw - 2 * _MARGIN)
    row_h = lambda texts: max(t.count("\n") + 1 for t in texts) * _line_h(fs) * 0.95 + 0.05  # noqa: E731
    avail = ph - _TABLE_TOP - 0.75 - row_h(head)
    chunks, cur, used = [], [], 0.0
    for i, row in enumerate(body):
        if cur and used + row_h(row) > avail:
            chunks.append(cur)
            cur, used = [], 0.0
        cur.append(i)
        used += row_h(row)
    chunks.append(cur)
    if len(chunks) > 1 and len(chunks[-1]) < 4:  # no page with a few rows only: even out the last two
        both = chunks[-2] + chunks[-1]
        chunks[-2:] = [both[: len(both) // 2 + 1], both[len(both) // 2 + 1 :]]
    pages = []
    for k, idx in enumerate(chunks):
        more = f" (continued, rows {idx[0] + 1}-{idx[-1] + 1} of {len(body)})" if k else ""
        rows = [head] + [body[i] for i in idx]
        right = [[False] * len(head)] + [nums[i] for i in idx]

        def draw(fig, rows=rows, right=right, more=more):
            _head(fig, title + more, section, caption)
            _draw_table(fig, rows, right, widths, [row_h(r) for r in rows], fs)

        pages.append(_Page(title if k == 0 else "", section, draw))
    return pages


def _draw_table(fig, rows, right, widths, heights, fs) -> None:
    from matplotlib.table import Table

    pw, ph = PAGE_IN
    w, h = pw - 2 * _MARGIN, ph - _TABLE_TOP - 0.6
    ax = fig.add_axes((_MARGIN / pw, 0.6 / ph, w / pw, h / ph))
    ax.set_axis_off()
    table = Table(ax, loc="upper left")
    table.AXESPAD = 0.0
    for r, (row, rh) in enumerate(zip(rows, heights, strict=True)):
        for c, text in enumerate(row):
            face = "#e4e4e4" if r == 0 else ("#f4f4f4" if r % 2 == 0 else "white")
            cell = table.add_cell(r, c, width=widths[c] / w, height=rh / h, text=text, facecolor=face, edgecolor="0.65",
                                  loc="right" if right[r][c] else "left")  # fmt: skip
            cell.visible_edges = "horizontal"
            cell.PAD = min(0.1, 0.06 / widths[c])
            cell.get_text().set_fontsize(fs)
            if r == 0:
                cell.get_text().set_fontweight("bold")
    table.auto_set_font_size(False)
    ax.add_table(table)


def _flatten(d: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if k in ("epoch", "epoch_a", "epoch_b", "synthetic"):
            continue
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        elif isinstance(v, list):
            if all(not isinstance(x, dict | list) for x in v):
                out[key] = textwrap.shorten(", ".join(str(x) for x in v), 90)
        else:
            out[key] = textwrap.shorten(v, 200) if isinstance(v, str) else v
    return out


# ------------------------------------------------------------------------------ table catalogue

_TRANS = "Area [km²] that was in the row's class in {a} and is in the column's class in {b}; the diagonal is unchanged ground."
_V = "Accuracy and validation"
#: (section, file-name pattern ({E}: an epoch label), title, caption, columns shown (None: all)).
_CATALOGUE = [
    ("Tables", r"thermal_stability_area_(?P<e>{E})", "Thermal stability classes, {e}",
     "Cells and area [km²] of each class of Cheng (1984); the MAGT range of each class is on the methods page.", None),
    ("Tables", r"ground_ice_units_(?P<e>{E})", "Ground ice by geomorphology unit, {e}",
     "Borehole logs of each unit, where its ice profile comes from, mean volumetric ice content θ [m³ m⁻³] of the "
     "10 m below the permafrost table, permafrost area [km²] and ice volume [m³].", None),
    ("Tables", r"ground_ice_totals_(?P<e>{E})", "Ground-ice totals, {e}",
     "Permafrost area, ice volume in the 10 m below the permafrost table, mean θ and the area of each "
     "ice-content class (GB 50324-2014).", None),
    ("Tables", r"change_(?P<a>{E})_(?P<b>{E})", "Change {a} → {b}: totals",
     "Permafrost area in each epoch, lost and gained [km²]; ground-ice volume lost and gained [m³]; mean change of "
     "MAGT [°C] and ALT [m] over the cells valid in both epochs.", None),
    ("Tables", r"transitions_permafrost_(?P<a>{E})_(?P<b>{E})", "Permafrost transitions {a} → {b}", _TRANS, None),
    ("Tables", r"transitions_thermal_stability_(?P<a>{E})_(?P<b>{E})", "Thermal-stability transitions {a} → {b}", _TRANS, None),
    ("Tables", r"transitions_ice_class_(?P<a>{E})_(?P<b>{E})", "Ice-content-class transitions {a} → {b}", _TRANS, None),
    ("Tables", r"transitions_landcover_(?P<a>{E})_(?P<b>{E})", "Land-cover transitions {a} → {b}", _TRANS, None),
    (_V, r"landcover_accuracy_summary_(?P<e>{E})", "Land-cover accuracy, {e}",
     "Overall accuracy (with its standard error) and Cohen's kappa at the held-out sample points, which did not "
     "train the classifier; n: points held out and points trained on.", None),
    (_V, r"landcover_accuracy_(?P<e>{E})", "Land-cover accuracy by class, {e}",
     "Points trained on and held out; producer's accuracy (1 - omission error) and user's accuracy "
     "(1 - commission error) with standard errors (Olofsson et al. 2014); blank: class not in the held-out points.", None),
    (_V, r"landcover_confusion_(?P<e>{E})", "Land-cover confusion matrix, {e}",
     "Held-out points by reference class (rows) and mapped class (columns).", None),
    (_V, r"magt_cv_(?P<e>{E})", "MAGT cross-validation, {e}",
     "Errors of the regression (mlr) and the random forest (rf) at boreholes left out: one at a time, and 5 km "
     "blocks at a time (Roberts et al. 2017). RMSE and bias [°C]; R² of the left-out predictions.", None),
    (_V, r"magt_validation_(?P<e>{E})", "MAGT at the validation boreholes, {e}",
     "Boreholes never used in fitting: measured and mapped MAGT, the map's standard error and the residual "
     "(mapped - measured) [°C].", ["id", "elevation_m", "landcover", "magt_c", "magt_pred_degC", "magt_se_degC",
                                   "residual_degC"]),
    (_V, r"alt_cv_(?P<e>{E})", "Active-layer thickness at the boreholes, {e}",
     "Measured ALT, the calibrated fit and the leave-one-out prediction [m] at each training borehole, with the "
     "land-cover class and geomorphology unit that set its edaphic factor.",
     ["id", "class_name", "unit_name", "alt_observed_m", "alt_uncalibrated_m", "alt_fitted_m", "alt_loo_m",
      "error_loo_m", "rel_error_loo"]),
    (_V, r"mining_validation_(?P<e>{E})", "Boreholes in mined ground, {e}",
     "Measured and modelled MAGT [°C] (with the natural value the model started from) and ALT [m] at boreholes in "
     "pits and on dumps; relative errors are of the change caused by mining (MAGT) and of the ALT.", None),
]  # fmt: skip
_METRIC_TITLES = {"landcover": "Land cover", "magt": "MAGT", "active_layer": "Active layer", "ground_ice": "Ground ice",
                  "mining": "Mining impact", "change": "Change"}  # fmt: skip


def _area_pages(tables: Path, meta: dict, cjk: bool) -> list[_Page]:
    """One table per class layer: area [km²] and share [%] of each class in each epoch side by side."""
    from pfatlas.atlas.style import LAYERS

    groups = [*meta["epochs"], "grid"]
    found = []
    for p in sorted(tables.glob("area_*.csv")):
        m = re.fullmatch(
            r"area_(?P<layer>.+?)_(?P<g>" + "|".join(map(re.escape, groups)) + r"|[^_]+_[^_]+)", p.stem
        )
        if m and m["layer"] != "by":
            df = pd.read_csv(p)
            found.append((m["layer"], m["g"], df))
    pages = []
    for layer in dict.fromkeys(f[0] for f in found):
        parts = [(g, df) for name, g, df in found if name == layer]
        if all({"class", "area [km2]", "share [%]"} <= set(df.columns) for _, df in parts):
            wide = None
            for g, df in parts:
                df = df[["class", "area [km2]", "share [%]"]].rename(
                    columns={"area [km2]": f"{g}: area [km2]", "share [%]": f"{g}: share [%]"})  # fmt: skip
                wide = df if wide is None else wide.merge(df, on="class", how="outer", sort=False)
            parts = [(", ".join(g for g, _ in parts), wide)]
        title = LAYERS[layer].title if layer in LAYERS else layer
        for g, df in parts:
            pages += _table_pages(f"Area by class: {title} ({g})", "Mapped area of each class [km²] and its share of "
                                  "the cells with a class [%].", df, "Tables", cjk)  # fmt: skip
    return pages


def _catalogue_pages(tables: Path, meta: dict, cjk: bool) -> list[_Page]:
    epochs = "|".join(map(re.escape, meta["epochs"])) or r"[^_]+"
    stems = sorted(p.stem for p in tables.glob("*.csv"))
    pages = []
    for section, pattern, title, caption, cols in _CATALOGUE:
        rx = re.compile(pattern.format(E=epochs))
        for stem in stems:
            m = rx.fullmatch(stem)
            if m is None:
                continue
            df = pd.read_csv(tables / f"{stem}.csv")
            if cols is not None:
                df = df[[c for c in cols if c in df.columns]]
            g = m.groupdict()
            pages += _table_pages(title.format(**g), caption.format(**g), df, section, cjk)
    return pages


def _metric_pages(tables: Path, meta: dict, cjk: bool) -> list[_Page]:
    """The metrics_<stage>_<epoch>.json of each stage in one table, one column per epoch (or pair)."""
    stages: dict[str, dict[str, dict]] = {}
    epochs = "|".join(map(re.escape, meta["epochs"])) or r"[^_]+"
    for p in sorted(tables.glob("metrics_*.json")):
        m = re.fullmatch(rf"metrics_(?P<s>.+?)_(?P<g>(?:{epochs})(?:_(?:{epochs}))?)", p.stem)
        if m is None:
            continue
        try:
            doc = json.loads(p.read_text())
        except json.JSONDecodeError as exc:
            raise InputError(f"not valid JSON: {exc}", path=p) from exc
        stages.setdefault(m["s"], {})[m["g"]] = _flatten(doc) if isinstance(doc, dict) else {}
    pages = []
    for stage, by_group in stages.items():
        keys = list(dict.fromkeys(k for d in by_group.values() for k in d))
        df = pd.DataFrame({"quantity": [display_name(k, cjk) or k for k in keys],
                           **{g: [d.get(k) for k in keys] for g, d in by_group.items()}})  # fmt: skip
        title = f"Metrics of the {_METRIC_TITLES.get(stage, stage)} stage"
        caption = ("As written by the stage to tables/metrics_" + stage + "_<epoch>.json (units in the names: degC °C, "
                   "km2, m3, m); lists of units and classes are in the tables above.")  # fmt: skip
        pages += _table_pages(title, caption, df, _V, cjk)
    return pages


def _score_pages(out: Path, cjk: bool) -> list[_Page]:
    path = out / "score.json"
    if not path.exists():
        return []
    try:
        rows = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc}", path=path) from exc
    df = pd.DataFrame(rows if isinstance(rows, list) else [])
    if "passed" in df:
        df["passed"] = df["passed"].map(lambda v: "–" if v is None or v != v else "yes" if v else "NO")
    caption = ("The atlas made from the demo's synthetic inputs, scored against the synthetic world they were drawn "
               "from (truth maps never read by the pipeline). cells: cells compared; target '-': reported only.")  # fmt: skip
    return _table_pages(
        "Scores against the synthetic truth", caption, df, "Scores against the synthetic truth", cjk
    )


# ------------------------------------------------------------------------------- front matter


def _deg(v: float, pos: str, neg: str) -> str:
    s = round(abs(v) * 3600)
    return f"{s // 3600}°{(s % 3600) // 60:02d}'{s % 60:02d}\"{pos if v >= 0 else neg}"


def _study_facts(out: Path, meta: dict) -> list[tuple[str, str]]:
    """(label, text) facts of the study-area page."""
    cfg = meta["config"]
    (ny, nx), t = meta["shape"], meta["transform"]
    lon0, lon1, lat0, lat1 = _graticule(meta)[0]["lonlat"]  # of the densified grid outline
    mapped = count_valid(out / "grid" / "dem.tif")  # cells with an elevation, window by window
    cell = abs(t[0] * t[4])
    facts = [
        ("Area", meta["area"] + ("  —  SYNTHETIC data, not real observations" if meta["synthetic"] else ""))
    ]
    bbox = meta.get("bbox")
    if bbox and len(bbox) == 4:
        facts.append(("Requested extent", f"{_deg(bbox[0], 'E', 'W')} – {_deg(bbox[2], 'E', 'W')}, "
                                          f"{_deg(bbox[1], 'N', 'S')} – {_deg(bbox[3], 'N', 'S')} (WGS 84, config [area] bbox)"))  # fmt: skip
    facts += [
        ("Extent of the grid", f"{_deg(lon0, 'E', 'W')} – {_deg(lon1, 'E', 'W')}, "
                               f"{_deg(lat0, 'N', 'S')} – {_deg(lat1, 'N', 'S')} (WGS 84)"),
        ("Grid", f"{meta['crs_name']}" + (f" (EPSG:{meta['epsg']})" if meta["epsg"] else "")
                 + f", {nx} x {ny} cells of {abs(t[0]):g} m, north up"),
        ("Area of the grid", f"{nx * ny * cell / 1e6:,.1f} km², of which {mapped * cell / 1e6:,.1f} km² "
                             "have an elevation (mapped)".replace(",", " ")),
    ]  # fmt: skip
    eps = [e for e in cfg.get("epochs", []) if "label" in e]
    if eps:
        facts.append(
            (
                "Epochs",
                "; ".join(
                    f"{e['label']} (Landsat {e.get('start', '?')} to {e.get('end', '?')})" for e in eps
                ),
            )
        )
    elif meta["epochs"]:
        facts.append(("Epochs", ", ".join(meta["epochs"])))
    inputs = cfg.get("inputs", {})
    if inputs:
        names = lambda v: ", ".join(Path(str(x)).name for x in (v if isinstance(v, list) else [v]))  # noqa: E731
        facts.append(("Inputs", "; ".join(f"{k.replace('_', ' ')}: {names(v)}" for k, v in inputs.items())))
    tables = out / "tables"
    if (tables / "boreholes.csv").exists():
        bh = pd.read_csv(tables / "boreholes.csv")
        setting = bh["setting"].astype(str) if "setting" in bh else pd.Series(["natural"] * len(bh))
        mined = setting[setting != "natural"].value_counts()
        text = f"{len(bh)} in the atlas: {int((setting == 'natural').sum())} in natural ground"
        if len(mined):
            text += (
                f", {int(mined.sum())} in mined ground ("
                + ", ".join(f"{n} {k}" for k, n in mined.items())
                + ")"
            )
        if (tables / "boreholes_validation.csv").exists():
            text += f"; {len(pd.read_csv(tables / 'boreholes_validation.csv'))} held-out validation boreholes"
        if (tables / "borehole_logs.csv").exists():
            logs = pd.read_csv(tables / "borehole_logs.csv")
            ids = logs.iloc[:, 0].nunique() if len(logs.columns) else 0
            text += f"; ground-ice logs of {ids} boreholes ({len(logs)} layers)"
        facts.append(("Boreholes", text))
    if (tables / "samples.csv").exists():
        sm = pd.read_csv(tables / "samples.csv")
        if "epoch" in sm:
            facts.append(
                (
                    "Land-cover samples",
                    ", ".join(f"{n} points in {e}" for e, n in sm["epoch"].value_counts(sort=False).items()),
                )
            )
    clim = cfg.get("climate", {})
    if clim.get("station_name"):
        facts.append(("Climate station", f"{clim['station_name']}, {clim.get('station_elevation_m', '?')} m, MAAT "
                      f"{clim.get('station_maat_c', '?')} °C, thawing index {clim.get('station_thawing_index_cdays', '?')} "
                      f"°C·d, lapse rate {clim.get('lapse_rate_c_per_km', '?')} °C/km"))  # fmt: skip
    if (tables / "mining_features.csv").exists():
        facts.append(
            (
                "Mining",
                f"{len(pd.read_csv(tables / 'mining_features.csv'))} pits and dumps (tables/mining_features.csv)",
            )
        )
    return facts


def _methods(cfg: dict) -> list[tuple[str, str]]:
    """Short text per stage (from docs/methods.md), with the values of this atlas's config."""
    lc, mg, ts, al = (
        cfg.get("landcover", {}),
        cfg.get("magt", {}),
        cfg.get("thermal_stability", {}),
        cfg.get("active_layer", {}),
    )
    gi, mi, cl = cfg.get("ground_ice", {}), cfg.get("mining", {}), cfg.get("climate", {})
    breaks = ", ".join(f"{b:g}" for b in ts.get("breaks", [-5.0, -3.0, -1.5, -0.5, 0.0]))
    months = ", ".join(str(m) for m in cfg.get("composite", {}).get("months", [6, 7, 8, 9]))
    return [
        ("Grid and terrain", "All layers share one north-up grid in the UTM zone of the area's centre "
         f"({cfg.get('area', {}).get('resolution', 30):g} m cells). Inputs are warped onto it once (bilinear for "
         "continuous data, nearest for classes). Slope and aspect are Horn's (1981) finite differences."),
        ("Growing-season composite", f"Landsat Collection 2 Level-2 scenes of months {months} of each epoch; clouds, "
         "shadows, snow, fill and saturated pixels are masked with QA_PIXEL and QA_RADSAT, and each cell keeps the "
         "median of its clear looks; NDVI, EVI, SAVI, NDWI, MNDWI, NDMI, NBR and the surface temperature follow."),
        ("Land cover", f"A random forest (Breiman 2001) of {lc.get('n_estimators', 300)} trees per epoch on 21 features "
         "(reflectances, indices, surface temperature, elevation, slope, aspect, relief at two radii, height above the "
         "local minimum), trained on sample plots; "
         + ("each cell's classes in all epochs are then decided together (compound classification, Swain 1978; "
            f"prior probability of a change between epochs {lc.get('change_prior', 0.2)}), so classification "
            "errors do not appear as change; " if lc.get("compound_epochs", True) else "")
         + f"{100 * lc.get('validation_fraction', 0.3):.0f} % of the points of each class are held out. Accuracy: "
         "overall, kappa, producer's and user's accuracy with standard errors (Congalton & Green 2019; Olofsson et al. 2014)."),
        ("Mean annual ground temperature (MAGT)", "The six factors of the record (elevation, longitude, latitude, slope, "
         "aspect, land cover) explain the MAGT at natural boreholes, by multiple linear regression or a random forest; "
         + ("the forest is chosen only if its leave-one-out error is lower by more than one standard error. "
            if mg.get("model", "auto") == "auto" else f"the config sets the model ({mg['model']}). ") + "Errors are also "
         f"reported for {mg.get('cv_block_km', 5.0):g} km spatial blocks (Roberts et al. 2017). The map carries a per-cell "
         "standard error (SE)."),
        ("Permafrost and thermal stability", "Permafrost where MAGT < 0 °C; its probability is Φ(−MAGT / SE). Thermal "
         f"stability classes of Cheng (1984) by MAGT breaks {breaks} °C: extremely stable, stable, sub-stable, "
         "transitional, unstable, no permafrost (a value on a break belongs to the warmer class)."),
        ("Active-layer thickness (ALT)", ("Stefan solution: ALT = E √(2 kₜ nₜ I / (L ρ (w − wᵤ))) (kₜ, nₜ: thawed "
         "conductivity and n-factor; L: latent heat of fusion; ρ: dry density; w, wᵤ: total and unfrozen water content)"
         if al.get("method", "stefan") == "stefan" else "Kudryavtsev et al. (1974) solution as given by Romanovsky & "
         "Osterkamp (1997), times an edaphic factor E") + ", with the thawing index I of a sinusoidal year "
         + (f"fitted to the climate station {cl.get('station_name', '')} and moved to each cell by a lapse rate of "
            f"{cl.get('lapse_rate_c_per_km', 5.6):g} °C/km" if cl.get("thawing_index_source", "station") == "station"
            else "whose mean is the growing-season land surface temperature") +
         ", soil properties per land-cover class, and E calibrated at the boreholes "
         f"({al.get('calibration', 'per_class_and_unit').replace('_', ' ')}: land-cover and geomorphology-unit effects "
         "pooled towards the overall factor); leave-one-out errors are reported."),
        ("Ground ice", "For each geomorphology unit, the mean ice-content profile of its borehole logs, θ = max(w − wᵤ, 0) "
         f"ρ / ρᵢ (ρᵢ: density of ice), is averaged over the {gi.get('depth_below_table_m', 10.0):g} m below the permafrost table (the "
         "ALT) of each cell; ice volume = θ x depth x cell area. Ice-content classes after GB 50324-2014 from the "
         "dominant soil and its water content: less-ice, ice-moderate, ice-rich, ice-saturated, ice layer with soil."),
        ("Mining impact", "Each pit and dump is a disc on an axisymmetric heat-conduction (enthalpy) model verified "
         "against Neumann's solution (Carslaw & Jaeger 1959; Lunardini 1981): pit floors and walls held "
         f"{mi.get('pit_floor_warming_c', 1.5):g} °C, dump surfaces {mi.get('dump_surface_warming_c', 1.2):g} °C above "
         "the natural MAGT (less the lapse over the dump's height), for the years the feature has acted. The MAGT "
         "change at the depth of zero annual amplitude is mapped by the distance from each footprint; permafrost, "
         "stability, ALT and ground ice follow from the new MAGT."),
        ("Change", "For each pair of epochs: differences of the continuous layers (later minus earlier, cells valid in "
         "both), transition matrices of the class layers in km² and the permafrost transition map (stable, lost, "
         "new, never); totals of permafrost area and ground-ice volume lost and gained."),
        ("References", "Breiman L. (2001) Mach. Learn. 45:5-32. Carslaw H.S. & Jaeger J.C. (1959) Conduction of Heat in "
         "Solids, Oxford. Cheng G. (1984) Acta Geogr. Sin. 39(2):185-193. Congalton R.G. & Green K. (2019) Assessing the "
         "Accuracy of Remotely Sensed Data, CRC. GB 50324-2014 Code for engineering geological investigation of frozen "
         "ground. Horn B.K.P. (1981) Proc. IEEE 69(1):14-47. Lunardini V.J. (1981) Heat Transfer in Cold Climates. "
         "Olofsson P. et al. (2014) Remote Sens. Environ. 148:42-57. Roberts D.R. et al. (2017) Ecography 40:913-929. "
         "Equations, defaults and measured errors: docs/methods.md of pfatlas."),
    ]  # fmt: skip


def _cover(fig, meta: dict, index: list[dict], out: Path) -> None:
    pw, ph = PAGE_IN
    fig.text(_MARGIN / pw, (ph - 0.9) / ph, "Permafrost atlas", fontsize=34, fontweight="bold", va="top")
    fig.text(_MARGIN / pw, (ph - 1.65) / ph, meta["area"], fontsize=20, va="top")
    what = ("Land cover, ground temperature, permafrost and its thermal stability, active layer, ground ice and the "
            "impact of mining, on a 30 m grid")  # fmt: skip
    fig.text(
        _MARGIN / pw, (ph - 2.2) / ph, "\n".join(_wrap(what, 4.6, 11)), fontsize=11, va="top", color="0.25"
    )
    epochs = ", ".join(meta["epochs"])
    lines = [f"Epochs: {epochs}", f"Built {meta['date']} with pfatlas {meta['version']}",
             f"{meta['crs_name']}" + (f" (EPSG:{meta['epsg']})" if meta["epsg"] else "")]  # fmt: skip
    fig.text(_MARGIN / pw, (ph - 3.5) / ph, "\n".join(lines), fontsize=10, va="top", linespacing=1.6)
    if meta["synthetic"]:
        from matplotlib.patches import Rectangle

        fig.patches.append(Rectangle((_MARGIN / pw, 1.0 / ph), 4.7 / pw, 1.25 / ph, transform=fig.transFigure,
                                     facecolor=_RED, edgecolor="none"))  # fmt: skip
        fig.text(
            (_MARGIN + 0.2) / pw,
            1.95 / ph,
            "SYNTHETIC",
            fontsize=30,
            fontweight="bold",
            color="white",
            va="top",
        )
        fig.text((_MARGIN + 0.2) / pw, 1.35 / ph, meta["note"].replace(" — ", "\n"), fontsize=9.5, color="white",
                 va="center", linespacing=1.3)  # fmt: skip
    pick = [e for e in index if e["layer"] == "landcover" and e["kind"] == "epoch"] or index
    if pick:
        e = pick[-1]
        img = _image(out / e["path"], e["dpi"], crop=tuple(e["map_box"]), max_w=1100)
        ix, iy, iw, _ = _put_image(fig, img, (5.8, 1.6, pw - 5.8 - _MARGIN, ph - 2.6))
        fig.text(
            ix / pw,
            (iy - 0.08) / ph,
            f"{e['title']} (plate {e['number']})",
            fontsize=8,
            color="0.35",
            va="top",
        )


def _entries(pages: list[_Page], n_contents: int) -> list[tuple[int, str, int]]:
    """Contents lines (level, title, page number) with ``n_contents`` pages of contents after the cover."""
    entries, section = [], None
    for k, page in enumerate(pages):
        number = 2 + n_contents + k
        top = page.section.split(":")[0]
        front = top in ("Study area and data", "Methods")
        if top != section and not front:
            entries.append((0, top, number))
        section = top
        if page.title:
            entries.append((0 if front else 1, page.title, number))
    return entries


def _contents(entries: list[tuple[int, str, int]], per_page: int) -> list[list[tuple[int, str, int]]]:
    """Contents lines split into pages of two columns, balanced so that no page holds a few lines only."""
    pages = max(1, math.ceil(len(entries) / per_page))
    per = 2 * math.ceil(len(entries) / (2 * pages))  # two full columns of equal length per page
    return [entries[i : i + per] for i in range(0, len(entries), per)] or [[]]


def _draw_contents(fig, entries: list[tuple[int, str, int]], first: bool) -> None:
    pw, ph = PAGE_IN
    _head(fig, "Contents" if first else "Contents (continued)", "")
    size, col_w, rows = 8.5, (pw - 2 * _MARGIN - 0.5) / 2, math.ceil(len(entries) / 2)
    for i, (level, title, page) in enumerate(entries):
        col, r = divmod(i, rows)
        x = _MARGIN + col * (col_w + 0.5)
        y = ph - 1.2 - r * _line_h(size) * 1.15
        bold = level == 0
        text = textwrap.shorten(title, _chars(col_w - 0.6 - 0.25 * level, size))
        fig.text((x + 0.25 * level) / pw, y / ph, text, fontsize=size + (0.5 if bold else 0), va="top",
                 fontweight="bold" if bold else "normal")  # fmt: skip
        fig.text((x + col_w) / pw, y / ph, str(page), fontsize=size, va="top", ha="right")


def _contents_rows() -> int:
    return int((PAGE_IN[1] - 1.2 - 0.6) / (_line_h(8.5) * 1.15))


def _plate_page(entry: dict, out: Path) -> _Page:
    def draw(fig):
        _put_image(fig, _image(out / entry["path"], entry["dpi"]), (0.0, 0.35, PAGE_IN[0], PAGE_IN[1] - 0.35))

    return _Page(
        f"Plate {entry['number']}. {entry['title']}", f"Plates: {entry['section']}", draw, plate=True
    )


# ----------------------------------------------------------------------------------------- main


def write_atlas_pdf(out: str | Path) -> Path:
    """Write ``OUT/atlas.pdf`` (see the module docstring) and return its path.

    Uses the plates of ``OUT/plates/plates.json``, drawing them first (:func:`render_plates`) when there
    are none.
    """
    from matplotlib import rc_context
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.figure import Figure

    out = Path(out)
    meta = atlas_meta(out)
    if not (out / "plates" / "plates.json").exists():
        render_plates(out)
    index = [e for e in plate_index(out) if (out / e["path"]).exists()]
    cjk = bool(cjk_font())
    tables = out / "tables"
    front = [
        _Page("Study area and data", "Study area and data", lambda fig: _draw_study(fig, out, meta, index)),
        *[_Page("Methods" if k == 0 else "", "Methods", lambda fig, cols=cols, k=k: (
            _head(fig, "Methods" if k == 0 else "Methods (continued)", "Methods"), _draw_columns(fig, cols)))
          for k, cols in enumerate(_blocks_pages(_methods(meta["config"])))],
    ]  # fmt: skip
    body = [_plate_page(e, out) for e in index]
    if tables.is_dir():
        body += (
            _area_pages(tables, meta, cjk)
            + _catalogue_pages(tables, meta, cjk)
            + _metric_pages(tables, meta, cjk)
        )
    body += _score_pages(out, cjk)
    pages = front + body
    per_page = 2 * _contents_rows()
    entries = _entries(pages, 1)
    entries = _entries(pages, len(_contents(entries, per_page)))
    contents = _contents(entries, per_page)
    drawers = [_Page("", "", lambda fig: _cover(fig, meta, index, out))]
    drawers += [
        _Page("", "", lambda fig, c=c, i=i: _draw_contents(fig, c, i == 0)) for i, c in enumerate(contents)
    ]
    drawers += pages
    dst = out / PDF_FILE
    tmp = dst.with_name(f".{PDF_FILE}.{os.getpid()}.tmp")
    info = {"Title": f"Permafrost atlas: {meta['area']}", "Author": "pfatlas", "Creator": f"pfatlas {meta['version']}",
            "Subject": ("SYNTHETIC demo atlas, not real observations: " if meta["synthetic"] else "")
            + f"land cover, MAGT, permafrost, active layer, ground ice, mining impact; epochs {', '.join(meta['epochs'])}",
            "Keywords": "permafrost; atlas; pfatlas" + ("; synthetic" if meta["synthetic"] else ""),
            "CreationDate": _dt.datetime.now(_dt.UTC).replace(microsecond=0)}  # fmt: skip
    try:
        with rc_context(plot_rc(cjk_font())), PdfPages(tmp, metadata=info) as pdf:
            for k, page in enumerate(drawers):
                fig = Figure(figsize=PAGE_IN)
                page.draw(fig)
                if k:
                    _foot(fig, meta, k + 1, len(drawers), page.plate)
                pdf.savefig(fig)
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
    return dst


def _draw_study(fig, out: Path, meta: dict, index: list[dict]) -> None:
    pw, ph = PAGE_IN
    _head(fig, "Study area and data", "Study area and data")
    y, size, w = ph - 1.25, 8.6, 4.9
    for label, text in _study_facts(out, meta):
        fig.text(_MARGIN / pw, y / ph, label, fontsize=size, fontweight="bold", va="top")
        lines = _wrap(text, w - 1.55, size)
        fig.text((_MARGIN + 1.55) / pw, y / ph, "\n".join(lines), fontsize=size, va="top", linespacing=1.3)
        y -= _line_h(size) * 1.0 * len(lines) + 0.12
    dem = [e for e in index if e["layer"] == "dem"]
    if dem:
        e = dem[0]
        ix, iy, iw, _ = _put_image(fig, _image(out / e["path"], e["dpi"], crop=tuple(e["map_box"]), max_w=1300),
                                   (_MARGIN + w + 0.3, 1.3, pw - 2 * _MARGIN - w - 0.3, ph - 2.6))  # fmt: skip
        cap = (f"Elevation with shaded relief, and the boreholes (circles: natural ground, triangles: pits and "
               f"dumps) and outlines of pits and dumps the atlas has; legend, scale and graticule on plate {e['number']}.")  # fmt: skip
        fig.text(ix / pw, (iy - 0.08) / ph, "\n".join(_wrap(cap, iw, 8)), fontsize=8,
                 color="0.3", va="top")  # fmt: skip
