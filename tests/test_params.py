"""Params dataclasses -> CLI options -> typed values, with one-line errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pytest

from kinterp.errors import KinterpError
from kinterp.params import param_specs, parse_params


@dataclass
class Example:
    steps: int = field(default=10, metadata={"help": "How many steps."})
    lr: float = 0.1
    tv: float = 0.0
    smooth: bool = False
    objective: Literal["logit", "probability"] = "logit"
    classes: list[int] | None = None
    init: list[str] = field(default_factory=lambda: ["uniform"])
    layer: str | None = None


def test_specs_describe_each_field():
    specs = {s.name: s for s in param_specs(Example)}
    assert specs["steps"].option == "--steps" and specs["steps"].help == "How many steps."
    assert specs["objective"].choices == ("logit", "probability")
    assert specs["classes"].kind == "list[int]" and specs["classes"].optional
    assert specs["init"].default == ["uniform"]


def test_strings_are_parsed_like_the_cli():
    params = parse_params(
        Example,
        {
            "steps": "5",
            "lr": "0.5",
            "smooth": "yes",
            "objective": "probability",
            "classes": "0,3,5",
            "init": "zeros,half",
            "layer": "conv1",
        },
    )
    assert params == Example(
        5, 0.5, 0.0, True, "probability", [0, 3, 5], ["zeros", "half"], "conv1"
    )


def test_python_values_pass_through():
    params = parse_params(Example, {"steps": 3, "lr": 1, "classes": [1, 2], "smooth": True})
    assert params.steps == 3 and params.lr == 1.0 and params.classes == [1, 2]


def test_all_means_none_for_optional_lists():
    assert parse_params(Example, {"classes": "all"}).classes is None


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"steps": "ten"}, "--steps expects an integer, got 'ten'"),
        ({"lr": "fast"}, "--lr expects a number"),
        ({"smooth": "maybe"}, "--smooth expects true or false"),
        ({"objective": "loss"}, "--objective must be one of logit, probability"),
        ({"classes": "1,x"}, "--classes expects an integer, got 'x'"),
        ({"classes": ","}, "--classes expects a comma-separated list"),
        ({"nope": 1}, "unknown parameter 'nope'"),
    ],
)
def test_bad_values_get_one_line_errors(raw, message):
    with pytest.raises(KinterpError) as caught:
        parse_params(Example, raw)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_unsupported_field_type_is_a_plugin_bug():
    @dataclass
    class Bad:
        mapping: dict = field(default_factory=dict)

    with pytest.raises(TypeError):
        param_specs(Bad)


def test_cli_wrong_type_exits_2(runner, occlusion_plugin, tiny_conv, tmp_path):
    from kinterp.cli import app

    result = runner.invoke(
        app, ["run", "occlusion", str(tiny_conv), "--patch", "big", "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 2
    assert result.stderr.strip() == "Error: --patch expects an integer, got 'big'"
    assert not (tmp_path / "o").exists()


def test_cli_unknown_technique_suggests(runner):
    from kinterp.cli import app

    result = runner.invoke(app, ["run", "backqeury", "mnist-mlp"])
    assert result.exit_code == 2
    assert "unknown technique 'backqeury'; did you mean backquery?" in result.stderr


def test_cli_unknown_option_is_one_line(runner, occlusion_plugin):
    from kinterp.cli import app

    result = runner.invoke(app, ["run", "occlusion", "mnist-cnn", "--bogus", "1"])
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "--bogus" in result.stderr


def test_technique_help_shows_params_and_defaults(runner, occlusion_plugin):
    from kinterp.cli import app

    result = runner.invoke(app, ["run", "occlusion", "--help"])
    assert result.exit_code == 0
    assert "--patch" in result.stdout and "Side of the hidden square" in result.stdout


def test_core_run_options_are_reserved_names():
    from kinterp.cli import _common_run_parameters
    from kinterp.params import RESERVED

    assert {p.name for p in _common_run_parameters()} <= RESERVED
