"""Worst-case perturbations: FGSM and PGD under an L-infinity budget, as robustness families.

An attack's level is epsilon, the largest change of any pixel, as a fraction of the input
range: the images are in [0, 1] here and :meth:`LoadedModel.to_input_tensor` maps them to the
model's own range (0.1 is 25.5 for a 0-255 model). Every adversarial image stays within
epsilon of its clean image and within [0, 1]; epsilon 0 returns the clean images exactly. The
loss is the cross-entropy of the true class on the model's logits view (pre-softmax, or
pre-sigmoid for a sigmoid output; a model without one has its outputs taken as logits).

FGSM is one signed-gradient step of epsilon. PGD takes ``steps`` signed-gradient steps of
``step_ratio * epsilon / steps`` from a random start in the epsilon ball, projecting back into
it after each, and keeps per image the best point it saw, the FGSM point included: a
misclassified point first, else the highest loss. Where PGD's point is still classified
correctly but the FGSM point is not (by the same :meth:`LoadedModel.classify_images` call
robustness measures with), the FGSM point is returned: PGD never does worse than FGSM at the
same epsilon, by construction. Both attacks are one compiled ``tf.function`` per model (PGD's
whole loop is a graph loop), traced once: epsilon, step size and step count are tensors.

This module is a core plugin: it registers ``fgsm`` and ``pgd`` through the
``register_perturbation_families`` hook, outside robustness's default families.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from kinterp.hookspecs import hookimpl
from kinterp.toolkit.optimize.memory import Budget, bytes_per_row
from kinterp.toolkit.perturb import AttackTarget, Digits, Family

if TYPE_CHECKING:
    from kinterp.loading.models import LoadedModel

IMAGE_COPIES = 5  # clean, current point, best point, FGSM point, random start
EPSILONS = (0, 0.02, 0.05, 0.1, 0.2, 0.3)

_COMPILED: weakref.WeakKeyDictionary[LoadedModel, tuple[Any, Any]] = weakref.WeakKeyDictionary()


def attack_batch(model: LoadedModel, requested: int, room: Budget) -> int:
    """``requested`` rows per attack call on ``model``, fewer when their gradients would not
    fit ``room``.

    Raises:
        KinterpError: not even one row fits.
    """
    image = int(np.prod(model.require_image()))
    per_row = bytes_per_row(model, None, IMAGE_COPIES * image)
    most = room.rows(per_row, f"attacking one image of {model.info.name}", "free some memory")
    return max(1, min(requested, most))


def compiled(model: LoadedModel) -> tuple[Any, Any]:
    """``(fgsm, pgd)``: the model's two compiled attack functions (built once per model).

    ``fgsm(clean, labels, eps) -> adversarial``; ``pgd(clean, labels, eps, step, steps, start,
    candidate) -> best``, where ``start`` (in [-1, 1], times ``eps``) is the random start's
    offset and ``candidate`` a point PGD keeps unless it finds a better one (the FGSM point).
    Images are (N, H, W, C) float32 in [0, 1], labels (N,) int32, the rest scalars.
    """
    if model not in _COMPILED:
        _COMPILED[model] = _compile(model)
    return _COMPILED[model]


def _compile(model: LoadedModel) -> tuple[Any, Any]:
    """The two graphs; they hold the model weakly, so the cache entry goes with the model."""
    import tensorflow as tf

    network, weak = model.logits_model, weakref.proxy(model)
    image = tf.TensorSpec([None, *model.require_image()], tf.float32)
    labels = tf.TensorSpec([None], tf.int32)
    scalar = tf.TensorSpec([], tf.float32)

    def loss(x, y):
        logits = network(weak.to_input_tensor(x), training=False)
        values = tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits)
        return values, tf.argmax(logits, axis=1, output_type=tf.int32) != y

    def gradient(x, y):
        with tf.GradientTape() as tape:
            tape.watch(x)
            values, wrong = loss(x, y)
        return tape.gradient(values, x), values, wrong

    def project(x, clean, eps):
        return tf.clip_by_value(tf.clip_by_value(x, clean - eps, clean + eps), 0.0, 1.0)

    def keep(best, x, values, wrong):
        """The better of each row's best point and ``x``: misclassified first, then loss."""
        point, best_values, best_wrong = best
        better = (wrong & ~best_wrong) | ((wrong == best_wrong) & (values > best_values))
        return (
            tf.where(better[:, None, None, None], x, point),
            tf.where(better, values, best_values),
            best_wrong | wrong,
        )

    @tf.function(input_signature=[image, labels, scalar])
    def fgsm(clean, y, eps):
        grad, _, _ = gradient(clean, y)
        return project(clean + eps * tf.sign(grad), clean, eps)

    @tf.function(
        input_signature=[image, labels, scalar, scalar, tf.TensorSpec([], tf.int32), image, image]
    )
    def pgd(clean, y, eps, step, steps, start, candidate):
        best = (candidate, *loss(candidate, y))
        x = project(clean + eps * start, clean, eps)
        for _ in tf.range(steps):
            grad, values, wrong = gradient(x, y)
            best = keep(best, x, values, wrong)
            x = project(x + step * tf.sign(grad), clean, eps)
        return keep(best, x, *loss(x, y))[0]

    return fgsm, pgd


