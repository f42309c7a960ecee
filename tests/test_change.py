"""Change between epochs: a transition matrix counted by hand, blockwise == numpy at odd chunks,
NaN-propagating differences, ice volume lost by hand, the permafrost transition codes, the build
stage on a hand-made two-epoch OUT folder, and its bad-input errors.

Every grid here has 30 m cells: one cell is 900 m2 = 0.0009 km2, so an area is (cells) x 0.0009.
"""

import dataclasses
import json

import dask.array as dsa
import numpy as np
import pandas as pd
import pytest
import rasterio
from odc.geo.geobox import GeoBox
from rasterio import Affine

from pfatlas.build.context import make_context
from pfatlas.build.stage_change import epoch_pairs, run_change, stages
from pfatlas.change import (
    class_lut,
    ice_volume_sums,
    layer_difference,
    mean_from_sum_count,
    permafrost_totals,
    permafrost_transition,
    permafrost_transition_kernel,
    transition_counts,
    transition_table,
    valid_sum_count,
)
from pfatlas.config.schema import Config
from pfatlas.errors import GridMismatchError, InputError, MissingInputError
from pfatlas.grid import grid_from_bbox, wrap_on_grid
from pfatlas.io.cog import ClassInfo, write_cog
from pfatlas.permafrost import PERMAFROST_CLASSES

KM2 = 0.0009  # [km2] one 30 m cell
BBOX = (99.25, 38.05, 99.2512, 38.0512)  # a 6 x 5 grid of 30 m cells in UTM 47N (checked below)
N = 255  # class nodata

# land cover of epoch A and B (codes 1-3 in A; 1, 2 and 4 in B; 255 nodata), 6 rows x 5 columns
LC_A = np.array(
    [[1, 1, 1, 2, 2],
     [1, 1, 1, 2, 2],
     [1, 1, 2, 2, 2],
     [3, 3, 3, 2, 2],
     [3, 3, 3, 2, 2],
     [3, 3, 3, N, N]], dtype="uint8")  # fmt: skip
LC_B = np.array(
    [[1, 1, 2, 2, 2],
     [1, 1, 2, 2, 2],
     [2, 2, 2, 2, 2],
     [4, 4, 2, 2, 2],
     [4, 4, 2, 2, 2],
     [4, 4, N, 2, N]], dtype="uint8")  # fmt: skip
# counted cell by cell: A=1 (8 cells) -> B 1: 4 (rows 0-1, cols 0-1), B 2: 4; A=2 (11) -> 2: 11;
# A=3 (9) -> 4: 6, 2: 2, nodata: 1 (row 5 col 2); A nodata (2) -> 2: 1 (row 5 col 3), nodata: 1
LC_COUNTS = {(1, 1): 4, (1, 2): 4, (2, 2): 11, (3, 4): 6, (3, 2): 2, (3, N): 1, (N, 2): 1}

# permafrost (0 no, 1 yes, 255 nodata) of A and B, and the transition codes by hand
PF_A = np.array(
    [[1, 1, 1, 1, 1],
     [1, 1, 1, 1, 1],
     [1, 1, 1, 0, 0],
     [0, 0, 0, 0, 0],
     [0, 0, 0, 0, 0],
     [N, 0, 0, 0, 0]], dtype="uint8")  # fmt: skip
PF_B = np.array(
    [[1, 1, 1, 1, 1],
     [1, 1, 0, 0, 0],
     [1, 0, 0, 0, 1],
     [0, 0, 0, 0, 0],
     [0, 0, 0, 0, 1],
     [N, 0, 0, 0, 0]], dtype="uint8")  # fmt: skip
PF_TRANSITION = np.array(
    [[1, 1, 1, 1, 1],
     [1, 1, 2, 2, 2],
     [1, 2, 2, 4, 3],
     [4, 4, 4, 4, 4],
     [4, 4, 4, 4, 3],
     [N, 4, 4, 4, 4]], dtype="uint8")  # fmt: skip
# yes -> yes 8, yes -> no 5 (row 1 cols 2-4, row 2 cols 1-2), no -> yes 2 ((2, 4), (4, 4)),
# no -> no 14, nodata in both 1 (not in the table): A has 13 permafrost cells, B 10


