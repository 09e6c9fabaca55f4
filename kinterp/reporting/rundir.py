"""Run directories that appear complete or not at all.

A run writes into a hidden temporary sibling and is renamed into place at the end; the
rename fails if the name is taken, so two runs in the same second get ``-2``, ``-3``, ...
The temporary directory holds a ``.pid`` file naming its process, so a later run can remove
the ones a killed process left behind (and never one whose process is still running).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import shutil
import socket
import time
from pathlib import Path

from kinterp.errors import KinterpError

DEFAULT_ROOT = Path("kinterp-reports")
PID_FILE = ".pid"
_LIVE: set[RunDirectory] = set()
"""This process's temporary run directories (for :func:`discard_live`)."""


def slug(text: str) -> str:
    """A file-name-safe version of ``text``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "x"


def check_root(root: Path) -> Path:
    """The absolute reports root, once it is known a run directory can be made under it.

    Called before the model is loaded, so a bad ``--out`` fails at once. The nearest existing
    folder on the path must be a folder in which a directory can be created (tried, then
    removed); nothing is left behind.

    Raises:
        KinterpError: a symlink loop, a file or device on the path, or a folder that cannot
            be written (read-only, /proc).
    """
    fix = "pass --out with a folder you can write to"
    try:
        resolved = Path(root).expanduser().resolve()
    except (OSError, RuntimeError) as exc:
        raise KinterpError(f"--out {root} cannot be resolved ({exc}); {fix}") from None
    existing = next(d for d in (resolved, *resolved.parents) if d.exists())
    if not existing.is_dir():
        raise KinterpError(f"--out {root}: {existing} is not a folder; {fix}")
    probe = existing / f".kinterp-probe.{secrets.token_hex(4)}"
    try:
        probe.mkdir()
        probe.rmdir()
    except OSError as exc:
        raise KinterpError(
            f"--out {root}: cannot create a folder in {existing} ({exc.strerror}); {fix}"
        ) from None
    return resolved


def discard_live() -> None:
    """Remove every temporary run directory of this process (when it is being ended)."""
    for run_dir in list(_LIVE):
        run_dir.discard()


def _owner(temp_dir: Path) -> int | None:
    """The live-or-dead pid that owns a temporary run directory of this host, else None."""
    try:
        pid, host = (temp_dir / PID_FILE).read_text().split()
    except (OSError, ValueError):
        return None
    if host != socket.gethostname() or not pid.isdigit() or int(pid) <= 0:
        return None
    return int(pid)


def _alive(pid: int) -> bool:
    """True unless no process has this pid (another user's process counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def remove_stale(root: Path) -> list[Path]:
    """Remove the hidden temporary run directories under ``root`` whose process is gone.

    Only directories with a ``.pid`` file of this host naming a pid that no longer exists
    are removed; anything else (a live run, a foreign folder) is left alone.
    """
    removed = []
    with contextlib.suppress(OSError):
        for entry in Path(root).iterdir():
            if not entry.name.startswith(".") or entry.is_symlink() or not entry.is_dir():
                continue
            pid = _owner(entry)
            if pid is not None and not _alive(pid):
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry)
    return removed


class RunDirectory:
    """A temporary directory under ``root`` that becomes ``root/<stamp>-<technique>-<model>``."""

    def __init__(self, root: Path, technique: str, model: str):
        self.root = Path(root).resolve()
        self.created = [d for d in (self.root, *self.root.parents) if not d.exists()]
        self.base_name = f"{time.strftime('%Y%m%d-%H%M%S')}-{slug(technique)}-{slug(model)}"
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            remove_stale(self.root)
            self.path = self._make_temp()
            _LIVE.add(self)
        except OSError as exc:
            self._remove_created()
            raise KinterpError(
                f"cannot create a run directory under {self.root} ({exc.strerror}); "
                "pass --out with a folder you can write to"
            ) from None

    def _make_temp(self) -> Path:
        """A new hidden directory (with the umask's permissions) holding this process's pid."""
        while True:
            path = self.root / f".{self.base_name}.{secrets.token_hex(4)}"
            try:
                path.mkdir()
            except FileExistsError:
                continue
            try:
                (path / PID_FILE).write_text(f"{os.getpid()} {socket.gethostname()}\n")
            except OSError:
                shutil.rmtree(path, ignore_errors=True)
                raise
            return path

    def commit(self) -> Path:
        """Rename the finished directory into place and return its final path."""
        (self.path / PID_FILE).unlink(missing_ok=True)
        for attempt in range(1, 1000):
            suffix = "" if attempt == 1 else f"-{attempt}"
            final = self.root / f"{self.base_name}{suffix}"
            if final.exists():
                continue
            try:
                os.rename(self.path, final)
            except OSError as exc:
                if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
                    continue
                raise
            self.path = final
            _LIVE.discard(self)
            return final
        raise OSError(f"no free run directory name under {self.root}")

    def discard(self) -> None:
        """Remove the temporary directory, and any (still empty) directory this run created."""
        shutil.rmtree(self.path, ignore_errors=True)
        _LIVE.discard(self)
        self._remove_created()

    def _remove_created(self) -> None:
        """Remove the (still empty) directories this run created above its own."""
        for directory in self.created:
            with contextlib.suppress(OSError):
                directory.rmdir()