def _over_rows(target: AttackTarget, call: Callable[[slice, np.ndarray], Any]) -> np.ndarray:
    """``call(rows, labels)`` for ``target.batch_size`` rows at a time, joined (labels int32)."""
    labels = np.asarray(target.labels, dtype="int32")
    size = max(1, int(target.batch_size))
    parts = [
        np.asarray(call(slice(i, i + size), labels[i : i + size]))
        for i in range(0, len(labels), size)
    ]
    return np.concatenate(parts)


def fgsm(digits: Digits, eps: float, target: AttackTarget) -> np.ndarray:
    """The fast gradient sign method: each image moved ``eps`` along the sign of the gradient
    of its true-class loss, clipped to [0, 1]."""
    import tensorflow as tf

    if eps == 0:
        return digits.images.copy()
    call, _ = compiled(target.model)
    budget = tf.constant(eps, tf.float32)
    return _over_rows(target, lambda rows, y: call(digits.images[rows], y, budget))


@dataclass(frozen=True)
class PGD:
    """Projected gradient descent (Madry et al.), as a family's ``apply``.

    Attributes:
        steps: signed-gradient steps (0: the FGSM point only).
        step_ratio: each step is ``step_ratio * eps / steps`` (2.5: the usual choice, enough to
            cross the ball and back).
        random_start: start each image at a uniform random point of its epsilon ball (drawn
            from ``digits.uniform``, so from the run's seed); else at the clean image.
    """

    steps: int = 10
    step_ratio: float = 2.5
    random_start: bool = True

    def __call__(self, digits: Digits, eps: float, target: AttackTarget) -> np.ndarray:
        """The PGD images, never classified correctly where the FGSM images are not."""
        import tensorflow as tf

        if eps == 0:
            return digits.images.copy()
        first = fgsm(digits, eps, target)
        _, call = compiled(target.model)
        offset = 2 * digits.uniform - 1 if self.random_start else np.zeros_like(digits.images)
        start = offset.astype("float32")
        scalars = (
            tf.constant(eps, tf.float32),
            tf.constant(self.step_ratio * eps / max(self.steps, 1), tf.float32),
            tf.constant(self.steps, tf.int32),
        )
        best = _over_rows(
            target,
            lambda rows, y: call(digits.images[rows], y, *scalars, start[rows], first[rows]),
        )
        return _at_least_fgsm(best, first, target)


def _at_least_fgsm(best: np.ndarray, first: np.ndarray, target: AttackTarget) -> np.ndarray:
    """``best``, with the FGSM point wherever FGSM fools the model and ``best`` does not, as
    ``target.model.classify_images(images, target.batch_size)`` sees both: the call robustness
    classifies with, on whole batches in the same chunks, so each row gets the numbers it gets
    there (a row's outputs do not depend on the other rows of its chunk)."""
    model, labels = target.model, np.asarray(target.labels)
    held = model.classify_images(best, target.batch_size).correct(labels)
    fooled = ~model.classify_images(first, target.batch_size).correct(labels)
    swap = held & fooled
    best[swap] = first[swap]
    return best


def _attack_family(name: str, summary: str, apply: Callable[..., np.ndarray]) -> Family:
    """An L-infinity attack family: epsilon levels in [0, 1], outside the default sweep."""
    return Family(
        name,
        summary,
        apply,
        identity=0,
        levels=EPSILONS,
        low=0,
        high=1,
        unit="eps",
        attack=True,
        by_default=False,
    )


ATTACKS: dict[str, Family] = {
    f.name: f
    for f in (
        _attack_family("fgsm", "FGSM attack: one signed-gradient step of this L-inf epsilon", fgsm),
        _attack_family(
            "pgd", "PGD attack: projected signed-gradient steps within this L-inf epsilon", PGD()
        ),
    )
}
"""The built-in attack families by name (``fgsm``, ``pgd``)."""


@hookimpl
def register_perturbation_families(register: Callable[[Family], None]) -> None:
    """Register the attack families."""
    for family in ATTACKS.values():
        register(family)
