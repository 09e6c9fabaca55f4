"""Shared compiled input-optimisation engine (activation maximisation, feature visualisation).

Small modules, Lucid-style: :mod:`targets` pick what a row optimises (a class, a dense unit,
a conv filter of a named layer) and build its objective; :mod:`objectives` compose with
``+``, ``-`` and ``*`` (``*`` also takes one weight per batch row); :mod:`regularizers` are
objectives on the image itself; :mod:`transforms` (jitter, blur) run inside the
differentiable graph and are never written back; :mod:`inits` make and load starting images;
:mod:`grid` lays out the batch as named axes (targets x TV weights x inits x restarts);
:mod:`params` holds the options every such technique shares; :mod:`engine` runs the whole
batch through one compiled ``tf.function`` that takes several steps per call; :mod:`measures`
scores the results (pixel correlation across restarts, the border test); :mod:`parameterize`
optimises pixels or a colour-decorrelated spectrum; :mod:`memory` sizes rows to a budget;
:mod:`census` sorts a unit's maps into structured, noise, flat or dead.

A public module: the names in ``__all__`` are documented in docs/plugins.md. Nothing here
imports TensorFlow at import time.

Example, a TV sweep of 4 weights x 10 classes in one compiled call::

    from kinterp.toolkit.optimize import (
        BatchGrid, Settings, class_targets, objective, optimize, penalty,
    )

    targets = class_targets(model, None)
    grid = BatchGrid.of(target=targets.indices, tv=[1e-3, 1e-2, 1e-1, 1.0])
    goal = objective(model, targets, grid.values("target"))
    weights, _ = penalty(tv_weight=grid.values("tv"))
    result = optimize(goal, init_images, Settings(steps=128), penalty=weights)
"""

from kinterp.toolkit.optimize.census import (
    CENSUS_RULES,
    UnitStats,
    census,
    high_frequency_energy,
    pixel_std,
    spectral_flatness,
    spectrum_correlation,
)
from kinterp.toolkit.optimize.engine import Engine, Result, Settings, compile_steps, optimize
from kinterp.toolkit.optimize.grid import BatchGrid
from kinterp.toolkit.optimize.inits import (
    INIT_NAMES,
    StartImages,
    init_batch,
    load_starts,
    parse_init,
)
from kinterp.toolkit.optimize.measures import (
    Scores,
    mean_pairwise_correlation,
    restart_pixel_correlation,
    score_maps,
    zero_border,
)
from kinterp.toolkit.optimize.memory import bytes_per_row, rows_per_call
from kinterp.toolkit.optimize.objectives import Objective, channel
from kinterp.toolkit.optimize.parameterize import (
    Parameterisation,
    fourier,
    parameterisation,
    pixels,
)
from kinterp.toolkit.optimize.params import (
    ANIMATION_FRAMES,
    FREE_L2,
    OptimisationParams,
    check_memory,
    penalty_of,
    settings,
)
from kinterp.toolkit.optimize.regularizers import l2, lp, parse_lp, penalty, tv
from kinterp.toolkit.optimize.targets import (
    Targets,
    check_indices,
    class_targets,
    layer_targets,
    layer_units,
    objective,
    unit_objective,
)
from kinterp.toolkit.optimize.transforms import blur, jitter, rotate_scale, view_transforms

__all__ = [
    "ANIMATION_FRAMES",
    "CENSUS_RULES",
    "FREE_L2",
    "INIT_NAMES",
    "BatchGrid",
    "Engine",
    "Objective",
    "OptimisationParams",
    "Parameterisation",
    "Result",
    "Scores",
    "Settings",
    "StartImages",
    "Targets",
    "UnitStats",
    "blur",
    "bytes_per_row",
    "census",
    "channel",
    "check_indices",
    "check_memory",
    "class_targets",
    "compile_steps",
    "fourier",
    "high_frequency_energy",
    "init_batch",
    "jitter",
    "l2",
    "layer_targets",
    "layer_units",
    "load_starts",
    "lp",
    "mean_pairwise_correlation",
    "objective",
    "optimize",
    "parameterisation",
    "parse_init",
    "parse_lp",
    "penalty",
    "penalty_of",
    "pixel_std",
    "pixels",
    "restart_pixel_correlation",
    "rotate_scale",
    "rows_per_call",
    "score_maps",
    "settings",
    "spectral_flatness",
    "spectrum_correlation",
    "tv",
    "unit_objective",
    "view_transforms",
    "zero_border",
]
