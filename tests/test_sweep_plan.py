"""Sweep expansion (no cluster): counts, unique keys, determinism; SPEC lines; the docs."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kinterp.errors import KinterpError
from kinterp.sweeps import plan_sweep
from kinterp.sweeps.locate import Locator
from kinterp.sweeps.plan import expand, run_key
from kinterp.sweeps.spec import ModelRef, RunBlock, SweepSpec, load_spec

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

DOCS = Path(__file__).resolve().parents[1] / "docs"
GRIDS = {
    "lr": st.lists(st.floats(1e-3, 1.0), min_size=1, max_size=3, unique=True),
    "restarts": st.lists(st.integers(1, 8), min_size=1, max_size=3, unique=True),
    "tv": st.lists(st.floats(0.0, 10.0).map(abs), min_size=1, max_size=3, unique=True),
    "steps": st.lists(st.integers(1, 64), min_size=1, max_size=3, unique=True),
}


@st.composite
def sweep_specs(draw) -> SweepSpec:
    """Up to two blocks (happymap, sadmap) with distinct models, seeds and grids."""
    shas = draw(
        st.lists(
            st.text("0123456789abcdef", min_size=64, max_size=64),
            min_size=1,
            max_size=3,
            unique=True,
        )
    )
    models = tuple(ModelRef(f"/m/{i}.keras", f"{i}.keras", sha) for i, sha in enumerate(shas))
    blocks = []
    for index, technique in enumerate(
        draw(st.sampled_from([["happymap"], ["happymap", "sadmap"]]))
    ):
        names = draw(st.lists(st.sampled_from(sorted(GRIDS)), max_size=3, unique=True))
        grid = {name: draw(GRIDS[name]) for name in names}
        seeds = tuple(
            draw(st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=3, unique=True))
        )
        blocks.append(RunBlock(index, technique, models, {"classes": [0]}, grid, seeds))
    return SweepSpec(tuple(blocks), None, Path("/"), Locator("sweep spec"))


@settings(max_examples=40, deadline=None)
@given(spec=sweep_specs())
def test_expansion_counts_keys_and_determinism(spec):
    runs = expand(spec, Path("/sweep"))
    expected = sum(
        math.prod(len(v) for v in b.grid.values()) * len(b.models) * len(b.seeds) for b in spec.runs
    )
    assert len(runs) == expected
    assert len({r.key for r in runs}) == expected
    assert len({r.spec.out for r in runs}) == expected
    assert expand(spec, Path("/sweep")) == runs
    for run in runs:
        spec_ = run.spec
        assert run.key == run_key(
            spec_.technique, spec_.model_sha256, spec_.params, spec_.data, spec_.seed
        )
        assert all(spec_.params[k] == v for k, v in run.grid.items())


def test_the_key_ignores_how_params_are_written(tmp_path):
    def keys(params: dict) -> list[str]:
        spec = {"models": ["mnist-mlp"], "runs": [{"technique": "happymap", "params": params}]}
        return [run.key for run in plan_sweep(spec, tmp_path).runs]

    assert keys({"classes": "0,1", "steps": "4"}) == keys({"classes": [0, 1], "steps": 4})


def test_a_glob_expands_relative_to_the_spec_folder(tmp_path):
    from kinterp.loading.zoo import zoo_models

    (tmp_path / "checkpoints").mkdir()
    for name in ("a", "b"):
        (tmp_path / "checkpoints" / f"{name}.keras").write_bytes(
            zoo_models()["mnist-mlp"].path.read_bytes()
        )
    spec = tmp_path / "sweep.toml"
    spec.write_text('models = ["checkpoints/*.keras"]\n[[runs]]\ntechnique = "backquery"\n')
    plan = plan_sweep(spec)
    assert [r.model_name for r in plan.runs] == ["a.keras"]  # same file content: one key
    assert plan.out == tmp_path / "sweep-out"


def test_a_dict_spec_names_the_key_path():
    with pytest.raises(KinterpError, match=r"^sweep spec runs\[0\]\.params\.steps: --steps"):
        load_spec(
            {"models": ["mnist-mlp"], "runs": [{"technique": "happymap", "params": {"steps": 0}}]}
        )


@pytest.mark.parametrize("example", sorted((DOCS / "examples").glob("sweep*.toml")))
def test_the_doc_examples_match_the_schema(example):
    schema = json.loads((DOCS / "sweep.schema.json").read_text())
    jsonschema.validate(tomllib.loads(example.read_text()), schema)


def test_the_zoo_example_plans(tmp_path):
    plan = plan_sweep(DOCS / "examples" / "sweep-zoo.toml", out=tmp_path)
    assert len(plan.runs) == 16 and not plan.done


def test_sweep_wide_data_skips_techniques_that_read_none(tmp_path):
    spec = tmp_path / "sweep.toml"
    spec.write_text(
        'models = ["mnist-cnn"]\ndata = "mnist-5k"\n'
        '[[runs]]\ntechnique = "happymap"\nparams = { steps = 2 }\n'
        '[[runs]]\ntechnique = "robustness"\nparams = { family = ["edge"] }\n'
    )
    datas = {run.spec.technique: run.spec.data for run in plan_sweep(spec).runs}
    assert datas == {"happymap": None, "robustness": "mnist-5k"}
    spec.write_text('models = ["mnist-cnn"]\n[[runs]]\ntechnique = "happymap"\ndata = "mnist-5k"\n')
    with pytest.raises(KinterpError, match=r"line 4: happymap reads no data"):
        plan_sweep(spec)


def test_progress_lines_name_the_grid_point(tmp_path, capsys):
    """#25: ``[5/16] ok happymap mnist-cnn lr=0.1 seed=1 2.0s`` when stderr is not a terminal."""
    from kinterp.sweeps.outcome import Outcome
    from kinterp.sweeps.progress import SweepProgress

    spec = {
        "models": ["mnist-mlp"],
        "seeds": [0, 1],
        "runs": [{"technique": "happymap", "grid": {"lr": [0.05, 0.1]}}],
    }
    plan = plan_sweep(spec, tmp_path / "out")
    labels = sorted(run.label for run in plan.runs)
    assert labels == [
        f"happymap mnist-mlp lr={lr} seed={seed}" for lr in (0.05, 0.1) for seed in (0, 1)
    ]
    progress = SweepProgress(len(plan.runs), quiet=False)
    progress.advance(plan.runs[0], Outcome("ok", seconds=2.0))
    line = capsys.readouterr().err.strip()
    assert line == f"[1/4] ok {plan.runs[0].label} 2.0s"


