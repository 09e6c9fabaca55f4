"""What a serve worker does: stay warm, run one job, report its progress, stop when cancelled.

A worker process imports TensorFlow and loads the zoo models when it starts (in a thread, so
the server is up at once) and caches models by sha256 (:func:`kinterp.sweeps.worker.
cached_model`). Progress goes to the server as Dask structured events on
:data:`PROGRESS_TOPIC`; cancellation comes as a Dask :class:`~distributed.Event` per job,
checked whenever the technique advances its progress. Progress is taken from the
technique's ``ctx.progress`` bars through the public observer hook
(:func:`kinterp.technique.progress.observing`). A job runs as a sweep's run does
(:func:`kinterp.sweeps.worker.run_shipped`): in the worker's own folder, with the files it
names sent by content, its report sent back packed; nothing is shared but the scheduler.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from distributed import Event, WorkerPlugin, get_worker

from kinterp.technique.progress import observing

PROGRESS_TOPIC = "kinterp-serve-progress"
CANCEL_PREFIX = "kinterp-serve-cancel-"
REPORT_INTERVAL_S = 0.25

_warm: threading.Event | None = None
"""Set once :func:`warm_up` has finished (None when it never started in this process)."""


class Cancelled(BaseException):
    """The job was cancelled. A BaseException, like Ctrl-C: ``execute`` discards the run
    directory and a technique's ``except Exception`` cannot swallow it."""


class JobReporter:
    """Sends one job's progress events and checks its cancel flag (both rate-limited)."""

    def __init__(self, job_id: str):
        self.job_id = job_id
        self.worker = get_worker()
        self.cancel = Event(CANCEL_PREFIX + job_id)
        self.done, self.total, self.phase = 0, None, ""
        self.last = 0.0

    def send(self, force: bool = False) -> None:
        """Report progress now (or if the last report is old enough); stop if cancelled."""
        clock = time.monotonic()
        if not force and clock - self.last < REPORT_INTERVAL_S:
            return
        self.last = clock
        if self.cancel.is_set():
            raise Cancelled(self.job_id)
        message = {
            "id": self.job_id,
            "worker": self.worker.address,
            "phase": self.phase,
            "done": self.done,
            "total": self.total,
        }
        self.worker.log_event(PROGRESS_TOPIC, message)

    def start(self, description: str, total: int | None) -> None:
        """A new stage of the run (loading, or one of the technique's progress bars)."""
        self.phase, self.total, self.done = description, total, 0
        self.send(force=True)

    def advance(self, steps: int) -> None:
        """Count units of work done in the current phase."""
        self.done += steps
        self.send(force=self.total is not None and self.done >= self.total)


def run_job(job_id: str, spec: Any, parcel: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run one job's spec (a :class:`RunSpec`) in this worker's own folder, with the files it
    names by path sent in ``parcel`` (see :func:`kinterp.sweeps.worker.run_shipped`).

    Returns:
        ``{"outcome": ...}`` (a sweep :class:`~kinterp.sweeps.outcome.Outcome` as a dict, or
        ``{"status": "cancelled"}``) and, for a report, its packed ``archive``, ``files`` and
        ``name`` for the server to unpack.
    """
    from kinterp.sweeps.worker import run_shipped

    reporter = JobReporter(job_id)
    try:
        reporter.start("loading model", None)
        if _warm is not None:
            _warm.wait()  # TensorFlow must not be imported by two threads at once
        with observing(reporter):
            return run_shipped(spec, parcel)
    except Cancelled:
        return {"outcome": {"status": "cancelled", "error": "cancelled while running"}}


def warm_up(done: threading.Event) -> None:
    """Import TensorFlow and the techniques, and load every zoo model into the cache."""
    try:
        _load_everything()
    finally:
        done.set()


def _load_everything() -> None:
    from kinterp.loading.models import quiet_tensorflow

    quiet_tensorflow()
    import kinterp.runner  # noqa: F401
    from kinterp.loading.modelfile import sha256_of
    from kinterp.loading.zoo import zoo_models
    from kinterp.plugins import registry
    from kinterp.settings.runspec import RunSpec
    from kinterp.sweeps.worker import cached_model

    registry()
    for name, zoo in zoo_models().items():
        cached_model(RunSpec("warm-up", name, model_sha256=sha256_of(zoo.path)))


class WarmWorker(WorkerPlugin):
    """Warms the worker up (in a thread) when it starts."""

    name = "kinterp-serve-warm"

    def setup(self, worker: Any) -> None:
        global _warm
        if _warm is None:
            _warm = threading.Event()
            thread = threading.Thread(target=warm_up, args=(_warm,), name="kinterp-warm-up")
            thread.daemon = True
            thread.start()
