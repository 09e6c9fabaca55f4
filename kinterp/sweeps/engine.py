"""Plan a sweep, then run what is left of it on a Dask cluster and write its index.

:func:`plan_sweep` reads and checks the SPEC (nothing is written), expands it and finds the
runs an earlier sweep already finished. :func:`run_plan` submits the rest, one Dask task per
run with bounded retries, collects them as they complete, and writes ``sweep.json``,
``index.html`` and ``comparison.html``. :func:`sweep` does both.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kinterp.errors import KinterpError
from kinterp.plugins import one_line
from kinterp.reporting.html import write_index
from kinterp.reporting.rundir import remove_stale
from kinterp.sweeps import manifest
from kinterp.sweeps.cluster import LOCAL, check_cluster, connect
from kinterp.sweeps.compare import write_comparison
from kinterp.sweeps.outcome import Outcome, existing
from kinterp.sweeps.plan import PlannedRun, expand
from kinterp.sweeps.progress import sweep_progress
from kinterp.sweeps.size import DEFAULT_MAX_RUNS
from kinterp.sweeps.spec import load_spec

if TYPE_CHECKING:
    from kinterp.sweeps.transport import Parcel

DEFAULT_OUT = "sweep-out"
TASK_RETRIES = 2
"""Retries of a task that raised (a worker that died is rescheduled by Dask on its own, up to
``distributed.scheduler.allowed-failures`` times)."""

SpecSource = str | os.PathLike | Mapping[str, Any]


@dataclass(frozen=True)
class SweepPlan:
    """A checked, expanded sweep: where it writes, its runs, and those already done."""

    source: str
    out: Path
    runs: list[PlannedRun]
    done: dict[str, Outcome]

    @property
    def todo(self) -> list[PlannedRun]:
        """The runs without a complete report yet."""
        return [run for run in self.runs if run.key not in self.done]


def plan_sweep(
    spec: SpecSource,
    out: str | os.PathLike | None = None,
    max_runs: int = DEFAULT_MAX_RUNS,
    retry_failed: bool = False,
    unsafe: bool = False,
) -> SweepPlan:
    """Read, check and expand a SPEC (a .toml path or a dict); nothing is written.

    Args:
        spec: a .toml path or a dict.
        out: overrides the SPEC's ``out`` (default ``sweep-out`` beside the SPEC file).
        max_runs: refuse a SPEC of more runs than this (counted before expanding).
        retry_failed: run again the runs whose report is a failed one (a technique that
            crashed); otherwise every run with a report is done.
        unsafe: the command line's ``--unsafe``: models may contain code, and the SPEC's
            model tables may name ``custom_objects`` (a SPEC can never ask for it itself).

    Raises:
        KinterpError: a problem in the SPEC, naming its line, or too many runs.
    """
    if out is not None and not isinstance(out, (str, os.PathLike)):
        raise KinterpError(f"out must be a folder path, got {type(out).__name__} {out!r}")
    checked = load_spec(spec, max_runs, unsafe)
    folder = Path(out).expanduser() if out is not None else checked.out
    folder = (folder or checked.base / DEFAULT_OUT).resolve()
    runs = expand(checked, folder)
    found = {run.key: existing(run.folder) for run in runs}
    done = {
        key: outcome
        for key, outcome in found.items()
        if outcome is not None and not (retry_failed and outcome.report_status == "failed")
    }
    source = "<dict>" if isinstance(spec, Mapping) else str(Path(spec).resolve())
    return SweepPlan(source, folder, runs, done)


def run_plan(
    plan: SweepPlan,
    cluster: str = LOCAL,
    workers: int | None = None,
    quiet: bool = True,
    echo: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the plan's remaining runs on the cluster; return the manifest (also sweep.json).

    A technique that crashes gives its run a failed report; a run whose model changed or
    that its technique refuses is ``refused``; either way the sweep goes on. Ctrl-C or
    SIGTERM closes the cluster and removes the hidden directories of the runs it cut short.

    Raises:
        KinterpError: a bad cluster option, or a scheduler that cannot be reached.
    """
    check_cluster(cluster, workers)
    outcomes = {run.key: plan.done.get(run.key, Outcome("pending")) for run in plan.runs}
    todo = plan.todo
    started, clock = _now(), time.perf_counter()
    info: dict[str, Any] = {"source": plan.source, "cluster": None, "started": started}
    if echo:
        echo(f"sweep: {len(plan.runs)} runs, {len(plan.done)} already done, {len(todo)} to run")
    if todo:
        try:
            with connect(cluster, workers) as (client, label):
                info["cluster"] = label
                if echo:
                    echo(f"running on {label}; reports in {plan.out}")
                manifest.write(plan.out, manifest.build(plan.out, plan.runs, outcomes, **info))
                _run_all(client, plan, todo, outcomes, info, quiet)
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM; the cluster and its workers are closed
            for folder in {run.folder for run in todo}:
                remove_stale(folder)  # the hidden run directories of this host's dead workers
            raise
    info.update(ended=_now(), seconds=round(time.perf_counter() - clock, 3))
    plan.out.mkdir(parents=True, exist_ok=True)
    info["index"] = str(plan.out / "index.html")
    document = manifest.build(plan.out, plan.runs, outcomes, **info)
    document["comparison"] = str(write_comparison(plan.out, document["runs"]))
    write_index(plan.out)  # after the comparison, which it links
    document["manifest"] = str(plan.out / manifest.MANIFEST)
    manifest.write(plan.out, document)
    return document


