"""Shared fixtures: tiny real Keras models saved to disk, a CLI runner, report validation."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from typer.testing import CliRunner

from kinterp.loading.models import quiet_tensorflow


def _save(model, path: Path) -> Path:
    model.save(path)
    return path


@pytest.fixture(scope="session")
def keras():
    """Keras, imported once with TensorFlow's start-up chatter silenced."""
    quiet_tensorflow()
    import keras

    keras.utils.set_random_seed(0)
    return keras


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def tiny_conv(keras, model_dir) -> Path:
    """A 28x28x1 conv net with a softmax head, saved as .keras."""
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
            keras.layers.MaxPooling2D(2, name="pool"),
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(10, activation="softmax", name="predictions"),
        ]
    )
    return _save(model, model_dir / "tiny_conv.keras")


@pytest.fixture(scope="session")
def tiny_dense(keras, model_dir) -> Path:
    """A flat 784-input sigmoid MLP, saved as .keras."""
    model = keras.Sequential(
        [
            keras.Input((784,)),
            keras.layers.Dense(16, activation="sigmoid", name="hidden"),
            keras.layers.Dense(10, activation="sigmoid", name="output"),
        ]
    )
    return _save(model, model_dir / "tiny_dense.keras")


@pytest.fixture(scope="session")
def tiny_h5(keras, model_dir) -> Path:
    """The tiny conv architecture saved in the legacy HDF5 format."""
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(2, 3, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    return _save(model, model_dir / "tiny.h5")


@pytest.fixture(scope="session")
def tiny_savedmodel(keras, model_dir) -> Path:
    """A SavedModel directory exported from a tiny conv net."""
    model = keras.Sequential(
        [keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10)]
    )
    path = model_dir / "tiny_savedmodel"
    model.export(str(path), verbose=False)
    return path


@pytest.fixture(scope="session")
def lambda_model(keras, model_dir) -> Path:
    """A model with a Lambda layer: code that safe mode must refuse."""
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Lambda(lambda t: t * 2.0)(inputs)
    x = keras.layers.Flatten()(x)
    return _save(keras.Model(inputs, keras.layers.Dense(10)(x)), model_dir / "lambda.keras")


@pytest.fixture(scope="session", autouse=True)
def every_report_validates(tmp_path_factory):
    """After the whole session, validate every report.json any test wrote (CLI, API or
    subprocess) against the shipped schema, so no report escapes the check."""
    yield
    for path in sorted(tmp_path_factory.getbasetemp().rglob("report.json")):
        try:
            assert_valid_report(path.parent)
        except jsonschema.ValidationError as exc:
            pytest.fail(f"{path} does not match the report schema: {exc.message}")


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def assert_valid_report(run_dir: Path) -> dict:
    """Validate run_dir/report.json against the shipped schema; check the files it names."""
    from kinterp.reporting.report import validate_report

    report = json.loads((Path(run_dir) / "report.json").read_text())
    validate_report(report)
    assert (Path(run_dir) / "report.html").is_file()
    for artifact in report["artifacts"]:
        assert (Path(run_dir) / artifact["path"]).is_file(), artifact
    return report


def run_dirs(root: Path) -> list[Path]:
    """The visible run directories under root (temporary ones start with a dot)."""
    return sorted(p for p in Path(root).iterdir() if p.is_dir() and not p.name.startswith("."))


def assert_refused(runner: CliRunner, args: list[str], message: str, out: Path) -> None:
    """The CLI refuses ``args`` (with ``--out out``): exit 2, ``message`` in one line on
    stderr, nothing written under ``out``."""
    from kinterp.cli import app

    result = runner.invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert all_entries(out) == []


def all_entries(root: Path) -> list[Path]:
    """Everything under root, hidden included (to check nothing was written)."""
    return sorted(Path(root).rglob("*")) if Path(root).exists() else []


@pytest.fixture(scope="session")
def digits() -> tuple[np.ndarray, np.ndarray]:
    """A few real held-out MNIST digits as (N, 28, 28, 1) floats in [0, 1]."""
    from kinterp.data.datasets import BUILTIN_DATASETS

    dataset = next(d for d in BUILTIN_DATASETS if d.name == "mnist-5k").load()
    return dataset.x_test[:50], dataset.y_test[:50]


EXAMPLE_PLUGIN = Path(__file__).resolve().parents[1] / "examples" / "kinterp-occlusion"


@pytest.fixture
def occlusion_plugin(monkeypatch):
    """The example third-party plugin, registered in-process for the test."""
    import importlib

    from kinterp.plugins import register_plugin, unregister_plugin

    monkeypatch.syspath_prepend(str(EXAMPLE_PLUGIN))
    module = importlib.import_module("kinterp_occlusion")
    register_plugin(module, name="kinterp_occlusion")
    yield module
    unregister_plugin("kinterp_occlusion")


def limited(y, count: int) -> list[int]:
    """The examples a run with ``--limit count`` uses, computed here in plain Python: the
    classes taken in turn (the first of each class, then the second...), in dataset order."""
    seen: dict[int, int] = {}
    ranks = []
    for label in y:
        ranks.append(seen.get(int(label), 0))
        seen[int(label)] = ranks[-1] + 1
    return sorted(sorted(range(len(y)), key=lambda i: (ranks[i], i))[:count])
