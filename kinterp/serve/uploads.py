"""Uploaded models, stored by sha256 under ``OUT/models/<sha256>/<file name>``.

An upload is checked like a model given to the CLI: its bytes by :mod:`kinterp.modelfile`,
then a load in Keras safe mode (:func:`kinterp.models.load_model`) in the server process. A
model with code (a Lambda layer) is refused unless the server allows unsafe loading; then it
is kept, marked as needing ``load.unsafe``, and never loaded by the server itself.
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
from pathlib import Path
from typing import Any, BinaryIO

from kinterp.errors import KinterpError
from kinterp.modelfile import classify
from kinterp.rundir import slug
from kinterp.serve.security import unsafe_refusal

META = "upload.json"
SUFFIXES = {"keras": ".keras", "h5": ".h5"}
_LOAD_LOCK = threading.Lock()


def _copy_hashing(source: BinaryIO, target: Path) -> tuple[str, int]:
    """Copy ``source`` to ``target``; return its sha256 and size."""
    digest, size = hashlib.sha256(), 0
    with target.open("wb") as out:
        for chunk in iter(lambda: source.read(1 << 20), b""):
            digest.update(chunk)
            out.write(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _named_by_format(path: Path) -> Path:
    """``path`` checked from its bytes and renamed to end in its format's suffix.

    Raises:
        KinterpError: not a .keras or .h5 model, or a broken one.
    """
    fmt = classify(path)
    if fmt not in SUFFIXES:
        raise KinterpError(f"{path.name}: upload a .keras or .h5 file (got a {fmt})")
    if path.suffix == SUFFIXES[fmt]:
        return path
    return path.rename(path.with_name(f"{path.stem}{SUFFIXES[fmt]}"))


def _check(path: Path, allow_unsafe: bool) -> dict[str, Any]:
    """Load ``path`` in Keras safe mode: its summary ({} when it has code and the server
    allows that).

    Raises:
        KinterpError: it does not load, or (unless allowed) has code.
    """
    from kinterp.models import load_model

    try:
        with _LOAD_LOCK:
            return load_model(str(path)).info.summary()
    except KinterpError as exc:
        if "--unsafe" not in str(exc):
            raise
        if not allow_unsafe:
            raise unsafe_refusal(f"{path.name} contains code (e.g. a Lambda layer)") from None
        return {}


def save_upload(source: BinaryIO, filename: str, models_dir: Path, allow_unsafe: bool) -> dict:
    """Check and store an uploaded model file; return its record (see :func:`uploaded`).

    Raises:
        KinterpError: the file is not a loadable model (nothing is kept).
    """
    models_dir.mkdir(parents=True, exist_ok=True)
    incoming = Path(tempfile.mkdtemp(prefix=".incoming-", dir=models_dir))
    try:
        name = slug(Path(filename or "model").name)
        staged = incoming / name
        sha, size = _copy_hashing(source, staged)
        final_dir = models_dir / sha
        if (final_dir / META).is_file():
            return _read(final_dir)
        try:
            staged = _named_by_format(staged)
            summary = _check(staged, allow_unsafe)
        except KinterpError as exc:  # name the file as the client sent it, not its server path
            raise type(exc)(str(exc).replace(f"{incoming}{os.sep}", "")) from None
        record = {
            "sha256": sha,
            "name": staged.name,
            "bytes": size,
            "uploaded": time.time(),
            "needs_unsafe": not summary,
            "summary": summary,
        }
        (incoming / META).write_text(json.dumps(record, default=str))
        with contextlib.suppress(OSError):  # fails only when the same file arrived twice at once
            os.rename(incoming, final_dir)
        return _read(final_dir)
    finally:
        shutil.rmtree(incoming, ignore_errors=True)


def _read(folder: Path) -> dict[str, Any]:
    record = json.loads((folder / META).read_text())
    return {**record, "path": str(folder / record["name"])}


def uploaded(models_dir: Path) -> list[dict[str, Any]]:
    """Every stored upload: sha256, name, bytes, uploaded time, needs_unsafe, summary, path."""
    if not models_dir.is_dir():
        return []
    found = [_read(d) for d in models_dir.iterdir() if (d / META).is_file()]
    return sorted(found, key=lambda r: r["uploaded"])


def find_upload(models_dir: Path, sha256: str) -> dict[str, Any] | None:
    """The upload with this sha256, or None."""
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        return None
    folder = models_dir / sha256
    return _read(folder) if (folder / META).is_file() else None
