"""The TOML config: template, defaults, resolution of paths, errors naming the key."""

import tomllib

import pytest

from pfatlas.config import load_config, resolved_toml, template_config
from pfatlas.config.schema import Config
from pfatlas.errors import ConfigError, MissingInputError

MINIMAL = """
[area]
bbox = [98.85, 37.8233, 99.7539, 38.33]
[inputs]
dem = "dem.tif"
[[epochs]]
label = "2000"
start = 2000-06-01
end = 2000-09-30
year = 2000
"""


def _write(tmp_path, text, name="config.toml"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_template_is_valid_and_its_values_are_the_defaults(tmp_path):
    cfg = load_config(_write(tmp_path, template_config()))
    minimal = load_config(_write(tmp_path, MINIMAL, "min.toml"))
    # every section below [inputs]/[[epochs]] in the template equals the schema default
    skip = {"area", "inputs", "epochs", "source_path"}
    assert cfg.model_dump(exclude=skip) == minimal.model_dump(exclude=skip)


def test_defaults_follow_the_spec(tmp_path):
    cfg = load_config(_write(tmp_path, MINIMAL))
    assert cfg.area.resolution == 30.0
    assert cfg.composite.months == [6, 7, 8, 9]
    assert cfg.thermal_stability.breaks == [-5.0, -3.0, -1.5, -0.5, 0.0]  # Cheng (1984)
    assert cfg.climate.lapse_rate_c_per_km == 5.6  # Chen R.S. et al. 2014
    assert cfg.active_layer.latent_heat_j_kg == 3.34e5
    assert cfg.mining.geothermal_heat_flux_w_m2 == 0.06
    assert cfg.active_layer.soils["sparse vegetation / bare"].n_t == 2.55  # iffylaw/PIC
    assert [c.name for c in cfg.landcover.classes][:2] == ["alpine swamp meadow", "alpine meadow"]


def test_paths_resolve_relative_to_the_config(tmp_path):
    sub = tmp_path / "a" / "b"
    sub.mkdir(parents=True)
    cfg = load_config(_write(sub, MINIMAL))
    assert cfg.inputs.dem == (sub / "dem.tif").resolve()
    assert cfg.source_path == (sub / "config.toml").resolve()


def test_resolved_toml_round_trips(tmp_path):
    cfg = load_config(_write(tmp_path, MINIMAL))
    again = Config.model_validate(tomllib.loads(resolved_toml(cfg)))
    assert again.model_dump(exclude={"source_path"}) == cfg.model_dump(exclude={"source_path"})


@pytest.mark.parametrize(
    ("change", "key", "message"),
    [
        (("resolution = 30.0", "resolution = -30.0"), "area.resolution", "greater than 0"),
        (
            ("bbox = [98.85, 37.8233, 99.7539, 38.33]", "bbox = [99.7, 37.8, 98.8, 38.3]"),
            "area.bbox",
            "min < max",
        ),
        (('dem = "dem.tif"', 'dem = "dem.tif"\ndme = "x"'), "inputs.dme", "unknown key"),
        (("end = 2000-09-30", "end = 1999-09-30"), "epochs[0]", "before start"),
        (("year = 2000", 'year = "two thousand"'), "epochs[0].year", "integer"),
        (("[inputs]", "[inputs"), None, "not valid TOML"),
    ],
)
def test_bad_config_names_the_key(tmp_path, change, key, message):
    text = MINIMAL.replace("bbox =", "resolution = 30.0\nbbox =") if "resolution" in change[0] else MINIMAL
    p = _write(tmp_path, text.replace(*change))
    with pytest.raises(ConfigError) as err:
        load_config(p)
    assert str(p) in str(err.value)
    if key:
        assert f"field '{key}'" in str(err.value)
    if message:
        assert message in str(err.value)


def test_duplicate_epochs_and_bad_soil(tmp_path):
    twice = MINIMAL + MINIMAL[MINIMAL.index("[[epochs]]") :]
    with pytest.raises(ConfigError, match="unique"):
        load_config(_write(tmp_path, twice))
    soil = MINIMAL + '[active_layer.soils."x"]\nk_t = 1.0\nrho_d = 1000.0\nw = 0.1\nw_u = 0.2\nn_t = 1.0\n'
    with pytest.raises(ConfigError, match=r"w_u \(0.2\) must be smaller than w"):
        load_config(_write(tmp_path, soil))


def test_missing_config_file(tmp_path):
    with pytest.raises(MissingInputError, match="does not exist"):
        load_config(tmp_path / "none.toml")