def _gbox(ny=6, nx=5):
    return GeoBox((ny, nx), Affine(30.0, 0.0, 500000.0, 0.0, -30.0, 4200000.0), "EPSG:32647")


def _da(arr, gbox=None, chunks=None, units="class"):
    da = wrap_on_grid(arr, gbox or _gbox(*arr.shape), "x", units=units, long_name="test layer")
    if chunks is None:
        return da
    cy, cx = chunks if isinstance(chunks, tuple) else (chunks, chunks)
    return da.chunk({"y": cy, "x": cx})


# --- library ----------------------------------------------------------------------------------------


def test_transition_matrix_by_hand_keeps_absent_classes_and_adds_nodata_when_it_differs():
    names = {1: "swamp", 2: "meadow", 3: "steppe", 4: "water", 5: "bare"}  # 5: in neither epoch
    counts = transition_counts(_da(LC_A), _da(LC_B), list(names), list(names))
    df = transition_table(counts, names, names, cell_area_m2=900.0, label_a="2000", label_b="2020")
    assert list(df.columns) == ["2000 (rows) / 2020 (columns)"] + [
        f"{n} [km2]" for n in ("swamp", "meadow", "steppe", "water", "bare", "nodata")
    ]
    assert list(df.iloc[:, 0]) == ["swamp", "meadow", "steppe", "water", "bare", "nodata"]
    idx = {1: 0, 2: 1, 3: 2, 4: 3, 5: 4, N: 5}
    expected = np.zeros((6, 6))
    for (a, b), n in LC_COUNTS.items():
        expected[idx[a], idx[b]] = n * KM2
    expected[5, 5] = 0.0  # nodata in both epochs: outside the map, not counted
    np.testing.assert_allclose(df.iloc[:, 1:].to_numpy(), expected, rtol=1e-12)  # n x 0.0009 exactly
    assert df["steppe [km2]"].sum() == 0 and df.iloc[3, 1:].sum() == 0  # steppe gone in B, water new


def test_transition_table_has_no_nodata_row_when_nodata_is_the_same_in_both():
    names = {0: "no permafrost", 1: "permafrost"}
    df = transition_table(
        transition_counts(_da(PF_A), _da(PF_B), [0, 1], [0, 1]),
        names,
        names,
        cell_area_m2=900.0,
        label_a="a",
        label_b="b",
    )
    assert list(df.iloc[:, 0]) == ["no permafrost", "permafrost"]
    np.testing.assert_allclose(df.iloc[:, 1:].to_numpy(), np.array([[14, 2], [5, 8]]) * KM2, rtol=1e-12)


def test_blockwise_counts_equal_numpy_at_odd_chunks():
    rng = np.random.default_rng(3)
    a = rng.choice(np.array([0, 2, 3, 7, N], dtype="uint8"), size=(20, 23))
    b = rng.choice(np.array([0, 2, 3, 7, 9, N], dtype="uint8"), size=(20, 23))  # 9 unlisted
    codes = [7, 0, 2, 3]  # not sorted: the order given is the row order
    gbox = _gbox(20, 23)
    eager = transition_counts(_da(a, gbox), _da(b, gbox), codes, codes)
    assert isinstance(eager, np.ndarray)
    lut = class_lut(codes)
    brute = np.zeros((6, 6), dtype=np.int64)
    for x, y in zip(a.ravel(), b.ravel(), strict=True):
        brute[lut[x], lut[y]] += 1
    np.testing.assert_array_equal(eager, brute)
    for ca, cb in ((7, 7), (3, 3), (7, 3), ((3, 11), 7)):
        lazy = transition_counts(_da(a, gbox, ca), _da(b, gbox, cb), codes, codes)
        assert isinstance(lazy, dsa.Array)
        np.testing.assert_array_equal(lazy.compute(), brute)  # integer counts: exactly equal
    assert brute[:, 5].sum() == (b == 9).sum() and brute[5, :].sum() == 0  # the unlisted slot


