"""A sweep SPEC is counted before it is expanded, and deeply nested values are refused.

The SPECs here are hostile: grids of 10^8 and 10^12 runs (which expanding would never finish
in this test's lifetime, so a pass shows the count comes first) and values nested 10,000
levels deep (which a recursive parser or walk could not survive).
"""

from __future__ import annotations

from pathlib import Path

import pytest

import kinterp
from kinterp.cli import app
from kinterp.errors import KinterpError
from kinterp.sweeps import plan_sweep
from kinterp.sweeps.size import DEFAULT_MAX_RUNS, block_runs
from tests.conftest import all_entries


def _grid_spec(path: Path, per_param: int, seeds: int = 1) -> Path:
    """A happymap SPEC whose 4-parameter grid has ``per_param ** 4`` points."""
    values = range(1, per_param + 1)
    path.write_text(
        'models = ["mnist-cnn"]\n'
        f"seeds = {list(range(seeds))}\n"
        "[[runs]]\n"
        'technique = "happymap"\n'
        "[runs.grid]\n"
        f"steps = {list(values)}\n"
        f"lr = {[v / 1000 for v in values]}\n"
        f"tv = {[v / 1e6 for v in values]}\n"
        f"restarts = {list(values)}\n"
    )
    return path


def _refused(runner, args: list[str], message: str, out: Path) -> str:
    result = runner.invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert all_entries(out) == []
    return result.stderr


@pytest.mark.parametrize(
    ("per_param", "count"), [(100, "100,000,000"), (1000, "1,000,000,000,000")]
)
def test_a_huge_grid_is_refused_before_it_is_expanded(runner, tmp_path, per_param, count):
    spec = _grid_spec(tmp_path / "sweep.toml", per_param)
    stderr = _refused(runner, ["sweep", str(spec)], f"expands to {count} runs", tmp_path / "o")
    assert "sweep.toml, line 5:" in stderr  # the grid of the [[runs]] table
    assert f"limit of {DEFAULT_MAX_RUNS:,}" in stderr and "--max-runs" in stderr


def test_max_runs_raises_and_lowers_the_limit(runner, tmp_path):
    spec = _grid_spec(tmp_path / "sweep.toml", 2, seeds=3)  # 2**4 x 3 = 48 runs
    _refused(runner, ["sweep", str(spec), "--max-runs", "47"], "expands to 48 runs", tmp_path / "o")
    result = runner.invoke(app, ["sweep", str(spec), "--max-runs", "48", "--dry-run", "--json"])
    assert result.exit_code == 0, result.output
    assert result.stdout.count('"key"') == 48
    for bad in ("0", "-5"):
        _refused(
            runner, ["sweep", str(spec), "--max-runs", bad], "--max-runs expects", tmp_path / "o"
        )


def test_the_count_is_the_expansion(tmp_path):
    spec = {
        "models": ["mnist-cnn", "mnist-mlp"],
        "seeds": [0, 1, 2],
        "runs": [{"technique": "happymap", "grid": {"steps": [1, 2], "lr": [0.1, 0.2, 0.3]}}],
    }
    plan = plan_sweep(spec, tmp_path)
    assert len(plan.runs) == block_runs(spec["runs"][0]["grid"], 2, 3) == 36
    with pytest.raises(KinterpError, match=r"^sweep spec runs\[0\]\.grid: the SPEC expands to 36"):
        plan_sweep(spec, tmp_path, max_runs=35)


def _nested_toml(depth: int) -> str:
    value = "[" * depth + "1" + "]" * depth
    head = 'models = ["mnist-cnn"]\n[[runs]]\ntechnique = "happymap"\n'
    return f"{head}params = {{ classes = {value} }}\n"


@pytest.mark.parametrize("depth", [40, 10_000])
def test_a_deeply_nested_spec_file_is_refused(runner, tmp_path, depth):
    spec = tmp_path / "sweep.toml"
    spec.write_text(_nested_toml(depth))
    _refused(runner, ["sweep", str(spec)], "nested", tmp_path / "o")


def test_a_deeply_nested_spec_dict_is_refused(tmp_path):
    value: list = [1]
    for _ in range(10_000):
        value = [value]
    spec = {
        "models": ["mnist-cnn"],
        "runs": [{"technique": "happymap", "grid": {"classes": value}}],
    }
    with pytest.raises(KinterpError, match="nested more than 32 levels deep"):
        plan_sweep(spec, tmp_path)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"workers": "2"}, "--workers expects a whole number, got str '2'"),
        ({"workers": True}, "--workers expects a whole number"),
        ({"cluster": 123}, "--cluster expects local or a scheduler address string, got int"),
        ({"out": 123}, "out must be a folder path, got int"),
        ({"max_runs": "5"}, "--max-runs expects a whole number"),
    ],
)
def test_sweep_api_arguments_of_the_wrong_type(tmp_path, kwargs, message):
    spec = {"models": ["mnist-mlp"], "runs": [{"technique": "backquery"}]}
    with pytest.raises(KinterpError, match=message):
        kinterp.sweep(spec, **{"out": tmp_path / "o", **kwargs})
    assert all_entries(tmp_path) == []


def test_sweep_api_spec_of_the_wrong_type():
    with pytest.raises(KinterpError, match="a sweep spec is a .toml path or a dict, got int"):
        kinterp.sweep(123)
