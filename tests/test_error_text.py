"""A technique's error is recorded by the line that says what went wrong.

TensorFlow's errors from inside a ``tf.function`` start with ``in user code:`` and a
traceback; Keras' layer errors with ``Exception encountered when calling ...``. The report,
the CLI line and a sweep's manifest keep the cause instead.
"""

from __future__ import annotations

import json

import pytest

import kinterp
from kinterp.cli import app
from kinterp.errors import error_line
from kinterp.plugins import register_plugin, unregister_plugin
from tests.conftest import assert_valid_report, run_dirs

CAUSE = "is incompatible with the layer: expected axis -1 of input shape to have value"


class WrongShape(kinterp.Technique):
    name = "wrong-shape"
    summary = "Calls the model on a batch of the wrong shape inside a tf.function"

    def run(self, ctx: kinterp.RunContext, params: object) -> None:
        import tensorflow as tf

        model = ctx.model.keras_model

        @tf.function
        def call(x):
            return model(x)

        call(tf.zeros((2, 5)))


class WrongShapePlugin:
    @kinterp.hookimpl
    def register_techniques(self, register):
        register(WrongShape())


@pytest.fixture
def wrong_shape():
    register_plugin(WrongShapePlugin(), name="wrong-shape-plugin")
    yield
    unregister_plugin("wrong-shape-plugin")


def test_a_tf_function_error_is_recorded_by_its_cause(runner, wrong_shape, tiny_dense, tmp_path):
    result = runner.invoke(app, ["run", "wrong-shape", str(tiny_dense), "--out", str(tmp_path)])
    assert result.exit_code == 1, result.output
    assert "wrong-shape failed: ValueError: Input 0" in result.stderr
    assert CAUSE in result.stderr and "in user code" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    (run_dir,) = run_dirs(tmp_path)
    report = assert_valid_report(run_dir)
    assert report["status"] == "failed"
    assert report["error"]["type"] == "ValueError"
    assert CAUSE in report["error"]["message"]
    assert "\x1b" not in json.dumps(report["error"])


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("boom\nsecond line", "RuntimeError: boom"),
        ("", "RuntimeError"),
        (
            'in user code:\n\n    File "/x.py", line 7, in f  *\n        return m(x)\n\n'
            "    ValueError: Dimensions must be equal, but are 5 and 3\n",
            "ValueError: Dimensions must be equal, but are 5 and 3",
        ),
        (
            "Exception encountered when calling Dense.call().\n\n\x1b[1mInput 0 is bad\x1b[0m\n\n"
            "Arguments received by Dense.call():\n  • inputs=x",
            "RuntimeError: Input 0 is bad",
        ),
        (
            "{{function_node __wrapped__Reshape_device_/job:localhost}} Input to reshape is a "
            "tensor with 10 values [Op:Reshape]",
            "RuntimeError: Input to reshape is a tensor with 10 values [Op:Reshape]",
        ),
        (
            'in user code:\n\n    File "/x.py", line 1\n        y = 1\n',
            "RuntimeError: in user code:",
        ),
    ],
)
def test_error_line_picks_the_informative_line(message, expected):
    assert error_line(RuntimeError(message)) == expected
