"""One run path: a RunSpec is a plain value that any process can execute."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import kinterp
from kinterp.cli import app
from kinterp.errors import KinterpError
from kinterp.loading.models import LoadOptions
from kinterp.settings.runspec import RunSpec
from tests.conftest import all_entries, assert_valid_report, run_dirs


def test_spec_round_trips_through_json_and_pickle():
    spec = RunSpec(
        "happymap",
        "mnist-cnn",
        {"classes": [1, 2], "steps": 8},
        data="mnist-5k",
        seed=7,
        out="/tmp/x",
        load=LoadOptions(unsafe=False, custom_objects=("m:a",), input_range=(0.0, 1.0)),
    )
    assert RunSpec.from_json(spec.to_json(), allow_unsafe=True) == spec
    assert pickle.loads(pickle.dumps(spec)) == spec
    assert json.loads(spec.to_json())["load"]["custom_objects"] == ["m:a"]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([], "must be a JSON object"),
        ({"model": "mnist-cnn"}, "'technique' is missing"),
        ({"technique": "happymap", "model": "mnist-cnn", "sead": 1}, "unknown key 'sead'"),
        ({"technique": "happymap", "model": "mnist-cnn", "seed": 1.5}, "--seed expects"),
        ({"technique": "happymap", "model": "mnist-cnn", "seed": "7"}, "--seed expects"),
        ({"technique": "happymap", "model": "mnist-cnn", "seed": -1}, "--seed must be"),
        ({"technique": "happymap", "model": "", "seed": 1}, "model must be a non-empty"),
        ({"technique": "happymap", "model": "m", "load": {"x": 1}}, "unknown load option"),
        ({"technique": "happymap", "model": "m", "params": [1]}, "params must be a mapping"),
    ],
)
def test_bad_specs_are_one_line_errors(raw, message):
    with pytest.raises(KinterpError, match=message):
        RunSpec.from_dict(raw)


def test_python_api_raises_kinterp_errors_for_bad_values(tmp_path):
    with pytest.raises(KinterpError, match="--seed expects an integer"):
        kinterp.run("happymap", "mnist-cnn", out=tmp_path, seed=1.5)
    with pytest.raises(KinterpError, match="--classes expects"):
        kinterp.run("happymap", "mnist-cnn", out=tmp_path, classes=3)
    assert all_entries(tmp_path) == []


def test_spec_from_json_in_a_fresh_process_writes_the_cli_report(runner, tmp_path):
    args = ["--classes", "1,7", "--steps", "12", "--init", "uniform,half", "--tv", "0.01"]
    cli_out = tmp_path / "cli"
    result = runner.invoke(
        app,
        ["run", "happymap", "mnist-cnn", "--seed", "3", "--quiet", "--out", str(cli_out), *args],
    )
    assert result.exit_code == 0, result.output
    (cli_dir,) = run_dirs(cli_out)
    cli_report = assert_valid_report(cli_dir)
    spec = RunSpec.from_dict(cli_report["spec"])
    assert spec.model == "mnist-cnn" and spec.seed == 3 and spec.params["classes"] == [1, 7]
    assert spec.model_sha256 == cli_report["model"]["sha256"]

    spec_file = tmp_path / "spec.json"
    spec_file.write_text(spec.to_json())
    worker_out = tmp_path / "worker"
    code = (
        "import sys; from kinterp import RunSpec, execute; "
        "spec = RunSpec.from_json(open(sys.argv[1]).read()); "
        "import dataclasses; spec = dataclasses.replace(spec, out=sys.argv[2]); "
        "print(execute(spec).path)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(spec_file), str(worker_out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    worker_dir = Path(done.stdout.strip())
    worker_report = assert_valid_report(worker_dir)
    for key in ("params", "seed", "data", "model", "status", "technique"):
        assert worker_report[key] == cli_report[key], key
    assert worker_report["metrics"].keys() == cli_report["metrics"].keys()
    for name, value in cli_report["metrics"].items():
        if name != "seconds":
            expected = value if value is None else pytest.approx(value, rel=1e-5)
            assert worker_report["metrics"][name] == expected, name
    cli_arrays = kinterp.RunResult(cli_dir, cli_report).arrays
    worker_arrays = kinterp.RunResult(worker_dir, worker_report).arrays
    for name, array in cli_arrays.items():
        np.testing.assert_allclose(worker_arrays[name], array, rtol=1e-5, atol=1e-6)


def test_replay_reruns_what_a_report_recorded(runner, tmp_path):
    first = runner.invoke(
        app,
        ["run", "backquery", "mnist-mlp", "--labels", "3", "--quiet", "--out", str(tmp_path / "a")],
    )
    assert first.exit_code == 0, first.output
    (run_dir,) = run_dirs(tmp_path / "a")
    again = runner.invoke(
        app, ["replay", str(run_dir / "report.json"), "--json", "--out", str(tmp_path / "b")]
    )
    assert again.exit_code == 0, again.output
    replayed = json.loads(again.stdout)
    original = json.loads((run_dir / "report.json").read_text())
    assert replayed["metrics"] == original["metrics"]


def test_a_changed_model_file_is_refused_by_its_sha256(runner, tmp_path, tiny_conv):
    model = tmp_path / "model.keras"
    model.write_bytes(tiny_conv.read_bytes())
    spec = RunSpec("backquery", str(model), model_sha256="0" * 64, out=str(tmp_path / "o"))
    (tmp_path / "spec.json").write_text(spec.to_json())
    result = runner.invoke(app, ["replay", str(tmp_path / "spec.json")])
    assert result.exit_code == 2
    assert "has changed since the run was specified" in result.stderr
    assert all_entries(tmp_path / "o") == []


@pytest.mark.parametrize(
    ("content", "message"),
    [("{not json", "not valid JSON"), ('{"schema_version": "1.1"}', "without a recorded run spec")],
)
def test_replay_bad_files(runner, tmp_path, content, message):
    path = tmp_path / "spec.json"
    path.write_text(content)
    result = runner.invoke(app, ["replay", str(path)])
    assert result.exit_code == 2 and message in result.stderr
    missing = runner.invoke(app, ["replay", str(tmp_path / "none.json")])
    assert missing.exit_code == 2 and "cannot read run spec" in missing.stderr
