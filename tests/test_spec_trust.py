"""A file cannot ask for unsafe loading: replay, RunSpec.from_json and sweep SPECs.

Only the command line (``--unsafe``, ``--custom-objects``) grants it; ``load`` fields are
checked with their types, so the string ``"false"`` is refused rather than taken as true.
"""

from __future__ import annotations

import json
import math

import pytest

import kinterp
from kinterp.cli import app
from kinterp.errors import KinterpError
from kinterp.loading.models import LoadOptions
from kinterp.settings.runspec import RunSpec
from tests.conftest import all_entries, assert_valid_report, run_dirs

UNSAFE_MESSAGE = "asks for unsafe loading"


def _report_with_load(tmp_path, load: dict) -> str:
    """A hostile shared report whose recorded spec carries ``load`` (not named report.json:
    the session's schema check would take it for one of the runs' own reports)."""
    spec = {"technique": "backquery", "model": "mnist-mlp", "load": load}
    path = tmp_path / "shared-report.json"
    path.write_text(json.dumps({"schema_version": "1.1", "spec": spec}))
    return str(path)


@pytest.mark.parametrize(
    ("load", "message"),
    [
        ({"unsafe": True}, f"{UNSAFE_MESSAGE} (load.unsafe)"),
        ({"custom_objects": ["os:system"]}, f"{UNSAFE_MESSAGE} (load.custom_objects)"),
        ({"unsafe": "false"}, "load.unsafe must be true or false, got 'false'"),
        ({"unsafe": 1}, "load.unsafe must be true or false"),
    ],
)
def test_replay_refuses_a_report_that_asks_for_unsafe_loading(runner, tmp_path, load, message):
    report = _report_with_load(tmp_path, load)
    out = tmp_path / "out"
    result = runner.invoke(app, ["replay", report, "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert all_entries(out) == []


def test_replay_never_writes_where_the_file_says(runner, tmp_path, monkeypatch):
    """A shared report's ``spec.out`` does not choose where the run lands: --out, else the
    default folder under the current directory."""
    chosen = tmp_path / "chosen-by-file"
    spec = {"technique": "backquery", "model": "mnist-mlp", "out": str(chosen)}
    shared = tmp_path / "shared-report.json"
    shared.write_text(json.dumps({"schema_version": "1.1", "spec": spec}))
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["replay", str(shared), "-q"])
    assert result.exit_code == 0, result.output
    assert not chosen.exists()
    assert len(run_dirs(tmp_path / "kinterp-reports")) == 1


def test_replay_of_an_unsafe_run_needs_unsafe_again(runner, lambda_model, tmp_path):
    first = runner.invoke(
        app,
        ["run", "happymap", str(lambda_model), "--unsafe", "--steps", "2", "-q"]
        + ["--out", str(tmp_path / "a")],
    )
    assert first.exit_code == 0, first.output
    (run_dir,) = run_dirs(tmp_path / "a")
    assert assert_valid_report(run_dir)["spec"]["load"]["unsafe"] is True

    refused = runner.invoke(app, ["replay", str(run_dir), "--out", str(tmp_path / "b")])
    assert refused.exit_code == 2, refused.output
    assert UNSAFE_MESSAGE in refused.stderr and "--unsafe" in refused.stderr
    assert all_entries(tmp_path / "b") == []

    again = runner.invoke(
        app, ["replay", str(run_dir), "--unsafe", "--json", "--out", str(tmp_path / "b")]
    )
    assert again.exit_code == 0, again.output
    (replayed,) = run_dirs(tmp_path / "b")
    assert assert_valid_report(replayed)["spec"]["load"]["unsafe"] is True


def test_replay_applies_the_command_lines_load_options(runner, lambda_model, tmp_path):
    """--custom-objects alone opts in; the file's unsafe flag is then replaced, not kept."""
    spec = {"technique": "happymap", "model": str(lambda_model), "params": {"steps": 2}}
    path = tmp_path / "spec.json"
    path.write_text(json.dumps({**spec, "load": {"unsafe": True}}))
    result = runner.invoke(
        app,
        ["replay", str(path), "--custom-objects", "math:sqrt", "--out", str(tmp_path / "o")],
    )
    assert result.exit_code == 2, result.output
    assert "--unsafe" in result.stderr  # the Lambda layer still needs the CLI's own --unsafe
    assert all_entries(tmp_path / "o") == []


@pytest.mark.parametrize(
    ("load", "message"),
    [
        ("x", "load must be a mapping"),
        ({"unsafe": "true"}, "load.unsafe must be true or false"),
        ({"custom_objects": "m:a"}, "load.custom_objects must be a list"),
        ({"custom_objects": [1]}, "load.custom_objects must be strings"),
        ({"custom_objects": [""]}, "load.custom_objects must be strings"),
        ({"image_shape": [28, 28, True]}, "load.image_shape must be three positive integers"),
        ({"image_shape": [28.0, 28, 1]}, "load.image_shape must be three positive integers"),
        ({"image_shape": [28, 28]}, "load.image_shape must be three positive integers"),
        ({"image_shape": [28, 0, 1]}, "load.image_shape must be three positive integers"),
        ({"input_range": [0, True]}, "load.input_range must be two finite numbers"),
        ({"input_range": ["0", "1"]}, "load.input_range must be two finite numbers"),
        ({"input_range": [0, math.inf]}, "load.input_range must be two finite numbers"),
        ({"input_range": "0,1"}, "load.input_range must be a list"),
        ({"colour": True}, "unknown load option 'colour'"),
    ],
)
def test_load_fields_are_checked_with_their_types(load, message):
    raw = {"technique": "backquery", "model": "mnist-mlp", "load": load}
    with pytest.raises(KinterpError, match=message):
        RunSpec.from_dict(raw, allow_unsafe=True)


def test_good_load_fields_round_trip():
    load = {"image_shape": [28, 28, 1], "input_range": [-1, 1.5], "unsafe": False}
    spec = RunSpec.from_dict({"technique": "backquery", "model": "mnist-mlp", "load": load})
    assert spec.load == LoadOptions(image_shape=(28, 28, 1), input_range=(-1.0, 1.5))
    assert RunSpec.from_json(spec.to_json()) == spec


def test_from_json_takes_unsafe_loading_only_when_allowed():
    text = json.dumps({"technique": "backquery", "model": "m", "load": {"unsafe": True}})
    with pytest.raises(KinterpError, match=UNSAFE_MESSAGE):
        RunSpec.from_json(text)
    assert RunSpec.from_json(text, allow_unsafe=True).load.unsafe is True


def test_python_code_may_still_choose_unsafe_loading_but_with_real_types():
    assert RunSpec("backquery", "m", load=LoadOptions(unsafe=True)).load.unsafe is True
    spec = RunSpec("backquery", "m", load=LoadOptions(custom_objects=["m:a"]))
    assert spec.load.custom_objects == ("m:a",)  # normalised: hashable for the worker cache
    with pytest.raises(KinterpError, match="load must be kinterp.loading.models.LoadOptions"):
        RunSpec("backquery", "m", load="x")
    with pytest.raises(KinterpError, match="load.unsafe must be true or false"):
        RunSpec("backquery", "m", load=LoadOptions(unsafe="false"))
    with pytest.raises(KinterpError, match="load.unsafe must be true or false"):
        kinterp.load_model("mnist-mlp", unsafe="false")
    with pytest.raises(KinterpError, match="unknown load option 'unsafe_'"):
        kinterp.load_model("mnist-mlp", unsafe_=True)


@pytest.mark.parametrize(
    "spec_text",
    [
        'models = ["mnist-mlp"]\nload = { unsafe = true }\n[[runs]]\ntechnique = "backquery"\n',
        'models = ["mnist-mlp"]\n[[runs]]\ntechnique = "backquery"\nload = { unsafe = true }\n',
        'models = ["mnist-mlp"]\n[[runs]]\ntechnique = "backquery"\nparams = { unsafe = true }\n',
    ],
)
def test_a_sweep_spec_cannot_ask_for_unsafe_loading(runner, tmp_path, spec_text):
    path = tmp_path / "sweep.toml"
    path.write_text(spec_text)
    out = tmp_path / "out"
    result = runner.invoke(app, ["sweep", str(path), "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert "unsafe" in result.stderr and "line" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert all_entries(out) == []


def test_every_planned_sweep_run_loads_safely(tmp_path):
    from kinterp.sweeps import plan_sweep

    plan = plan_sweep({"models": ["mnist-mlp"], "runs": [{"technique": "backquery"}]}, tmp_path)
    assert [run.spec.load for run in plan.runs] == [LoadOptions()]
    with pytest.raises(KinterpError, match="cannot set load options"):
        plan_sweep({"models": ["mnist-mlp"], "load": {"unsafe": True}, "runs": []}, tmp_path)
