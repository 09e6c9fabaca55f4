"""Long work shows a progress bar on a terminal, and none when piped or with --quiet."""

from __future__ import annotations

import os
import pty
import subprocess
import sys

ARGS = ["-m", "kinterp", "run", "happymap", "mnist-cnn", "--classes", "0", "--steps", "400"]


def _run_on_a_terminal(tmp_path, *extra: str) -> str:
    """Run kinterp with stderr on a pseudo-terminal; return what the terminal received."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, *ARGS, "--out", str(tmp_path), *extra],
        stdout=subprocess.DEVNULL,
        stderr=follower,
        env=dict(os.environ, COLUMNS="100"),
    )
    os.close(follower)
    received = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closes when the process exits
            break
        if not chunk:
            break
        received += chunk
    os.close(leader)
    assert process.wait(timeout=300) == 0, received.decode(errors="replace")[-2000:]
    return received.decode(errors="replace")


def test_progress_bar_on_a_terminal(tmp_path):
    assert "happymap: 1 maps" in _run_on_a_terminal(tmp_path)


def test_quiet_hides_the_progress_bar(tmp_path):
    assert "happymap: 1 maps" not in _run_on_a_terminal(tmp_path, "--quiet")


def test_no_progress_bar_when_piped(tmp_path):
    done = subprocess.run(
        [sys.executable, *ARGS, "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
