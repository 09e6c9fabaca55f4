"""The server's settings, checked before anything starts."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from kinterp.errors import KinterpError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
DEFAULT_OUT = Path("kinterp-serve")
MAX_QUEUE = 64
MAX_UPLOAD_BYTES = 512 * 2**20
MAX_IMAGE_BYTES = 16 * 2**20
MAX_UPLOADS = 256
MAX_STORE_BYTES = 8 * 2**30
MAX_BODY_BYTES = 2**20


@dataclass(frozen=True)
class ServeConfig:
    """How ``kinterp serve`` runs.

    Attributes:
        host: the address to bind (a loopback one unless a token protects the server).
        port: the TCP port (0: any free one).
        out: the folder holding the job store, uploaded models and run reports.
        cluster: ``local`` or a Dask scheduler address.
        workers: local worker processes (default one per core).
        token: the bearer token every request must carry (None: no token, loopback only).
        allow_unsafe: whether a run may ask for ``load.unsafe`` / custom objects.
        max_queue: queued plus running runs above which ``POST /runs`` answers 429.
        max_upload_bytes: the largest model upload (request body).
        max_uploads: the most models stored, and the most images.
        max_store_bytes: the most bytes of stored models, and of stored images.
        allowed_origins: origins besides the server's own that may send state-changing
            requests (``https://host:port``).
        max_body_bytes: the largest JSON request body.
    """

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    out: Path = DEFAULT_OUT
    cluster: str = "local"
    workers: int | None = None
    token: str | None = None
    allow_unsafe: bool = False
    max_queue: int = MAX_QUEUE
    max_upload_bytes: int = MAX_UPLOAD_BYTES
    max_uploads: int = MAX_UPLOADS
    max_store_bytes: int = MAX_STORE_BYTES
    allowed_origins: tuple[str, ...] = ()
    max_body_bytes: int = MAX_BODY_BYTES

    @property
    def max_image_bytes(self) -> int:
        """The largest image upload (request body)."""
        return min(MAX_IMAGE_BYTES, self.max_upload_bytes)

    @property
    def runs_dir(self) -> Path:
        """Where each run's folder goes (served under ``/reports``)."""
        return self.out / "runs"

    @property
    def models_dir(self) -> Path:
        """Where uploaded models are stored by sha256."""
        return self.out / "models"

    @property
    def images_dir(self) -> Path:
        """Where uploaded images are stored by sha256."""
        return self.out / "images"

    @property
    def database(self) -> Path:
        """The SQLite job store."""
        return self.out / "jobs.sqlite"

    @property
    def url(self) -> str:
        """The address a browser on this machine opens."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_port(port: int) -> None:
    """Refuse a port outside 0 to 65535.

    Raises:
        KinterpError: the port cannot be bound.
    """
    if not 0 <= port <= 65535:
        raise KinterpError(f"--port must be between 0 and 65535, got {port}")
