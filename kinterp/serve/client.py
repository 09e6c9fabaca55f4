"""``kinterp.Client``: submit runs to a ``kinterp serve`` server and follow them.

Standard library only (urllib), so it works wherever kinterp is installed. Every error the
server answers (bad input, a refusal, a full queue) is raised as :class:`KinterpError` with
the server's one-line message.
"""

from __future__ import annotations

import json
import os
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kinterp.errors import KinterpError

if TYPE_CHECKING:
    from kinterp.settings.runspec import RunSpec

TOKEN_ENV = "KINTERP_TOKEN"
FINISHED = ("ok", "failed", "cancelled", "refused")


class Client:
    """A connection to a kinterp server.

    Args:
        url: the server, e.g. ``http://127.0.0.1:8765``.
        token: its bearer token (default: the ``KINTERP_TOKEN`` environment variable).
        timeout: seconds to wait for each HTTP answer.

    Raises:
        KinterpError: ``url`` is not an http(s) URL with a host, ``token`` is not a string,
            or ``timeout`` is not a positive number.
    """

    def __init__(self, url: str, token: str | None = None, timeout: float = 60.0):
        self.url = _server_url(url)
        if token is not None and not isinstance(token, str):
            raise KinterpError(f"Client token must be a string, got {type(token).__name__}")
        self.token = token or os.environ.get(TOKEN_ENV) or None
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            raise KinterpError(
                f"Client timeout must be a positive number of seconds, got {timeout!r}"
            )
        self.timeout = timeout

    def _request(
        self, method: str, path: str, body: bytes | None = None, content_type: str = ""
    ) -> Any:
        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(self.url + path, body, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            raise KinterpError(_detail(exc)) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise KinterpError(
                f"cannot reach the kinterp server at {self.url} ({reason}); "
                "start one with kinterp serve"
            ) from None

    def _json(self, method: str, path: str, value: Any) -> Any:
        return self._request(method, path, json.dumps(value).encode(), "application/json")

    def submit(self, spec: RunSpec | dict[str, Any]) -> str:
        """Queue a run (a :class:`RunSpec` or its dict); return the run's id.

        Raises:
            KinterpError: ``spec`` is neither, or the server refuses it.
        """
        as_dict = getattr(spec, "as_dict", None)
        if not isinstance(spec, dict) and not callable(as_dict):
            raise KinterpError(f"submit expects a RunSpec or a dict, got {type(spec).__name__}")
        raw = spec if isinstance(spec, dict) else as_dict()
        return self._json("POST", "/runs", raw)["id"]

    def status(self, run_id: str) -> dict[str, Any]:
        """The run's status, phase, progress (``done``/``total``), timings and ``report`` link."""
        return self._request("GET", f"/runs/{run_id}")

    def runs(self, **filters: str) -> list[dict[str, Any]]:
        """Every run, newest first; filter by ``technique``, ``model`` or ``status``."""
        query = urllib.parse.urlencode({k: v for k, v in filters.items() if v is not None})
        return self._request("GET", f"/runs?{query}" if query else "/runs")["runs"]

    def wait(
        self,
        run_id: str,
        timeout: float | None = None,
        poll: float = 0.25,
        on_update: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Poll until the run has finished; return its final status.

        ``on_update`` gets every status that differs from the one before.

        Raises:
            TimeoutError: ``timeout`` seconds passed first.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        last: tuple = ()
        while True:
            state = self.status(run_id)
            seen = (state["status"], state["phase"], state["done"])
            if on_update and seen != last:
                on_update(state)
            last = seen
            if state["status"] in FINISHED:
                return state
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"run {run_id} still {state['status']} after {timeout}s")
            time.sleep(poll)

    def cancel(self, run_id: str) -> dict[str, Any]:
        """Cancel a queued or running run; return its status."""
        return self._request("DELETE", f"/runs/{run_id}")

    def techniques(self) -> dict[str, Any]:
        """Installed techniques: name -> summary, reads_data and params (JSON Schema)."""
        return self._request("GET", "/techniques")

    def models(self) -> dict[str, Any]:
        """``{"zoo": [...], "uploaded": [...]}``; a spec names a model by its ``model`` key."""
        return self._request("GET", "/models")

    def upload(self, path: str | os.PathLike) -> dict[str, Any]:
        """Upload a .keras or .h5 file; its ``model`` (the sha256) then names it in specs."""
        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise KinterpError(f"cannot read {path} ({exc.strerror})") from None
        boundary = secrets.token_hex(16)
        name = path.name.replace('"', "_")
        body = b"".join(
            [
                f"--{boundary}\r\n".encode(),
                f'Content-Disposition: form-data; name="file"; filename="{name}"\r\n'.encode(),
                b"Content-Type: application/octet-stream\r\n\r\n",
                data,
                f"\r\n--{boundary}--\r\n".encode(),
            ]
        )
        return self._request("POST", "/models", body, f"multipart/form-data; boundary={boundary}")

    def run(
        self, spec: RunSpec, on_update: Callable[[dict[str, Any]], None] | None = None
    ) -> dict[str, Any]:
        """Submit ``spec`` and wait for it; return its final status.

        A model given as a local file is uploaded first. Ctrl-C cancels the run on the server.
        """
        from dataclasses import replace

        from kinterp.loading.zoo import zoo_models

        if spec.model not in zoo_models() and Path(spec.model).is_file():
            spec = replace(spec, model=self.upload(spec.model)["model"])
        run_id = self.submit(spec)
        try:
            return self.wait(run_id, on_update=on_update)
        except KeyboardInterrupt:
            self.cancel(run_id)
            raise

    def report_url(self, state: dict[str, Any]) -> str | None:
        """The absolute URL of a finished run's report.html (None before it has one)."""
        return self.url + state["report"] if state.get("report") else None


def _server_url(url: Any) -> str:
    """``url`` without a trailing slash, once it is known to be an http(s) URL with a host.

    Raises:
        KinterpError: anything else.
    """
    problem = "a kinterp server URL is http:// or https:// with a host, such as "
    problem += f"http://127.0.0.1:8765; got {url!r}"
    if not isinstance(url, str):
        raise KinterpError(problem)
    try:  # urlsplit and .port raise ValueError for a bad IPv6 host or port
        parts = urllib.parse.urlsplit(url.strip())
        usable = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:
        usable = False
    if not usable:
        raise KinterpError(problem)
    return url.strip().rstrip("/")


def _detail(exc: urllib.error.HTTPError) -> str:
    """The server's one-line message of an HTTP error answer."""
    try:
        detail = json.loads(exc.read()).get("detail")
    except (ValueError, AttributeError, OSError):
        detail = None
    return str(detail) if detail else f"the server answered {exc.code} {exc.reason}"