def sweep(
    spec: SpecSource,
    out: str | os.PathLike | None = None,
    cluster: str = LOCAL,
    workers: int | None = None,
    quiet: bool = True,
    max_runs: int = DEFAULT_MAX_RUNS,
    retry_failed: bool = False,
    unsafe: bool = False,
) -> dict[str, Any]:
    """Run a sweep: every technique x model x grid point x seed of the SPEC, resumably.

    Args:
        spec: a SPEC .toml path, or a dict of the same shape (paths relative to the cwd).
        out: the sweep's folder (default: the SPEC's ``out``, else ``sweep-out``).
        cluster: ``local`` (a LocalCluster) or a Dask scheduler address (``tcp://HOST:PORT``).
        workers: worker processes of the local cluster (default: one per core).
        quiet: no progress output.
        max_runs: refuse a SPEC of more runs than this (default 10,000; counted first).
        retry_failed: run again the runs an earlier sweep left a failed report for.
        unsafe: load models that contain code, and allow the SPEC's ``custom_objects``.

    Returns:
        The manifest (as written to ``OUT/sweep.json``): summary counts and every run.

    Raises:
        KinterpError: a bad SPEC (naming its line), too many runs, or a bad cluster option;
            nothing is written.
    """
    check_cluster(cluster, workers)
    plan = plan_sweep(spec, out, max_runs, retry_failed, unsafe)
    return run_plan(plan, cluster=cluster, workers=workers, quiet=quiet)


def _run_all(
    client: Any,
    plan: SweepPlan,
    todo: list[PlannedRun],
    outcomes: dict[str, Outcome],
    info: dict[str, Any],
    quiet: bool,
) -> None:
    """Send every run (and the files it needs, once each), record each outcome as it
    completes (its report unpacked under the out folder), rewriting sweep.json."""
    from uuid import uuid4

    from distributed import as_completed

    from kinterp.registry import find_technique
    from kinterp.sweeps.transport import Shipper
    from kinterp.sweeps.worker import run_shipped

    token = uuid4().hex[:8]
    shipper = Shipper(client)
    futures: dict[Any, tuple[PlannedRun, Parcel]] = {}
    pending = list(todo)

    def submit_more() -> list[Any]:
        """Submit the pending runs whose files are sent or fit the budget of bytes held."""
        nonlocal pending
        submitted, held = [], []
        for run in pending:
            spec = run.spec
            params_cls = find_technique(spec.technique)[0].Params
            if futures and not shipper.fits(spec, params_cls):
                held.append(run)  # its file waits until runs holding others finish
                continue
            try:
                inputs = shipper.inputs(spec, params_cls)
            except KinterpError as exc:  # gone, changed since planning, or too big to send
                _record(plan, run, Outcome("refused", error=str(exc)), outcomes, info, progress)
                continue
            key = f"kinterp-run-{run.key[:16]}-{token}"
            future = client.submit(run_shipped, spec, inputs, key=key, retries=TASK_RETRIES)
            futures[future] = (run, inputs)
            submitted.append(future)
        pending = held
        return submitted

    with sweep_progress(len(todo), quiet) as progress:
        completed = as_completed(submit_more())
        for future in completed:
            run, inputs = futures.pop(future)
            outcome = _outcome(future, run)
            future.release()
            shipper.done(inputs)
            _record(plan, run, outcome, outcomes, info, progress)
            if pending:
                completed.update(submit_more())


def _record(
    plan: SweepPlan,
    run: PlannedRun,
    outcome: Outcome,
    outcomes: dict[str, Outcome],
    info: dict[str, Any],
    progress: Any,
) -> None:
    outcomes[run.key] = outcome
    progress.advance(run, outcome)
    manifest.write(plan.out, manifest.build(plan.out, plan.runs, outcomes, **info))


def _outcome(future: Any, run: PlannedRun) -> Outcome:
    """A finished task's outcome, its report unpacked (and checked) under the run's folder;
    a task that kept raising (or killing workers), or a damaged report, is failed."""
    from kinterp.sweeps.transport import received_outcome

    if future.status != "finished":
        return Outcome("failed", error=one_line(future.exception()))
    return Outcome(**received_outcome(future.result(), run.folder))


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
