"""The command line: every command's help, clear errors without tracebacks, exit codes."""

import subprocess
import sys

import pytest

from pfatlas.cli.main import main

COMMANDS = [
    "template-config",
    "validate",
    "build",
    "terrain",
    "demo",
    "score",
    "simulate",
    "template-scenario",
    "serve",
]


@pytest.mark.parametrize("command", COMMANDS)
def test_help_of_every_command(command, capsys):
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert "Usage" in out and command in out


def test_top_level_help_lists_commands(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in COMMANDS:
        assert command in out


def test_template_config_goes_to_stdout(capsys):
    assert main(["template-config"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("# pfatlas configuration template")
    assert "[area]" in captured.out and captured.err == ""


def test_missing_config_is_one_clear_line(tmp_path, capsys):
    code = main(["validate", str(tmp_path / "nope.toml")])
    err = capsys.readouterr().err
    assert code == 1
    assert "nope.toml: config file does not exist" in err
    assert "Traceback" not in err


def test_usage_error_exits_2(capsys):
    assert main(["build"]) == 2
    assert "Missing argument" in capsys.readouterr().err


def test_validate_reports_every_problem(tmp_path, capsys):
    (tmp_path / "b.csv").write_text("id,lon,lat,magt_c,year,setting\nB1,99.02,38.02,cold,2005,natural\n")
    (tmp_path / "config.toml").write_text(
        """
[area]
bbox = [99.0, 38.0, 99.06, 38.04]
[inputs]
dem = "missing_dem.tif"
boreholes = "b.csv"
[[epochs]]
label = "2000"
start = 2000-06-01
end = 2000-09-30
year = 2000
"""
    )
    code = main(["validate", str(tmp_path / "config.toml")])
    err = capsys.readouterr().err
    assert code == 1
    assert "2 problem(s)" in err
    assert "missing_dem.tif: file does not exist" in err
    assert "b.csv, row 2, field 'magt_c'" in err and "cold" in err
    assert "Traceback" not in err


def test_console_script_runs_in_a_subprocess(tmp_path):
    # the installed entry point, as a user calls it: non-zero exit, message, no traceback
    r = subprocess.run(
        [sys.executable, "-m", "pfatlas.cli.main", "build", str(tmp_path / "none.toml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 1
    assert "none.toml: config file does not exist" in r.stderr
    assert "Traceback" not in r.stderr


def test_build_cluster_option_is_checked(tmp_path, capsys):
    assert main(["build", str(tmp_path / "none.toml"), "--cluster", "gpu"]) == 1
    err = capsys.readouterr().err
    assert (
        "--cluster must be one of 'local', 'processes', 'threads', got 'gpu'" in err
        and "Traceback" not in err
    )


def test_an_interrupted_demo_is_one_line_and_exit_130(tmp_path, capsys, monkeypatch):
    import pfatlas.demo

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pfatlas.demo, "run_demo", interrupted)
    assert main(["demo", str(tmp_path / "d"), "--size", "small"]) == 130
    err = capsys.readouterr().err
    assert "demo interrupted" in err and "Traceback" not in err