def test_file_params_are_made_absolute_from_the_specs_folder_and_checked(tmp_path):
    """#25: ``compare`` and ``init = image:...`` paths in a SPEC are relative to its folder; a
    missing one is refused at planning, naming the SPEC line."""
    (tmp_path / "other.keras").write_bytes(b"not read at planning")
    spec = tmp_path / "sweep.toml"
    spec.write_text(
        'models = ["mnist-cnn"]\n[[runs]]\ntechnique = "robustness"\n'
        'params = { compare = ["other.keras", "mnist-mlp"], limit = 5 }\n'
    )
    (run,) = plan_sweep(spec).runs
    assert run.spec.params["compare"] == [str(tmp_path / "other.keras"), "mnist-mlp"]
    spec.write_text(
        'models = ["mnist-cnn"]\n[[runs]]\ntechnique = "happymap"\n'
        'params = { init = ["uniform", "image:starts/none.png"] }\n'
    )
    with pytest.raises(KinterpError) as error:
        plan_sweep(spec)
    message = str(error.value)
    assert "sweep.toml, line 4: " in message and "--init: no such file" in message, message
    assert str(tmp_path / "starts" / "none.png") in message


def test_a_model_table_carries_its_load_options_into_the_run_and_its_key(tmp_path):
    """#25: ``{ model = ..., input_range = [0, 255] }`` in a SPEC loads that model as
    ``--input-range 0,255`` would; the options are part of the run's key."""
    spec = {
        "models": ["mnist-mlp", {"model": "mnist-mlp", "input_range": [0, 255]}],
        "runs": [{"technique": "backquery"}],
    }
    plain, ranged = plan_sweep(spec, tmp_path).runs
    assert plain.spec.load.input_range is None and ranged.spec.load.input_range == (0.0, 255.0)
    assert plain.key != ranged.key
    assert plain.key == run_key("backquery", plain.spec.model_sha256, plain.spec.params, None, 0)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"model": "mnist-mlp", "unsafe": True}, "a SPEC cannot ask for unsafe loading"),
        ({"model": "mnist-mlp", "custom_objects": ["m:L"]}, "pass --unsafe to kinterp sweep"),
        ({"model": "mnist-mlp", "input_range": [0]}, "load.input_range must be two finite"),
        ({"model": "mnist-mlp", "colour": 1}, "unknown load option 'colour'"),
        ({"input_range": [0, 1]}, "a model table needs model = NAME_OR_PATH"),
    ],
)
def test_bad_model_tables_are_refused_in_one_line_naming_the_spec_line(tmp_path, entry, message):
    spec = tmp_path / "sweep.toml"
    fields = ", ".join(f"{k} = {json.dumps(v)}" for k, v in entry.items())
    spec.write_text(
        f'seeds = [0]\nmodels = [\n  {{ {fields} }},\n]\n[[runs]]\ntechnique = "backquery"\n'
    )
    with pytest.raises(KinterpError) as error:
        plan_sweep(spec)
    text = str(error.value)
    assert message in text and "\n" not in text and "sweep.toml, line" in text, text


def test_custom_objects_in_a_spec_need_the_command_lines_unsafe(tmp_path):
    spec = {"models": [{"model": "mnist-mlp", "custom_objects": ["json:JSONDecoder"]}]}
    spec["runs"] = [{"technique": "backquery"}]
    (run,) = plan_sweep(spec, tmp_path, unsafe=True).runs
    assert run.spec.load.custom_objects == ("json:JSONDecoder",) and run.spec.load.unsafe