def test_differences_propagate_nan_and_set_their_own_units():
    a = np.array([[1.0, np.nan], [2.0, 3.0]], dtype="float32")
    b = np.array([[1.5, 1.0], [np.nan, 2.0]], dtype="float32")
    eager = layer_difference(_da(a, units="degC"), _da(b, units="K"), units="degC", long_name="change")
    expected = np.array([[0.5, np.nan], [np.nan, -1.0]], dtype="float32")
    np.testing.assert_array_equal(eager.values, expected)  # NaN in the same places, exact values
    assert eager.dtype == np.float32 and eager.attrs == {"units": "degC", "long_name": "change"}
    lazy = layer_difference(_da(a, chunks=1), _da(b, chunks=1), units="degC", long_name="change")
    assert isinstance(lazy.data, dsa.Array)
    np.testing.assert_array_equal(lazy.values, expected)
    total, count = dsa.compute(*valid_sum_count(lazy))
    assert (float(total), int(count)) == (-0.5, 2)  # 0.5 - 1.0 over the two cells valid in both
    assert mean_from_sum_count(total, count) == -0.25


def test_layers_on_different_grids_are_refused():
    a = _da(np.zeros((6, 5), dtype="float32"))
    other = GeoBox((6, 5), Affine(30.0, 0.0, 500030.0, 0.0, -30.0, 4200000.0), "EPSG:32647")
    b = _da(np.zeros((6, 5), dtype="float32"), other)
    with pytest.raises(GridMismatchError, match="epoch B"):
        layer_difference(a, b, units="m", long_name="x")


def test_ice_volume_lost_by_hand():
    a = np.array([[900.0, 450.0], [np.nan, 0.0]], dtype="float32")  # [m3 per cell]
    b = np.array([[300.0, 600.0], [200.0, np.nan]], dtype="float32")
    # NaN as 0: B - A = [-600, +150, +200, 0]: lost 600, gained 350, totals 1350 and 1100
    for chunks in (None, 1):
        s = dsa.compute(ice_volume_sums(_da(a, chunks=chunks), _da(b, chunks=chunks)))[0]
        assert {k: float(v) for k, v in s.items()} == {
            "total_a": 1350.0,
            "total_b": 1100.0,
            "lost": 600.0,
            "gained": 350.0,
        }


def test_permafrost_transition_codes_and_totals():
    np.testing.assert_array_equal(permafrost_transition_kernel(PF_A, PF_B), PF_TRANSITION)
    lazy = permafrost_transition(_da(PF_A, chunks=(4, 3)), _da(PF_B, chunks=(4, 3)))
    assert lazy.dtype == np.uint8 and isinstance(lazy.data, dsa.Array)
    np.testing.assert_array_equal(lazy.values, PF_TRANSITION)
    t = permafrost_totals(transition_counts(_da(PF_A), _da(PF_B), [0, 1], [0, 1]), [0, 1], [0, 1], 900.0)
    np.testing.assert_allclose(
        [t["area_a"], t["area_b"], t["lost"], t["gained"], t["net"]],
        np.array([13, 10, 5, 2, -3]) * KM2,
        rtol=1e-12,
    )


# --- build stage ------------------------------------------------------------------------------------


def _config(tmp_path, labels=("e1", "e2")):
    cfg = Config.model_validate(
        {
            "area": {"bbox": list(BBOX), "name": "change test"},
            "inputs": {"dem": str(tmp_path / "dem.tif")},
            "epochs": [
                {"label": lab, "start": f"{2000 + 10 * i}-06-01", "end": f"{2000 + 10 * i}-09-30",
                 "year": 2000 + 10 * i}
                for i, lab in enumerate(labels)
            ],
        }
    )  # fmt: skip
    return make_context(cfg, tmp_path / "out")


def _magt():
    col = np.arange(5, dtype="float32")
    a = np.broadcast_to(-2.0 + 0.5 * col, (6, 5)).astype("float32")  # [degC]
    b = a + np.where(np.arange(6)[:, None] < 3, 0.25, 0.75).astype("float32")
    a[5, 0] = np.nan
    b[0, 0] = b[5, 0] = np.nan
    return a, b  # valid in both: 14 cells +0.25 (rows 0-2), 14 cells +0.75 (rows 3-5): mean +0.5


