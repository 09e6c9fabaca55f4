"""``kinterp sweep``: many runs (techniques x models x param grids x seeds) on a Dask cluster.

A TOML SPEC expands to :class:`~kinterp.settings.runspec.RunSpec` s, each with a content key; every
run writes its normal report directory under ``OUT/runs/<key>/``, so re-running a sweep skips
what is done. See docs/sweep.md. Importing this package imports neither Dask nor TensorFlow.
"""

from __future__ import annotations

from kinterp.sweeps.engine import SweepPlan, plan_sweep, run_plan, sweep

__all__ = ["SweepPlan", "plan_sweep", "run_plan", "sweep"]
