"""A posted run spec, checked, and the spec a worker runs for it.

Clients name a zoo model or the sha256 of an uploaded one (never a server path), uploads
and zoo models in file params (:mod:`kinterp.serve.fileparams`), a registered dataset by name,
and no ``out`` (the server puts each run in its own folder). Params are checked now with the
CLI's messages, so bad input is a 4xx before anything is queued. Code in models
(``load.unsafe``, ``load.custom_objects``) needs ``--allow-unsafe``.

:func:`admit` gives the spec as the client named things (what the job store keeps and the API
shows); :func:`runnable` turns it into the spec a worker runs, with stored paths.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

from kinterp.errors import KinterpError
from kinterp.loading.modelfile import sha256_of
from kinterp.loading.zoo import zoo_models
from kinterp.plugins import registry
from kinterp.registry import find_technique
from kinterp.serve.config import ServeConfig
from kinterp.serve.fileparams import stored_files
from kinterp.serve.filestore import FileStore
from kinterp.serve.security import Forbidden, unsafe_refusal
from kinterp.settings.params import parse_params
from kinterp.settings.runspec import RunSpec

LOCAL_ONLY = {"predict": "it reads image files named by path; use kinterp predict locally"}


@dataclass(frozen=True)
class Uploads:
    """The server's two upload stores."""

    models: FileStore
    images: FileStore

    @classmethod
    def of(cls, config: ServeConfig) -> Uploads:
        """The stores in ``config``'s out folder, with its bounds."""
        count, size = config.max_uploads, config.max_store_bytes
        return cls(
            FileStore(config.models_dir, "model", count, size),
            FileStore(config.images_dir, "image", count, size),
        )


@cache
def zoo_sha256(name: str) -> str:
    """The sha256 of a zoo model's file (computed once per server)."""
    return sha256_of(zoo_models()[name].path)


def resolve_model(model: str, uploads: Uploads) -> tuple[str, str, dict[str, Any] | None]:
    """A zoo name or an upload's sha256 -> (what a worker opens, its sha256, the upload or None).

    Raises:
        KinterpError: neither (this server does not open paths).
    """
    if model in zoo_models():
        return model, zoo_sha256(model), None
    upload = uploads.models.find(model.lower())
    if upload is not None:
        return upload["path"], upload["sha256"], upload
    zoo = ", ".join(zoo_models())
    raise KinterpError(
        f"unknown model {model!r}: name a zoo model ({zoo}) or the sha256 of a model uploaded "
        "with POST /models; this server does not open paths"
    )


_AVAILABLE: set[str] = set()


def dataset_problem(name: str) -> str | None:
    """Why the registered dataset ``name`` cannot be loaded on this server (say, a Debian
    package not installed), or None when it can; a dataset that loaded once is not loaded
    again."""
    if name in _AVAILABLE:
        return None
    found = registry().datasets.get(name)
    if found is None:
        return f"unknown dataset {name!r}"
    try:
        found[0].load()
    except KinterpError as exc:
        return str(exc)
    _AVAILABLE.add(name)
    return None


def model_label(spec: RunSpec, uploads: Uploads) -> str:
    """The model's name in job lists: the zoo name, or the uploaded file's name."""
    upload = uploads.models.find(spec.model)
    return spec.model if upload is None else upload["name"]


def admit(raw: Any, uploads: Uploads, allow_unsafe: bool) -> RunSpec:
    """The spec to queue for a posted one: as posted, with its model pinned by sha256.

    Raises:
        KinterpError: bad input, with the CLI's one-line message.
        Forbidden: something this server does not allow (code in models, local techniques).
    """
    spec = RunSpec.from_dict(raw, allow_unsafe=True)
    if spec.out is not None:
        raise KinterpError("run spec: out is chosen by the server (one folder per run); drop it")
    technique, _ = find_technique(spec.technique)
    if technique.name in LOCAL_ONLY:
        raise Forbidden(f"{technique.name} cannot run on a server: {LOCAL_ONLY[technique.name]}")
    parse_params(technique.Params, dict(spec.params))
    if (spec.load.unsafe or spec.load.custom_objects) and not allow_unsafe:
        option = "load.unsafe" if spec.load.unsafe else "load.custom_objects"
        raise unsafe_refusal(f"{option} was requested")
    _, sha, upload = resolve_model(spec.model, uploads)
    if upload and upload["needs_unsafe"] and not spec.load.unsafe:
        raise KinterpError(
            f"{upload['name']} contains code (e.g. a Lambda layer); send load.unsafe = true "
            "if you trust it"
        )
    if spec.model_sha256 and spec.model_sha256 != sha:
        raise KinterpError(
            f"{spec.model} has sha256 {sha[:12]}..., not the {spec.model_sha256[:12]}... "
            "the spec names; drop model_sha256 to run on it"
        )
    if spec.data is not None:
        datasets = registry().datasets
        if spec.data not in datasets:
            raise KinterpError(
                f"unknown dataset {spec.data!r}; this server takes dataset names only: "
                f"{', '.join(sorted(datasets))}"
            )
        if not technique.reads_data:
            raise KinterpError(
                f"{technique.name} does not read a dataset, so --data {spec.data} would be "
                "ignored; drop --data"
            )
    model = sha if upload else spec.model
    stored_files(technique.Params, dict(spec.params), uploads.models, uploads.images)
    return replace(spec, model=model, model_sha256=sha)


def runnable(spec: RunSpec, folder: Path, uploads: Uploads) -> RunSpec:
    """The spec a worker runs for an admitted one: uploads named by sha256 replaced by their
    stored paths, and the run's own ``folder`` as its out.

    Raises:
        KinterpError: an upload it names is gone.
    """
    technique, _ = find_technique(spec.technique)
    model, _, _ = resolve_model(spec.model, uploads)
    params = stored_files(technique.Params, dict(spec.params), uploads.models, uploads.images)
    return replace(spec, model=model, params=params, out=str(folder))
