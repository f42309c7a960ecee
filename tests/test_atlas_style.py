"""One colour scale per layer across epochs (pfatlas.atlas.style), on the tiny atlas."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio

from atlas_fixture import LANDCOVER, make_atlas
from pfatlas.atlas.style import _nice_step, colorize, layer_files, load_styles, resolve_styles, write_styles


@pytest.fixture(scope="module")
def atlas(tmp_path_factory):
    return make_atlas(tmp_path_factory.mktemp("style") / "atlas")


def _all_values(paths):
    vals = []
    for p in paths:
        with rasterio.open(p) as src:
            a = src.read(1).astype("float64")
        vals.append(a[np.isfinite(a)])
    return np.concatenate(vals)


def test_layers_are_found_in_epochs_change_and_grid_but_not_natural(atlas):
    (atlas / "inputs").mkdir()
    (atlas / "inputs" / "dem.tif").write_bytes(b"")  # the demo's input DEM is not a layer
    (atlas / "2020" / "natural").mkdir()
    (atlas / "2020" / "natural" / "magt.tif").write_bytes(b"")
    files = layer_files(atlas)
    assert [p.parent.name for p in files["magt"]] == ["2000", "2020"]
    assert files["delta_magt"][0].parent.name == "2000_2020"
    assert "dem" in files and "mining_zone" in files
    assert [p.parent.name for p in files["dem"]] == ["grid"]
    (atlas / "inputs" / "dem.tif").unlink()
    (atlas / "inputs").rmdir()
    (atlas / "2020" / "natural" / "magt.tif").unlink()
    (atlas / "2020" / "natural").rmdir()


def test_one_scale_over_all_epochs_diverging_centred_on_zero(atlas):
    s = resolve_styles(atlas)
    magt = s["magt"]
    v = _all_values(layer_files(atlas)["magt"])
    # symmetric about 0 and wide enough for the 98th percentile of |MAGT| over both epochs
    assert magt.center == 0.0 and magt.vmin == -magt.vmax
    assert magt.vmax >= np.percentile(np.abs(v[v != 0]), 98)
    assert magt.norm()(0.0) == pytest.approx(0.5)
    # sequential: both limits over both epochs, rounded outward to a readable step
    alt = s["alt"]
    v = _all_values(layer_files(atlas)["alt"])
    assert alt.center is None
    assert alt.vmin <= np.percentile(v, 2) < np.percentile(v, 98) <= alt.vmax
    assert alt.vmin > 0.0  # the data start near 1.9 m: the scale is not stretched down to 0
    # a fixed limit stays fixed: probabilities on 0..1
    assert (s["permafrost_probability"].vmin, s["permafrost_probability"].vmax) == (0.0, 1.0)
    # a mining change is 0 on most cells: the scale comes from the changed cells
    assert s["mining_delta_magt"].vmax >= 1.0


def test_class_colours_and_names_come_from_the_cog(atlas):
    lc = resolve_styles(atlas)["landcover"]
    assert lc.kind == "class"
    assert lc.classes == {c.value: (c.name, "#{:02x}{:02x}{:02x}".format(*c.color)) for c in LANDCOVER}
    rgba = colorize(np.array([[1, 7, 255]], dtype="uint8"), lc)
    assert rgba[0, 0].tolist() == [46, 125, 91, 255] and rgba[0, 1].tolist() == [141, 90, 59, 255]
    assert rgba[0, 2, 3] == 0  # nodata is transparent


def test_styles_round_trip_through_the_json(atlas):
    s = resolve_styles(atlas)
    path = write_styles(atlas, s)
    assert path.name == "atlas_style.json"
    assert load_styles(atlas) == s


def test_colorize_continuous_ends_and_nodata(atlas):
    magt = resolve_styles(atlas)["magt"]
    rgba = colorize(np.array([[magt.vmin, 0.0, magt.vmax, np.nan]]), magt)
    cmap = magt.colormap()
    assert rgba[0, 0].tolist() == list(cmap(0.0, bytes=True))
    assert rgba[0, 2].tolist() == list(cmap(1.0, bytes=True))
    assert rgba[0, 3, 3] == 0


@pytest.mark.parametrize(("x", "step"), [(0.07, 0.1), (0.2, 0.2), (0.21, 0.25), (3.0, 5.0), (600.0, 1000.0)])
def test_nice_step(x, step):
    assert _nice_step(x) == pytest.approx(step)
