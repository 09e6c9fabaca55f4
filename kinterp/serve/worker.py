"""What a serve worker does: stay warm, run one job, report its progress, stop when cancelled.

A worker process imports TensorFlow and loads the zoo models when it starts (in a thread, so
the server is up at once) and caches models by sha256 (:func:`kinterp.sweeps.worker.
cached_model`). Progress goes to the server as Dask structured events on
:data:`PROGRESS_TOPIC`; cancellation comes as a Dask :class:`~distributed.Event` per job,
checked whenever the technique advances its progress. Progress is taken from the
technique's ``ctx.progress`` bars: the worker points :mod:`kinterp.technique.context`'s
``progress_bar`` at :func:`_job_progress_bar`, which reports for the job this thread runs and
falls back to the ordinary bar otherwise.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from distributed import Event, WorkerPlugin, get_worker

from kinterp.technique.progress import Progress, progress_bar

PROGRESS_TOPIC = "kinterp-serve-progress"
CANCEL_PREFIX = "kinterp-serve-cancel-"
REPORT_INTERVAL_S = 0.25

_current = threading.local()
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

    def start_phase(self, phase: str, total: int | None) -> None:
        """A new stage of the run (loading, or one of the technique's progress bars)."""
        self.phase, self.total, self.done = phase, total, 0
        self.send(force=True)

    def advance(self, steps: int) -> None:
        """Count units of work done in the current phase."""
        self.done += steps
        self.send(force=self.total is not None and self.done >= self.total)


class _JobProgress(Progress):
    def __init__(self, reporter: JobReporter):
        super().__init__()
        self.reporter = reporter

    def advance(self, steps: int = 1) -> None:
        self.reporter.advance(steps)


@contextmanager
def _job_progress_bar(total: int, description: str, quiet: bool) -> Iterator[Progress]:
    """``ctx.progress`` on a serve worker: the job's progress events, else the ordinary bar."""
    reporter = getattr(_current, "reporter", None)
    if reporter is None:
        with progress_bar(total, description, quiet) as bar:
            yield bar
        return
    reporter.start_phase(description, total)
    yield _JobProgress(reporter)


def install_progress() -> None:
    """Route techniques' progress bars in this process through :func:`_job_progress_bar`."""
    import kinterp.technique.context

    kinterp.technique.context.progress_bar = _job_progress_bar


def run_job(job_id: str, spec: Any) -> dict[str, Any]:
    """Run one job's spec (a :class:`RunSpec`) and return its outcome as a dict.

    The outcome is a sweep :class:`~kinterp.sweeps.outcome.Outcome` (``ok``, ``failed``,
    ``refused`` with the one-line reason) or ``{"status": "cancelled"}``.
    """
    from kinterp.sweeps.worker import run_task

    reporter = JobReporter(job_id)
    _current.reporter = reporter
    try:
        reporter.start_phase("loading model", None)
        if _warm is not None:
            _warm.wait()  # TensorFlow must not be imported by two threads at once
        return run_task(spec)
    except Cancelled:
        return {"status": "cancelled", "error": "cancelled while running"}
    finally:
        _current.reporter = None


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
    """Installs job progress and warms the worker up (in a thread) when it starts."""

    name = "kinterp-serve-warm"

    def setup(self, worker: Any) -> None:
        global _warm
        install_progress()
        if _warm is None:
            _warm = threading.Event()
            thread = threading.Thread(target=warm_up, args=(_warm,), name="kinterp-warm-up")
            thread.daemon = True
            thread.start()
