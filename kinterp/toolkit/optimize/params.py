"""The parameters every input-optimisation technique shares, with their bounds.

A technique's ``Params`` dataclass inherits :class:`OptimisationParams` and adds its own
fields (targets, layers); :func:`settings` and :func:`penalty_of` turn the shared ones into
what the engine takes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from kinterp.errors import KinterpError
from kinterp.loading.models import LoadedModel
from kinterp.toolkit.optimize.engine import Settings
from kinterp.toolkit.optimize.inits import DEFAULT_INIT
from kinterp.toolkit.optimize.memory import budget_bytes, bytes_per_row
from kinterp.toolkit.optimize.objectives import Objective
from kinterp.toolkit.optimize.parameterize import pixels
from kinterp.toolkit.optimize.regularizers import Weight, parse_lp, penalty
from kinterp.toolkit.optimize.transforms import view_transforms

MAX_STEPS = 100_000
ANIMATION_FRAMES = 24  # about this many frames (one per compiled chunk) for the animation
FREE_L2 = 5.0  # the L2 weight of unclipped pixels when no --l2 or --lp bounds them


@dataclass
class OptimisationParams:
    """The options every input-optimising technique shares; inherit it in your ``Params``."""

    init: list[str] = field(
        default_factory=lambda: list(DEFAULT_INIT),
        metadata={
            "help": "Starting images: zeros, ones, half, uniform, normal, image:PATH (converted "
            "to the model's channels; for grey models inverted when its background is light).",
            "max_items": 16,
            "file": "image",
            "file_prefix": "image:",
        },
    )
    restarts: int = field(
        default=1, metadata={"help": "Random restarts per target and init.", "min": 1, "max": 256}
    )
    steps: int = field(
        default=128, metadata={"help": "Gradient steps.", "min": 1, "max": MAX_STEPS}
    )
    lr: float = field(
        default=0.05,
        metadata={
            "help": "Learning rate, as a fraction of the input range.",
            "min": 1e-6,
            "max": 10,
        },
    )
    optimizer: Literal["adam", "sgd"] = field(default="adam", metadata={"help": "Optimiser."})
    tv: float = field(
        default=0.0, metadata={"help": "Total-variation penalty weight.", "min": 0, "max": 1e6}
    )
    l2: float = field(default=0.0, metadata={"help": "L2 penalty weight.", "min": 0, "max": 1e6})
    lp: str = field(default="", metadata={"help": "Lp penalty as P:W, e.g. 1:0.5 (off if empty)."})
    blur: float = field(
        default=0.0,
        metadata={
            "help": "Gaussian blur sigma (px) of what the network sees.",
            "min": 0,
            "max": 64,
        },
    )
    jitter: int = field(
        default=0,
        metadata={"help": "Random shift (px) of what the network sees.", "min": 0, "max": 256},
    )
    memory_limit: int = field(
        default=0,
        metadata={
            "help": "Memory (MB) the batch may use; 0: half of the available memory.",
            "min": 0,
            "max": 10_000_000,
        },
    )


def settings(
    params: OptimisationParams,
    maximize: bool,
    shape: tuple[int, int, int],
    seed: int,
    clip: bool = True,
) -> Settings:
    """Engine settings: steps, lr, optimiser, direction, chunking for the animation, transforms,
    and pixels clipped to the input range after every step (or, ``clip=False``, never).

    Raises:
        KinterpError: a blur or jitter too wide for the image.
    """
    return Settings(
        steps=params.steps,
        lr=params.lr,
        optimizer=params.optimizer,
        maximize=maximize,
        chunk=max(1, math.ceil(params.steps / ANIMATION_FRAMES)),
        transforms=view_transforms(params.jitter, params.blur, shape, seed),
        parameterisation=pixels(clip),
    )


def penalty_of(
    params: OptimisationParams, tv_weight: Weight | None = None, bounded: bool = False
) -> tuple[Objective | None, str]:
    """The penalty of ``--tv``, ``--l2`` and ``--lp`` and its name (``tv_weight`` overrides
    ``--tv``, e.g. one weight per row for a sweep).

    ``bounded`` asks for a penalty that keeps unclipped pixels finite: with neither ``--l2``
    nor ``--lp`` given, the L2 weight is :data:`FREE_L2` (TV alone never bounds them, since a
    constant image has no variation).

    Raises:
        KinterpError: a malformed ``--lp``.
    """
    tv_weight = params.tv if tv_weight is None else tv_weight
    lp_term = parse_lp(params.lp)
    l2_weight = params.l2
    if bounded and not l2_weight and not (lp_term and lp_term[1]):
        l2_weight = FREE_L2
    return penalty(tv_weight, l2_weight, lp_term)


def check_memory(model: LoadedModel, layer: str | None, rows: int, limit_mb: int) -> None:
    """Refuse a batch whose estimated memory exceeds the budget, with the numbers and the fix.

    Raises:
        KinterpError: the batch would not fit.
    """
    need = rows * bytes_per_row(model, layer, int(np.prod(model.require_image())))
    budget = budget_bytes(limit_mb)
    if need > budget:
        raise KinterpError(
            f"{rows:,} maps need about {need / 2**30:.1f} GB of memory, more than the "
            f"{budget / 2**30:.1f} GB allowed; use fewer --restarts, --init values or targets, "
            "or raise --memory-limit (MB)"
        )
