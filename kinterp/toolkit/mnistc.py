"""The MNIST-C suite (Mu & Gilmer, 2019): its 15 corruptions as perturbation families.

Each is a :class:`~kinterp.toolkit.perturb.Family` named ``c-...`` whose default levels are
the clean image and the severity the paper's MNIST-C uses (the reference code's default
severity). They are registered through ``register_perturbation_families`` like the built-in
families, so ``--family c-fog`` works, but robustness sweeps them only when asked
(``--suite mnist-c`` selects :data:`SUITES` ``["mnist-c"]``). Implemented from the paper and the
constants of its reference code (github.com/google-research/mnist-c); docs/status.md lists
where they differ from it.
"""

from __future__ import annotations

from collections.abc import Callable

from kinterp.hookspecs import hookimpl
from kinterp.toolkit import corrupt_blur as blur
from kinterp.toolkit import corrupt_lines as lines
from kinterp.toolkit import corrupt_pixels as pixels
from kinterp.toolkit.corrupt_base import corruption
from kinterp.toolkit.perturb import Family, saltpepper

SEVERITY = {"identity": 0, "low": 0, "high": 5, "unit": "severity", "whole": True}
"""A family whose level is the reference's severity (1-5: its table of constants)."""
OPACITY = {"identity": 0, "levels": (0, 1), "low": 0, "high": 1, "unit": "opacity"}
"""A family drawn over the image, at a strength from 0 (none) to 1 (the paper's)."""

CORRUPTIONS: tuple[Family, ...] = (
    Family(
        "c-shot-noise",
        "Poisson (shot) noise of 1/level photons per unit intensity",
        pixels.shot_noise,
        identity=0,
        levels=(0, 1 / 3),
        low=0,
        high=10,
        unit="1/photons",
    ),
    Family(
        "c-impulse-noise",
        "impulse noise: this fraction of pixels set to black or white",
        corruption(0)(saltpepper),
        identity=0,
        levels=(0, 0.17),
        low=0,
        high=1,
        unit="fraction",
    ),
    Family(
        "c-glass-blur",
        "glass blur: blurred, pixels shuffled locally, blurred again",
        blur.glass_blur,
        levels=(0, 1),
        **SEVERITY,
    ),
    Family(
        "c-motion-blur",
        "motion blur along a random angle within 45 degrees of horizontal",
        blur.motion_blur,
        levels=(0, 1),
        **SEVERITY,
    ),
    Family(
        "c-shear",
        "sheared about the centre, to the left or right",
        pixels.shear,
        identity=0,
        levels=(0, 0.4),
        low=0,
        high=1.5,
        unit="shear",
    ),
    Family(
        "c-scale",
        "frame resized about its centre",
        pixels.scale,
        identity=1,
        levels=(1, 0.7),
        low=0.05,
        high=8,
        unit="x",
    ),
    Family(
        "c-rotate",
        "rotated about the centre, either way",
        pixels.rotate,
        identity=0,
        levels=(0, 0.4),
        low=0,
        high=3.15,
        unit="rad",
    ),
    Family(
        "c-brightness",
        "brightness (HSV value) raised",
        pixels.brightness,
        identity=0,
        levels=(0, 0.5),
        low=0,
        high=1,
        unit="value",
    ),
    Family(
        "c-translate",
        "moved diagonally, in a random one of four directions",
        pixels.translate,
        identity=0,
        levels=(0, 3),
        low=0,
        high=28,
        unit="px at 28x28",
    ),
    Family(
        "c-stripe",
        "left and right bands of this share of the width inverted",
        pixels.stripe,
        identity=0,
        levels=(0, 0.25),
        low=0,
        high=0.5,
        unit="width",
    ),
    Family("c-fog", "fog: a plasma fractal haze", blur.fog, levels=(0, 5), **SEVERITY),
    Family("c-spatter", "mud spattered", blur.spatter, levels=(0, 4), **SEVERITY),
    Family("c-dotted-line", "a dotted line across", lines.dotted_line, **OPACITY),
    Family("c-zigzag", "a zigzag line across", lines.zigzag, **OPACITY),
    Family("c-canny-edges", "only the Canny edges", lines.canny_edges, **OPACITY),
)
"""The 15 corruptions, in the paper's order."""

SUITES: dict[str, tuple[str, ...]] = {"mnist-c": tuple(f.name for f in CORRUPTIONS)}
"""Named suites of registered families: what robustness's ``--suite`` selects."""


@hookimpl
def register_perturbation_families(register: Callable[[Family], None]) -> None:
    """Register the MNIST-C corruptions."""
    for family in CORRUPTIONS:
        register(family)
