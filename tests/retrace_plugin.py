"""A test plugin whose technique makes TensorFlow log tf.function retracing warnings."""

from __future__ import annotations

import kinterp

NAME = "retrace"


class Retrace(kinterp.Technique):
    name = NAME
    summary = "Calls a tf.function with eight shapes (a CLI test's noisy technique)"

    def run(self, ctx: kinterp.RunContext, params: object) -> None:
        import tensorflow as tf

        @tf.function
        def double(x):
            return x * 2

        for n in range(1, 9):
            double(tf.zeros((n,)))
        ctx.report.metric("calls", 8)


@kinterp.hookimpl
def register_techniques(register) -> None:
    register(Retrace())


def register_here() -> None:
    """Register this module as a plugin in the current process."""
    import sys

    from kinterp.plugins import register_plugin

    register_plugin(sys.modules[__name__], name=__name__)
