"""`pfatlas demo --size small` end to end, as `make demo` runs it (smaller)."""

import datetime as dt
import json

import numpy as np
import pytest
import rasterio

from pfatlas.cli.main import main

# The demo warns on purpose (classes without training samples or boreholes, units without logs):
# those warnings are shown, not turned into errors, here.
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("default::pfatlas.errors.PfatlasWarning")]

LAYERS = (
    "landcover",
    "magt",
    "permafrost",
    "thermal_stability",
    "alt",
    "ground_ice",
    "ice_volume",
    "ice_class",
)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "demo"
    assert main(["-q", "demo", str(out), "--size", "small", "--seed", "3"]) == 0
    return out


def test_demo_writes_inputs_truth_grid_composites_provenance(demo):
    inputs = demo / "inputs"
    for name in ("dem.tif", "boreholes.csv", "boreholes_validation.csv", "borehole_logs.csv", "samples.gpkg",
                 "geomorphology.gpkg", "mining.gpkg", "config.toml", "README.txt"):  # fmt: skip
        assert (inputs / name).is_file(), name
    scenes = sorted(p.name for p in (inputs / "landsat").iterdir())
    assert any(s.startswith("LT05_L2SP") for s in scenes) and any(s.startswith("LC08_L2SP") for s in scenes)
    for epoch in ("2000", "2020"):
        for layer in LAYERS:
            assert (inputs / "truth" / epoch / f"{layer}.tif").is_file(), (epoch, layer)
    for name in ("dem", "slope", "aspect", "geomorphology"):
        with rasterio.open(demo / "grid" / f"{name}.tif") as src:
            assert src.crs.to_epsg() == 32647 and src.res == (30.0, 30.0)
            assert "synthetic" in src.tags()["source"]
    with rasterio.open(demo / "grid" / "slope.tif") as src:
        slope = src.read(1)
    assert 0 <= np.nanmin(slope) and np.nanmax(slope) < 90
    for epoch in ("2000", "2020"):
        with rasterio.open(demo / epoch / "composite" / "clear_count.tif") as src:
            clear = src.read(1)
        # several scenes per epoch; clouds leave most cells with at least one clear look
        assert np.nanmax(clear) >= 2 and np.mean(clear > 0) > 0.8
    # the post-mining epoch: natural layers apart, mining change maps, the change folder
    for layer in ("magt", "alt", "ground_ice", "landcover"):
        assert (demo / "2020" / "natural" / f"{layer}.tif").is_file(), layer
    for name in ("mining_delta_magt", "mining_delta_alt", "mining_zone"):
        assert (demo / "2020" / f"{name}.tif").is_file(), name
        assert not (demo / "2000" / f"{name}.tif").exists(), name  # no feature acts in 2000
    with rasterio.open(demo / "2020" / "mining_zone.tif") as src:
        zone = src.read(1)
    with rasterio.open(demo / "2020" / "mining_delta_magt.tif") as src:
        dmagt = src.read(1)
    assert (zone == 1).any() and (zone == 2).any() and np.nanmax(np.abs(dmagt[zone == 1])) > 0.3
    assert (dmagt[zone == 0] == 0).mean() > 0.95  # far from the features nothing changes
    assert (demo / "change" / "2000_2020" / "delta_magt.tif").is_file()
    assert (demo / "tables" / "transitions_permafrost_2000_2020.csv").is_file()
    assert (demo / "tables" / "mining_validation_2020.csv").is_file()
    prov = json.loads((demo / "provenance.json").read_text())
    assert prov["status"] == "complete" and prov["synthetic"] is True
    # the pipeline never reads the truth
    assert not [p for p in prov["inputs"] if "/truth/" in p]


def test_demo_rerun_reuses_everything(demo, capsys):
    assert main(["demo", str(demo), "--size", "small", "--seed", "3"]) == 0
    prov = json.loads((demo / "provenance.json").read_text())
    assert {s["status"] for s in prov["stages"]} == {"reused"}
    assert "generating" not in capsys.readouterr().err


