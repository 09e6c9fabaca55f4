"""Where a sweep's runs go: a local Dask cluster, or an existing scheduler by address.

The local cluster has one worker process per core (``--workers N``), started with spawn,
one thread each, and TensorFlow limited to its share of the cores, so workers do not fight
over them. A LocalCluster's nanny restarts a worker process that dies. Dask is imported
only here, inside functions: ``import kinterp`` stays light.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kinterp.errors import KinterpError

LOCAL = "local"
CONNECT_TIMEOUT = "10s"


def cores() -> int:
    """The cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def check_cluster(cluster: str, workers: int | None) -> None:
    """Refuse a cluster option that cannot work, before anything starts.

    Raises:
        KinterpError: not ``local`` nor a scheduler address, or a bad ``--workers``.
    """
    if not isinstance(cluster, str):
        raise KinterpError(
            f"--cluster expects local or a scheduler address string, got {type(cluster).__name__}"
            f" {cluster!r}"
        )
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)):
        raise KinterpError(
            f"--workers expects a whole number, got {type(workers).__name__} {workers!r}"
        )
    if cluster != LOCAL and "://" not in cluster:
        raise KinterpError(
            f"--cluster expects local or a scheduler address such as tcp://HOST:8786, "
            f"got {cluster!r}"
        )
    if workers is not None and cluster != LOCAL:
        raise KinterpError("--workers sizes the local cluster only; drop it with --cluster ADDRESS")
    if workers is not None and not 1 <= workers <= 4 * cores():
        raise KinterpError(f"--workers must be between 1 and {4 * cores()}, got {workers}")


def worker_environment(workers: int) -> dict[str, str]:
    """Environment of each local worker: TensorFlow threads = its share of the cores."""
    threads = str(max(1, cores() // workers))
    return {
        "TF_NUM_INTRAOP_THREADS": threads,
        "TF_NUM_INTEROP_THREADS": "1",
        "OMP_NUM_THREADS": threads,
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }


def start_local_cluster(workers: int | None = None) -> Any:
    """A ``distributed.LocalCluster``: ``workers`` spawned processes (default one per core)."""
    import dask
    from distributed import LocalCluster

    n = workers or cores()
    with dask.config.set({"distributed.worker.multiprocessing-method": "spawn"}):
        return LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            dashboard_address="127.0.0.1:0",  # any free port: two sweeps may run at once
            silence_logs=logging.ERROR,
            env=worker_environment(n),
        )


@contextmanager
def connect(cluster: str, workers: int | None) -> Iterator[tuple[Any, str]]:
    """A Dask client on the cluster, and a label for it; everything is closed on exit.

    Raises:
        KinterpError: the scheduler at the address cannot be reached.
    """
    from distributed import Client

    check_cluster(cluster, workers)
    if cluster == LOCAL:
        local = start_local_cluster(workers)
        try:
            with Client(local) as client:
                yield client, f"local cluster, {len(local.workers)} worker processes"
        finally:
            local.close()
        return
    try:
        client = Client(cluster, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        raise KinterpError(
            f"cannot reach the Dask scheduler at {cluster} ({type(exc).__name__}); start one "
            "with dask-scheduler, or use --cluster local"
        ) from None
    with client:
        yield client, f"Dask scheduler {cluster}"
