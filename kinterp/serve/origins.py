"""Where a request comes from: the ``Host`` it names and the page (``Origin``) that sent it.

:class:`HostCheck` answers only requests for the server's own loopback names (against DNS
rebinding), reading ``Host`` as RFC 9110 writes it: ``name:port`` or ``[IPv6]:port``.
:class:`OriginCheck` refuses state-changing requests (POST, PUT, PATCH, DELETE) that a page of
another site sent: their ``Origin`` (else ``Referer``) must be the server's own origin (the
scheme and the ``Host`` of the request) or one of ``--allowed-origin``. Requests with neither
header (curl, :class:`kinterp.Client`) pass, and the token, where there is one, still applies.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from kinterp.serve.security import ASGIApp, Scope, header, send_json

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def host_name(host: str) -> str:
    """The name in a ``Host`` header, normalised: ``[::1]:8765`` -> ``::1``,
    ``LocalHost:80`` -> ``localhost``; "" when it is malformed."""
    host = host.strip().lower()
    if host.startswith("["):
        name, _, rest = host[1:].partition("]")
        if rest and not (rest.startswith(":") and rest[1:].isdigit()):
            return ""
    else:
        name, colon, port = host.rpartition(":")
        if not colon:
            name = port
        elif not port.isdigit() or ":" in name:
            return ""
    return _normal(name)


def _normal(name: str) -> str:
    """A host name or address in one spelling: lowercase, IPv6 compressed."""
    try:
        return ipaddress.ip_address(name).compressed
    except ValueError:
        return name.lower()


class HostCheck:
    """ASGI middleware: 400 unless the ``Host`` header names one of ``names``."""

    def __init__(self, app: ASGIApp, names: Iterable[str]):
        self.app = app
        self.names = {_normal(n) for n in names}
        self.shown = ", ".join(sorted(self.names))

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and host_name(header(scope, b"host")) not in self.names:
            detail = f"this server answers only requests for {self.shown} (Host header)"
            await send_json(send, 400, detail)
            return
        await self.app(scope, receive, send)


def origin_of(url: str) -> str:
    """``http://127.0.0.1:8765/page?x`` -> ``http://127.0.0.1:8765`` (lowercase).

    A backslash counts as a slash, as browsers read it in http(s) URLs: ``http://evil\\@host/``
    is evil's origin, not host's.
    """
    parts = urlsplit(url.strip().replace("\\", "/"))
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}".lower()


class OriginCheck:
    """ASGI middleware: 403 for a state-changing request another site's page sent."""

    def __init__(self, app: ASGIApp, allowed: Iterable[str]):
        self.app = app
        self.allowed = {origin_of(o) for o in allowed}

    def _refusal(self, scope: Scope) -> str | None:
        """Why the request is refused, or None when it may proceed."""
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        if b"origin" in headers:
            sent, what = headers[b"origin"].decode("latin-1").strip().lower(), "Origin"
        elif b"referer" in headers:
            sent, what = origin_of(headers[b"referer"].decode("latin-1")), "Referer"
        else:
            return None
        host = header(scope, b"host").strip().lower()
        if sent in self.allowed or (host and sent in (f"http://{host}", f"https://{host}")):
            return None
        shown = sent[:100] if sent.isprintable() else "(unprintable)"
        return (
            f"cross-site request refused: its {what} {shown} is not this server's origin "
            "(kinterp serve --allowed-origin ORIGIN allows another)"
        )

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] not in SAFE_METHODS:
            refusal = self._refusal(scope)
            if refusal is not None:
                await send_json(send, 403, refusal)
                return
        await self.app(scope, receive, send)