def test_demo_writes_the_atlas_a_person_reads(demo):
    """The products of the `atlas` stage, and every raster a valid pfatlas COG with its sidecars."""
    from pfatlas.atlas.validate_cog import check_cog

    pdf = demo / "atlas.pdf"
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size < 50e6
    assert (demo / "index.html").is_file() and (demo / "viewer" / "data" / "atlas.js").is_file()
    plates = {p.name for p in (demo / "plates").glob("*.png")}
    assert {"2000_magt.png", "2020_mining_delta_magt.png", "compare_magt_2000_2020.png"} <= plates
    catalog = json.loads((demo / "catalog.json").read_text())
    assert catalog["type"] == "Catalog"
    assert (demo / "tables" / "area_by_class.csv").is_file()
    rasters = [p for d in ("grid", "2000", "2020") for p in (demo / d).glob("*.tif")]
    rasters += list((demo / "change").glob("*/*.tif"))
    assert len(rasters) > 30
    problems = [m for p in rasters for m in check_cog(p)]
    assert problems == []
    assert (demo / "2020" / "landcover.qml").is_file()


def test_validate_accepts_the_demo_config(demo, capsys):
    assert main(["validate", str(demo / "inputs" / "config.toml")]) == 0
    out = capsys.readouterr().out
    assert "all inputs valid" in out and "2000: 4 scene(s)" in out


def test_bad_size_is_a_clear_error(tmp_path, capsys):
    assert main(["demo", str(tmp_path / "d"), "--size", "huge"]) == 1
    assert "--size must be one of full, small" in capsys.readouterr().err


# --- bad inputs through the CLI: one defect in otherwise real-format inputs ---------------------


def _config_with(demo, tmp_path, **replace):
    """A copy of the demo config whose inputs point at the demo's files, except those replaced."""
    import tomllib

    import tomli_w

    raw = tomllib.loads((demo / "inputs" / "config.toml").read_text())
    base = demo / "inputs"
    for key, value in raw["inputs"].items():
        raw["inputs"][key] = [str(base / v) for v in value] if isinstance(value, list) else str(base / value)
    for key, value in replace.items():
        if key == "epochs":
            raw["epochs"] = value
        else:
            raw["inputs"][key] = value
    p = tmp_path / "config.toml"
    p.write_text(tomli_w.dumps(raw))
    return p


def _edit_csv(src, dst, edit):
    lines = src.read_text().splitlines()
    dst.write_text("\n".join(edit(lines)) + "\n")
    return str(dst)


def _drop_column(lines, name):
    head = lines[0].split(",")
    i = head.index(name)
    return [",".join(c for j, c in enumerate(line.split(",")) if j != i) for line in lines]


def _set_field(lines, row, name, value):
    head = lines[0].split(",")
    cells = lines[row - 1].split(",")
    cells[head.index(name)] = value
    return [*lines[: row - 1], ",".join(cells), *lines[row:]]


