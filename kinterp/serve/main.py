"""``kinterp serve``: check the options, settle the token, and run the app under uvicorn."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from kinterp.errors import KinterpError
from kinterp.rundir import check_root
from kinterp.serve.config import ServeConfig, check_port, is_loopback
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
) -> ServeConfig:
    """The checked settings; a token is generated (and shown once) for a non-loopback bind.

    Raises:
        KinterpError: a bad port, cluster, out folder or token file.
    """
    check_port(port)
    if not 1 <= max_queue <= 100_000:
        raise KinterpError(f"--max-queue must be between 1 and 100,000, got {max_queue}")
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
    )


def serve(config: ServeConfig, echo: Callable[[str], None]) -> None:
    """Run the server until it is interrupted (Ctrl-C, SIGTERM); the cluster closes with it."""
    import uvicorn

    from kinterp.serve.app import create_app

    if config.allow_unsafe:
        echo("WARNING: --allow-unsafe: clients may run models that contain code on this machine")
    app = create_app(config, announce=echo)
    uvicorn.run(app, host=config.host, port=config.port, log_level="warning")
