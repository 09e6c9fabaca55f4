"""Where a benchmark records its figures: ``benchmarks/results/<name>.json``.

Every bench script measures inside ``with Recorder("name", settings) as record:`` and sets
``record.figures`` (and optionally ``record.note``); leaving the block writes the file with
the machine it ran on (cores, load average before and after, Python / TensorFlow / Keras
versions, the date, the git commit and whether kinterp's code had uncommitted changes).
README's Performance tables are rendered from these files by ``benchmarks/render_readme.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
SHARED_NOTE = "measured on a shared, loaded 2-core machine"


def _git(*args: str) -> str:
    done = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True)
    return done.stdout.strip()


def machine() -> dict:
    """Cores, processor, Python / TensorFlow / Keras versions, the date and the git commit."""
    import keras
    import tensorflow as tf

    dirty = _git("status", "--porcelain", "--", "plugins", "kinterp")
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "git_commit": _git("rev-parse", "HEAD"),
        "git_uncommitted_changes": bool(dirty),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "platform": platform.platform(),
    }


def _plain(value):
    """numpy scalars and arrays as plain numbers and lists."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def write(name: str, record: dict, path: Path | None = None) -> Path:
    """Write ``record`` as ``benchmarks/results/<name>.json`` (or ``path``)."""
    path = Path(path) if path else RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, default=_plain, allow_nan=False) + "\n")
    return path


class Recorder:
    """Times nothing itself: notes the load average on entry and exit and writes the file.

    Args:
        name: the results file's stem (``happymap`` -> ``benchmarks/results/happymap.json``).
        benchmark: one line saying what is measured.
        settings: the run's settings (rounds, sizes), recorded as given.
        note: free text (machine load); :data:`SHARED_NOTE` is added when the machine's load
            average was at least 1 on entry or exit.
        path: write here instead (``--results``).
    """

    def __init__(
        self, name: str, benchmark: str, settings: dict, note: str = "", path: str = ""
    ) -> None:
        self.name, self.benchmark, self.settings = name, benchmark, settings
        self.note, self.path = note, path
        self.figures: dict = {}

    def __enter__(self) -> Recorder:
        self.before = list(os.getloadavg())
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is not None:
            return  # a failed run writes nothing
        after = list(os.getloadavg())
        load = {"load_average_before": self.before, "load_average_after": after}
        note = self.note
        if max(self.before[0], after[0]) >= 1.0 and SHARED_NOTE not in note:
            note = f"{SHARED_NOTE}; {note}" if note else SHARED_NOTE
        record = {
            "benchmark": self.benchmark,
            "settings": self.settings,
            "machine": machine() | load,
            "note": note,
            "figures": self.figures,
        }
        print(f"wrote {write(self.name, record, self.path or None)}")


def arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options every bench script shares: ``--note`` and ``--results``."""
    parser.add_argument("--note", default="", help="recorded with the results (machine load)")
    parser.add_argument("--results", default="", help="write the JSON here instead")


def rounds_parser(doc: str, rounds: int) -> argparse.ArgumentParser:
    """A parser with ``[ROUNDS]`` (default ``rounds``), ``--note`` and ``--results``."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("rounds", type=int, nargs="?", default=rounds)
    arguments(parser)
    return parser


def alternate(
    contenders: dict[str, Callable[[], object]],
    rounds: int,
    measure: Callable[[object], object] | None = None,
) -> tuple[dict[str, list[float]], dict[str, object]]:
    """One warm-up call each, then ``rounds`` rounds calling the contenders in turn.

    Returns each contender's seconds per round and ``measure`` of its last output (None
    without ``measure``).
    """
    measured: dict[str, object] = {}
    for name, run in contenders.items():  # warm-up: tracing, first-call allocations
        output = run()
        measured[name] = measure(output) if measure else None
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, run in contenders.items():
            clock = time.perf_counter()
            output = run()
            times[name].append(time.perf_counter() - clock)
            measured[name] = measure(output) if measure else None
    return times, measured
