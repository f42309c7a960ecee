"""The PDF atlas (pfatlas.atlas.pdf) on the tiny atlas: file, pages, metadata, optional tables, errors.

No PDF reader is a dependency: pages are counted as the ``/Type /Page`` objects Matplotlib writes
(uncompressed dictionaries) and checked against the ``/Count`` of the page tree.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from atlas_fixture import make_atlas
from pfatlas.atlas import pdf as D
from pfatlas.atlas.plates import PAGE_IN, plate_index, render_plates
from pfatlas.errors import MissingInputError


def _pages(path: Path) -> int:
    data = path.read_bytes()
    assert data[:5] == b"%PDF-" and data.rstrip().endswith(b"%%EOF")
    n = len(re.findall(rb"/Type /Page\b", data))
    assert re.search(rb"/Type /Pages\b.*?/Count (\d+)", data, re.S)[1] == str(n).encode()
    return n


@pytest.fixture(scope="module")
def atlas(tmp_path_factory):
    out = make_atlas(tmp_path_factory.mktemp("pdf") / "atlas")
    render_plates(out, dpi=50, workers=1)
    return out


def test_atlas_pdf_pages_metadata_and_size(atlas, tmp_path):
    before = dict(matplotlib.rcParams)
    path = D.write_atlas_pdf(atlas)
    assert dict(matplotlib.rcParams) == before
    assert path == atlas / "atlas.pdf" and not list(atlas.glob(".atlas.pdf*"))
    n = _pages(path)
    plates = len(plate_index(atlas))
    # cover, contents, study area, methods, the plates, then at least the fixture's two tables
    assert n >= 4 + plates + 2
    data = path.read_bytes()
    assert b"/Author (pfatlas)" in data
    assert b"/Title (Permafrost atlas: tiny test atlas \\(synthetic\\))" in data
    assert re.search(rb"/Subject \(SYNTHETIC demo atlas, not real observations", data)
    assert re.search(rb"/CreationDate \(D:\d{14}", data)
    assert path.stat().st_size < 50e6
    # the plates are embedded as indexed (<= 256 colour) images, one per plate page at least
    assert len(re.findall(rb"/ColorSpace \[ */Indexed", data)) >= plates


def test_missing_optional_tables_do_not_fail(atlas, tmp_path):
    out = tmp_path / "atlas"
    shutil.copytree(atlas, out)
    (out / "atlas.pdf").unlink(missing_ok=True)
    shutil.rmtree(out / "tables")
    n_bare = _pages(D.write_atlas_pdf(out))
    assert n_bare >= 4 + len(plate_index(out))
    # a score file (demo only) adds its page; an area table and a metrics file add theirs
    (out / "score.json").write_text(json.dumps([{"epoch": "2000", "metric": "MAGT RMSE vs truth map [degC]",
                                                 "value": 0.36, "target": "<= 0.5", "passed": True, "cells": 6144}]))  # fmt: skip
    (out / "tables").mkdir()
    pd.DataFrame(
        {"code": [1, 2], "class": ["a", "b"], "area [km2]": [1.0, 2.0], "share [%]": [33.3, 66.7]}
    ).to_csv(out / "tables" / "area_landcover_2000.csv", index=False)
    (out / "tables" / "metrics_magt_2000.json").write_text(json.dumps({"epoch": "2000", "rmse_degC": 0.3}))
    assert _pages(D.write_atlas_pdf(out)) == n_bare + 3


def test_plates_are_drawn_when_missing(tmp_path):
    out = make_atlas(tmp_path / "atlas")
    for d in ("2020", "change"):
        shutil.rmtree(out / d)
    for p in [*out.glob("2000/*"), *out.glob("grid/geomorphology*")]:
        if p.name != "magt.tif":
            p.unlink()
    assert not (out / "plates").exists()
    D.write_atlas_pdf(out)
    assert [e["path"] for e in plate_index(out)] == ["plates/grid_dem.png", "plates/2000_magt.png"]
    assert _pages(out / "atlas.pdf") >= 4 + 2


def test_missing_dem_is_a_clear_error(tmp_path):
    out = make_atlas(tmp_path / "atlas")
    (out / "grid" / "dem.tif").unlink()
    with pytest.raises(MissingInputError, match="grid/dem.tif"):
        D.write_atlas_pdf(out)
    assert not (out / "atlas.pdf").exists()


def test_long_tables_continue_on_pages_that_they_fit():
    df = pd.DataFrame({"id": [f"BH{i:03d}" for i in range(130)], "class_name": ["alpine swamp meadow"] * 130,
                       "value_m": np.linspace(0.5, 4.0, 130), "note": ["a longer text cell " * 4] * 130})  # fmt: skip
    pages = D._table_pages("A long table", "Caption.", df, "Tables", cjk=False)
    assert len(pages) >= 3
    assert [bool(p.title) for p in pages] == [True] + [False] * (len(pages) - 1)  # one contents entry
    pw, ph = PAGE_IN
    rows = 0
    for page in pages:
        fig = Figure(figsize=PAGE_IN, dpi=72)
        canvas = FigureCanvasAgg(fig)
        page.draw(fig)
        canvas.draw()
        (table,) = [t for ax in fig.axes for t in ax.tables]
        box = table.get_window_extent(canvas.get_renderer())
        # inside the page, above the footer (0.45 in) and below the caption
        assert box.x0 >= 0 and box.x1 <= pw * 72 + 1e-6 and box.y0 >= 0.45 * 72 and box.y1 <= (ph - 1.2) * 72
        rows += len({r for r, _ in table.get_celld()}) - 1
    assert rows == 130


def test_cells_and_names():
    assert D._fmt(13360973383.47) == ("13 360 973 383", True)
    assert D._fmt(0.336759) == ("0.3368", True)
    assert D._fmt(float("nan")) == ("–", True)
    assert D._fmt(55.0) == ("55", True)
    assert D._fmt("alpine meadow") == ("alpine meadow", False)
    assert D._pretty("rmse_degC", cjk=False) == "rmse [°C]"
    assert D._pretty("permafrost [km2]", cjk=False) == "permafrost [km²]"
    df = pd.DataFrame({"name_en": ["stable"], "name_zh": ["稳定型"], "source": ["synthetic"]})
    assert list(D._clean(df, cjk=False).columns) == ["name_en"]  # no CJK font: the Chinese-only column goes
    assert list(D._clean(df, cjk=True).columns) == ["name_en", "name_zh"]
