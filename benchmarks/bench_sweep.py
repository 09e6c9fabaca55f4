"""Benchmark ``kinterp sweep`` against doing without it, on the same 16-run zoo sweep.

The sweep: mnist-cnn and mnist-mlp x happymap and sadmap (small presets) x 4 seeds. Four
sides, each from nothing to the last report, one after another on the same machine:

- **shell loop**: ``kinterp run`` once per run, a fresh process each (what a user does
  without sweep: TensorFlow imported and the model loaded 16 times);
- **one process**: :func:`kinterp.runner.execute` on each RunSpec in this process, each model
  loaded once (TensorFlow's import included, as the first run pays it);
- **sweep, 1 worker** and **sweep, N workers**: a local Dask cluster started, the plan run,
  the cluster closed (workers import TensorFlow and load the models themselves).

Prints the three ratios of issue #25 (goals on 2 cores: sweep <= 0.33x the shell loop,
<= 1.0x the one-process loop, N workers <= 0.6x one worker) and the per-run overheads.

Writes ``benchmarks/results/sweep.json`` (see ``results_file.py``).

    .venv/bin/python benchmarks/bench_sweep.py [--workers 2] [--steps 384] [--note TEXT]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from results_file import Recorder, arguments

WHAT = (
    "kinterp sweep: 16 runs (mnist-cnn, mnist-mlp x happymap, sadmap x 4 seeds) on a local "
    "Dask cluster of 1 and N workers vs a shell loop of kinterp run and one process"
)


def sweep_spec(steps: int) -> dict:
    params = {"steps": steps, "classes": [0, 1, 2]}
    return {
        "seeds": [0, 1, 2, 3],
        "models": ["mnist-cnn", "mnist-mlp"],
        "runs": [
            {"technique": "happymap", "params": params},
            {"technique": "sadmap", "params": params},
        ],
    }


def on_cluster(plan, workers: int) -> tuple[float, float, dict]:
    """(cluster start seconds, sweep seconds, manifest): start a local cluster, run, close."""
    from kinterp.sweeps import run_plan
    from kinterp.sweeps.cluster import start_local_cluster

    clock = time.perf_counter()
    cluster = start_local_cluster(workers)
    started = time.perf_counter() - clock
    try:
        clock = time.perf_counter()
        manifest = run_plan(plan, cluster=cluster.scheduler_address)
        return started, time.perf_counter() - clock, manifest
    finally:
        cluster.close()


def shell_loop(plan, out: Path) -> float:
    """Seconds for ``python -m kinterp run ...`` once per run, one process each."""
    clock = time.perf_counter()
    for run in plan.runs:
        spec = run.spec
        params = [f"--{k.replace('_', '-')}={_text(v)}" for k, v in sweep_params(spec).items()]
        command = [sys.executable, "-m", "kinterp", "run", spec.technique, spec.model, *params]
        command += ["--seed", str(spec.seed), "--out", str(out), "--quiet"]
        subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - clock


def sweep_params(spec) -> dict:
    """The params the SPEC sets (the planned spec holds every param, defaults included)."""
    return {k: spec.params[k] for k in ("steps", "classes")}


def _text(value) -> str:
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


def one_process(plan, out: Path) -> tuple[float, list[float]]:
    """(wall seconds, each run's technique seconds), one process, models loaded once."""
    from kinterp.runner import execute, load_for

    clock = time.perf_counter()
    models = {}
    seconds = []
    for run in plan.runs:
        if run.spec.model_sha256 not in models:
            models[run.spec.model_sha256] = load_for(run.spec)
        spec = replace(run.spec, out=str(out / run.key[:16]))
        result = execute(spec, model=models[run.spec.model_sha256], quiet=True)
        assert result.status == "ok", result.report["error"]
        seconds.append(result.report["duration_s"])
    return time.perf_counter() - clock, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--steps", type=int, default=384)
    arguments(parser)
    args = parser.parse_args()
    settings = {"workers": args.workers, "steps": args.steps, "classes": [0, 1, 2]}
    recorder = Recorder("sweep", WHAT, settings, args.note, args.results)
    with recorder:
        figures = measure(args)
        recorder.figures = figures


def measure(args) -> dict:
    """Run the four sides, print the figures and return them."""
    from kinterp.sweeps import plan_sweep

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        plans = {
            side: plan_sweep(sweep_spec(args.steps), out=root / side)
            for side in ("one", "many", "shell", "process")
        }
        n = len(plans["one"].runs)
        print(f"{n} runs, happymap/sadmap steps={args.steps}, {os.cpu_count()} cores")
        shell = shell_loop(plans["shell"], root / "shell")
        print(f"shell loop of kinterp run:  {shell:7.1f} s")
        process, process_runs = one_process(plans["process"], root / "process")
        print(f"one process:                {process:7.1f} s  (runs {sum(process_runs):.1f} s)")
        sides = {}
        for side, workers in (("one", 1), ("many", args.workers)):
            start, wall, manifest = on_cluster(plans[side], workers)
            assert manifest["summary"]["ok"] == n, manifest["summary"]
            sides[side] = (start, wall, manifest["runs"])
            total = start + wall
            print(f"sweep, {workers} worker(s):        {total:7.1f} s  (start {start:.1f} s)")

    start, wall, runs = sides["many"]
    sweep_s, one_worker_s = start + wall, sum(sides["one"][:2])
    run_s = [r["run_seconds"] for r in runs]
    task_s = [r["seconds"] for r in runs]
    figures = {
        "runs": n,
        "workers": args.workers,
        "shell_loop_s": shell,
        "one_process_s": process,
        "one_process_run_s": sum(process_runs),
        "sweep_1_worker_s": one_worker_s,
        "sweep_s": sweep_s,
        "cluster_start_s": start,
        "ratio_sweep_over_shell": sweep_s / shell,
        "ratio_sweep_over_one_process": sweep_s / process,
        "ratio_workers_over_1_worker": sweep_s / one_worker_s,
        "goal_over_shell": 0.33,
        "goal_over_one_process": 1.0,
        "goal_workers_over_1_worker": 0.6,
        "mean_run_s_worker": statistics.mean(run_s),
        "mean_run_s_one_process": statistics.mean(process_runs),
        "per_run_task_overhead_s": (sum(task_s) - sum(run_s)) / n,
    }
    for key, goal in (
        ("ratio_sweep_over_shell", "goal_over_shell"),
        ("ratio_sweep_over_one_process", "goal_over_one_process"),
        ("ratio_workers_over_1_worker", "goal_workers_over_1_worker"),
    ):
        met = "met" if figures[key] <= figures[goal] else "NOT met"
        print(f"{key}: {figures[key]:.2f}x (goal <= {figures[goal]}x, {met})")
    print(
        f"a run's own time: {figures['mean_run_s_worker']:.2f} s in a worker, "
        f"{figures['mean_run_s_one_process']:.2f} s in one process; task overhead "
        f"{figures['per_run_task_overhead_s']:.2f} s a run (load, checks, report writing)"
    )
    return figures


if __name__ == "__main__":
    main()
