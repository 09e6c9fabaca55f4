"""The technique toolkit: public building blocks for techniques, built-in and third-party.

The names in ``__all__`` are the public toolkit (see docs/plugins.md, "The toolkit"): memory
budgets, perturbation families (and named suites of them) and attacks, genetic operators and
pixel statistics. Two
packages below are public too: :mod:`kinterp.toolkit.optimize` (the compiled
input-optimisation engine) and :mod:`kinterp.toolkit.cppn` (compositional pattern-producing
networks). The names are imported on first use, so importing this package is cheap; nothing
here imports the run core or TensorFlow at import time.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kinterp.toolkit.attacks import ATTACKS, PGD, attack_batch, fgsm
    from kinterp.toolkit.evolve import breeding_bytes, next_generation
    from kinterp.toolkit.mnistc import SUITES
    from kinterp.toolkit.optimize.memory import Budget, budget, fitting_batch, gradient_rows
    from kinterp.toolkit.perturb import (
        FAMILIES,
        AttackTarget,
        Digits,
        Family,
        border_mask,
        stamp,
    )
    from kinterp.toolkit.pixelstats import pixel_histogram, variogram

_LAZY = {
    "ATTACKS": "kinterp.toolkit.attacks",
    "PGD": "kinterp.toolkit.attacks",
    "attack_batch": "kinterp.toolkit.attacks",
    "fgsm": "kinterp.toolkit.attacks",
    "AttackTarget": "kinterp.toolkit.perturb",
    "Budget": "kinterp.toolkit.optimize.memory",
    "budget": "kinterp.toolkit.optimize.memory",
    "fitting_batch": "kinterp.toolkit.optimize.memory",
    "gradient_rows": "kinterp.toolkit.optimize.memory",
    "Digits": "kinterp.toolkit.perturb",
    "FAMILIES": "kinterp.toolkit.perturb",
    "SUITES": "kinterp.toolkit.mnistc",
    "Family": "kinterp.toolkit.perturb",
    "border_mask": "kinterp.toolkit.perturb",
    "stamp": "kinterp.toolkit.perturb",
    "breeding_bytes": "kinterp.toolkit.evolve",
    "next_generation": "kinterp.toolkit.evolve",
    "pixel_histogram": "kinterp.toolkit.pixelstats",
    "variogram": "kinterp.toolkit.pixelstats",
}

__all__ = [
    "ATTACKS",
    "FAMILIES",
    "PGD",
    "SUITES",
    "AttackTarget",
    "Budget",
    "Digits",
    "Family",
    "attack_batch",
    "border_mask",
    "breeding_bytes",
    "budget",
    "fgsm",
    "fitting_batch",
    "gradient_rows",
    "next_generation",
    "pixel_histogram",
    "stamp",
    "variogram",
]


def __getattr__(name: str) -> Any:
    """Import an exported name on first use.

    Raises:
        AttributeError: ``name`` is not exported here.
    """
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'kinterp.toolkit' has no attribute {name!r}")
