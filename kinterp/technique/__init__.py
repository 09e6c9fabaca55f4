"""The technique contract every plugin implements: ``Technique`` and ``DemoPreset``, here.

Modules: :mod:`context` (``RunContext``: what a technique gets — model, data, seed, progress,
report) and :mod:`progress` (progress bars: rich on a terminal, silent otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from kinterp.settings.params import NoParams

if TYPE_CHECKING:
    from kinterp.loading.models import ModelInfo
    from kinterp.technique.context import RunContext


@dataclass(frozen=True)
class DemoPreset:
    """One run that ``kinterp demo`` makes: a zoo model and the params to use.

    ``quick`` overrides ``params`` under ``kinterp demo --quick`` (fewer steps, fewer targets).
    """

    model: str
    params: dict[str, Any] = field(default_factory=dict)
    quick: dict[str, Any] = field(default_factory=dict)


class Technique:
    """Base class of an analysis technique.

    Subclasses set ``name``, ``summary`` and ``Params`` (a dataclass) and implement
    :meth:`run`. A technique gets everything through its :class:`RunContext` and writes
    its results into ``ctx.report``; it never prints, parses argv or picks file names.
    Raise :class:`kinterp.KinterpError` for bad input (nothing is written then).
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    Params: ClassVar[type] = NoParams
    demo: ClassVar[tuple[DemoPreset, ...]] = ()
    key_metric: ClassVar[str | None] = None
    reads_data: ClassVar[bool] = True
    """False for techniques that never call ``ctx.data()``: a run given ``--data`` is refused."""

    def supports(self, info: ModelInfo) -> str | None:
        """Return None when the model can be analysed, else the reason it cannot."""
        return None

    def run(self, ctx: RunContext, params: Any) -> None:
        """Analyse ``ctx.model`` with ``params`` and write into ``ctx.report``."""
        raise NotImplementedError
