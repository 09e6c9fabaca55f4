"""The Dask side of the server: submit jobs, follow their progress, cancel them, record how
they ended, and resume the jobs a previous server left queued or running.

Each job is one Dask task (:func:`kinterp.serve.worker.run_job`) keyed by its id, with the
files it names (uploads) sent by content and its report sent back packed, so workers share no
folder with the server (:mod:`kinterp.sweeps.transport`). Progress arrives as structured
events from the workers; a finished task's done-callback unpacks its report under the job's
folder and writes the outcome to the store. A task whose worker dies is rescheduled by Dask.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kinterp.errors import KinterpError
from kinterp.plugins import one_line
from kinterp.registry import find_technique
from kinterp.serve.admission import Uploads, runnable
from kinterp.serve.config import ServeConfig
from kinterp.serve.store import (
    CANCELLED,
    CANCELLING,
    FAILED,
    FINISHED,
    QUEUED,
    REFUSED,
    RUNNING,
    Job,
    JobStore,
)
from kinterp.settings.runspec import RunSpec
from kinterp.sweeps.cluster import connect
from kinterp.sweeps.outcome import existing
from kinterp.sweeps.transport import Parcel, Shipper, received_outcome

CANCEL_GRACE_S = 3.0
"""How long a running job may take to notice its cancel Event before its worker restarts."""


class Dispatcher:
    """Runs the store's jobs on a Dask cluster (a local one of warm workers by default)."""

    def __init__(
        self,
        config: ServeConfig,
        store: JobStore,
        uploads: Uploads,
        on_finish: Callable[[], None],
    ):
        self.config = config
        self.store = store
        self.uploads = uploads
        self.on_finish = on_finish
        self.label = ""
        self._futures: dict[str, Any] = {}
        self._parcels: dict[str, Parcel] = {}  # job id -> the files sent for it
        self._where: dict[str, str] = {}  # job id -> the worker running it
        self._stopping: set[str] = set()  # jobs whose worker is being restarted
        self._lock = threading.Lock()
        self._closing = False
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._holder: threading.Thread | None = None
        self._error: BaseException | None = None
        self.client: Any = None

    def start(self) -> None:
        """Start or reach the cluster, warm its workers, and resume unfinished jobs.

        Raises:
            KinterpError: a bad cluster option, or a scheduler that cannot be reached.
        """
        from kinterp.serve.worker import PROGRESS_TOPIC, WarmWorker

        self._holder = threading.Thread(target=self._hold, name="kinterp-dask", daemon=True)
        self._holder.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error
        self._shipper = Shipper(self.client)
        self.client.register_plugin(WarmWorker())
        self.client.subscribe_topic(PROGRESS_TOPIC, self._on_progress)
        self.resume()

    def _hold(self) -> None:
        """Keep the Dask connection open until :meth:`close` (entered and left in one thread,
        as Dask's client context requires)."""
        try:
            with connect(self.config.cluster, self.config.workers) as (client, label):
                self.client, self.label = client, label
                self._ready.set()
                self._stop.wait()
        except BaseException as exc:
            self._error = exc
        finally:
            self._ready.set()

    def close(self) -> None:
        """Stop the cluster (a local one) and disconnect; unfinished jobs stay in the store."""
        self._closing = True
        self._stop.set()
        if self._holder is not None:
            self._holder.join()

    def folder(self, job_id: str) -> Path:
        """The folder a job's report directory goes into."""
        return self.config.runs_dir / job_id

    def submit(self, job: Job) -> None:
        """Queue a stored job on the cluster, as the spec a worker runs (stored paths)."""
        from kinterp.serve.worker import run_job

        try:
            admitted = RunSpec.from_dict(job.spec, allow_unsafe=True)
            spec = runnable(admitted, self.folder(job.id), self.uploads)
            params_cls = find_technique(spec.technique)[0].Params
            with self._lock:
                parcel = self._shipper.inputs(spec, params_cls)
        except KinterpError as exc:  # an upload it names is gone
            self._finish(job.id, {"status": REFUSED, "error": str(exc)})
            return
        key = f"kinterp-serve-{job.id}"
        future = self.client.submit(run_job, job.id, spec, parcel, key=key)
        with self._lock:
            self._futures[job.id] = future
            self._parcels[job.id] = parcel
        future.add_done_callback(lambda f, job_id=job.id: self._on_done(job_id, f))

    def cancel(self, job_id: str) -> None:
        """Cancel a job. A queued task is dropped. A running one stops at its next progress
        step (its worker sees the job's cancel Event) and leaves no report; one that has not
        stopped after ``CANCEL_GRACE_S`` (a long compiled call) has its worker restarted."""
        from distributed import Event

        from kinterp.serve.worker import CANCEL_PREFIX

        queued = self.store.get(job_id).status == QUEUED
        self.store.update(job_id, status=CANCELLING)
        Event(CANCEL_PREFIX + job_id, client=self.client).set()
        if queued:
            with self._lock:
                future = self._futures.get(job_id)
            if future is not None:
                future.cancel()
        timer = threading.Timer(CANCEL_GRACE_S, self._force_stop, args=(job_id,))
        timer.daemon = True
        timer.start()

    def _force_stop(self, job_id: str) -> None:
        """Restart the worker of a job that ignored its cancel Event; drop its partial run."""
        job = self.store.get(job_id)
        if self._closing or job is None or job.status in FINISHED:
            return
        with self._lock:
            self._stopping.add(job_id)
            future = self._futures.get(job_id)
        try:
            if future is not None:
                future.cancel()
            if job_id in self._where:
                self.client.restart_workers([self._where[job_id]], raise_for_error=False)
            folder = self.folder(job_id)
            for partial in folder.glob(".*") if folder.is_dir() else ():
                shutil.rmtree(partial, ignore_errors=True)
            self._finish(job_id, {"status": CANCELLED, "error": "cancelled while running"})
        finally:
            with self._lock:
                self._stopping.discard(job_id)

    def resume(self) -> None:
        """Finish the bookkeeping of jobs a previous server left, and queue the others again."""
        for job in self.store.active():
            found = existing(self.folder(job.id))
            if found is not None:
                self._finish(job.id, {**found.as_dict(), "status": found.report_status})
            elif job.status == CANCELLING:
                self._finish(job.id, {"status": CANCELLED, "error": "cancelled"})
            else:
                self.store.update(job.id, status=QUEUED, phase="resumed", done=None, total=None)
                self.submit(job)

    def _on_progress(self, event: tuple[float, dict[str, Any]]) -> None:
        """A worker's progress event: mark the job running and record its phase and steps."""
        message = event[1]
        job = self.store.get(message.get("id", ""))
        if job is None or job.status in FINISHED:
            return
        self._where[job.id] = message["worker"]
        values: dict[str, Any] = {
            "phase": message["phase"],
            "done": message["done"],
            "total": message["total"],
        }
        if job.status == QUEUED:
            values.update(status=RUNNING, started=job.started or time.time())
        self.store.update(job.id, **values)

    def _on_done(self, job_id: str, future: Any) -> None:
        """A task ended: unpack its report under the job's folder (not for a job cancelled
        meanwhile) and record its outcome (unless the server itself is shutting down)."""
        with self._lock:
            self._futures.pop(job_id, None)
            parcel = self._parcels.pop(job_id, {})
            self._shipper.done(parcel)
            if self._closing or job_id in self._stopping:
                return
        if future.status == "finished":
            outcome = self._received(job_id, future.result())
        elif future.status == "cancelled":
            outcome = {"status": CANCELLED, "error": "cancelled before it started"}
        else:
            outcome = {"status": FAILED, "error": one_line(future.exception())}
        future.release()
        self._finish(job_id, outcome)

    def _received(self, job_id: str, result: dict[str, Any]) -> dict[str, Any]:
        """A finished task's outcome, its report (if any) unpacked and checked under the job's
        folder; a job cancelled while it finished keeps no report."""
        if result.get("archive") is not None:
            job = self.store.get(job_id)
            if job is None or job.status in (CANCELLING, CANCELLED):
                return {"status": CANCELLED, "error": "cancelled as it finished"}
        return received_outcome(result, self.folder(job_id))

    def _finish(self, job_id: str, outcome: dict[str, Any]) -> None:
        self._where.pop(job_id, None)
        report = outcome.get("report")
        runs_dir = self.config.runs_dir.resolve()
        self.store.update(
            job_id,
            status=outcome["status"],
            ended=time.time(),
            error=outcome.get("error"),
            report=Path(report).resolve().relative_to(runs_dir).as_posix() if report else None,
            metric=outcome.get("metric"),
            value=outcome.get("value"),
        )
        self.on_finish()
