"""Params dataclasses -> CLI options -> typed values, with one-line errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pytest

from kinterp.cli import app
from kinterp.errors import KinterpError
from kinterp.settings.params import param_specs, parse_params


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
    from kinterp.settings.params import RESERVED

    assert {p.name for p in _common_run_parameters()} <= RESERVED


@dataclass
class Bounded:
    steps: int = field(default=10, metadata={"min": 1, "max": 1000})
    lr: float = field(default=0.1, metadata={"min": 1e-6, "max": 10})
    widths: list[int] = field(default_factory=lambda: [0, 1], metadata={"min": 0, "max_items": 4})
    mode: str = field(default="a", metadata={"choices": ["a", "b"]})


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"steps": "0"}, "--steps must be at least 1, got 0"),
        ({"steps": 100000000}, "--steps must be at most 1,000, got 100000000"),
        ({"steps": "1e12"}, "--steps expects an integer"),
        ({"lr": "nan"}, "--lr expects a finite number"),
        ({"lr": float("inf")}, "--lr expects a finite number"),
        ({"lr": "1e308"}, "--lr must be at most 10"),
        ({"widths": "0,-1"}, "--widths must be at least 0, got -1"),
        ({"widths": "1,2,3,4,5"}, "--widths takes at most 4 values"),
        ({"widths": 3}, "--widths expects a comma-separated list"),
        ({"mode": "c"}, "--mode must be one of a, b"),
        ({"steps": True}, "--steps expects an integer"),
    ],
)
def test_bounds_are_enforced_by_the_one_parser(raw, message):
    with pytest.raises(KinterpError) as caught:
        parse_params(Bounded, raw)
    assert message in str(caught.value)


def test_bounds_show_in_help_text():
    specs = {s.name: s for s in param_specs(Bounded)}
    assert specs["steps"].help_text.endswith("(default: 10; 1 to 1,000)")
    assert specs["widths"].type_label == "INT,..." and specs["mode"].type_label == "a|b"
    assert "at most 4 values" in specs["widths"].help_text


def test_a_default_outside_its_bounds_is_a_plugin_bug():
    @dataclass
    class Broken:
        steps: int = field(default=0, metadata={"min": 1})

    with pytest.raises(TypeError, match="default breaks its bounds"):
        param_specs(Broken)


def test_out_of_bounds_on_the_cli_writes_nothing(runner, tmp_path):
    out = tmp_path / "o"
    result = runner.invoke(
        app, ["run", "happymap", "mnist-cnn", "--steps", "100000000", "--out", str(out)]
    )
    assert result.exit_code == 2
    assert result.stderr.strip() == "Error: --steps must be at most 100,000, got 100000000"
    assert not out.exists()
    help_text = runner.invoke(app, ["run", "happymap", "--help"]).stdout
    assert "1 to 100,000" in help_text
