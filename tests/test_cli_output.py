"""What the terminal shows: missing metric values in words, --help without a type after
flags, and no third-party log lines during a run (#24)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kinterp.cli import app
from kinterp.reporting.formatting import metric_text

ROOT = Path(__file__).resolve().parent.parent
LIBRARY_LOG = re.compile(r"retracing|^WARNING:|^W\d{4} |^I\d{4} ", re.MULTILINE)


@pytest.mark.parametrize(
    ("name", "value", "shown"),
    [
        ("pixel_correlation", None, "n/a"),
        ("breaking_point", {"edge": None, "rotate": 30}, "edge never, rotate 30"),
        ("spectrum_correlated_tv", {"conv2": None}, "conv2 never"),
        ("units_sampled", None, "n/a"),
        ("robust_accuracy", float("nan"), "n/a"),
        ("confidence", {"class 0": 0.25}, "class 0 0.25"),
    ],
)
def test_missing_metric_values_are_words(name, value, shown):
    assert metric_text(name, value) == shown


def test_happymap_run_prints_no_empty_value(runner, tmp_path):
    args = ["run", "happymap", "mnist-mlp", "--classes", "0", "--steps", "4"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path), "--quiet"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "pixel_correlation: n/a" in lines
    assert not [line for line in lines if line.endswith(":") or line.endswith(": ")]


@pytest.mark.parametrize(
    "command",
    [[], ["models"], ["run", "happymap"], ["run", "attribution"], ["sweep"]],
    ids=lambda c: " ".join(c) or "root",
)
def test_help_shows_no_type_after_flags(runner, command):
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "--help" in result.stdout
    assert "<bool>" not in result.stdout, result.stdout
    if command == ["run", "attribution"]:  # a technique's own flag, and its value options
        assert re.search(r"--sanity\s+--no-sanity\s+Run", result.stdout), result.stdout
        assert re.search(r"--sanity-stages\s+INT", result.stdout), result.stdout


def _kinterp(*args: str, plugin: bool = False) -> subprocess.CompletedProcess:
    """``kinterp ARGS`` in a fresh process (with tests/retrace_plugin.py if ``plugin``)."""
    register = "from tests import retrace_plugin; retrace_plugin.register_here(); " * plugin
    code = f"import sys; {register}from kinterp.cli import main; sys.argv[0] = 'kinterp'; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )


def test_tensorflow_warnings_go_to_the_report_log(tmp_path):
    done = _kinterp("run", "retrace", "mnist-mlp", "--out", str(tmp_path), "-q", plugin=True)
    assert done.returncode == 0, done.stderr
    assert not LIBRARY_LOG.search(done.stderr), done.stderr
    (report,) = tmp_path.glob("*/report.json")
    log = json.loads(report.read_text())["log"]
    assert any(line.startswith("TensorFlowLog:") and "retracing" in line for line in log), log


def test_tensorflow_warnings_stay_visible_with_debug(tmp_path):
    done = _kinterp("--debug", "run", "retrace", "mnist-mlp", "--out", str(tmp_path), plugin=True)
    assert done.returncode == 0, done.stderr
    assert "retracing" in done.stderr


def test_robustness_run_keeps_library_logs_off_the_terminal(tmp_path):
    done = _kinterp(
        "run", "robustness", "mnist-cnn", "--limit", "100", "--family", "noise", "--out",
        str(tmp_path),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert not LIBRARY_LOG.search(done.stderr), done.stderr
