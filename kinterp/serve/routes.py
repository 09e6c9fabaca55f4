"""The HTTP API: runs, techniques and models (see docs/serve.md)."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, File, HTTPException, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool

from kinterp.serve.admission import (
    LOCAL_ONLY,
    Uploads,
    admit,
    dataset_problem,
    model_label,
    zoo_sha256,
)
from kinterp.serve.config import ServeConfig
from kinterp.serve.dispatch import Dispatcher
from kinterp.serve.filestore import public
from kinterp.serve.images import save_image
from kinterp.serve.schema import technique_info
from kinterp.serve.store import FINISHED, STATUSES, Job, JobStore
from kinterp.serve.uploads import save_model

REPORTS = "/reports"
SPEC_EXAMPLE = {"technique": "happymap", "model": "mnist-cnn", "params": {"classes": [3]}}


@dataclass
class Server:
    """What the routes work with."""

    config: ServeConfig
    store: JobStore
    dispatcher: Dispatcher
    uploads: Uploads


def server(request: Request) -> Server:
    """The running server (a FastAPI dependency)."""
    return request.app.state.server


ServerDep = Annotated[Server, Depends(server)]
router = APIRouter()


def _time(value: float | None) -> str | None:
    if value is None:
        return None
    return datetime.fromtimestamp(value, timezone.utc).isoformat(timespec="milliseconds")


def _seconds(start: float | None, end: float | None) -> float | None:
    return None if start is None or end is None else round(end - start, 3)


def job_view(job: Job) -> dict[str, Any]:
    """A job as the API shows it."""
    report = f"{REPORTS}/{job.report}/report.html" if job.report else None
    return {
        "id": job.id,
        "url": f"/runs/{job.id}",
        "technique": job.technique,
        "model": job.model,
        "status": job.status,
        "phase": job.phase,
        "done": job.done,
        "total": job.total,
        "submitted": _time(job.submitted),
        "started": _time(job.started),
        "ended": _time(job.ended),
        "queued_s": _seconds(job.submitted, job.started),
        "run_s": _seconds(job.started, job.ended),
        "error": job.error,
        "report": report,
        "metric": job.metric,
        "value": job.value,
        "spec": job.spec,
    }


def _job(srv: Server, run_id: str) -> Job:
    job = srv.store.get(run_id)
    if job is None:
        raise HTTPException(404, f"no run {run_id!r} on this server (see GET /runs)")
    return job


@router.post("/runs", status_code=202, summary="Queue a run (a RunSpec as JSON)")
def submit_run(
    srv: ServerDep, body: Annotated[dict[str, Any], Body(examples=[SPEC_EXAMPLE])]
) -> dict[str, Any]:
    """Check the spec (bad input: 400 with the CLI's one-line message) and queue it, unless
    the queue is full (429); counting and adding are one step. The model and file params
    (``x-file`` in ``GET /techniques``) name zoo models and uploads by sha256, never paths."""
    spec = admit(body, srv.uploads, srv.config.allow_unsafe)
    job_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
    job = Job(job_id, spec.technique, model_label(spec, srv.uploads), spec.as_dict())
    waiting = srv.store.add_if_room(job, srv.config.max_queue)
    if waiting is not None:
        detail = f"the queue is full ({waiting} runs queued or running); retry later"
        raise HTTPException(429, detail)
    srv.dispatcher.submit(job)
    return job_view(job)


@router.get("/runs", summary="List runs, newest first")
def list_runs(
    srv: ServerDep,
    technique: str | None = None,
    model: str | None = None,
    status: Annotated[str | None, Query(description=f"one of {', '.join(STATUSES)}")] = None,
) -> dict[str, Any]:
    """Every run the server knows, optionally only those of a technique, model or status."""
    if status is not None and status not in STATUSES:
        raise HTTPException(400, f"status must be one of {', '.join(STATUSES)}; got {status!r}")
    jobs = srv.store.list(technique=technique, model=model, status=status)
    return {"runs": [job_view(job) for job in jobs]}


@router.get("/runs/{run_id}", summary="One run's status, progress, timings and report link")
def get_run(srv: ServerDep, run_id: str) -> dict[str, Any]:
    """The run; ``report`` links its report.html once it has finished."""
    return job_view(_job(srv, run_id))


@router.delete("/runs/{run_id}", status_code=202, summary="Cancel a queued or running run")
def cancel_run(srv: ServerDep, run_id: str) -> dict[str, Any]:
    """Cancel the run (409 when it has already finished)."""
    job = _job(srv, run_id)
    if job.status in FINISHED:
        raise HTTPException(409, f"run {run_id} has already finished ({job.status})")
    srv.dispatcher.cancel(run_id)
    return job_view(_job(srv, run_id))


@router.get("/techniques", summary="Installed techniques and their params as JSON Schema")
def list_techniques() -> dict[str, Any]:
    """name -> summary, whether it reads data, and its params' JSON Schema (with bounds)."""
    from kinterp.registry import installed_techniques

    return {t.name: technique_info(t) for t in installed_techniques() if t.name not in LOCAL_ONLY}


@router.get("/models", summary="The zoo and uploaded models")
def list_models(srv: ServerDep) -> dict[str, Any]:
    """``model`` is what a run spec names: a zoo name, or an upload's sha256. A zoo model's
    ``data_problem`` says why its card's dataset cannot be loaded here (None: it can), so a
    client can refuse, before queuing, a technique that reads it."""
    from kinterp.loading.zoo import zoo_models

    zoo = [
        {
            "model": name,
            "name": name,
            "sha256": zoo_sha256(name),
            "dataset": z.card.get("dataset"),
            "data_problem": dataset_problem(z.card["dataset"]) if z.card.get("dataset") else None,
            "heldout_accuracy": z.card.get("heldout_accuracy"),
            "summary": z.card.get("summary", ""),
        }
        for name, z in zoo_models().items()
    ]
    uploads = [_upload_view(u, "model") for u in srv.uploads.models.records()]
    return {"zoo": zoo, "uploaded": uploads}


def _upload_view(record: dict[str, Any], key: str) -> dict[str, Any]:
    """An upload as the API shows it: ``key`` is what a spec names; no server path."""
    return {key: record["sha256"], **public(record), "uploaded": _time(record["uploaded"])}


@router.post("/models", status_code=201, summary="Upload a .keras or .h5 model")
async def upload_model(srv: ServerDep, file: Annotated[UploadFile, File()]) -> dict[str, Any]:
    """Store the model by sha256 after the CLI's safe-loading checks, made in a separate
    process (code: 403; a full store: 507)."""
    record = await run_in_threadpool(
        save_model, srv.uploads.models, file.file, file.filename or "model", srv.config.allow_unsafe
    )
    return _upload_view(record, "model")


@router.get("/images", summary="Uploaded images")
def list_images(srv: ServerDep) -> dict[str, Any]:
    """``image`` is what a file param names after its prefix (``image:SHA256`` for --init)."""
    return {"uploaded": [_upload_view(u, "image") for u in srv.uploads.images.records()]}


@router.post("/images", status_code=201, summary="Upload an image (PNG, JPEG, GIF, BMP, WebP)")
async def upload_image(srv: ServerDep, file: Annotated[UploadFile, File()]) -> dict[str, Any]:
    """Store the image by sha256 after decoding it (not an image, too many pixels: 400; a
    full store: 507)."""
    record = await run_in_threadpool(
        save_image, srv.uploads.images, file.file, file.filename or "image"
    )
    return _upload_view(record, "image")
