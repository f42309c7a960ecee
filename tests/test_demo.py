"""`pfatlas demo --size small` end to end, as `make demo` runs it (smaller)."""

import json

import numpy as np
import pytest
import rasterio

from pfatlas.cli.main import main

pytestmark = pytest.mark.slow

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
    prov = json.loads((demo / "provenance.json").read_text())
    assert prov["status"] == "complete" and prov["synthetic"] is True
    # the pipeline never reads the truth
    assert not [p for p in prov["inputs"] if "/truth/" in p]


def test_demo_rerun_reuses_everything(demo, capsys):
    assert main(["demo", str(demo), "--size", "small", "--seed", "3"]) == 0
    prov = json.loads((demo / "provenance.json").read_text())
    assert {s["status"] for s in prov["stages"]} == {"reused"}
    assert "generating" not in capsys.readouterr().err


def test_validate_accepts_the_demo_config(demo, capsys):
    assert main(["validate", str(demo / "inputs" / "config.toml")]) == 0
    out = capsys.readouterr().out
    assert "all inputs valid" in out and "2000: 4 scene(s)" in out


def test_bad_size_is_a_clear_error(tmp_path, capsys):
    assert main(["demo", str(tmp_path / "d"), "--size", "huge"]) == 1
    assert "--size must be one of full, small" in capsys.readouterr().err
