"""Run the CLI in a child process and read its peak resident memory (``os.wait4``).

Linux carries a process's peak over fork and exec, so the measuring parent must be small:
not pytest, which holds TensorFlow. A data-segment limit (``RLIMIT_DATA``) stands in for a
machine with less memory: malloc fails past it, as it did in the reports of #20, while
TensorFlow's large virtual reservations (which ``RLIMIT_AS`` would count) still work.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

KINTERP = [sys.executable, "-m", "kinterp"]
SMALL_PARENT = "import subprocess, sys; sys.exit(subprocess.call(sys.argv[1:]))"

MEASURE = """
import os, resource, subprocess, sys
limit = int(sys.argv[1])
def cap():
    if limit:
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
process = subprocess.Popen(sys.argv[2:], stdout=subprocess.DEVNULL, preexec_fn=cap)
_, status, usage = os.wait4(process.pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)
"""


def from_small_parent(argv: list[str]) -> list[str]:
    """``argv`` started by a small Python process, so its peak starts from that one's size.

    A child of pytest begins with pytest's resident size as its peak (``ru_maxrss``); a
    child of this trampoline begins with the trampoline's few megabytes.
    """
    return [sys.executable, "-c", SMALL_PARENT, *argv]


@dataclass(frozen=True)
class Measured:
    """One child run: its exit code, stderr and peak resident memory in MB."""

    code: int
    stderr: str
    peak_mb: float


def run_measured(args: list[str], cwd: Path, data_limit_mb: int = 0) -> Measured:
    """Run ``kinterp args`` in a child (under ``data_limit_mb`` of data segment, 0: none).

    Returns:
        The exit code (negative: killed by that signal), stderr and peak resident MB.
    """
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, str(data_limit_mb * 2**20), *KINTERP, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    code, peak_kb = result.stdout.split()
    return Measured(int(code), result.stderr, int(peak_kb) / 1024)