def _ice():
    a = np.where(np.arange(6)[:, None] < 3, 450.0, 0.0) * np.ones((6, 5))  # [m3 per cell]
    b = np.where(np.arange(6)[:, None] < 2, 450.0, 0.0) * np.ones((6, 5))
    b[2, 0] = 900.0
    a[5, 0] = b[5, 0] = b[2, 4] = np.nan
    return a.astype("float32"), b.astype("float32")
    # NaN as 0: totals 6750 and 5400; (2, 0) +450; (2, 1..4) -450 each: lost 1800, gained 450


def _write_epochs(ctx, lc_b=LC_B, lc_b_classes=True):
    g = ctx.gbox
    lc_classes = [ClassInfo(c.code, c.name, c.rgb) for c in ctx.cfg.landcover.classes]
    magt, ice = _magt(), _ice()
    for i, e in enumerate(("e1", "e2")):
        lc = (LC_A, np.where(lc_b == 4, 5, lc_b).astype("uint8"))[i]  # B's new class: water (5)
        layers = {
            "landcover": (lc, lc_classes if (i == 0 or lc_b_classes) else None),
            "permafrost": ((PF_A, PF_B)[i], list(PERMAFROST_CLASSES)),
            "magt": (magt[i], None),
            "ice_volume": (ice[i], None),
        }
        if i == 0:
            layers["alt"] = (np.full((6, 5), 1.5, dtype="float32"), None)  # only in e1: not differenced
        for name, (arr, classes) in layers.items():
            units = "class" if classes else "1"
            write_cog(wrap_on_grid(arr, g, name, units=units, long_name=name), ctx.path(e, f"{name}.tif"),
                      gbox=g, units=units, description=name, classes=classes)  # fmt: skip


def test_epoch_pairs_and_stage_records(tmp_path):
    ctx = _config(tmp_path, ("a", "b", "c"))
    assert epoch_pairs(ctx.cfg) == [("a", "b"), ("b", "c"), ("a", "c")]
    st = stages(ctx)
    assert [s.name for s in st] == ["change/a_b", "change/b_c", "change/a_c"]
    assert st[2].depends == ("ground_ice/a", "ground_ice/c", "landcover/a", "landcover/c")
    assert st[0].params(ctx) == {"epochs": ["a", "b"]}
    assert epoch_pairs(_config(tmp_path, ("x", "y")).cfg) == [("x", "y")]