def _bad_inputs(demo, tmp_path, case):
    """The config replacements and the texts the error must show, for one defect."""
    import shutil

    import rasterio
    from rasterio.windows import Window

    b = demo / "inputs" / "boreholes.csv"
    logs = demo / "inputs" / "borehole_logs.csv"

    def boreholes(edit):
        return {"boreholes": _edit_csv(b, tmp_path / "b.csv", edit)}

    def log_rows(edit):
        return {"borehole_logs": _edit_csv(logs, tmp_path / "l.csv", edit)}

    def scenes_without(pattern):
        copy = tmp_path / "landsat"
        shutil.copytree(demo / "inputs" / "landsat", copy)
        victim = sorted(copy.iterdir())[0]
        for f in victim.glob("*" + pattern):
            f.unlink()
        return {"landsat": [str(copy)]}, [victim.name]

    def half_dem(crs=True):
        name = "half_dem.tif" if crs else "nocrs_dem.tif"
        with rasterio.open(demo / "inputs" / "dem.tif") as src:
            profile = src.profile
            w = Window(0, 0, src.width // 2, src.height)
            profile.update(width=w.width, height=w.height, transform=src.window_transform(w))
            if not crs:
                profile.update(crs=None)
            half = src.read(1, window=w)
        with rasterio.open(tmp_path / name, "w", **profile) as dst:
            dst.write(half, 1)
        return {"dem": str(tmp_path / name)}

    if case == "missing column":
        return boreholes(lambda ls: _drop_column(ls, "magt_c")), ["b.csv", "magt_c"]
    if case == "text for a number":
        return boreholes(lambda ls: _set_field(ls, 3, "magt_c", "frozen")), [
            "b.csv, row 3, field 'magt_c'",
            "frozen",
        ]
    if case == "NaN for a number":
        return boreholes(lambda ls: _set_field(ls, 4, "magt_c", "NaN")), ["b.csv, row 4, field 'magt_c'"]
    if case == "duplicate id":
        edit = lambda ls: _set_field(ls, 3, "id", ls[1].split(",")[0])  # noqa: E731
        return boreholes(edit), ["b.csv", "field 'id'", "duplicate"]
    if case == "top >= bottom":
        return log_rows(lambda ls: _set_field(ls, 2, "bottom_m", "0.0")), ["l.csv, row 2", "top"]
    if case == "overlapping layers":
        return log_rows(lambda ls: _set_field(ls, 3, "top_m", "0.05")), ["l.csv", "overlap"]
    if case == "no MTL":
        return scenes_without("_MTL.*")
    if case == "no QA_PIXEL":
        return scenes_without("_QA_PIXEL.TIF")
    if case == "DEM not covering":
        return half_dem(), ["half_dem.tif", "does not cover"]
    if case == "DEM without CRS":
        return half_dem(crs=False), ["nocrs_dem.tif", "coordinate reference"]
    if case == "epoch without scene":
        epochs = [{"label": "2010", "start": dt.date(2010, 6, 1), "end": dt.date(2010, 9, 30), "year": 2010}]
        return {"epochs": epochs}, ["epoch '2010' has no Landsat scene"]
    raise KeyError(case)


BAD = [
    "missing column", "text for a number", "NaN for a number", "duplicate id", "top >= bottom",
    "overlapping layers", "no MTL", "no QA_PIXEL", "DEM not covering", "DEM without CRS", "epoch without scene",
]  # fmt: skip


@pytest.mark.parametrize("case", BAD)
def test_bad_input_gives_one_clear_error(demo, tmp_path, capsys, case):
    replace, expected = _bad_inputs(demo, tmp_path, case)
    cfg = _config_with(demo, tmp_path, **replace)
    assert main(["validate", str(cfg)]) == 1
    err = capsys.readouterr().err
    for text in expected:
        assert text in err, (case, text, err)
    assert "Traceback" not in err


def test_build_stops_on_bad_input_without_half_written_output(demo, tmp_path, capsys):
    b = demo / "inputs" / "boreholes.csv"
    cfg = _config_with(
        demo,
        tmp_path,
        boreholes=_edit_csv(b, tmp_path / "b.csv", lambda ls: _set_field(ls, 3, "magt_c", "x")),
    )
    out = tmp_path / "out"
    assert main(["-q", "build", str(cfg), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "b.csv, row 3, field 'magt_c'" in err and "Traceback" not in err
    assert not list(out.rglob("*.tmp")) and not (out / "tables" / "boreholes.csv").exists()


def test_borehole_outside_the_area_is_a_warning(demo, tmp_path, capsys):
    b = demo / "inputs" / "boreholes.csv"
    far = _edit_csv(
        b, tmp_path / "b.csv", lambda ls: _set_field(_set_field(ls, 2, "lon", "100.5"), 2, "lat", "36.0")
    )
    cfg = _config_with(demo, tmp_path, boreholes=far)
    assert main(["validate", str(cfg)]) == 0
    captured = capsys.readouterr()
    assert "outside" in captured.err and "1" in captured.err


def test_validate_names_a_missing_thawing_index(demo, tmp_path, capsys):
    import tomllib

    import tomli_w

    cfg = _config_with(demo, tmp_path)
    raw = tomllib.loads(cfg.read_text())
    del raw["climate"]["station_thawing_index_cdays"]
    cfg.write_text(tomli_w.dumps(raw))
    assert main(["validate", str(cfg)]) == 1
    assert "field 'climate.station_thawing_index_cdays'" in capsys.readouterr().err
