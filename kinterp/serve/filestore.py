"""Uploaded files stored by sha256, bounded in count and total bytes.

Each file lives in ``ROOT/<sha256>/<name>`` beside its record ``upload.json`` (sha256, name,
bytes, upload time, and what its check found). An upload is copied into a hidden
``.incoming-*`` folder while it is hashed, checked, and then renamed into place, so a
half-stored file is never found. A file already stored is answered from its record without a
new check. Responses show records without paths (:func:`public`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from kinterp.errors import KinterpError
from kinterp.reporting.rundir import slug

META = "upload.json"
Check = Callable[[Path], tuple[Path, dict[str, Any]]]
"""Checks a staged file: returns its final path (it may rename it) and fields to record."""


class StoreFull(KinterpError):
    """The store holds as many files or bytes as it may (HTTP 507)."""


def is_sha256(text: str) -> bool:
    """True for 64 lowercase hex digits."""
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text)


def public(record: dict[str, Any]) -> dict[str, Any]:
    """A record as responses show it: without the server path."""
    return {k: v for k, v in record.items() if k != "path"}


class FileStore:
    """Files of one kind (models, images) under ``root``, at most ``max_count`` files and
    ``max_bytes`` bytes in all."""

    def __init__(self, root: Path, kind: str, max_count: int, max_bytes: int):
        self.root = root
        self.kind = kind
        self.max_count = max_count
        self.max_bytes = max_bytes
        self._lock = threading.Lock()

    def records(self) -> list[dict[str, Any]]:
        """Every stored file's record (with its ``path``), oldest first."""
        if not self.root.is_dir():
            return []
        folders = [d for d in self.root.iterdir() if is_sha256(d.name)]
        found = [_read(d) for d in folders if (d / META).is_file()]
        return sorted(found, key=lambda r: r["uploaded"])

    def find(self, sha256: str) -> dict[str, Any] | None:
        """The record of the file with this sha256, or None."""
        folder = self.root / sha256
        return _read(folder) if is_sha256(sha256) and (folder / META).is_file() else None

    def _room(self, size: int) -> None:
        """Refuse a new file of ``size`` bytes when the store is full.

        Raises:
            StoreFull: the count or byte bound would be passed.
        """
        stored = self.records()
        used = sum(r["bytes"] for r in stored)
        if len(stored) >= self.max_count or used + size > self.max_bytes:
            raise StoreFull(
                f"the {self.kind} store is full ({len(stored):,} files, {used:,} bytes; this "
                f"server keeps at most {self.max_count:,} files and {self.max_bytes:,} bytes)"
            )

    def save(self, source: BinaryIO, filename: str, check: Check) -> dict[str, Any]:
        """Hash, check and store an uploaded file; return its record.

        Raises:
            StoreFull: no room for it (nothing is kept).
            KinterpError: ``check`` refused it (nothing is kept); the message names the file
                as the client sent it, never a server path.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        incoming = Path(tempfile.mkdtemp(prefix=".incoming-", dir=self.root))
        try:
            staged = incoming / slug(Path(filename or self.kind).name)
            sha, size = _copy_hashing(source, staged)
            known = self.find(sha)
            if known is not None:
                return known
            self._room(size)
            try:
                staged, found = check(staged)
            except KinterpError as exc:
                message = str(exc).replace(f"{incoming}{os.sep}", "").replace(str(self.root), "")
                raise type(exc)(message) from None
            record = {"sha256": sha, "name": staged.name, "bytes": size, "uploaded": time.time()}
            (incoming / META).write_text(json.dumps({**record, **found}, default=str))
            with self._lock:
                if self.find(sha) is None:
                    self._room(size)
                    with contextlib.suppress(OSError):  # the same file arrived twice at once
                        os.rename(incoming, self.root / sha)
            return _read(self.root / sha)
        finally:
            shutil.rmtree(incoming, ignore_errors=True)


def _copy_hashing(source: BinaryIO, target: Path) -> tuple[str, int]:
    """Copy ``source`` to ``target``; return its sha256 and size."""
    digest, size = hashlib.sha256(), 0
    with target.open("wb") as out:
        for chunk in iter(lambda: source.read(1 << 20), b""):
            digest.update(chunk)
            out.write(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _read(folder: Path) -> dict[str, Any]:
    record = json.loads((folder / META).read_text())
    return {**record, "path": str(folder / record["name"])}
