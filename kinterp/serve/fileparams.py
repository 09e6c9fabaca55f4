"""File params over HTTP: a run names uploads and zoo models there, never a server path.

A technique's file params (``metadata["file"]``, see :mod:`kinterp.settings.params`) take a path
locally. On the server a ``model`` param takes a zoo name or an uploaded model's sha256, and
an ``image`` param an uploaded image's sha256 (after the param's prefix: ``image:SHA256``).
:func:`stored_files` maps those names to the stored files' paths for the worker and refuses
anything else with one message per param: no path a client names is ever looked at, so the
answer cannot tell whether it exists.
"""

from __future__ import annotations

from typing import Any

from kinterp.errors import KinterpError
from kinterp.loading.zoo import zoo_models
from kinterp.serve.filestore import FileStore
from kinterp.settings.filerefs import map_file_refs
from kinterp.settings.params import ParamSpec

UPLOAD_ROUTES = {"model": "POST /models", "image": "POST /images"}


def accepted(spec: ParamSpec) -> str:
    """What a file param takes over HTTP, in words (errors and the API schema say it)."""
    sha = f"{spec.file_prefix}SHA256" if spec.file_prefix else "the sha256"
    upload = f"{sha} of {'a model' if spec.file == 'model' else 'an image'}"
    zoo = f"a zoo model ({', '.join(zoo_models())}) or " if spec.file == "model" else ""
    return f"{zoo}{upload} uploaded with {UPLOAD_ROUTES[spec.file]}"


def refusal(spec: ParamSpec) -> KinterpError:
    """The one refusal of a value a file param cannot take (it never echoes the value)."""
    return KinterpError(f"{spec.option} takes {accepted(spec)}; this server does not open paths")


def _stored(spec: ParamSpec, ref: str, models: FileStore, images: FileStore) -> str:
    """The name a worker opens for one file reference: a zoo name, or a stored file's path.

    Raises:
        KinterpError: not a zoo name or upload, or an uploaded model with code.
    """
    if spec.file == "model" and ref in zoo_models():
        return ref
    found = (models if spec.file == "model" else images).find(ref.lower())
    if found is None:
        raise refusal(spec)
    if found.get("needs_unsafe"):
        raise KinterpError(
            f"{spec.option}: {found['name']} contains code (e.g. a Lambda layer); only a run's "
            "own model may, with load.unsafe"
        )
    return found["path"]


def stored_files(
    params_cls: type, params: dict[str, Any], models: FileStore, images: FileStore
) -> dict[str, Any]:
    """``params`` with every file param's references replaced by what a worker opens.

    Raises:
        KinterpError: a value of a file param that names neither a zoo model nor an upload
            (:func:`refusal`), or a badly typed value (the CLI's message).
    """
    return map_file_refs(params_cls, params, lambda spec, ref: _stored(spec, ref, models, images))
