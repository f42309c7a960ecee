"""The site tool: ``pfatlas simulate`` and ``pfatlas template-scenario``.

The template parses and runs; the NetCDF carries units and the scenario; the summary's ALT and
MAGT are those of a direct solver run on the same model; 2-D scenarios (regions, surface segments,
summary columns) and a CSV surface series; bad scenarios are one clear error naming the key.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import xarray as xr
from matplotlib.image import imread as plt_imread

from pfatlas.cli.main import main
from pfatlas.errors import ConfigError, PfatlasWarning
from pfatlas.thermal import (
    DAY,
    AxisymmetricMesh,
    ColumnMesh,
    FixedTemperatureBase,
    HeatFluxBase,
    Material,
    SeriesSurface,
    SinusoidalSurface,
    simulate_column,
    simulate_section,
)
from pfatlas.thermal.run_scenario import run_scenario, scenario_model
from pfatlas.thermal.scenario import load_scenario, template_scenario


def short_template(tmp_path, years: int = 2, replace: tuple[str, str] | None = None):
    text = template_scenario().replace("years = 20 ", f"years = {years} ")
    if replace:
        assert replace[0] in text
        text = text.replace(*replace)
    path = tmp_path / "site.toml"
    path.write_text(text, encoding="utf-8")
    return path


def read_summary(path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def as_float(v: str) -> float:
    return float(v) if v else np.nan


@pytest.fixture(scope="module")
def template_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("template")
    path = short_template(tmp)
    code = main(["simulate", str(path), str(tmp / "out")])
    return code, tmp / "out"


def test_template_scenario_is_printed(capsys):
    assert main(["template-scenario"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("# pfatlas site scenario template")
    assert "[[layers]]" in captured.out and captured.err == ""


def test_template_parses(tmp_path):
    scenario = load_scenario(short_template(tmp_path, years=20))
    assert scenario.geometry == "column" and scenario.years == 20
    assert [layer.material for layer in scenario.layers] == ["peat", "silt", "bedrock"]
    assert scenario.base.flux == 0.06  # [W m-2]


def test_template_runs_and_writes_netcdf_with_units(template_run):
    code, out = template_run
    assert code == 0
    with xr.open_dataset(out / "temperature.nc") as ds:
        assert ds["temperature"].dims == ("time", "z")
        assert ds["temperature"].attrs["units"] == "degC"
        assert ds["ice_content"].attrs["units"] == "m3 m-3"
        assert ds["z"].attrs["units"] == "m" and ds["time"].attrs["units"] == "days"
        assert ds.sizes["time"] == 2 * 365 + 1  # daily output, initial state first
        assert json.loads(ds.attrs["scenario"])["name"] == "meadow column"
    assert not list(out.glob(".*.part"))  # no temporary file left
    figure = plt_imread(out / "temperature.png")  # the quick look: a 11 x 5 inch PNG at 120 dpi
    assert figure.shape[:2] == (600, 1320)


def test_summary_matches_direct_solver_run(template_run):
    _, out = template_run
    rows = read_summary(out / "summary.csv")
    assert [int(r["year"]) for r in rows] == [1, 2]
    silt = Material(
        "silt", 1.4, 1.9, 2.6e6, 1.9e6, water_content=0.3, unfrozen_water=0.05, freezing_range=0.3
    )
    peat = Material("peat", 0.5, 1.2, 3.4e6, 2.0e6, water_content=0.6, unfrozen_water=0.1, freezing_range=0.5)
    rock = Material("bedrock", 2.5, 2.5, 2.0e6, 2.0e6, water_content=0.02)
    mesh = ColumnMesh.default()
    surface = SinusoidalSurface(-4.0, 12.0, trend=0.03, t0=110 * DAY, n_thaw=0.9, n_freeze=0.8)
    initial = float(np.mean(surface(np.arange(365) * DAY)))  # the documented default start
    result = simulate_column(
        mesh,
        [peat, silt, rock],
        mesh.material_index([0.3, 4.0, 30.0]),
        surface,
        HeatFluxBase(0.06),
        initial=initial,
        years=2,
    )
    magt, _ = result.annual_magt()
    # the CSV holds 4 decimals: agreement to 1e-4 m and 1e-4 K (same model, same arithmetic)
    np.testing.assert_allclose([as_float(r["alt_m"]) for r in rows], result.annual_alt(), atol=1e-4)
    iso = result.annual_alt(isotherm=True)
    np.testing.assert_allclose([as_float(r["alt_0c_m"]) for r in rows], iso, atol=1e-4)
    np.testing.assert_allclose([as_float(r["magt_c"]) for r in rows], magt, atol=1e-4, equal_nan=True)
    assert 0.2 < as_float(rows[-1]["alt_m"]) < 3.0 and as_float(rows[-1]["magt_c"]) < 0


# silt as a scenario table and as the solver's Material
SILT_TOML = """[materials.silt]
k_thawed = 1.5
k_frozen = 2.0
c_thawed = 2.5e6
c_frozen = 1.9e6
water_content = 0.3
"""
SILT = Material("silt", 1.5, 2.0, 2.5e6, 1.9e6, water_content=0.3)

AXI = f"""
name = "pit"
geometry = "axisymmetric"
years = 1
time_step_days = 5.0
initial_temperature = -1.0
[grid]
depth = 10.0
dz = 0.5
fine_depth = 3.0
growth = 1.3
width = 12.0
dx = 2.0
{SILT_TOML}[materials.gravel]
k_thawed = 2.0
k_frozen = 2.2
c_thawed = 2.0e6
c_frozen = 1.8e6
water_content = 0.1
[[layers]]
top = 0.0
bottom = 10.0
material = "silt"
[[regions]]
x = [0.0, 4.0]
z = [0.0, 2.0]
material = "gravel"
[surface]
mean = -3.0
amplitude = 10.0
[[surface.segments]]
x = [0.0, 4.0]
mean = -1.0
amplitude = 12.0
[base]
temperature = -1.0
[output]
interval_days = 20.0
columns = [0.0, 12.0]
"""


def test_axisymmetric_scenario_matches_direct_run(tmp_path):
    path = tmp_path / "pit.toml"
    path.write_text(AXI, encoding="utf-8")
    paths = run_scenario(load_scenario(path), tmp_path / "out")
    with xr.open_dataset(paths["temperature"]) as ds:
        assert ds["temperature"].dims == ("time", "z", "r") and ds["r"].attrs["units"] == "m"
        assert ds.sizes["r"] == 7 and ds.sizes["time"] == 365 // 20 + 2  # every 20 d and the end
    rows = read_summary(paths["summary"])
    assert [(r["r_m"], r["year"]) for r in rows] == [("0.000", "1"), ("12.000", "1")]

    silt = SILT
    gravel = Material("gravel", 2.0, 2.2, 2.0e6, 1.8e6, water_content=0.1)
    z = ColumnMesh.default(depth=10.0, dz=0.5, fine_depth=3.0, growth=1.3).z
    mesh = AxisymmetricMesh(np.linspace(0.0, 12.0, 7), z)
    index = mesh.layered_index([10.0])
    r, zz = mesh.nodes
    index[(r <= 4.0) & (zz <= 2.0)] = 1
    result = simulate_section(
        mesh,
        [silt, gravel],
        index,
        [SinusoidalSurface(-3.0, 10.0), SinusoidalSurface(-1.0, 12.0)],
        FixedTemperatureBase(-1.0),
        initial=-1.0,
        surface_index=np.array([1, 1, 1, 0, 0, 0, 0]),
        years=1,
        dt=5 * DAY,
        save_every=4,
    )
    for row, ix in zip(rows, (0, 6), strict=True):
        np.testing.assert_allclose(as_float(row["alt_m"]), result.column(ix).annual_alt()[0], atol=1e-4)
    assert as_float(rows[0]["alt_m"]) > as_float(rows[1]["alt_m"])  # gravel under the warmer segment


def test_surface_series_from_csv(tmp_path):
    days = np.arange(0, 366, 5)
    air = -4.0 + 12.0 * np.sin(2 * np.pi * days / 365)
    (tmp_path / "air.csv").write_text(
        "day,air_temperature_c\n" + "".join(f"{d},{t}\n" for d, t in zip(days, air, strict=True))
    )
    path = short_template(
        tmp_path,
        years=1,
        replace=("mean = -4.0 ", 'series = "air.csv"\n# mean = -4.0 '),
    )
    text = (
        path.read_text()
        .replace("amplitude = 12.0", "# amplitude = 12.0")
        .replace("time_step_days = 1.0", "time_step_days = 5.0")
    )
    path.write_text(text.replace("interval_days = 1.0", "interval_days = 5.0"))
    scenario = load_scenario(path)
    assert scenario.surface.series == (tmp_path / "air.csv").resolve()
    paths = run_scenario(scenario, tmp_path / "out")
    with xr.open_dataset(paths["temperature"]) as ds:
        surface = SeriesSurface(days * DAY, air, n_thaw=0.9, n_freeze=0.8)
        np.testing.assert_allclose(ds["temperature"][:, 0], surface(ds["time"].values * DAY), atol=1e-5)


@pytest.mark.parametrize(
    ("replace", "extra", "key"),
    [
        (("k_thawed = 0.5 ", "k_thawed = -0.5 "), "", "materials.peat.k_thawed"),
        (('material = "silt"', 'material = "clay"'), "", "layers[1].material"),
        (("top = 0.3", "top = 0.2"), "", "layers[1].top"),
        (("unfrozen_water = 0.1 ", "unfrozen_water = 0.7 "), "", "materials.peat.unfrozen_water"),
        (("bottom = 30.0", "bottom = 20.0"), "", "layers[2].bottom"),
        (("dz = 0.05 ", "dzz = 0.05 "), "", "grid.dzz"),
        (None, '[[regions]]\nx = [0.0, 1.0]\nz = [0.0, 1.0]\nmaterial = "silt"\n', "regions"),
    ],
    ids=[
        "negative-conductivity",
        "unknown-material",
        "overlap",
        "unfrozen",
        "short-layers",
        "typo",
        "region-1d",
    ],
)
def test_bad_scenario_is_one_clear_error(tmp_path, capsys, replace, extra, key):
    path = short_template(tmp_path, replace=replace)
    if extra:  # a table inserted before the template's last one
        path.write_text(path.read_text().replace("[output]\n", extra + "[output]\n"))
    with pytest.raises(ConfigError, match=r"site\.toml"):
        load_scenario(path)
    code = main(["simulate", str(path), str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1
    assert f"field '{key}'" in err and "site.toml" in err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_missing_scenario(tmp_path, capsys):
    assert main(["simulate", str(tmp_path / "nope.toml"), str(tmp_path / "out")]) == 1
    assert "nope.toml: scenario file does not exist" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["simulate", "template-scenario"])
def test_help(command, capsys):
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert "Usage" in out and command in out


SECTION_AIR = f"""
name = "cut"
geometry = "section"
years = 1
time_step_days = 5.0
initial_temperature = -2.0
[grid]
depth = 12.0
dz = 0.25
fine_depth = 4.0
growth = 1.2
width = 6.0
dx = 2.0
{SILT_TOML}[[layers]]
top = 0.0
bottom = 12.0
material = "silt"
[[regions]]
x = [0.0, 6.0]
z = [0.0, 1.5]
material = "air"
[surface]
mean = 5.0
[base]
temperature = -2.0
[output]
interval_days = 5.0
columns = [0.0, 4.0]
"""


def test_air_over_the_whole_section_moves_the_surface_down(tmp_path):
    # Air 1.5 m deep across the whole width: every line is the column whose surface is the node at
    # 1.5 m (thawing at +5 degC above frozen silt, fixed base), so the summary's ALT is that
    # column's, measured from 1.5 m down, and the air is NaN in the NetCDF.
    path = tmp_path / "cut.toml"
    path.write_text(SECTION_AIR, encoding="utf-8")
    paths = run_scenario(load_scenario(path), tmp_path / "out")
    rows = read_summary(paths["summary"])
    assert [(r["x_m"], r["surface_m"]) for r in rows] == [("0.000", "1.500"), ("4.000", "1.500")]
    z = ColumnMesh.default(depth=12.0, dz=0.25, fine_depth=4.0, growth=1.2).z
    k = int(np.flatnonzero(z == 1.5)[0])
    col = ColumnMesh(z[k:] - z[k])
    silt = SILT
    ref = simulate_column(col, [silt], np.zeros(col.n, int), SinusoidalSurface(5.0, 0.0),
                          FixedTemperatureBase(-2.0), initial=-2.0, years=1, dt=5 * DAY)  # fmt: skip
    thaw = ref.thaw_depth()
    assert 1.0 < thaw[-1] < 10.0  # the front went well into the silt below the air
    with xr.open_dataset(paths["temperature"]) as ds:
        t = ds["temperature"].values
        assert np.isnan(t[:, :k]).all() and np.isfinite(t[:, k:]).all()
        # every ground line is the shifted column (float32 storage: 1e-5 K)
        np.testing.assert_allclose(t[:, k:, :], np.repeat(ref.temperature[:, :, None], 4, axis=2), atol=1e-5)
    # and the summary's ALT (from the air's floor down) is the column's
    np.testing.assert_allclose(
        [as_float(r["alt_m"]) for r in rows], [ref.annual_alt()[0]] * 2, atol=1e-4, equal_nan=True
    )


def test_air_pit_in_an_axisymmetric_scenario(tmp_path):
    # the AXI scenario with its gravel fill excavated instead: a pit 2 m deep and 4 m in radius
    # whose floor and wall take the warm segment; the summary on the axis starts at its floor
    text = AXI.replace('material = "gravel"\n[surface]', 'material = "air"\n[surface]')
    path = tmp_path / "pit.toml"
    path.write_text(text, encoding="utf-8")
    scenario = load_scenario(path)
    paths = run_scenario(scenario, tmp_path / "out")
    rows = read_summary(paths["summary"])
    assert [(r["r_m"], r["surface_m"]) for r in rows] == [("0.000", "2.000"), ("12.000", "0.000")]
    model = scenario_model(scenario)
    air = ~model["active"]
    r, zz = model["mesh"].nodes
    np.testing.assert_array_equal(air, (r < 4.0) & (zz < 2.0))  # the rectangle's edges are ground
    assert plt_imread(paths["figure"]).shape[:2] == (600, 1320)  # the section's quick look
    with xr.open_dataset(paths["temperature"]) as ds:
        assert np.isnan(ds["temperature"].values[:, air]).all()
        assert np.isfinite(ds["temperature"].values[:, ~air]).all()
    # the direct run of the same model gives the summary's ALT from the pit floor down
    result = simulate_section(**model)
    np.testing.assert_allclose(as_float(rows[0]["alt_m"]), result.column(0).annual_alt()[0], atol=1e-4)
    assert result.column(0).z[0] == 0.0 and result.column(0).z.size == model["mesh"].z.size - 4


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("z = [0.0, 1.5]", "z = [0.5, 1.5]", "regions[0].z"),  # air under ground
        ("z = [0.0, 1.5]", "z = [0.0, 12.0]", "regions[0].z"),  # no ground left at the base
        (
            "[[layers]]",
            "[materials.air]\nk_thawed = 0.02\nk_frozen = 0.02\nc_thawed = 1e3\nc_frozen = 1e3\n[[layers]]",
            "materials.air",
        ),  # fmt: skip
        ('bottom = 12.0\nmaterial = "silt"', 'bottom = 12.0\nmaterial = "air"', "layers[0].material"),
    ],
    ids=["air-below-ground", "air-to-the-base", "air-as-a-material", "air-layer"],
)
def test_bad_air_region_is_one_clear_error(tmp_path, capsys, old, new, key):
    assert old in SECTION_AIR
    path = tmp_path / "cut.toml"
    path.write_text(SECTION_AIR.replace(old, new), encoding="utf-8")
    code = main(["simulate", str(path), str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1 and f"field '{key}'" in err and "cut.toml" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_sloping_air_walls(tmp_path):
    # a pit with walls of slope 1 (45 degrees) at the axis, and the air beside a dump (toe at r = 10)
    # with sides of slope 0.5: air is r < 4 + (2 - z) and r > 10 - 0.5 (2 - z), above z = 2
    text = AXI.replace('z = [0.0, 2.0]\nmaterial = "gravel"', 'z = [0.0, 2.0]\nmaterial = "air"\nslope = 1.0')
    text = text.replace(
        "[surface]",
        '[[regions]]\nx = [10.0, 12.0]\nz = [0.0, 1.0]\nmaterial = "air"\nslope = 0.5\n[surface]',
        1,
    )
    path = tmp_path / "pit.toml"
    path.write_text(text, encoding="utf-8")
    model = scenario_model(load_scenario(path))
    r, z = model["mesh"].nodes
    pit = (z < 2.0) & (r < 4.0 + (2.0 - z))
    beside = (z < 1.0) & (r > 10.0 - 0.5 * (1.0 - z))
    np.testing.assert_array_equal(~model["active"], pit | beside)
    assert (~model["active"][0]).sum() == 5  # r = 0, 2, 4 (pit: 4 < 6) and 10, 12 at the top
    rows = read_summary(run_scenario(load_scenario(path), tmp_path / "out")["summary"])
    assert [(r["r_m"], r["surface_m"]) for r in rows] == [("0.000", "2.000"), ("12.000", "1.000")]
    bad = tmp_path / "bad.toml"
    bad.write_text(
        AXI.replace('material = "gravel"\n[surface]', 'material = "gravel"\nslope = 1.0\n[surface]')
    )
    with pytest.raises(ConfigError, match=r"regions\[0\]\.slope"):
        load_scenario(bad)


def test_memory_estimate_refuses_a_run_that_cannot_fit(tmp_path, capsys, monkeypatch):
    # the template for 2 years stores 731 daily steps of 141 nodes: 5.5 x 8 B x 731 x 141 = 4.5 MB
    from types import SimpleNamespace

    from pfatlas.thermal import run_scenario as rs

    path = short_template(tmp_path)
    scenario = load_scenario(path)
    assert rs.memory_needed(scenario) == pytest.approx(rs.MEMORY_PER_STORED * 8 * 731 * 141)
    monkeypatch.setattr(rs.psutil, "virtual_memory", lambda: SimpleNamespace(total=4e6))  # a 4 MB machine
    code = main(["simulate", str(path), str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1 and "site.toml" in err and "field 'output.interval_days'" in err
    assert "needs about 5 MB of memory and this machine has 4 MB" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()  # refused before anything is written
    monkeypatch.setattr(
        rs.psutil, "virtual_memory", lambda: SimpleNamespace(total=8e6)
    )  # over half: a warning
    with pytest.warns(PfatlasWarning, match="larger output.interval_days"):
        run_scenario(scenario, tmp_path / "out2")
    assert (tmp_path / "out2" / "summary.csv").exists()


def test_progress_is_reported_step_by_step(tmp_path):
    calls = []
    scenario = load_scenario(short_template(tmp_path, years=1))
    run_scenario(scenario, tmp_path / "out", progress=lambda done, total: calls.append((done, total)))
    assert calls == [(k, 365) for k in range(1, 366)]  # daily steps of one model year
