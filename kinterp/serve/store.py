"""The job store: one SQLite table in the out folder, so queued and running jobs survive a
restart of the server. A finished job's report directory is the record of its result; the
store keeps its status, timings and link, and :meth:`JobStore.adopt` rebuilds rows from
report directories it does not know (a deleted or fresh store).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

QUEUED, RUNNING, CANCELLING = "queued", "running", "cancelling"
OK, FAILED, CANCELLED, REFUSED = "ok", "failed", "cancelled", "refused"
ACTIVE = (QUEUED, RUNNING, CANCELLING)
FINISHED = (OK, FAILED, CANCELLED, REFUSED)
STATUSES = ACTIVE + FINISHED

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    technique TEXT NOT NULL,
    model TEXT NOT NULL,
    spec TEXT NOT NULL,
    status TEXT NOT NULL,
    phase TEXT NOT NULL DEFAULT '',
    done INTEGER,
    total INTEGER,
    submitted REAL NOT NULL,
    started REAL,
    ended REAL,
    error TEXT,
    report TEXT,
    metric TEXT,
    value REAL
)
"""


@dataclass
class Job:
    """One run the server was asked for.

    Attributes:
        id: the run id (the name of its folder under ``runs/``).
        spec: the RunSpec as JSON-ready dict, as the worker gets it.
        status: queued, running, cancelling, ok, failed, cancelled or refused.
        phase: what the run is doing (``loading model``, the technique's progress label).
        done, total: progress of the current phase in the technique's units (steps).
        submitted, started, ended: Unix times.
        error: the one-line reason of a failed, refused or cancelled run.
        report: the run directory, relative to ``runs/``.
        metric, value: the report's key metric.
    """

    id: str
    technique: str
    model: str
    spec: dict[str, Any]
    status: str = QUEUED
    phase: str = ""
    done: int | None = None
    total: int | None = None
    submitted: float = field(default_factory=time.time)
    started: float | None = None
    ended: float | None = None
    error: str | None = None
    report: str | None = None
    metric: str | None = None
    value: float | None = None

    def as_row(self) -> dict[str, Any]:
        """The job as the table stores it."""
        return {**asdict(self), "spec": json.dumps(self.spec)}


class JobStore:
    """Jobs in ``jobs.sqlite``; safe to use from the server's threads."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(_SCHEMA)

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    def add(self, job: Job) -> None:
        """Insert a new job."""
        with self._lock:
            self._db.execute(*_insert(job))

    def add_if_room(self, job: Job, limit: int) -> int | None:
        """Insert a new job unless ``limit`` jobs are already active; the count and the
        insert are one transaction (``BEGIN IMMEDIATE``), so concurrent submissions cannot
        pass the limit together.

        Returns:
            None when the job was added, else how many jobs are active.
        """
        active = ", ".join("?" for _ in ACTIVE)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                (count,) = self._db.execute(
                    f"SELECT COUNT(*) FROM jobs WHERE status IN ({active})", ACTIVE
                ).fetchone()
                if count < limit:
                    self._db.execute(*_insert(job))
            finally:
                self._db.execute("COMMIT")
        return None if count < limit else count

    def update(self, job_id: str, **values: Any) -> None:
        """Set some columns of one job."""
        if not values:
            return
        assignments = ", ".join(f"{k} = :{k}" for k in values)
        with self._lock:
            query = f"UPDATE jobs SET {assignments} WHERE id = :id"
            self._db.execute(query, {**values, "id": job_id})

    def get(self, job_id: str) -> Job | None:
        """One job, or None."""
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else _job(row)

    def list(self, **equal: str | None) -> list[Job]:
        """Jobs, newest first, where each given column equals its value."""
        wanted = {k: v for k, v in equal.items() if v is not None}
        where = " AND ".join(f"{k} = :{k}" for k in wanted) or "1"
        with self._lock:
            rows = self._db.execute(
                f"SELECT * FROM jobs WHERE {where} ORDER BY submitted DESC", wanted
            ).fetchall()
        return [_job(row) for row in rows]

    def active(self) -> list[Job]:
        """Queued, running and cancelling jobs, oldest first."""
        marks = ", ".join("?" for _ in ACTIVE)
        with self._lock:
            rows = self._db.execute(
                f"SELECT * FROM jobs WHERE status IN ({marks}) ORDER BY submitted", ACTIVE
            ).fetchall()
        return [_job(row) for row in rows]

    def adopt(self, runs_dir: Path) -> int:
        """Add a finished job for every run folder with a report the store does not know."""
        from kinterp.sweeps.outcome import existing

        added = 0
        for folder in sorted(p for p in runs_dir.glob("*") if p.is_dir()):
            if folder.name.startswith(".") or self.get(folder.name) is not None:
                continue
            found = existing(folder)
            if found is None:
                continue
            report = json.loads((Path(found.report) / "report.json").read_text())
            job = Job(
                folder.name,
                report["technique"]["name"],
                report["model"]["name"],
                report.get("spec") or {},
                status=found.report_status or FAILED,
                submitted=Path(found.report).stat().st_mtime,
                error=found.error,
                report=Path(found.report).relative_to(runs_dir).as_posix(),
                metric=found.metric,
                value=found.value,
            )
            job.ended = job.submitted
            self.add(job)
            added += 1
        return added


def _insert(job: Job) -> tuple[str, dict[str, Any]]:
    """The INSERT statement of a new job and its values."""
    row = job.as_row()
    names, marks = ", ".join(row), ", ".join(f":{k}" for k in row)
    return f"INSERT INTO jobs ({names}) VALUES ({marks})", row


def _job(row: sqlite3.Row) -> Job:
    values = dict(row)
    values["spec"] = json.loads(values["spec"])
    return Job(**values)
