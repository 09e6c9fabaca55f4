"""A test plugin whose technique always crashes, and a Dask worker plugin that registers it.

Workers are separate processes, so the technique must be registered in each of them (and in
any worker the nanny starts to replace a dead one): Dask re-runs a registered WorkerPlugin's
``setup`` on every worker that joins.
"""

from __future__ import annotations

from distributed import WorkerPlugin

import kinterp

NAME = "sweep-crash"


class Crash(kinterp.Technique):
    name = NAME
    summary = "Always raises (a sweep test's broken technique)"

    def run(self, ctx: kinterp.RunContext, params: object) -> None:
        raise RuntimeError("boom from the test technique")


@kinterp.hookimpl
def register_techniques(register) -> None:
    register(Crash())


def register_here() -> None:
    """Register this module as a plugin in the current process."""
    import sys

    from kinterp.plugins import register_plugin

    register_plugin(sys.modules[__name__], name=__name__)


class RegisterCrash(WorkerPlugin):
    """Registers the crashing technique in every worker process."""

    def setup(self, worker) -> None:
        register_here()
