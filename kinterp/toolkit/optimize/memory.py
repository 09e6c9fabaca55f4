"""How much memory a batch needs, estimated before it runs, and the budget it must fit.

Per optimised row: the parameters with their Adam moments and gradient, the image and its
transformed view, and every layer activation up to the optimised layer, kept for the
backward pass. Per classified row: the input and every activation (TensorFlow's CPU
inference keeps about that much: measured 300 KB a row on mnist-cnn against 350 KB
estimated). Estimates, used to chunk a batch under a budget or to refuse work with the
numbers before it runs out of memory.

A budget is never more than half of the memory available to this process, whatever a
``--memory-limit`` or ``--batch-limit`` asks for: the estimates leave out TensorFlow's own
workspace and the process's other arrays, and a run that allocates every free byte dies in
``std::bad_alloc`` instead of saying why. "Available" is the smallest of the system's
MemAvailable, the room left under the process's cgroup memory limit, and the room left
under its address-space and data-segment rlimits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kinterp.errors import KinterpError
from kinterp.loading.limits import available_bytes, size_text
from kinterp.loading.models import LoadedModel

BYTES = 4  # float32
PARAMETER_COPIES = 4  # value, two Adam moments, gradient
IMAGE_COPIES = 3  # image, view, its gradient
ACTIVATION_COPIES = 3  # forward value, its gradient, workspace
SHARE = 0.5  # of the available memory: the most any budget may be
MiB = 2**20


@dataclass(frozen=True)
class Budget:
    """Bytes some work may use, and in words where that number comes from.

    Attributes:
        bytes: the budget.
        source: how messages describe it, e.g. "allowed (half of the 7.9 GiB available)".
    """

    bytes: int
    source: str

    def require(self, need: int, what: str, fix: str) -> None:
        """Refuse ``what`` when it needs more than the budget.

        Args:
            need: the estimated bytes.
            what: the work, as the subject of "would need", e.g. "10 populations of 100".
            fix: what to change, e.g. "use a smaller --population".

        Raises:
            KinterpError: one line with both numbers and ``fix``.
        """
        if need > self.bytes:
            raise KinterpError(
                f"{what} would need about {size_text(need)} of memory, more than the "
                f"{size_text(self.bytes)} {self.source}; {fix}"
            )

    def rows(self, per_row: int, what: str, fix: str) -> int:
        """How many rows of ``per_row`` bytes fit (at least one).

        Raises:
            KinterpError: not even one row fits (``what`` names one row).
        """
        self.require(per_row, what, fix)
        return self.bytes // per_row

    def less(self, used: int, what: str) -> Budget:
        """The budget left once ``used`` bytes (``what``) are taken."""
        return Budget(max(0, self.bytes - used), f"left of {size_text(self.bytes)} after {what}")


def budget(limit_mb: int = 0, option: str = "") -> Budget:
    """``limit_mb`` megabytes (``option`` names the flag that set it), never more than half of
    the available memory; half of the available memory when it is 0."""
    available = available_bytes()
    most = int(SHARE * available)
    half = f"half of the {size_text(available)} available"
    if limit_mb and limit_mb * MiB <= most:
        return Budget(limit_mb * MiB, f"allowed by {option} {limit_mb:,}")
    if limit_mb:
        return Budget(most, f"allowed ({option} {limit_mb:,} MB is capped at {half})")
    return Budget(most, f"allowed ({half})")


def budget_bytes(limit_mb: int) -> int:
    """The bytes of :func:`budget`."""
    return budget(limit_mb).bytes


def _activation_floats(model: LoadedModel, layer: str | None) -> int:
    """Floats of every layer output of one row, up to ``layer`` (None: all of them)."""
    total = 0
    layer = None if layer is None else model.layer(layer).name  # a path -> its Keras name
    for keras_layer in model.keras_model.layers:
        output = getattr(keras_layer, "output", None)
        if output is not None:
            total += int(np.prod([d or 1 for d in output.shape[1:]]))
        if keras_layer.name == layer:
            break
    return total


def bytes_per_row(model: LoadedModel, layer: str | None, parameter_floats: int) -> int:
    """Estimated bytes one batch row needs when optimising up to ``layer`` (None: the output)."""
    image = int(np.prod(model.require_image()))
    return BYTES * (
        PARAMETER_COPIES * parameter_floats
        + IMAGE_COPIES * image
        + ACTIVATION_COPIES * _activation_floats(model, layer)
    )


def forward_bytes_per_row(model: LoadedModel) -> int:
    """Estimated bytes one row of a classification call needs: its input and activations."""
    inputs = int(np.prod([d or 1 for d in model.info.input_shape]))
    return BYTES * (inputs + _activation_floats(model, None))


def rows_per_call(
    model: LoadedModel,
    layer: str | None,
    parameter_floats: int,
    room: Budget,
    fix: str,
) -> int:
    """How many optimisation rows fit ``room`` (at least one).

    Raises:
        KinterpError: not even one row fits, with the numbers and ``fix``.
    """
    name = f" of {layer}" if layer else ""
    return room.rows(bytes_per_row(model, layer, parameter_floats), f"one map{name}", fix)


def fitting_batch(model: LoadedModel, requested: int, room: Budget) -> int:
    """``requested`` rows per classification call, fewer when they would not fit ``room``.

    Raises:
        KinterpError: not even one row fits.
    """
    per_row = forward_bytes_per_row(model)
    most = room.rows(per_row, f"classifying one image with {model.info.name}", "free some memory")
    return max(1, min(requested, most))


def gradient_rows(model: LoadedModel, room: Budget, fix: str) -> int:
    """How many inputs one input-gradient call (a forward and a backward pass through every
    layer, as attribution methods make) may take under ``room`` (at least one).

    Raises:
        KinterpError: not even one input fits, with the numbers and ``fix``.
    """
    what = f"the input gradient of one image of {model.info.name}"
    return room.rows(bytes_per_row(model, None, 0), what, fix)
