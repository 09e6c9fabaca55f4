"""The render loop: projected gradient ascent/descent on a batch of images in one graph.

One ``tf.function`` runs ``k`` steps per call (a graph ``while`` loop), so Python is entered
only between calls: to report progress and take a snapshot for the animation. A call is
sized to take about half a second (progress and cancels are never minutes apart), and never
crosses a chunk boundary, where the animation's frames are taken. Every row of
the batch is independent (its own target, init and restart); the gradient of the summed
objective is each row's own gradient, and Adam/SGD are elementwise.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kinterp.toolkit.optimize.objectives import Objective
from kinterp.toolkit.optimize.parameterize import Parameterisation, pixels
from kinterp.toolkit.optimize.transforms import Transform

ADAM_BETAS = (0.9, 0.999)
ADAM_EPSILON = 1e-8


@dataclass(frozen=True)
class Settings:
    """How to optimise.

    Attributes:
        steps: gradient steps.
        lr: learning rate, in image units (the input range is [0, 1] here).
        optimizer: ``adam`` or ``sgd``.
        maximize: ascend (HappyMap) or descend (SadMap) the objective.
        chunk: steps between animation frames; a compiled call takes at most this many
            (fewer when that would take over about half a second).
        transforms: applied, in order, to the image the network sees (see ``transforms``).
        parameterisation: what is optimised (default: the pixels, clipped to [0, 1]).
    """

    steps: int = 256
    lr: float = 0.05
    optimizer: str = "adam"
    maximize: bool = True
    chunk: int = 16
    transforms: Sequence[Transform] = field(default_factory=tuple)
    parameterisation: Parameterisation = field(default_factory=pixels)


@dataclass
class Result:
    """What the optimisation produced.

    Attributes:
        images: the final batch (N, H, W, C) in [0, 1].
        history: the objective of every row before each step, (steps, N).
        frames: snapshots of row ``frame_row`` at the start and after every chunk of steps.
        seconds: wall time of the loop (tracing included on the first call).
    """

    images: np.ndarray
    history: np.ndarray
    frames: list[np.ndarray]
    seconds: float


def compile_steps(
    objective: Objective, settings: Settings, penalty: Objective | None = None
) -> Callable[..., Any]:
    """Build the compiled chunk function ``run(x, m, v, t, k) -> (x, m, v, t, history)``.

    ``x`` is the batch of parameters (the images in [0, 1] for pixels), ``m``/``v`` the Adam
    moments, ``t`` the int64 step count and ``k`` the number of steps to take; ``history`` is
    (k, N). Exposed for benchmarks and
    callers that drive the loop themselves; :func:`optimize` is the usual entry point.
    """
    import tensorflow as tf

    sign = 1.0 if settings.maximize else -1.0
    lr = float(settings.lr)
    adam = settings.optimizer == "adam"
    if settings.optimizer not in ("adam", "sgd"):
        raise ValueError(f"optimizer must be adam or sgd, not {settings.optimizer!r}")
    beta1, beta2 = ADAM_BETAS
    transforms = tuple(settings.transforms)
    to_image, clip = settings.parameterisation.to_image, settings.parameterisation.clip

    def step(x, m, v, t):
        with tf.GradientTape() as tape:
            tape.watch(x)
            image = to_image(x)
            view = image
            for transform in transforms:
                view = transform(view, t)
            values = objective(image, view)
            total = sign * values
            if penalty is not None:
                total = total - penalty(image, view)
            loss = tf.reduce_sum(total)
        grad = tape.gradient(loss, x)
        t = t + 1
        if adam:
            m = beta1 * m + (1.0 - beta1) * grad
            v = beta2 * v + (1.0 - beta2) * tf.square(grad)
            tf_t = tf.cast(t, tf.float32)
            m_hat = m / (1.0 - tf.pow(beta1, tf_t))
            v_hat = v / (1.0 - tf.pow(beta2, tf_t))
            update = lr * m_hat / (tf.sqrt(v_hat) + ADAM_EPSILON)
        else:
            update = lr * grad
        x = x + update
        if clip:
            x = tf.clip_by_value(x, 0.0, 1.0)
        return x, m, v, t, values

    @tf.function(reduce_retracing=True)
    def run(x, m, v, t, k):
        history = tf.TensorArray(tf.float32, size=k)
        for i in tf.range(k):
            x, m, v, t, values = step(x, m, v, t)
            history = history.write(i, values)
        return x, m, v, t, history.stack()

    return run


CALL_SECONDS = 0.5
"""A compiled call takes about this long (its steps adapt to the measured speed), so progress
(and a cancel) is seen at least about every half second, whatever the step count."""
FIRST_CALL_STEPS = 8
"""Steps of the first call, which also traces the graph; later calls size themselves."""


class Engine:
    """A compiled optimisation, reusable across batches of the same width and image size.

    Args:
        objective: per-row objective (row ``i`` of the batch optimises row ``i``'s target).
        settings: steps, learning rate, optimiser, direction, chunking, transforms.
        penalty: a regulariser, always pushed down (subtracted when maximising).
    """

    def __init__(self, objective: Objective, settings: Settings, penalty: Objective | None = None):
        if settings.steps < 1:
            raise ValueError("steps must be at least 1")
        self.settings = settings
        self._run = compile_steps(objective, settings, penalty)

    @property
    def traces(self) -> int:
        """How many times the compiled step function was traced (1: one graph for the batch)."""
        return int(self._run.experimental_get_tracing_count())

    def run(
        self,
        init: np.ndarray,
        on_chunk: Callable[[int], None] | None = None,
        frame_row: int | None = 0,
        rng: np.random.Generator | None = None,
    ) -> Result:
        """Optimise every row of ``init`` (N, H, W, C) in [0, 1].

        Args:
            init: the starting images (a Fourier parameterisation starts from random spectra
                drawn from ``rng`` instead).
            on_chunk: called with the number of steps just taken, after every chunk.
            frame_row: the row to snapshot for the animation (None: no frames).
            rng: random numbers for the starting parameters (default: seed 0).
        """
        import tensorflow as tf

        steps, chunk = self.settings.steps, max(1, int(self.settings.chunk))
        shape = self.settings.parameterisation
        start = shape.start(np.asarray(init, "float32"), rng or np.random.default_rng(0))
        x = tf.convert_to_tensor(start)
        m = tf.zeros_like(x)
        v = tf.zeros_like(x)
        t = tf.constant(0, tf.int64)
        frames = [] if frame_row is None else [np.asarray(init[frame_row], dtype="float32")]
        history = []
        clock = time.perf_counter()
        done, per_call = 0, min(chunk, FIRST_CALL_STEPS)
        while done < steps:
            k = min(per_call, chunk - done % chunk, steps - done)  # never past a frame
            started = time.perf_counter()
            x, m, v, t, values = self._run(x, m, v, t, tf.constant(k, tf.int32))
            history.append(values.numpy())
            done += k
            if frame_row is not None and (done % chunk == 0 or done == steps):
                frames.append(shape.to_image(x[frame_row : frame_row + 1])[0].numpy())
            if on_chunk is not None:
                on_chunk(k)
            per_step = (time.perf_counter() - started) / k
            per_call = max(1, int(CALL_SECONDS / max(per_step, 1e-9)))
        images = np.asarray(shape.to_image(x))
        seconds = time.perf_counter() - clock
        return Result(images, np.concatenate(history, axis=0), frames, seconds)


def optimize(
    objective: Objective,
    init: np.ndarray,
    settings: Settings,
    penalty: Objective | None = None,
    on_chunk: Callable[[int], None] | None = None,
    frame_row: int | None = 0,
) -> Result:
    """Optimise every row of ``init`` for ``objective`` with projected gradient steps.

    A one-shot :class:`Engine` (the graph is traced on this call; build an ``Engine`` to reuse
    it across batches).

    Args:
        objective: per-row objective (its row ``i`` is the target of row ``i``).
        init: starting images (N, H, W, C) in [0, 1].
        settings: steps, learning rate, optimiser, direction, chunking, transforms.
        penalty: a regulariser, always pushed down (subtracted when maximising).
        on_chunk: called with the number of steps just taken, after every chunk.
        frame_row: the row to snapshot for the animation (None: no frames).

    Returns:
        The final images, the per-step objective history, frames and wall time (tracing
        included).
    """
    return Engine(objective, settings, penalty).run(init, on_chunk, frame_row)
