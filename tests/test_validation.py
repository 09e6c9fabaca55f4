"""Edge cases found in review: each gets a one-line error, or an honest result."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import kinterp
from kinterp.cli import app
from kinterp.plugins import register_plugin, registry, unregister_plugin
from tests.conftest import all_entries, assert_refused


@pytest.fixture(scope="module")
def relu_head(keras, model_dir):
    """A classifier whose last activation (relu) has no logits view."""
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="relu"),
        ]
    )
    path = model_dir / "relu_head.keras"
    model.save(path)
    return path


@pytest.fixture(scope="module")
def linear_head(keras, model_dir):
    """A classifier with linear outputs (logits)."""
    model = keras.Sequential(
        [keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10)]
    )
    path = model_dir / "linear_head.keras"
    model.save(path)
    return path


_fails = assert_refused


def test_logit_objective_needs_logits(runner, relu_head, tmp_path):
    _fails(
        runner,
        ["run", "happymap", str(relu_head), "--classes", "0"],
        "has no logits",
        tmp_path / "o",
    )
    result = runner.invoke(
        app,
        [
            "run",
            "happymap",
            str(relu_head),
            "--classes",
            "0",
            "--objective",
            "probability",
            "--steps",
            "4",
            "--out",
            str(tmp_path / "ok"),
        ],
    )
    assert result.exit_code == 0, result.output


def test_probability_on_linear_outputs_is_a_softmax(linear_head, tmp_path):
    result = kinterp.run(
        "happymap",
        str(linear_head),
        out=str(tmp_path),
        classes=[1],
        steps=4,
        objective="probability",
    )
    assert "softmax probability" in json.dumps(result.report["sections"])
    assert 0.0 <= result.metrics["confidence"]["class 1"] <= 1.0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--blur", "14"], "--blur 14 is too wide for 28x28 images"),
        (["--lr", "nan"], "--lr expects a finite number, got nan"),
        (["--tv", "inf"], "--tv expects a finite number, got inf"),
        (["--seed", "-1"], "--seed must be between 0 and 4294967295"),
        (["--input-range", "1,1"], "is not LO<HI"),
        (["--input-range", "1,0"], "is not LO<HI"),
    ],
)
def test_bad_numbers_are_one_line_errors(runner, tiny_conv, tmp_path, extra, message):
    _fails(
        runner,
        ["run", "happymap", str(tiny_conv), "--classes", "0", *extra],
        message,
        tmp_path / "o",
    )


def test_predict_reports_confidences_not_logits(runner, linear_head, tmp_path):
    from PIL import Image

    Image.new("L", (28, 28), 0).save(tmp_path / "blank.png")
    args = [str(linear_head), str(tmp_path / "blank.png"), "--top", "10", "--json"]
    result = runner.invoke(app, ["predict", *args, "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    top = json.loads(result.stdout)["images"][0]["top"]
    assert sum(t["confidence"] for t in top) == pytest.approx(1.0, abs=1e-6)


@dataclass
class ReservedParams:
    model: str = "x"


class Reserved(kinterp.Technique):
    name = "reserved"
    summary = "Uses a parameter name the core owns"
    Params = ReservedParams

    def run(self, ctx, params):
        pass


class ReservedPlugin:
    @kinterp.hookimpl
    def register_techniques(self, register):
        register(Reserved())


def test_reserved_parameter_name_marks_plugin_broken():
    register_plugin(ReservedPlugin(), name="reserved-plugin")
    try:
        record = {p.name: p for p in registry().plugins}["reserved-plugin"]
        assert record.status == "broken" and "reserved" in record.reason
        assert "reserved" not in registry().techniques
    finally:
        unregister_plugin("reserved-plugin")


class Unserialisable(kinterp.Technique):
    name = "unserialisable"
    summary = "Records a metric JSON cannot hold"

    def run(self, ctx, params):
        ctx.report.metric("bad", {1, 2})


class UnserialisablePlugin:
    @kinterp.hookimpl
    def register_techniques(self, register):
        register(Unserialisable())


def test_a_report_that_cannot_be_written_leaves_nothing(runner, tiny_conv, tmp_path):
    register_plugin(UnserialisablePlugin(), name="unserialisable-plugin")
    try:
        result = runner.invoke(
            app, ["run", "unserialisable", str(tiny_conv), "--out", str(tmp_path / "o")]
        )
    finally:
        unregister_plugin("unserialisable-plugin")
    assert result.exit_code == 1
    assert "TypeError" in result.stderr
    assert all_entries(tmp_path / "o") == []


def test_array_metrics_are_stored_as_lists(occlusion_plugin, tmp_path):
    from kinterp.reporting.report import ReportBuilder

    builder = ReportBuilder(tmp_path)
    builder.metric("per_class", np.array([0.5, 0.25]))
    assert builder.metrics["per_class"] == [0.5, 0.25]


def test_index_skips_foreign_and_hidden_reports(runner):
    # Outside pytest's temp root, which the session fixture checks for valid reports only.
    with tempfile.TemporaryDirectory() as name:
        _index_of_foreign_reports(runner, Path(name))


def _index_of_foreign_reports(runner, tmp_path):
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "report.json").write_text('{"something": "else"}')
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "report.json").write_text("{}")
    result = runner.invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "0 run(s)" in (tmp_path / "index.html").read_text()


def test_truncated_npz_is_a_one_line_error(runner, tiny_conv, occlusion_plugin, tmp_path):
    good = tmp_path / "good.npz"
    np.savez_compressed(good, x=np.zeros((4, 28, 28), "uint8"), y=np.zeros(4, "uint8"))
    bad = tmp_path / "bad.npz"
    bad.write_bytes(good.read_bytes()[:-40])
    _fails(
        runner,
        ["run", "occlusion", str(tiny_conv), "--data", str(bad)],
        "not a readable .npz file",
        tmp_path / "o",
    )


def test_numbered_class_folders_keep_their_numbers(tmp_path):
    from PIL import Image

    from kinterp.data.datasets import load_image_folder

    for label in ("3", "7", "10"):
        (tmp_path / label).mkdir()
        Image.new("L", (28, 28)).save(tmp_path / label / "a.png")
    dataset = load_image_folder(tmp_path)
    assert sorted(dataset.y_test.tolist()) == [3, 7, 10]
    assert dataset.class_names[7] == "7" and len(dataset.class_names) == 11


def test_many_classes_need_an_explicit_choice(runner, keras, tmp_path):
    model = keras.Sequential(
        [keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(100, "softmax")]
    )
    path = tmp_path / "hundred.keras"
    model.save(path)
    _fails(
        runner,
        ["run", "happymap", str(path)],
        "has 100 classes; pick some with --classes",
        tmp_path / "o",
    )
    ok = runner.invoke(
        app,
        [
            "run",
            "happymap",
            str(path),
            "--classes",
            "7",
            "--steps",
            "2",
            "--out",
            str(tmp_path / "ok"),
        ],
    )
    assert ok.exit_code == 0, ok.output


@pytest.fixture
def broken_model(tmp_path) -> Path:
    """Random bytes named .keras: an --out error must come before the model is opened."""
    path = tmp_path / "broken.keras"
    path.write_bytes(b"\x07" * 64)
    return path


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("file", "is not a folder"),
        ("under-file", "is not a folder"),
        ("/dev/null", "/dev/null is not a folder"),
        ("/proc", "cannot create a folder in /proc"),
        ("loop", "cannot be resolved"),
        ("read-only", "cannot create a folder in"),
    ],
)
def test_a_bad_output_location_fails_before_the_model_loads(
    runner, broken_model, tmp_path, where, message
):
    import os

    targets = {"file": tmp_path / "a-file", "loop": tmp_path / "loop" / "x"}
    targets["under-file"] = targets["file"] / "sub"
    targets["file"].write_text("")
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    read_only = tmp_path / "read-only"
    read_only.mkdir(mode=0o555)
    if where == "read-only" and os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    out = targets.get(where, read_only if where == "read-only" else Path(where))
    result = runner.invoke(app, ["run", "happymap", str(broken_model), "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert message in result.stderr and "--out" in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_an_empty_out_is_refused(runner, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["run", "happymap", "mnist-mlp", "--classes", "0", "--out", ""])
    assert result.exit_code == 2 and "--out is empty" in result.stderr
    with pytest.raises(kinterp.KinterpError, match="--out is empty"):
        kinterp.run("happymap", "mnist-mlp", out="", classes=[0], steps=2)
    assert all_entries(tmp_path) == []


@pytest.mark.parametrize("technique", ["happymap", "sadmap", "backquery"])
def test_data_for_a_technique_that_reads_none_is_refused(runner, technique, tmp_path):
    _fails(
        runner,
        ["run", technique, "mnist-mlp", "--data", str(tmp_path / "nonexistent.npz")],
        f"{technique} does not read a dataset",
        tmp_path / "o",
    )


def test_missing_data_fails_before_the_model_loads(runner, broken_model, tmp_path):
    _fails(
        runner,
        ["run", "robustness", str(broken_model), "--data", str(tmp_path / "none.npz")],
        "unknown dataset",
        tmp_path / "o",
    )


class IgnoresData(kinterp.Technique):
    name = "ignores-data"
    summary = "Says it reads data, never does"

    def run(self, ctx, params):
        ctx.report.metric("ran", 1)


class IgnoresDataPlugin:
    @kinterp.hookimpl
    def register_techniques(self, register):
        register(IgnoresData())


def test_data_a_technique_did_not_read_is_logged(tmp_path):
    register_plugin(IgnoresDataPlugin(), name="ignores-data-plugin")
    try:
        result = kinterp.run("ignores-data", "mnist-mlp", out=str(tmp_path), data="mnist-5k")
    finally:
        unregister_plugin("ignores-data-plugin")
    assert result.status == "ok" and result.report["data"] is None
    assert "UnusedData: ignores-data did not read --data mnist-5k" in result.report["log"]


def test_predict_skips_pipes_and_devices(runner, tmp_path):
    import os

    from PIL import Image

    os.mkfifo(tmp_path / "pipe.png")
    (tmp_path / "random.png").symlink_to("/dev/urandom")
    Image.new("L", (28, 28), 0).save(tmp_path / "blank.png")
    files = [str(tmp_path / n) for n in ("pipe.png", "random.png", "blank.png")]
    result = runner.invoke(app, ["predict", "mnist-mlp", *files, "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert result.stdout.count("skipped (not a regular file") == 2
    _fails(runner, ["predict", "mnist-mlp", *files[:2]], "not a regular file", tmp_path / "o2")


def test_control_characters_in_errors_are_escaped(runner, tmp_path):
    name = str(tmp_path / "model\n\x1b[31mred.keras")
    result = runner.invoke(app, ["run", "happymap", name, "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "\x1b" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "model\\n\\x1b[31mred.keras" in result.stderr


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"classes": 3}, "--classes expects a comma-separated list"),
        ({"seed": 1.5}, "--seed expects an integer, got 1.5"),
        ({"seed": "7"}, "--seed expects an integer, got '7'"),
        ({"lr": 1e308}, "--lr must be at most 10"),
        ({"lp": "1:nan"}, "--lp expects P:W"),
        ({"lp": "nan:1"}, "--lp expects P:W"),
        ({"lp": "2:inf"}, "--lp expects P:W"),
    ],
)
def test_bad_api_values_raise_kinterp_error(tmp_path, params, message):
    with pytest.raises(kinterp.KinterpError, match=message):
        kinterp.run("happymap", "mnist-mlp", out=str(tmp_path), **{"steps": 2, **params})
    assert all_entries(tmp_path) == []


def test_an_empty_npz_is_a_kinterp_error(tmp_path):
    np.savez(tmp_path / "empty.npz")
    with pytest.raises(kinterp.KinterpError, match="no image array"):
        kinterp.run(
            "robustness", "mnist-mlp", out=str(tmp_path / "o"), data=str(tmp_path / "empty.npz")
        )
    assert all_entries(tmp_path / "o") == []


def test_a_huge_learning_rate_is_refused_on_the_cli(runner, tmp_path):
    _fails(
        runner,
        ["run", "happymap", "mnist-mlp", "--classes", "0", "--lr", "1e308"],
        "--lr must be at most 10, got 1e+308",
        tmp_path / "o",
    )


def test_a_batch_too_big_for_memory_is_refused_before_it_runs(runner, tmp_path):
    args = ["run", "happymap", "mnist-cnn", "--restarts", "200", "--memory-limit", "64"]
    assert_refused(runner, args, "maps need about", tmp_path / "o")
    import kinterp
    from kinterp.toolkit.optimize import bytes_per_row

    model = kinterp.load_model("mnist-cnn")
    assert bytes_per_row(model, "conv1", 784) < bytes_per_row(model, None, 784)
