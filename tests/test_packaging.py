"""A non-editable install from the built wheel gives a working kinterp with zoo and data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory) -> Path:
    """A fresh venv with the kinterp wheel installed (dependencies borrowed from this env).

    The wheel is built with every warning turned into an error: a deprecated or incomplete
    packaging configuration fails here before it fails (or floods) a user's install.
    """
    tmp = tmp_path_factory.mktemp("wheel")
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-v",
            "-w",
            str(tmp / "dist"),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )
    output = built.stdout + built.stderr
    assert built.returncode == 0, output[-4000:]
    assert "Warning" not in output and "deprecated" not in output.lower(), output[-4000:]
    (wheel,) = (tmp / "dist").glob("kinterp-*.whl")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python*/site-packages"))
    # Reuse this environment's TensorFlow & co. instead of downloading them again. A plain
    # path in a .pth file does not process that directory's own .pth files, so the editable
    # kinterp install here stays invisible to the new venv.
    (site / "borrowed.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "--no-deps",
            "-q",
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    return venv


def _kinterp(venv: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        [str(venv / "bin" / "kinterp"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


def test_wheel_install_has_zoo_data_and_plugins(wheel_venv, tmp_path):
    models = _kinterp(wheel_venv, tmp_path, "models", "--json")
    assert models.returncode == 0, models.stderr
    zoo = json.loads(models.stdout)
    assert {"mnist-cnn", "mnist-mlp"} <= set(zoo)
    for entry in zoo.values():
        assert str(wheel_venv) in entry["path"], entry["path"]
    listing = json.loads(_kinterp(wheel_venv, tmp_path, "plugins", "--json").stdout)
    assert all(p["status"] == "ok" for p in listing["plugins"]), listing["plugins"]
    assert "mnist-5k" in listing["datasets"]


def test_wheel_install_runs_a_technique_on_bundled_data(wheel_venv, tmp_path):
    done = _kinterp(
        wheel_venv,
        tmp_path,
        "run",
        "backquery",
        "mnist-mlp",
        "--labels",
        "1",
        "--out",
        "reports",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(Path(json.loads(done.stdout)["report"]).read_text())
    assert str(wheel_venv) in report["model"]["path"]
