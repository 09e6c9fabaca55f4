"""Shared services for every technique: classify, class names, data by class, warnings, CLI."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest

import kinterp
from kinterp.cli import app
from kinterp.plugins import register_plugin, unregister_plugin
from tests.conftest import run_dirs


@pytest.fixture(scope="module")
def linear_model(keras, model_dir):
    """A conv net whose last layer outputs logits (linear activation)."""
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="linear", name="logits"),
        ]
    )
    path = model_dir / "linear_head.keras"
    model.save(path)
    return path


def test_classify_gives_probabilities_whatever_the_output(linear_model, digits):
    loaded = kinterp.load_model(str(linear_model))
    images, labels = digits
    result = loaded.classify_images(images[:20])
    assert result.probs.shape == (20, 10)
    np.testing.assert_allclose(result.probs.sum(axis=1), 1.0, atol=1e-6)
    logits = loaded.logits(loaded.to_input(images[:20]))
    assert np.array_equal(result.top1, logits.argmax(axis=1))
    idx, p = result.topk(3)
    assert idx.shape == (20, 3) and np.all(np.diff(p, axis=1) <= 0)
    assert np.array_equal(idx[:, 0], result.top1)
    assert result.of(labels[:20]).shape == (20,)
    assert 0.0 <= result.accuracy(labels[:20]) <= 1.0


def test_class_names_come_from_the_card():
    fashion = kinterp.load_model("fashion-cnn").info
    assert fashion.class_name(9) == "Ankle boot"
    assert kinterp.load_model("mnist-cnn").info.class_name(12) == "12"


def test_data_selection_by_class(keras):
    from kinterp.data.modeldata import ModelData
    from kinterp.registry import load_dataset

    model = kinterp.load_model("mnist-cnn")
    data = ModelData("mnist-5k", load_dataset("mnist-5k"), model)
    x, y = data.test(classes=[3, 7], per_class=4)
    assert x.shape == (8, 28, 28, 1) and sorted(y.tolist()) == [3] * 4 + [7] * 4
    x, y = data.test(per_class=2)
    assert len(y) == 20 and np.bincount(y).tolist() == [2] * 10
    assert data.used["count"] == 20


@dataclass
class NoisyParams:
    pass


class Noisy(kinterp.Technique):
    name = "noisy-under-test"
    summary = "Warns while it runs"
    Params = NoisyParams

    def run(self, ctx: kinterp.RunContext, params: NoisyParams) -> None:
        import warnings

        for _ in range(3):
            warnings.warn("a library complains", UserWarning, stacklevel=1)
        ctx.report.metric("per_class", {str(i): i / 10 for i in range(12)})
        ctx.report.metric("single", 0.5)


class NoisyPlugin:
    @kinterp.hookimpl
    def register_techniques(self, register):
        register(Noisy())


def test_warnings_go_to_the_report_log_and_dict_metrics_to_the_summary(runner, tmp_path, tiny_conv):
    register_plugin(NoisyPlugin(), name="noisy-under-test")
    try:
        result = runner.invoke(
            app, ["run", "noisy-under-test", str(tiny_conv), "--out", str(tmp_path)]
        )
    finally:
        unregister_plugin("noisy-under-test")
    assert result.exit_code == 0, result.output
    assert "a library complains" not in result.stderr
    (run_dir,) = run_dirs(tmp_path)
    log = json.loads((run_dir / "report.json").read_text())["log"]
    assert len(log) == 1 and "UserWarning: a library complains" in log[0] and "[x3]" in log[0]
    assert "per_class: 0 0, 1 0.1, 2 0.2" in result.stdout and "(4 more)" in result.stdout
    assert "single: 0.5" in result.stdout


def test_exported_names_are_the_documented_contract():
    for name in (
        "RunContext",
        "LoadedModel",
        "ModelInfo",
        "ReportBuilder",
        "ModelData",
        "Dataset",
        "Classification",
        "RunSpec",
        "RunResult",
    ):
        assert getattr(kinterp, name).__name__ == name
    with pytest.raises(AttributeError):
        kinterp.NotAThing  # noqa: B018
