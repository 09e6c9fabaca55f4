"""Uploaded models, stored by sha256 under ``OUT/models/<sha256>/<file name>``.

An upload is checked like a model given to the CLI: its bytes by :mod:`kinterp.loading.modelfile`,
then a load in Keras safe mode in a short-lived subprocess (:mod:`kinterp.serve.modelcheck`),
never in the server process. A model with code (a Lambda layer) is refused unless the server
allows unsafe loading; then it is kept, marked as needing ``load.unsafe``.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, BinaryIO

from kinterp.errors import KinterpError
from kinterp.loading.modelfile import classify
from kinterp.serve.filestore import Check, FileStore
from kinterp.serve.modelcheck import ContainsCode, check_model
from kinterp.serve.security import unsafe_refusal

SUFFIXES = {"keras": ".keras", "h5": ".h5"}
_CHECKS = threading.Semaphore(1)
"""One model check at a time: each is a process that imports TensorFlow."""


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


def model_check(allow_unsafe: bool) -> Check:
    """The check of a staged model upload: its bytes, then a safe load in a subprocess.

    The check returns the renamed file and ``needs_unsafe`` and ``summary`` (empty for a
    model with code, which is kept only when ``allow_unsafe``).
    """

    def check(path: Path) -> tuple[Path, dict[str, Any]]:
        path = _named_by_format(path)
        try:
            with _CHECKS:
                summary = check_model(path)
        except ContainsCode:
            if not allow_unsafe:
                raise unsafe_refusal(f"{path.name} contains code (e.g. a Lambda layer)") from None
            summary = {}
        return path, {"needs_unsafe": not summary, "summary": summary}

    return check


def save_model(store: FileStore, source: BinaryIO, filename: str, allow_unsafe: bool) -> dict:
    """Check and store an uploaded model file; return its record.

    Raises:
        KinterpError: not a loadable model, or (unless allowed) one with code; nothing is kept.
        StoreFull: the model store is full.
    """
    return store.save(source, filename or "model", model_check(allow_unsafe))
