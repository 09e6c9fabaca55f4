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


def _piped(tmp_path, *extra: str, seconds: str) -> str:
    done = subprocess.run(
        [sys.executable, *ARGS, "--out", str(tmp_path), *extra],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, KINTERP_PROGRESS_SECONDS=seconds),
    )
    assert done.returncode == 0, done.stderr
    return done.stderr


def test_piped_progress_is_a_line_every_few_seconds(tmp_path):
    """#24: without a terminal, a line per interval of work (here 0.05 s), counting up."""
    lines = _piped(tmp_path, seconds="0.05").splitlines()
    assert lines and all(line.startswith("happymap: 1 maps: ") for line in lines), lines
    counts = [int(line.split(": ")[2].split("/")[0]) for line in lines]
    assert counts == sorted(counts) and all(0 < c <= 400 for c in counts), lines
    for line, count in zip(lines, counts, strict=True):
        assert line.endswith(f"/400 ({100 * count / 400:.0f}%)"), line


def test_piped_progress_waits_an_interval_and_quiet_hides_it(tmp_path):
    assert _piped(tmp_path, seconds="3600") == ""  # a run shorter than the interval: no line
    assert _piped(tmp_path, "--quiet", seconds="0.05") == ""


def test_robustness_progress_counts_the_work_after_the_sweep(tmp_path):
    """#24: after the levels, the examples and the border-sensitivity map are phases of their
    own (the bar no longer sits full while they run): 2 families, 7 x 7 blob positions."""
    args = ["-m", "kinterp", "run", "robustness", "mnist-cnn", "--family", "edge,blur"]
    args += ["--edge", "0,1", "--blur", "0,1", "--limit", "30", "--sensitivity-images", "10"]
    args += ["--blob", "4", "--stride", "4", "--out", str(tmp_path)]
    done = subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, KINTERP_PROGRESS_SECONDS="0.000001"),
    )
    assert done.returncode == 0, done.stderr
    phases = {line.split(": ")[0]: line for line in done.stderr.splitlines()}
    assert phases["perturbing"].startswith("perturbing: 4/4"), phases
    assert phases["examples and plots"].startswith("examples and plots: 2/2"), phases
    assert phases["border sensitivity"].startswith("border sensitivity: 49/49"), phases
