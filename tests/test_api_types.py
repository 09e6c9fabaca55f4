"""The Python API answers arguments of the wrong type with a KinterpError naming them.

No raw ``AttributeError`` or ``TypeError`` from deep inside: each case is refused before
anything runs or is written. (The sweep's arguments are tested in test_sweep_limits.py.)
"""

from __future__ import annotations

import json

import pytest

import kinterp
from kinterp.cli import app
from kinterp.errors import KinterpError
from kinterp.settings.runspec import RunSpec
from tests.conftest import all_entries


@pytest.mark.parametrize("spec", ["x", None, {"technique": "backquery", "model": "mnist-mlp"}])
def test_execute_needs_a_runspec(spec):
    with pytest.raises(KinterpError, match="kinterp.execute expects a RunSpec"):
        kinterp.execute(spec)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (None, "got None"),
        ("not a url", "got 'not a url'"),
        ("ftp://127.0.0.1:8765", "http:// or https://"),
        ("http://", "with a host"),
        ("http://127.0.0.1:port", "got 'http://127.0.0.1:port'"),
        ("http://[::1", "got 'http://[::1'"),
    ],
)
def test_client_needs_a_server_url(url, message):
    with pytest.raises(KinterpError, match="a kinterp server URL is http") as caught:
        kinterp.Client(url)
    assert message in str(caught.value)


def test_client_token_timeout_and_submit_types():
    with pytest.raises(KinterpError, match="token must be a string"):
        kinterp.Client("http://127.0.0.1:8765", token=123)
    for timeout in ("60", 0, -1, True):
        with pytest.raises(KinterpError, match="timeout must be a positive number"):
            kinterp.Client("http://127.0.0.1:8765", timeout=timeout)
    with pytest.raises(KinterpError, match="submit expects a RunSpec or a dict, got str"):
        kinterp.Client("http://127.0.0.1:8765").submit("spec")


def test_run_on_a_server_with_a_bad_url_is_a_one_line_error(runner, tmp_path):
    result = runner.invoke(app, ["run", "backquery", "mnist-mlp", "--server", "not a url"])
    assert result.exit_code == 2, result.output
    assert "a kinterp server URL is http" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"load": "x"}, "load must be kinterp.loading.models.LoadOptions, got 'x'"),
        ({"load": {"unsafe": True}}, "load must be kinterp.loading.models.LoadOptions"),
        ({"params": None}, "params must be a mapping"),
        ({"seed": True}, "--seed expects an integer"),
        ({"out": 3}, "out must be a string"),
    ],
)
def test_runspec_fields_are_validated(kwargs, message):
    with pytest.raises(KinterpError, match=message):
        RunSpec("backquery", "mnist-mlp", **kwargs)


def test_runspec_params_nested_too_deeply():
    value: list = [3]
    for _ in range(10_000):
        value = [value]
    with pytest.raises(KinterpError, match="nested more than 32 levels deep"):
        RunSpec("backquery", "mnist-mlp", {"labels": value})


@pytest.mark.parametrize("depth", [40, 100_000])
def test_from_json_nested_too_deeply(depth):
    text = '{"technique": "backquery", "model": "mnist-mlp", "params": {"labels": '
    text += "[" * depth + "3" + "]" * depth + "}}"
    with pytest.raises(KinterpError, match="nested"):
        RunSpec.from_json(text)


def test_replay_of_a_deeply_nested_file_exits_2(runner, tmp_path):
    path = tmp_path / "spec.json"
    path.write_text('{"technique": "backquery", "model": "mnist-mlp", "params": ' + "[" * 50_000)
    result = runner.invoke(app, ["replay", str(path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2, result.output
    assert len(result.stderr.strip().splitlines()) == 1
    assert all_entries(tmp_path / "o") == []


@pytest.mark.parametrize("text", [None, 42, {"technique": "backquery"}])
def test_from_json_needs_text(text):
    with pytest.raises(KinterpError, match="RunSpec.from_json expects JSON text"):
        RunSpec.from_json(text)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"model": 42}, "model must be a string or a path, got int"),
        ({"model": None}, "model must be a string or a path, got NoneType"),
        ({"out": 42}, "out must be a string or a path, got int"),
        ({"data": ["mnist-5k"]}, "data must be a string or a path, got list"),
    ],
)
def test_run_arguments_of_the_wrong_type(tmp_path, kwargs, message):
    args = {"model": "mnist-mlp", "out": tmp_path / "o", **kwargs}
    with pytest.raises(KinterpError, match=message):
        kinterp.run("backquery", **args)
    assert all_entries(tmp_path / "o") == []


def test_load_model_needs_a_model_name():
    with pytest.raises(KinterpError, match="model must be a string or a path, got int"):
        kinterp.load_model(42)


def test_a_good_spec_still_round_trips():
    spec = RunSpec("backquery", "mnist-mlp", {"labels": [[3, 8]]})
    assert RunSpec.from_json(json.dumps(spec.as_dict())) == spec
