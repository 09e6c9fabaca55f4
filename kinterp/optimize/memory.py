"""How much memory an optimisation batch needs, estimated before it runs.

Per row: the parameters with their Adam moments and gradient, the image and its transformed
view, and every layer activation up to the optimised layer, kept for the backward pass. An
estimate (TensorFlow's allocator adds workspace of its own), used to chunk a batch under a
budget or to refuse it with the numbers before it runs out of memory.
"""

from __future__ import annotations

import os

import numpy as np

from kinterp.models import LoadedModel

BYTES = 4  # float32
PARAMETER_COPIES = 4  # value, two Adam moments, gradient
IMAGE_COPIES = 3  # image, view, its gradient
ACTIVATION_COPIES = 3  # forward value, its gradient, workspace
DEFAULT_SHARE = 0.5  # of the available memory, when no budget is given


def bytes_per_row(model: LoadedModel, layer: str | None, parameter_floats: int) -> int:
    """Estimated bytes one batch row needs when optimising up to ``layer`` (None: the output)."""
    activations = 0
    for keras_layer in model.keras_model.layers:
        output = getattr(keras_layer, "output", None)
        if output is not None:
            activations += int(np.prod([d or 1 for d in output.shape[1:]]))
        if keras_layer.name == layer:
            break
    image = int(np.prod(model.require_image()))
    return BYTES * (
        PARAMETER_COPIES * parameter_floats + IMAGE_COPIES * image + ACTIVATION_COPIES * activations
    )


def available_bytes() -> int:
    """Memory the system can give without swapping (MemAvailable), else total physical RAM."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def budget_bytes(limit_mb: int) -> int:
    """``limit_mb`` megabytes (never more than the available memory), or half the available
    memory when it is 0."""
    available = available_bytes()
    return min(limit_mb * 2**20, available) if limit_mb else int(DEFAULT_SHARE * available)


def rows_per_call(model: LoadedModel, layer: str | None, parameter_floats: int, limit_mb: int):
    """How many batch rows fit the budget (at least one)."""
    return max(1, budget_bytes(limit_mb) // bytes_per_row(model, layer, parameter_floats))
