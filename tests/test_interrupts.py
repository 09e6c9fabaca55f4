"""Ctrl-C stops a run promptly, even inside a long compiled chunk, and leaves nothing behind."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from tests.conftest import all_entries

PROMPT_S = 5.0


def test_sigint_stops_a_long_run_and_removes_its_directory(tmp_path):
    out = tmp_path / "out"
    args = ["run", "happymap", "mnist-cnn", "--steps", "100000", "--out", str(out)]
    process = subprocess.Popen(
        [sys.executable, "-m", "kinterp", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (out.is_dir() and any(out.iterdir())):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the run never created its directory"
            time.sleep(0.05)
        time.sleep(1.0)  # inside the optimisation: 100,000 steps in 24 compiled chunks
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
