"""``kinterp serve``: check the options, settle the token, and run the app under uvicorn."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from kinterp.errors import KinterpError
from kinterp.reporting.rundir import check_root
from kinterp.serve.config import (
    MAX_STORE_BYTES,
    MAX_UPLOAD_BYTES,
    MAX_UPLOADS,
    ServeConfig,
    check_port,
    is_loopback,
)
from kinterp.serve.lock import out_folder_lock
from kinterp.serve.origins import origin_of
from kinterp.serve.security import new_token, read_token
from kinterp.sweeps.cluster import check_cluster


def make_config(
    host: str,
    port: int,
    out: Path,
    cluster: str,
    workers: int | None,
    token_file: Path | None,
    allow_unsafe: bool,
    max_queue: int,
    echo: Callable[[str], None],
    allowed_origins: tuple[str, ...] = (),
    max_uploads: int = MAX_UPLOADS,
    max_upload_mb: int = MAX_UPLOAD_BYTES // 2**20,
    max_store_mb: int = MAX_STORE_BYTES // 2**20,
) -> ServeConfig:
    """The checked settings; a token is generated (and shown once) for a non-loopback bind.

    Raises:
        KinterpError: a bad port, cluster, out folder, token file, bound or origin.
    """
    check_port(port)
    for option, value, most in (
        ("--max-queue", max_queue, 100_000),
        ("--max-uploads", max_uploads, 1_000_000),
        ("--max-upload-mb", max_upload_mb, 1_000_000),
        ("--max-store-mb", max_store_mb, 1_000_000_000),
    ):
        if not 1 <= value <= most:
            raise KinterpError(f"{option} must be between 1 and {most:,}, got {value}")
    for origin in allowed_origins:
        if origin_of(origin) != origin.strip().lower() or not origin.startswith("http"):
            raise KinterpError(
                f"--allowed-origin expects scheme://host[:port] as a browser sends it, "
                f"got {origin!r}"
            )
    check_cluster(cluster, workers)
    root = check_root(out)
    token = read_token(token_file) if token_file is not None else None
    if token is None and not is_loopback(host):
        token = new_token()
        echo(f"token (send as Authorization: Bearer, or open /?token=...): {token}")
    return ServeConfig(
        host=host,
        port=port,
        out=root,
        cluster=cluster,
        workers=workers,
        token=token,
        allow_unsafe=allow_unsafe,
        max_queue=max_queue,
        max_upload_bytes=max_upload_mb * 2**20,
        max_uploads=max_uploads,
        max_store_bytes=max_store_mb * 2**20,
        allowed_origins=tuple(allowed_origins),
    )


def serve(config: ServeConfig, echo: Callable[[str], None]) -> None:
    """Run the server until it is interrupted (Ctrl-C, SIGTERM); the cluster closes with it.
    The out folder is locked for the server's life.

    Raises:
        KinterpError: another server uses the out folder.
    """
    import uvicorn

    from kinterp.serve.app import create_app

    with out_folder_lock(config.out):
        if config.allow_unsafe:
            echo("WARNING: --allow-unsafe: clients may run models that contain code here")
        app = create_app(config, announce=echo)
        uvicorn.run(app, host=config.host, port=config.port, log_level="warning")
