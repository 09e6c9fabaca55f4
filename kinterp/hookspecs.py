"""Hook specifications: the only ways a plugin extends kinterp.

A plugin is a module (usually named in the ``kinterp`` entry-point group) that
implements some of these functions, each marked with :data:`hookimpl`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

PROJECT = "kinterp"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_techniques(register: Callable[[Any], None]) -> None:
    """Register analysis techniques by calling ``register(technique)`` for each."""


@hookspec
def register_datasets(register: Callable[[Any], None]) -> None:
    """Register datasets by calling ``register(dataset_spec)`` for each."""


@hookspec
def register_report_blocks(register: Callable[[Any], None]) -> None:
    """Register report blocks by calling ``register(report_block)`` for each.

    A ``kinterp.reporting.blocks.ReportBlock`` is a kind of report content: the JSON Schema of
    its data and the Jinja macro that renders it in report.html. A kind another plugin took
    first marks the plugin broken.
    """


@hookspec
def register_commands(app: Any) -> None:
    """Add ``kinterp`` sub-commands: decorate functions with ``@app.command()``.

    ``app`` is a fresh ``typer.Typer`` for this plugin alone; its commands join the root
    command line. A name the core uses (or another plugin took first) marks the plugin broken.
    """


@hookspec
def register_perturbation_families(register: Callable[[Any], None]) -> None:
    """Register perturbation families by calling ``register(family)`` with a
    ``kinterp.toolkit.perturb.Family`` for each; robustness sweeps every registered family (an
    attack is a ``Family`` with ``attack=True``, called once per model with an ``AttackTarget``)."""


@hookspec
def register_dataset_formats(register: Callable[[Any], None]) -> None:
    """Register dataset formats by calling ``register(fmt)`` with a
    ``kinterp.data.datasets.DatasetFormat`` for each; ``--data PATH`` loads a path with the first
    format whose detector accepts it."""
