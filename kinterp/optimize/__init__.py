"""Shared compiled input-optimisation engine (activation maximisation, feature visualisation).

Small modules, Lucid-style: :mod:`objectives` say what to maximise per batch row and compose
with ``+``, ``-`` and ``*``; :mod:`regularizers` are objectives on the image itself;
:mod:`transforms` (jitter, blur) run inside the differentiable graph and are never written back;
:mod:`inits` make starting images; :mod:`engine` runs the whole batch (every target x init x
restart) through one compiled ``tf.function`` that takes several steps per call.

Nothing here imports TensorFlow at import time.

Example::

    from kinterp.optimize import Settings, channel, optimize, tv

    objective = channel(model.logits_model, targets, model.to_input_tensor)
    result = optimize(objective, init_images, Settings(steps=128), penalty=1e-2 * tv())
"""

from kinterp.optimize.engine import Engine, Result, Settings, compile_steps, optimize
from kinterp.optimize.inits import INIT_NAMES, init_batch, parse_init
from kinterp.optimize.objectives import Objective, channel
from kinterp.optimize.regularizers import l2, lp, tv
from kinterp.optimize.transforms import blur, jitter

__all__ = [
    "INIT_NAMES",
    "Engine",
    "Objective",
    "Result",
    "Settings",
    "blur",
    "channel",
    "compile_steps",
    "init_batch",
    "jitter",
    "l2",
    "lp",
    "optimize",
    "parse_init",
    "tv",
]
