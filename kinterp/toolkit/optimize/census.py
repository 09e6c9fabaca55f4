"""The filter census: is a unit's map structure, noise, a constant, or is the unit dead?

Measured per unit from its optimised maps (every restart, at one TV weight) and from its
activations on real data; labels follow the classic keras-vis study of MNIST filters:

- ``dead``: the activation stays 0 from every start and on the data;
- ``flat``: the unit barely responds to its input (near-constant activation, on data and at
  the optimum): "always on" ambient-light detectors when that constant is high;
- ``noise``: the restarts disagree (low consistency) or the map's energy sits in the highest
  frequencies: nothing in particular makes the unit clearly happy;

Consistency here compares the restarts' amplitude spectra, which ignore where a pattern sits:
a filter averaged over space is as happy with stripes shifted by a pixel, so two restarts that
found the same stripes at different phases agree.
- ``structured``: everything else: a consistent, mostly low-frequency pattern.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kinterp.toolkit.optimize.measures import mean_pairwise_correlation

LABELS = ("structured", "noise", "flat", "dead")
DEAD_LEVEL = 1e-6  # activations at or below this are "zero"
FLAT_SPREAD = 0.05  # response range below 5% of the mean response: flat
NOISE_CONSISTENCY = 0.6  # restart spectra correlating less than this: noise
NOISE_HIGH_FREQUENCY = 0.8  # more than this share of the energy above half Nyquist: noise


def _grey(maps: np.ndarray) -> np.ndarray:
    maps = np.asarray(maps, dtype="float64")
    grey = maps.mean(axis=-1) if maps.ndim == 4 else maps
    return grey - grey.mean(axis=(1, 2), keepdims=True)


def spectrum_consistency(maps: np.ndarray) -> float:
    """Mean pairwise correlation of the amplitude spectra of restart maps (N, H, W[, C]):
    1 when every restart found the same pattern wherever it sits (nan for one map)."""
    return mean_pairwise_correlation(np.abs(np.fft.fft2(_grey(maps))))


def high_frequency_energy(maps: np.ndarray) -> np.ndarray:
    """(N,) the share of each map's (mean-removed) spectral energy above half the Nyquist
    frequency (0.25 cycles per pixel), channels averaged."""
    grey = _grey(maps)
    power = np.abs(np.fft.fft2(grey)) ** 2
    fy = np.fft.fftfreq(grey.shape[1])[:, None]
    fx = np.fft.fftfreq(grey.shape[2])[None, :]
    high = np.sqrt(fx * fx + fy * fy) > 0.25
    total = power.sum(axis=(1, 2))
    return np.divide(power[:, high].sum(axis=1), total, out=np.zeros(len(grey)), where=total > 0)


@dataclass(frozen=True)
class UnitStats:
    """One unit's measurements (activations are the unit's output after its activation).

    Attributes:
        reached: the mean activation its maps reach (over restarts, at the shown TV weight).
        reached_min, reached_max: over every map of the sweep.
        data_mean, data_min, data_max: its activation on real images.
        consistency: mean pairwise correlation of its restart maps (nan: one restart).
        high_frequency: the mean high-frequency energy share of its maps.
    """

    reached: float
    reached_min: float
    reached_max: float
    data_mean: float
    data_min: float
    data_max: float
    consistency: float
    high_frequency: float

    @property
    def responds(self) -> bool:
        """False for a dead or flat unit: its maps show nothing whatever the TV weight."""
        return self.label not in ("dead", "flat")

    @property
    def label(self) -> str:
        """``dead``, ``flat``, ``noise`` or ``structured`` (see the module docstring)."""
        top = max(self.reached_max, self.data_max)
        if top <= DEAD_LEVEL:
            return "dead"
        spread = top - min(self.reached_min, self.data_min)
        if spread <= FLAT_SPREAD * max(abs(self.data_mean), abs(self.reached), DEAD_LEVEL):
            return "flat"
        inconsistent = not np.isnan(self.consistency) and self.consistency < NOISE_CONSISTENCY
        if inconsistent or self.high_frequency > NOISE_HIGH_FREQUENCY:
            return "noise"
        return "structured"


def census(stats: list[UnitStats]) -> dict[str, int]:
    """How many units carry each label."""
    labels = [s.label for s in stats]
    return {label: labels.count(label) for label in LABELS}
