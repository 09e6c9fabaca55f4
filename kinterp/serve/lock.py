"""One server per out folder: an exclusive ``flock`` on ``OUT/server.lock`` held for the
server's life (the kernel drops it when the process ends, even on SIGKILL).

Two servers on one folder would both run every queued job; the second one is refused with
the folder and the first one's pid, which the lock file holds.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kinterp.errors import KinterpError

LOCK_FILE = "server.lock"


@contextmanager
def out_folder_lock(out: Path) -> Iterator[None]:
    """Hold the exclusive lock of the out folder ``out`` for the ``with`` block.

    Raises:
        KinterpError: another server holds it.
    """
    out.mkdir(parents=True, exist_ok=True)
    fd = os.open(out / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise KinterpError(
                f"another kinterp serve (pid {other}) is using {out}; stop it, or give this "
                "one another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)
