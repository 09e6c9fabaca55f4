"""Listing and help must not pay for TensorFlow: checked in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = (
    "import atexit, sys\n"
    "atexit.register(lambda: print('TF-LOADED' if 'tensorflow' in sys.modules else 'TF-FREE',"
    " file=sys.stderr))\n"
    "sys.argv = ['kinterp'] + sys.argv[1:]\n"
    "from kinterp.cli import main\n"
    "main()\n"
)


@pytest.mark.parametrize(
    "args",
    [["--help"], ["--version"], ["plugins"], ["plugins", "--json"], ["models"], ["run", "--help"]],
)
def test_command_does_not_import_tensorflow(args):
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().endswith("TF-FREE"), done.stderr


def test_import_kinterp_does_not_import_tensorflow():
    code = "import sys, kinterp; kinterp.techniques(); print('tensorflow' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "False", done.stderr


def test_python_m_kinterp_works():
    done = subprocess.run(
        [sys.executable, "-m", "kinterp", "--version"], capture_output=True, text=True
    )
    assert done.returncode == 0
    assert done.stdout.startswith("kinterp ")
