"""The FastAPI application: lifespan (job store, cluster), error mapping, middleware, the web
UI at ``/``, the API (:mod:`kinterp.serve.routes`) and the reports under ``/reports``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from importlib.resources import files

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.trustedhost import TrustedHostMiddleware

from kinterp._version import __version__
from kinterp.errors import KinterpError
from kinterp.html import write_index
from kinterp.serve.config import ServeConfig, is_loopback
from kinterp.serve.dispatch import Dispatcher
from kinterp.serve.routes import REPORTS, Server, router
from kinterp.serve.security import LOOPBACK_HOSTS, BodyLimit, Forbidden, TokenAuth
from kinterp.serve.store import JobStore


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


async def _kinterp_error(request: Request, exc: Exception) -> JSONResponse:
    status = 403 if isinstance(exc, Forbidden) else 400
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

    def refresh_index() -> None:
        write_index(config.runs_dir)

    dispatcher = Dispatcher(config, store, on_finish=refresh_index)

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
    app.state.server = Server(config, store, dispatcher)
    app.add_exception_handler(KinterpError, _kinterp_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)
    app.add_middleware(
        BodyLimit,
        limit=config.max_body_bytes,
        upload_limit=config.max_upload_bytes,
        upload_path="/models",
    )
    if config.token:
        app.add_middleware(TokenAuth, token=config.token)
    if is_loopback(config.host):
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=LOOPBACK_HOSTS)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> str:
        return files("kinterp.serve").joinpath("ui/index.html").read_text()

    app.include_router(router)
    app.mount(REPORTS, StaticFiles(directory=config.runs_dir, html=True), name="reports")
    return app
