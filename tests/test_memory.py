"""Memory budgets: what is available (rlimits included), the half-of-it cap, and the
classification estimate against what TensorFlow actually takes."""

from __future__ import annotations

import subprocess
import sys

import pytest

import kinterp
from kinterp.toolkit.optimize.memory import (
    Budget,
    available_bytes,
    budget,
    fitting_batch,
    forward_bytes_per_row,
)
from tests.measured import from_small_parent

MiB = 2**20

ROOM_UNDER_LIMIT = """
import resource
from pathlib import Path
from kinterp.toolkit.optimize.memory import available_bytes
status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
data = int(status["VmData"].split()[0]) * 1024
resource.setrlimit(resource.RLIMIT_DATA, (data + 300 * 2**20, resource.RLIM_INFINITY))
print(available_bytes())
"""

FORWARD = """
import resource, sys
import numpy as np
import kinterp
from kinterp.toolkit.optimize.memory import forward_bytes_per_row
model = kinterp.load_model(sys.argv[1])
rows = int(sys.argv[2])
x = np.random.default_rng(0).random((rows, *model.require_image()), dtype="float32")
model.classify_images(x[:8], 8)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
model.classify_images(x, rows)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print((after - before) * 1024 / rows, forward_bytes_per_row(model))
"""


def test_available_memory_is_the_room_under_the_data_limit():
    """A process limited to 300 MiB more data segment has at most that much available, however
    much the machine has free (#20's std::bad_alloc came from such a limit)."""
    result = subprocess.run(
        [sys.executable, "-c", ROOM_UNDER_LIMIT], capture_output=True, text=True, check=True
    )
    room = int(result.stdout)
    assert 250 * MiB < room <= 300 * MiB


def test_a_budget_is_at_most_half_of_what_is_available_whatever_is_asked():
    asked = budget(10_000_000, "--memory-limit")
    assert asked.bytes <= 0.5 * available_bytes() * 1.05
    assert "--memory-limit 10,000,000 MB is capped at half of the" in asked.source
    small = budget(16, "--batch-limit")
    assert small.bytes == 16 * MiB and small.source == "allowed by --batch-limit 16"


def test_the_classification_estimate_covers_what_tensorflow_takes(tmp_path):
    """Peak resident growth of one 2,048-row call on mnist-cnn (measured about 300 KB a row)
    against the estimate (input and every activation, about 350 KB)."""
    result = subprocess.run(
        from_small_parent([sys.executable, "-c", FORWARD, "mnist-cnn", "2048"]),
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    measured, estimate = (float(v) for v in result.stdout.split())
    assert measured <= estimate <= 2 * measured


def test_a_batch_size_is_clamped_to_what_fits():
    model = kinterp.load_model("mnist-cnn")
    per_row = forward_bytes_per_row(model)
    assert fitting_batch(model, 65536, Budget(100 * per_row, "allowed")) == 100
    assert fitting_batch(model, 50, Budget(100 * per_row, "allowed")) == 50
    with pytest.raises(kinterp.KinterpError, match="classifying one image with mnist-cnn"):
        fitting_batch(model, 50, Budget(per_row - 1, "allowed"))
