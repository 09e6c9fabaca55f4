"""Ctrl-C and SIGTERM stop a run promptly, even inside a long compiled chunk, and leave
nothing behind."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kinterp.interrupts import InterruptWatch, Terminated
from tests.conftest import all_entries

PROMPT_S = 5.0


def test_sigint_stops_a_long_run_and_removes_its_directory(tmp_path):
    out = tmp_path / "out"
    process = _start_long_run(out)
    try:
        time.sleep(1.0)  # inside the optimisation: compiled calls of about half a second
        sent = time.monotonic()
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
        elapsed = time.monotonic() - sent
    finally:
        process.kill()
    assert process.returncode == 130, stderr
    assert stderr.strip() == "Error: interrupted"
    assert elapsed < PROMPT_S, f"exited {elapsed:.1f} s after Ctrl-C"
    assert all_entries(out) == []


def _as_from_a_terminal() -> None:
    """In the child: Ctrl-C's default action, as a shell gives a foreground command. Without
    it the child inherits whatever this test process has: a suite started in the background
    of a non-interactive shell (``make test &``) runs with SIGINT ignored, as POSIX shells
    start background commands, and Python then never installs its KeyboardInterrupt
    handler."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})


def _start_long_run(out: Path) -> subprocess.Popen:
    """``kinterp run happymap`` with 100,000 steps, once its hidden run directory exists
    (``--quiet``: stderr holds only the one-line error the tests read, no progress lines)."""
    args = ["run", "happymap", "mnist-cnn", "--steps", "100000", "--out", str(out), "--quiet"]
    process = subprocess.Popen(
        [sys.executable, "-m", "kinterp", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_as_from_a_terminal,
    )
    deadline = time.monotonic() + 120
    while not (out.is_dir() and any(p.name.startswith(".") for p in out.iterdir())):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the run never created its directory"
        time.sleep(0.05)
    return process


@pytest.mark.parametrize("inside_tf", [False, True])
def test_sigterm_is_treated_as_ctrl_c(tmp_path, inside_tf):
    """What timeout, systemd, Docker and Kubernetes send: exit 143, no hidden directory."""
    out = tmp_path / "out"
    process = _start_long_run(out)
    try:
        if inside_tf:
            time.sleep(1.0)  # inside the optimisation: compiled calls of about half a second
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 143, stderr
    assert stderr.strip() == "Error: terminated"
    assert all_entries(out) == []


def test_sigterm_in_process_raises_terminated_and_the_handler_is_restored():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated), InterruptWatch(grace=60):
        signal.raise_signal(signal.SIGTERM)
    assert issubclass(Terminated, KeyboardInterrupt)  # every Ctrl-C clean-up runs for it
    assert signal.getsignal(signal.SIGTERM) == before


def test_sigterm_stops_a_sweep_and_its_workers_without_leftovers(tmp_path):
    """The sweep closes its cluster and leaves no worker and no hidden directory in --out."""
    from tests.test_serve import group_members

    spec = tmp_path / "sweep.toml"
    spec.write_text(
        'models = ["mnist-cnn"]\n[[runs]]\ntechnique = "happymap"\nparams = { steps = 100000 }\n'
    )
    out = tmp_path / "out"
    command = [sys.executable, "-m", "kinterp", "sweep", str(spec), "--out", str(out)]
    process = subprocess.Popen(
        [*command, "--workers", "1", "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        # runs happen in the worker's own folder (nothing is shared but the scheduler, #25):
        # wait for the worker process, then give the run time to get under way
        deadline = time.monotonic() + 180
        while len(group_members(process.pid)) < 2:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the sweep never started a worker"
            time.sleep(0.1)
        time.sleep(15)
        assert process.poll() is None, process.communicate()
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=120)
        deadline = time.monotonic() + 30
        while group_members(process.pid) and time.monotonic() < deadline:
            time.sleep(0.3)
        left = group_members(process.pid)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 143, stderr
    assert stderr.strip().endswith("Error: terminated"), stderr
    assert left == [], "sweep workers outlived the sweep"
    assert [p for p in out.rglob(".*") if p.is_dir()] == []
