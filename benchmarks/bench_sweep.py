"""Benchmark ``kinterp sweep``: 16 runs on a 2-worker LocalCluster vs one after another.

The sweep: mnist-cnn and mnist-mlp x happymap and sadmap (small presets) x 4 seeds. The
cluster side is timed from starting the cluster to the last report (TensorFlow imports and
model loads in the workers included); the serial side runs the same RunSpecs with
:func:`kinterp.runner.execute` in this process, each model loaded once, TensorFlow import
included. Prints the speed-up and the cluster's per-run overhead (scheduling, model loads,
report writing outside the technique) against a run's own time.

Writes ``benchmarks/results/sweep.json`` (see ``results_file.py``).

    .venv/bin/python benchmarks/bench_sweep.py [--workers 2] [--steps 384] [--note TEXT]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from results_file import Recorder, arguments

WHAT = (
    "kinterp sweep: 16 runs (mnist-cnn, mnist-mlp x happymap, sadmap x 4 seeds) on a local "
    "Dask cluster vs the same runs one after another in one process"
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
    """(cluster start seconds, sweep wall seconds, manifest)."""
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


def serially(plan, out: Path) -> tuple[float, list[float]]:
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
    """Run both sides, print the figures and return them."""

    from kinterp.sweeps import plan_sweep

    with tempfile.TemporaryDirectory() as tmp:
        plan = plan_sweep(sweep_spec(args.steps), out=Path(tmp) / "sweep")
        n = len(plan.runs)
        print(f"{n} runs, {args.workers} workers, happymap/sadmap steps={args.steps}")
        start, wall, manifest = on_cluster(plan, args.workers)
        assert manifest["summary"]["ok"] == n, manifest["summary"]
        serial_wall, serial_runs = serially(plan, Path(tmp) / "serial")

    runs = manifest["runs"]
    run_s = [r["run_seconds"] for r in runs]
    task_s = [r["seconds"] for r in runs]
    load_s = [r["load_seconds"] for r in runs]
    cluster_total = start + wall
    busy = wall * args.workers
    print(f"serial, one process:        {serial_wall:7.1f} s  (runs {sum(serial_runs):.1f} s)")
    print(f"cluster start:              {start:7.1f} s")
    print(f"cluster sweep:              {wall:7.1f} s  (runs {sum(run_s):.1f} s in workers)")
    print(f"speed-up (start included):  {serial_wall / cluster_total:7.2f}x")
    print(f"speed-up (sweep only):      {serial_wall / wall:7.2f}x")
    print(
        f"a run's own time:           {statistics.mean(run_s):7.2f} s mean in a worker, "
        f"{statistics.mean(serial_runs):.2f} s serial"
    )
    print(
        f"per-run model load:         {sum(load_s) / n:7.2f} s mean "
        f"({sum(1 for s in load_s if s > 0)} loads, TensorFlow import included)"
    )
    print(
        f"per-run task overhead:      {(sum(task_s) - sum(run_s)) / n:7.2f} s "
        "(task time outside the technique: load, sha256 check, report writing)"
    )
    print(
        f"per-run cluster overhead:   {(busy - sum(run_s)) / n:7.2f} s "
        "(worker-seconds not spent in a technique: the above plus scheduling and idle)"
    )
    return {
        "runs": n,
        "serial_s": serial_wall,
        "serial_run_s": sum(serial_runs),
        "cluster_start_s": start,
        "cluster_sweep_s": wall,
        "speedup_start_included": serial_wall / cluster_total,
        "speedup_sweep_only": serial_wall / wall,
        "mean_run_s_worker": statistics.mean(run_s),
        "mean_run_s_serial": statistics.mean(serial_runs),
        "per_run_task_overhead_s": (sum(task_s) - sum(run_s)) / n,
        "per_run_cluster_overhead_s": (busy - sum(run_s)) / n,
        "goal_speedup": 1.6,
    }


if __name__ == "__main__":
    main()
