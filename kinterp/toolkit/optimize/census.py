"""The filter census: is a unit's map a pattern, noise, a constant, or is the unit dead?

Measured per unit from its optimised maps alone (every init and restart at one TV weight,
plus the activations of the whole sweep and of the starting images), never from real data,
so the census is the same whether or not examples were scored. The labels follow the
classic keras-vis study of MNIST filters, each by one written rule, checked in this order:

- ``dead``: every map of the sweep (any TV weight, init or restart) leaves the unit's
  activation within ``DEAD_LEVEL`` of 0: the optimiser found nothing that turns it on.
- ``flat``: the unit is on, but its favourite input has no spatial content. Either its maps
  are near-constant (mean spatial pixel standard deviation below ``FLAT_STD`` of the 0-1
  display range: a uniform white, grey or colour field, an "always on" ambient-light
  detector), or the optimisation could not move it (the best map's activation exceeds the
  starting images' by at most ``FLAT_GAIN`` of its size: the response ignores the input).
  A near-constant map whose own activation is within ``DEAD_LEVEL`` of 0 is ``dead``.
- ``noise``: the map's power spectrum is flat like white noise's: mean spectral flatness
  above ``NOISE_FLATNESS``.
- ``structured``: everything else: the map's power sits in few spatial frequencies (stripes,
  edges, blobs, checkerboards).

Spectral flatness (Wiener entropy) is the geometric mean of a map's power spectrum over its
arithmetic mean, with the mean removed and the zero frequency left out (channels' powers
summed). It is 1 for a perfectly flat spectrum, about ``exp(-0.5772) = 0.56`` for the
periodogram of white noise at any size (each bin's power is exponentially distributed), and
falls towards 0 as the power concentrates in a few frequencies, whichever they are: stripes
of period 2 px are as structured as stripes of period 10 px, unlike a low/high-frequency
energy split. Random thresholded noise measures 0.5-0.6; the zoo's stripe maps 0.1-0.3.

Restart agreement is reported beside the census but is not part of it:
:func:`spectrum_correlation` is the mean pairwise Pearson correlation of the restart maps'
amplitude spectra, which ignore where a pattern sits (a filter averaged over space is as
happy with stripes shifted by a pixel, so two restarts that found the same stripes at
different phases agree).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from kinterp.toolkit.optimize.measures import mean_pairwise_correlation

LABELS = ("structured", "noise", "flat", "dead")
DEAD_LEVEL = 1e-6  # activations at or below this are "zero"
FLAT_STD = 0.01  # maps whose spatial pixel std is below this (0-1 range) are near-constant
FLAT_GAIN = 0.05  # the best map beating the starting images by at most 5%: flat
NOISE_FLATNESS = 0.4  # spectral flatness above this (white noise: about 0.56): noise

CENSUS_RULES = {
    "dead": f"every map of the sweep leaves its activation within {DEAD_LEVEL:g} of 0, or its "
    f"maps are near-constant and their activation is within {DEAD_LEVEL:g} of 0",
    "flat": f"on, but its maps are near-constant (mean spatial pixel std below {FLAT_STD:g} of "
    f"the 0-1 range: always on for a uniform field), or the best map's activation beats "
    f"the starting images' by at most {FLAT_GAIN:.0%}",
    "noise": f"otherwise, the maps' mean spectral flatness (geometric over arithmetic mean of "
    f"the power spectrum; white noise about 0.56) is above {NOISE_FLATNESS:g}",
    "structured": f"otherwise: spectral flatness at most {NOISE_FLATNESS:g}, the power sits in "
    f"few spatial frequencies (stripes, edges, blobs)",
}


def _channels(maps: np.ndarray) -> np.ndarray:
    """(N, H, W, C) float64 maps with each channel's spatial mean removed."""
    maps = np.asarray(maps, dtype="float64")
    maps = maps[..., None] if maps.ndim == 3 else maps
    return maps - maps.mean(axis=(1, 2), keepdims=True)


def _grey(maps: np.ndarray) -> np.ndarray:
    return _channels(maps).mean(axis=-1)


def pixel_std(maps: np.ndarray) -> np.ndarray:
    """(N,) each map's spatial pixel standard deviation (root mean over channels of each
    channel's variance over space): 0 for a uniform field of any colour."""
    return np.sqrt((_channels(maps) ** 2).mean(axis=(1, 2, 3)))


def spectral_flatness(maps: np.ndarray) -> np.ndarray:
    """(N,) each map's spectral flatness: geometric over arithmetic mean of its power
    spectrum (mean removed, zero frequency left out, channels' powers summed); nan for a
    constant map. See the module docstring."""
    centred = _channels(maps)
    power = (np.abs(np.fft.fft2(centred, axes=(1, 2))) ** 2).sum(axis=-1)
    power = power.reshape(len(power), -1)[:, 1:]
    mean = power.mean(axis=1)
    floor = 1e-12 * np.maximum(mean, np.finfo("float64").tiny)
    geometric = np.exp(np.log(power + floor[:, None]).mean(axis=1))
    return np.divide(geometric, mean, out=np.full(len(power), np.nan), where=mean > 0)


def spectrum_correlation(maps: np.ndarray) -> float:
    """Mean pairwise Pearson correlation of the amplitude spectra of restart maps
    (N, H, W[, C]): 1 when every restart found the same pattern wherever it sits (nan for
    one map)."""
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
    """One unit's measurements (activations are the unit's output after its activation, of
    the neuron the maps optimised: the spatial mean or the centre of a conv filter).

    Attributes:
        reached: the mean activation its maps reach (over inits and restarts, at the shown
            TV weight).
        reached_min, reached_max: the lowest and highest activation of any map of the sweep.
        start: the highest activation of its starting images.
        pixel_std: the mean spatial pixel std of its maps at the shown TV weight.
        flatness: the mean spectral flatness of those maps.
        spectrum_correlation: mean pairwise amplitude-spectrum correlation of its restart
            maps (nan: one restart); reported, not part of the label.
        data_mean, data_max: its activation on real images (nan: none were scored); reported,
            not part of the label.
    """

    reached: float
    reached_min: float
    reached_max: float
    start: float
    pixel_std: float
    flatness: float
    spectrum_correlation: float = math.nan
    data_mean: float = math.nan
    data_max: float = math.nan

    @property
    def responds(self) -> bool:
        """False for a dead or flat unit: its maps show nothing whatever the TV weight."""
        return self.label not in ("dead", "flat")

    @property
    def label(self) -> str:
        """``dead``, ``flat``, ``noise`` or ``structured`` (see the module docstring)."""
        if max(abs(self.reached_min), abs(self.reached_max)) <= DEAD_LEVEL:
            return "dead"
        if self.pixel_std < FLAT_STD:
            return "flat" if abs(self.reached) > DEAD_LEVEL else "dead"
        if self.reached_max - self.start <= FLAT_GAIN * max(abs(self.reached_max), DEAD_LEVEL):
            return "flat"
        if self.flatness > NOISE_FLATNESS:
            return "noise"
        return "structured"


def census(stats: list[UnitStats]) -> dict[str, int]:
    """How many units carry each label."""
    labels = [s.label for s in stats]
    return {label: labels.count(label) for label in LABELS}
