"""Random values for every param of every installed technique, through the real CLI.

Whatever the values (in bounds, huge, negative, NaN, inf, empty, wrong-type text), a run
either is refused (exit 2, one line on stderr, nothing written) or succeeds (exit 0, one
valid report): never exit 1, never a traceback. Costly params are kept small when valid.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from kinterp.cli import app
from kinterp.plugins import registry
from kinterp.settings.params import ParamSpec, param_specs
from tests.conftest import all_entries, assert_valid_report, run_dirs

MODEL = "mnist-mlp"
SMALL = {
    "steps": "2",
    "restarts": "1",
    "limit": "20",
    "sensitivity_images": "0",
    "per_class": "1",
    "smooth_samples": "2",
    "score_cam_channels": "2",
    "deletion_steps": "2",
    "logistic_steps": "2",
    "eigen_images": "1",
    "count": "1",
    "population": "8",
    "generations": "2",
    "examples": "8",
    "top": "1",
}
"""Params that set how much work a run does: a valid value is replaced by this one."""
BAD_NUMBERS = ["-1", "-1e9", "1e308", "-1e308", "99999999999999999999999", "nan", "inf", "-inf"]
BAD_TEXT = ["", " ", "abc", "1.5x", "0,x", ",", "none", "\u00e9\u4e2d", "\x1b[31m"]
TECHNIQUES = sorted(registry().techniques)


def _number(spec: ParamSpec) -> st.SearchStrategy[str]:
    """A valid number of the spec's kind, as text."""
    low, high = spec.minimum, spec.maximum
    if spec.item_kind == "int":
        return st.integers(int(math.ceil(low)), int(math.floor(high))).map(str)
    return st.floats(low, high, allow_nan=False, allow_infinity=False).map(repr)


def _item(spec: ParamSpec) -> st.SearchStrategy[str]:
    """One value of the spec's item kind: valid or not."""
    bad = st.sampled_from(BAD_NUMBERS + BAD_TEXT)
    if spec.choices:
        return st.one_of(st.sampled_from(spec.choices), bad)
    if spec.item_kind in ("int", "float"):
        return st.one_of(_number(spec), bad)
    return st.one_of(
        st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=8), bad
    )


def _value(spec: ParamSpec) -> st.SearchStrategy[str]:
    """The option's text: one item, or a comma-separated list of them (maybe too long)."""
    if not spec.kind.startswith("list["):
        return _item(spec)
    lists = st.lists(_item(spec), min_size=0, max_size=4).map(",".join)
    if spec.max_items is not None and spec.max_items <= 10_000:
        too_many = ",".join(["1"] * (spec.max_items + 1))
        return st.one_of(lists, st.just(too_many))
    return lists


@st.composite
def _arguments(draw: st.DrawFn, technique: str) -> list[str]:
    """CLI options for a random subset of the technique's params (bools as flags)."""
    technique_object, _ = registry().techniques[technique]
    args = []
    for spec in param_specs(technique_object.Params):
        if spec.kind == "bool":
            flag = draw(st.sampled_from([None, spec.option, f"--no-{spec.option[2:]}"]))
            args += [flag] if flag else []
            continue
        if spec.name in SMALL:
            value = draw(
                st.one_of(st.just(SMALL[spec.name]), st.sampled_from(BAD_NUMBERS + BAD_TEXT))
            )
        elif draw(st.booleans()):
            value = draw(_value(spec))
        else:
            continue
        args.append(f"{spec.option}={value}")
    return args


@pytest.mark.parametrize("technique", TECHNIQUES)
@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_any_param_values_give_exit_0_or_2(tmp_path_factory, technique, data):
    args = data.draw(_arguments(technique), label="args")
    out = tmp_path_factory.mktemp("property")
    result = CliRunner().invoke(app, ["run", technique, MODEL, *args, "--quiet", "--out", str(out)])
    event(f"exit {result.exit_code}")
    assert "Traceback" not in result.output, result.output
    assert result.exit_code in (0, 2), (args, result.output)
    if result.exit_code == 2:
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert all_entries(out) == [], args
    else:
        (run_dir,) = run_dirs(out)
        assert assert_valid_report(run_dir)["status"] == "ok"
