"""Who may talk to the server, and how much they may send.

A server bound to a loopback address needs no token (but answers only to its loopback names,
see :mod:`kinterp.serve.origins`); any other bind needs a token, read from ``--token-file``
or generated once and printed. The token comes as ``Authorization: Bearer TOKEN``, or, for
the web UI in a browser, from a cookie set by opening ``/?token=TOKEN`` once. Request bodies
must declare a ``Content-Length`` under the limit of their route.
"""

from __future__ import annotations

import hmac
import json
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from kinterp.errors import KinterpError

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]

COOKIE = "kinterp_token"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
UNAUTHORIZED = (
    "missing or wrong token; send Authorization: Bearer TOKEN (the token the server printed "
    "at start, or the content of its --token-file)"
)


def read_token(path: Path) -> str:
    """The token in a ``--token-file`` (its first line, at least 16 characters).

    Raises:
        KinterpError: the file is unreadable or the token too short.
    """
    try:
        lines = Path(path).read_text().strip().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise KinterpError(f"cannot read --token-file {path} ({type(exc).__name__})") from None
    token = lines[0].strip() if lines else ""
    if len(token) < 16:
        raise KinterpError(f"--token-file {path} must hold a token of at least 16 characters")
    return token


def new_token() -> str:
    """A fresh random token."""
    return secrets.token_urlsafe(32)


async def send_json(send: Any, status: int, detail: str, headers: list | None = None) -> None:
    """Answer with ``{"detail": detail}`` and ``status``."""
    body = json.dumps({"detail": detail}).encode()
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": head + (headers or [])})
    await send({"type": "http.response.body", "body": body})


def _headers(scope: Scope) -> dict[bytes, bytes]:
    return {k.lower(): v for k, v in scope.get("headers", [])}


def header(scope: Scope, name: bytes) -> str:
    """One request header's value ("" when absent)."""
    return _headers(scope).get(name, b"").decode("latin-1")


class TokenAuth:
    """ASGI middleware: every HTTP request must carry the token (header or UI cookie)."""

    def __init__(self, app: ASGIApp, token: str):
        self.app = app
        self.token = token.encode()

    def _presented(self, scope: Scope) -> bytes:
        headers = _headers(scope)
        scheme, _, value = headers.get(b"authorization", b"").partition(b" ")
        if scheme.lower() == b"bearer":
            return value.strip()
        cookie = SimpleCookie(headers.get(b"cookie", b"").decode("latin-1"))
        return cookie[COOKIE].value.encode() if COOKIE in cookie else b""

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if hmac.compare_digest(self._presented(scope), self.token):
            await self.app(scope, receive, send)
            return
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        offered = (query.get("token") or [""])[0].encode()
        if scope["path"] == "/" and offered and hmac.compare_digest(offered, self.token):
            cookie = f"{COOKIE}={offered.decode()}; HttpOnly; SameSite=Strict; Path=/"
            await send(
                {
                    "type": "http.response.start",
                    "status": 303,
                    "headers": [(b"location", b"/"), (b"set-cookie", cookie.encode())],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return
        await send_json(send, 401, UNAUTHORIZED, [(b"www-authenticate", b"Bearer")])


class BodyLimit:
    """ASGI middleware: a body needs a ``Content-Length`` under the limit (uploads: their own,
    ``upload_limits`` by path)."""

    def __init__(self, app: ASGIApp, limit: int, upload_limits: dict[str, int]):
        self.app = app
        self.limit = limit
        self.upload_limits = upload_limits

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "DELETE", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.upload_limits.get(scope["path"], self.limit)
        length = _headers(scope).get(b"content-length", b"")
        if not length.isdigit():
            await send_json(send, 411, "send the request body with a Content-Length header")
            return
        if int(length) > limit:
            detail = f"request body of {int(length):,} bytes is over this server's {limit:,}"
            await send_json(send, 413, detail)
            return
        await self.app(scope, receive, send)


class Forbidden(KinterpError):
    """A request this server's settings do not allow (HTTP 403)."""


def unsafe_refusal(what: str) -> Forbidden:
    """The one-line refusal of code in a model, naming the server option that allows it."""
    return Forbidden(
        f"{what}: this server does not load models that contain code; start it with "
        "kinterp serve --allow-unsafe (then send load.unsafe) only if you trust every client"
    )
