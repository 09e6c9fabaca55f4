"""Example kinterp plugin that extends the core rather than adding a technique.

It registers, through the hooks, a perturbation family that robustness sweeps (``blank``:
fade every image into its background), a dataset format ``--data`` reads (``digits-csv``:
the Kaggle MNIST layout, one image per row) and a report block (``level-bars``: a value per
level as bars).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

import kinterp
from kinterp.toolkit import Digits, Family


def blank(digits: Digits, amount: float) -> np.ndarray:
    """Blend every image towards its background: 0 is the image, 1 an empty frame."""
    return (1 - amount) * digits.images + amount * digits.background


BLANK = Family(
    "blank",
    "image faded into its background",
    blank,
    identity=0,
    levels=(0, 0.25, 0.5, 0.75, 1),
    low=0,
    high=1,
    unit="fraction",
    block="level-bars",
)


def is_digits_csv(path: Path) -> bool:
    """A ``.csv`` file (its contents are checked when it is loaded)."""
    return path.is_file() and path.suffix.lower() == ".csv"


def load_digits_csv(path: Path, size: tuple[int, int] | None = None) -> kinterp.Dataset:
    """A header line, then one ``label,pixel0,...`` row of 0..255 values per square image.

    Raises:
        kinterp.KinterpError: a row that is not numbers, or pixels that are not a square image.
    """
    try:
        rows = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.int64, ndmin=2)
    except ValueError as exc:
        raise kinterp.KinterpError(
            f"{path}: not label,pixel,... rows of integers ({exc})"
        ) from None
    side = math.isqrt(rows.shape[1] - 1)
    if side * side != rows.shape[1] - 1 or rows[:, 1:].min(initial=0) < 0 or rows.max() > 255:
        raise kinterp.KinterpError(
            f"{path}: each row must be a label and a square of 0..255 pixels"
        )
    images = (rows[:, 1:].reshape(-1, side, side, 1) / 255).astype(np.float32)
    labels = rows[:, 0]
    return kinterp.Dataset(
        name=path.stem,
        x_train=images[:0],
        y_train=labels[:0],
        x_test=images,
        y_test=labels,
        class_names=tuple(str(c) for c in range(int(labels.max(initial=0)) + 1)),
        split=f"all {len(images):,} rows of {path.name}",
    )


DIGITS_CSV = kinterp.DatasetFormat(
    "digits-csv",
    "a .csv file with a header line, then label,pixel0,pixel1,... per square image",
    is_digits_csv,
    load_digits_csv,
)

LEVEL_BARS = kinterp.ReportBlock(
    name="level-bars",
    summary="a value in [0, 1] per level, as bars",
    schema={
        "type": "object",
        "required": ["levels", "values"],
        "properties": {
            "levels": {"type": "array", "items": {"type": "string"}},
            "values": {"type": "array", "items": {"type": "number", "minimum": 0, "maximum": 1}},
        },
    },
    macro="""
{% macro render(data, section, sheets) %}
<ol class="level-bars">{% for level in data.levels %}
<li>{{ level }} <meter value="{{ data["values"][loop.index0] }}"></meter>
{{ fmt(data["values"][loop.index0], "pct") }}</li>
{% endfor %}</ol>
{% endmacro %}
""",
)


@kinterp.hookimpl
def register_perturbation_families(register) -> None:
    register(BLANK)


@kinterp.hookimpl
def register_dataset_formats(register) -> None:
    register(DIGITS_CSV)


@kinterp.hookimpl
def register_report_blocks(register) -> None:
    register(LEVEL_BARS)
