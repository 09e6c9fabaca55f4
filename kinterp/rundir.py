"""Run directories that appear complete or not at all.

A run writes into a hidden temporary sibling and is renamed into place at the end; the
rename fails if the name is taken, so two runs in the same second get ``-2``, ``-3``, ...
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

DEFAULT_ROOT = Path("kinterp-reports")


def slug(text: str) -> str:
    """A file-name-safe version of ``text``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "x"


class RunDirectory:
    """A temporary directory under ``root`` that becomes ``root/<stamp>-<technique>-<model>``."""

    def __init__(self, root: Path, technique: str, model: str):
        self.root = Path(root).resolve()
        self.created = [d for d in (self.root, *self.root.parents) if not d.exists()]
        self.root.mkdir(parents=True, exist_ok=True)
        self.base_name = f"{time.strftime('%Y%m%d-%H%M%S')}-{slug(technique)}-{slug(model)}"
        self.path = Path(tempfile.mkdtemp(prefix=f".{self.base_name}.", dir=self.root))

    def commit(self) -> Path:
        """Rename the finished directory into place and return its final path."""
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
            return final
        raise OSError(f"no free run directory name under {self.root}")

    def discard(self) -> None:
        """Remove the temporary directory, and any (still empty) directory this run created."""
        shutil.rmtree(self.path, ignore_errors=True)
        for directory in self.created:
            with contextlib.suppress(OSError):
                directory.rmdir()
