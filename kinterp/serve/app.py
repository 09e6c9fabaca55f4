"""The FastAPI application: lifespan (job store, cluster), error mapping, middleware, the web
UI at ``/``, the API (:mod:`kinterp.serve.routes`) and the reports under ``/reports``."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from kinterp._version import __version__
from kinterp.errors import KinterpError
from kinterp.reporting.html import write_index
from kinterp.serve.admission import Uploads
from kinterp.serve.config import ServeConfig, is_loopback
from kinterp.serve.dispatch import Dispatcher
from kinterp.serve.filestore import StoreFull
from kinterp.serve.origins import HostCheck, OriginCheck
from kinterp.serve.routes import REPORTS, Server, router
from kinterp.serve.security import LOOPBACK_HOSTS, BodyLimit, Forbidden, TokenAuth
from kinterp.serve.store import JobStore


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


class ReportFiles(StaticFiles):
    """The run folders, read-only; hidden names (dot-files, the ``.name.XXXX`` directory of a
    run still being written) are not found."""

    def lookup_path(self, path: str) -> tuple[str, os.stat_result | None]:
        if any(part.startswith(".") for part in Path(path).parts):
            return "", None
        return super().lookup_path(path)


async def _kinterp_error(request: Request, exc: Exception) -> JSONResponse:
    status = 403 if isinstance(exc, Forbidden) else 507 if isinstance(exc, StoreFull) else 400
    return JSONResponse({"detail": _one_line(str(exc))}, status_code=status)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(p) for p in first.get("loc", ()))
    return JSONResponse({"detail": _one_line(f"{where}: {first.get('msg', '')}")}, 422)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    detail = f"internal error ({type(exc).__name__}); see the server's log"
    return JSONResponse({"detail": detail}, status_code=500)


def create_app(config: ServeConfig, announce: Callable[[str], None] | None = None) -> FastAPI:
    """The server's ASGI app for ``config``; the cluster starts with the app's lifespan, and
    ``announce`` gets one line once the server is ready."""
    config.runs_dir.mkdir(parents=True, exist_ok=True)
    store = JobStore(config.database)
    uploads = Uploads.of(config)

    def refresh_index() -> None:
        write_index(config.runs_dir)

    dispatcher = Dispatcher(config, store, uploads, on_finish=refresh_index)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store.adopt(config.runs_dir)
        await run_in_threadpool(dispatcher.start)
        await run_in_threadpool(refresh_index)
        if announce:
            announce(f"kinterp serve: {config.url}/ ({dispatcher.label}; runs in {config.out})")
        try:
            yield
        finally:
            await run_in_threadpool(dispatcher.close)
            store.close()

    app = FastAPI(
        title="kinterp serve",
        version=__version__,
        description="Queue kinterp runs on warm workers and browse their reports.",
        lifespan=lifespan,
    )
    app.state.server = Server(config, store, dispatcher, uploads)
    app.add_exception_handler(KinterpError, _kinterp_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)
    uploads_limits = {"/models": config.max_upload_bytes, "/images": config.max_image_bytes}
    app.add_middleware(BodyLimit, limit=config.max_body_bytes, upload_limits=uploads_limits)
    if config.token:
        app.add_middleware(TokenAuth, token=config.token)
    app.add_middleware(OriginCheck, allowed=config.allowed_origins)
    if is_loopback(config.host):
        app.add_middleware(HostCheck, names=(*LOOPBACK_HOSTS, config.host))

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> str:
        return files("kinterp.serve").joinpath("ui/index.html").read_text()

    app.include_router(router)
    app.mount(REPORTS, ReportFiles(directory=config.runs_dir, html=True), name="reports")
    return app