def test_stage_on_a_hand_made_out_folder(tmp_path):
    ctx = _config(tmp_path)
    assert tuple(ctx.gbox.shape) == (6, 5)
    _write_epochs(ctx)
    (stage,) = stages(ctx)
    inputs = stage.inputs(ctx)
    assert ctx.path("e1", "alt.tif") in inputs and ctx.path("e2", "ice_class.tif") not in inputs
    files = run_change(ctx, "e1", "e2")
    names = sorted(p.name for p in files)
    assert names == sorted([
        "delta_magt.tif", "delta_ice_volume.tif", "permafrost_transition.tif",
        "transitions_landcover_e1_e2.csv", "transitions_permafrost_e1_e2.csv",
        "change_e1_e2.csv", "metrics_change_e1_e2.json",
    ])  # fmt: skip
    folder = ctx.path("change", "e1_e2")
    with rasterio.open(folder / "delta_magt.tif") as src:
        d = src.read(1)
        assert src.dtypes[0] == "float32" and src.tags()["units"] == "degC" and src.tags()["epoch_to"] == "e2"
    assert np.isnan(d[0, 0]) and np.isnan(d[5, 0]) and np.isfinite(d).sum() == 28
    np.testing.assert_array_equal(d[1:3], 0.25)  # exact in float32
    np.testing.assert_array_equal(d[3:5], 0.75)
    with rasterio.open(folder / "delta_ice_volume.tif") as src:
        v = src.read(1)
        assert src.tags()["units"] == "m3"
    assert np.isnan(v[5, 0]) and np.isnan(v[2, 4]) and v[2, 0] == 450.0 and (v[2, 1:4] == -450.0).all()
    with rasterio.open(folder / "permafrost_transition.tif") as src:
        np.testing.assert_array_equal(src.read(1), PF_TRANSITION)
        assert src.nodata == 255 and "permafrost lost (degraded)" in src.tags()["CLASS_NAMES"]
        assert src.colormap(1)[2][:3] == (215, 48, 39)

    lc = pd.read_csv(ctx.path("tables", "transitions_landcover_e1_e2.csv"))
    cfg_names = [c.name for c in ctx.cfg.landcover.classes]  # codes 1-8
    assert list(lc.iloc[:, 0]) == [*cfg_names, "nodata"]
    assert list(lc.columns[1:]) == [f"{n} [km2]" for n in [*cfg_names, "nodata"]]
    expected = np.zeros((9, 9))
    for (a, b), n in LC_COUNTS.items():
        expected[8 if a == N else a - 1, 8 if b == N else (5 if b == 4 else b) - 1] = n * KM2
    np.testing.assert_allclose(lc.iloc[:, 1:].to_numpy(), expected, rtol=1e-12)

    pf = pd.read_csv(ctx.path("tables", "transitions_permafrost_e1_e2.csv"))
    np.testing.assert_allclose(pf.iloc[:, 1:].to_numpy(), np.array([[14, 2], [5, 8]]) * KM2, rtol=1e-12)

    m = json.loads(ctx.path("tables", "metrics_change_e1_e2.json").read_text())
    hand = {
        "permafrost_area_e1_km2": 13 * KM2, "permafrost_area_e2_km2": 10 * KM2,
        "permafrost_lost_km2": 5 * KM2, "permafrost_gained_km2": 2 * KM2,
        "permafrost_net_change_km2": -3 * KM2,
        "ice_volume_e1_m3": 6750.0, "ice_volume_e2_m3": 5400.0, "ice_volume_lost_m3": 1800.0,
        "ice_volume_gained_m3": 450.0, "ice_volume_net_change_m3": -1350.0,
        "mean_magt_change_degC": 0.5,
    }  # fmt: skip
    for k, v in hand.items():
        np.testing.assert_allclose(m[k], v, rtol=1e-12, err_msg=k)  # sums of exact values
    assert "mean_alt_change_m" not in m and m["layers_differenced"] == ["magt", "ice_volume"]
    table = pd.read_csv(ctx.path("tables", "change_e1_e2.csv")).set_index("quantity")
    assert tuple(table.loc["ice_volume_lost_m3", ["unit", "value"]]) == ("m3", 1800.0)

    # the same answer at an odd chunk size
    before = {p: _content(p) for p in files}
    run_change(dataclasses.replace(ctx, chunk=3), "e1", "e2")
    for p, old in before.items():
        np.testing.assert_array_equal(_content(p), old, err_msg=p.name)


def _content(path):
    if path.suffix != ".tif":
        return np.frombuffer(path.read_bytes(), dtype="uint8")
    with rasterio.open(path) as src:
        return src.read(1)


def test_stage_refuses_an_epoch_on_another_grid(tmp_path):
    ctx = _config(tmp_path)
    _write_epochs(ctx)
    other = grid_from_bbox((99.25, 38.05, 99.2518, 38.0512), 30.0)  # 7 columns
    arr = np.zeros(tuple(other.shape), dtype="float32")
    write_cog(wrap_on_grid(arr, other, "m", units="degC", long_name="m"), ctx.path("e2", "magt.tif"),
              gbox=other, units="degC", description="magt")  # fmt: skip
    with pytest.raises(InputError, match=r"e2[/\\]magt\.tif: is not on the build grid: 6 x 7 cells"):
        run_change(ctx, "e1", "e2")


def test_stage_errors_name_the_file(tmp_path):
    ctx = _config(tmp_path)
    _write_epochs(ctx, lc_b_classes=False)  # land cover of e2 written without its class table
    with pytest.raises(InputError, match=r"e2[/\\]landcover\.tif.*CLASS_NAMES"):
        run_change(ctx, "e1", "e2")

    lc = LC_B.copy()
    lc[0, 0] = 9  # a code the class table does not list
    _write_epochs(ctx, lc_b=lc)
    with pytest.raises(InputError, match=r"e2[/\\]landcover\.tif.*1 cell\(s\) have class codes"):
        run_change(ctx, "e1", "e2")

    ctx.path("e2", "permafrost.tif").unlink()
    with pytest.raises(MissingInputError, match=r"e2[/\\]permafrost\.tif.*permafrost layer of epoch e2"):
        run_change(ctx, "e1", "e2")
    assert not ctx.path("change").exists()  # nothing written by a failed run
