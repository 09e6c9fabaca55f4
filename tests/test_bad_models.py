"""Every broken model file gets exit code 2, one line naming problem and fix, nothing written."""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from pathlib import Path

import pytest

from kinterp.cli import app
from tests.conftest import all_entries


def _rewrite_config(source: Path, target: Path, edit) -> Path:
    with zipfile.ZipFile(source) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    members["config.json"] = json.dumps(edit(config)).encode()
    with zipfile.ZipFile(target, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return target


def _rename_class(config, old, new):
    text = json.dumps(config).replace(f'"class_name": "{old}"', f'"class_name": "{new}"')
    return json.loads(text)


def _foreign_module(config):
    return json.loads(json.dumps(config).replace('"module": "keras.layers"', '"module": "os"'))


def _corpus(tmp: Path, good: Path, good_h5: Path, lambda_model: Path) -> dict[str, tuple]:
    """name -> (path, words the message must contain)."""
    blob = good.read_bytes()
    h5 = good_h5.read_bytes()
    files = {
        "text": ("model.keras", b"this is not a model\n", "not a Keras model"),
        "random": ("random.keras", os.urandom(4096), "not a Keras model"),
        "empty": ("empty.keras", b"", "empty"),
        "truncated_keras": ("truncated.keras", blob[: len(blob) // 2], "truncated or corrupted"),
        "broken_hdf5": ("broken.h5", h5[:8] + os.urandom(2048), "broken HDF5"),
        "truncated_hdf5": ("truncated.h5", h5[: len(h5) // 3], "broken HDF5"),
        "random_h5": ("random.h5", os.urandom(1024), "not a Keras model"),
    }
    cases = {}
    for name, (file_name, data, words) in files.items():
        path = tmp / file_name
        path.write_bytes(data)
        cases[name] = (path, words)
    flipped = bytearray(blob)
    with zipfile.ZipFile(good) as archive:
        info = archive.getinfo("model.weights.h5")
    flipped[info.header_offset + 30 + len(info.filename) + info.compress_size // 2] ^= 0xFF
    (tmp / "flipped.keras").write_bytes(bytes(flipped))
    cases["bit_flipped"] = (tmp / "flipped.keras", "corrupted")
    zip_path = tmp / "notkeras.keras"
    with zipfile.ZipFile(zip_path, "w") as archive:
        archive.writestr("readme.txt", "hello")
    cases["zip_not_keras"] = (zip_path, "no config.json")
    (tmp / "folder").mkdir()
    cases["directory"] = (tmp / "folder", "not a SavedModel")
    cases["missing"] = (tmp / "nope.keras", "no such file")
    cases["unknown_class"] = (
        _rewrite_config(good, tmp / "unknown.keras", lambda c: _rename_class(c, "Dense", "Nope")),
        "--custom-objects",
    )
    cases["foreign_module"] = (
        _rewrite_config(good, tmp / "foreign.keras", _foreign_module),
        "not a Keras layer",
    )
    cases["lambda_without_unsafe"] = (lambda_model, "--unsafe")
    weights = tmp / "only.weights.h5"
    shutil.copy(good_h5, weights)
    import h5py

    with h5py.File(weights, "a") as h5:
        del h5.attrs["model_config"]
    cases["weights_only_h5"] = (weights, "without a model config")
    return cases


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, tiny_conv, tiny_h5, lambda_model):
    return _corpus(tmp_path_factory.mktemp("corpus"), tiny_conv, tiny_h5, lambda_model)


CASES = [
    "text",
    "random",
    "empty",
    "truncated_keras",
    "broken_hdf5",
    "truncated_hdf5",
    "random_h5",
    "bit_flipped",
    "zip_not_keras",
    "directory",
    "missing",
    "unknown_class",
    "foreign_module",
    "lambda_without_unsafe",
    "weights_only_h5",
]


@pytest.mark.parametrize("case", CASES)
def test_broken_model_file_gets_one_line_and_exit_2(runner, corpus, case):
    path, words = corpus[case]
    result = runner.invoke(app, ["inspect", str(path)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    assert words in lines[0], lines[0]
    assert "Traceback" not in result.output


def test_run_on_broken_file_writes_nothing(runner, corpus, occlusion_plugin, tmp_path):
    out = tmp_path / "out"
    for case in ("random", "bit_flipped", "lambda_without_unsafe"):
        result = runner.invoke(app, ["run", "occlusion", str(corpus[case][0]), "--out", str(out)])
        assert result.exit_code == 2, result.output
        assert all_entries(out) == []


def test_debug_shows_the_traceback(runner, corpus):
    result = runner.invoke(app, ["--debug", "inspect", str(corpus["random"][0])])
    assert result.exit_code == 2
    assert "Traceback" in result.stderr


def test_unsafe_loads_a_lambda_model_with_a_warning(runner, lambda_model):
    result = runner.invoke(app, ["inspect", str(lambda_model), "--unsafe", "--json"])
    assert result.exit_code == 0, result.output
    assert "WARNING: --unsafe" in result.stderr
    assert json.loads(result.stdout)["input_shape"] == [28, 28, 1]


def test_unknown_zoo_name_suggests_close_names(runner):
    result = runner.invoke(app, ["inspect", "mnist-cn"])
    assert result.exit_code == 2
    assert "unknown model 'mnist-cn'" in result.stderr
    assert "mnist-cnn" in result.stderr


def test_debug_is_accepted_after_the_sub_command(runner, corpus):
    result = runner.invoke(app, ["inspect", str(corpus["random"][0]), "--debug"])
    assert result.exit_code == 2
    assert "Traceback" in result.stderr and "not a Keras model" in result.stderr
