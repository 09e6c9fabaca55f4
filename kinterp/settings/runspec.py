"""RunSpec: one run as a value — what to run, on what, with which settings.

The CLI, :func:`kinterp.run`, ``kinterp predict``, ``kinterp demo`` and ``kinterp replay``
all build a ``RunSpec`` and hand it to :func:`kinterp.runner.execute`. It holds only plain
values (names, paths, numbers, a sha256), so it pickles and round-trips through JSON: a
worker process or another machine can run it. Every report.json records the spec it ran.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kinterp.errors import KinterpError
from kinterp.loading.models import LoadOptions
from kinterp.settings.loadspec import checked_load, refuse_unsafe
from kinterp.settings.nesting import check_depth

SEED_LIMIT = 2**32


@dataclass(frozen=True)
class RunSpec:
    """One run of one technique on one model.

    Attributes:
        technique: an installed technique's name (see ``kinterp plugins``).
        model: a zoo name or a path to a .keras, .h5 or SavedModel.
        params: the technique's parameters by field name; CLI strings or typed values.
        data: a dataset name or path (None: the model card's dataset, else mnist-5k).
        seed: seeds numpy, Python and TensorFlow, 0 to 2**32 - 1.
        out: the folder the run directory goes under (None: ./kinterp-reports).
        model_sha256: when set, the model file must have this hash or the run is refused.
        load: how to load the model (``--unsafe``, ``--custom-objects``, overrides).

    Raises:
        KinterpError: a field of the wrong type or out of range (``load`` must be
            :class:`~kinterp.loading.models.LoadOptions`; ``params`` nested over 32 levels deep).
    """

    technique: str
    model: str
    params: dict[str, Any] = field(default_factory=dict)
    data: str | None = None
    seed: int = 0
    out: str | None = None
    model_sha256: str | None = None
    load: LoadOptions = field(default_factory=LoadOptions)

    def __post_init__(self) -> None:
        for name in ("technique", "model"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise KinterpError(f"run spec: {name} must be a non-empty string, got {value!r}")
        if not isinstance(self.params, dict):
            raise KinterpError(f"run spec: params must be a mapping, got {self.params!r}")
        check_depth(self.params, "run spec params")
        for name in ("data", "out", "model_sha256"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise KinterpError(f"run spec: {name} must be a string, got {value!r}")
        if self.out is not None and not self.out.strip():
            raise KinterpError("--out is empty; name a folder (--out . for the current one)")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise KinterpError(f"--seed expects an integer, got {self.seed!r}")
        if not 0 <= self.seed < SEED_LIMIT:
            raise KinterpError(f"--seed must be between 0 and {SEED_LIMIT - 1}, got {self.seed}")
        if not isinstance(self.load, LoadOptions):
            raise KinterpError(
                f"run spec: load must be kinterp.loading.models.LoadOptions, got {self.load!r}"
            )
        object.__setattr__(self, "load", checked_load(self.load))  # strict types, tuples

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (see :meth:`from_dict`)."""
        out = dataclasses.asdict(self)
        out["load"] = {k: list(v) if isinstance(v, tuple) else v for k, v in out["load"].items()}
        return out

    def to_json(self) -> str:
        """The spec as JSON text."""
        return json.dumps(self.as_dict(), indent=2, allow_nan=False)

    @classmethod
    def from_dict(cls, raw: Any, *, allow_unsafe: bool = False) -> RunSpec:
        """Rebuild a spec from :meth:`as_dict` output (or a hand-written mapping).

        Args:
            raw: the mapping.
            allow_unsafe: accept ``load.unsafe: true`` and ``load.custom_objects``. Only a
                caller that got the user's own consent (``--unsafe`` on the command line, a
                server's ``--allow-unsafe``) passes True: a file must not grant it.

        Raises:
            KinterpError: not a mapping, an unknown key, a value of the wrong type, nesting
                over 32 levels deep, or unsafe loading asked for without ``allow_unsafe``.
        """
        if not isinstance(raw, dict):
            raise KinterpError("a run spec must be a JSON object with technique and model")
        check_depth(raw, "run spec")
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(str(k) for k in raw if k not in known)
        if unknown:
            raise KinterpError(f"run spec: unknown key {unknown[0]!r}; keys: {', '.join(known)}")
        missing = [k for k in ("technique", "model") if k not in raw]
        if missing:
            raise KinterpError(f"run spec: {missing[0]!r} is missing")
        values = dict(raw)
        values["load"] = checked_load(values.get("load"))
        if not allow_unsafe:
            refuse_unsafe(values["load"])
        return cls(**values)

    @classmethod
    def from_json(cls, text: str, *, allow_unsafe: bool = False) -> RunSpec:
        """Parse :meth:`to_json` output (see :meth:`from_dict` for ``allow_unsafe``).

        Raises:
            KinterpError: not text, not JSON, nested too deeply, or not a valid spec.
        """
        if not isinstance(text, (str, bytes, bytearray)):
            raise KinterpError(f"RunSpec.from_json expects JSON text, got {type(text).__name__}")
        return cls.from_dict(_parse_json(text, "run spec"), allow_unsafe=allow_unsafe)

    @classmethod
    def from_file(cls, path: str | Path, *, allow_unsafe: bool = False) -> RunSpec:
        """Read a spec file, or the spec recorded in a run's report.json.

        See :meth:`from_dict` for ``allow_unsafe``: a report of a run made with ``--unsafe``
        replays only when the caller passes it again.

        Raises:
            KinterpError: the file is missing, unreadable, or holds no valid spec.
        """
        path = Path(path)
        if path.is_dir():
            path = path / "report.json"
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise KinterpError(f"cannot read run spec {path}: {exc.__class__.__name__}") from None
        raw = _parse_json(text, str(path))
        if isinstance(raw, dict) and "schema_version" in raw:  # a report: rerun what it ran
            if not raw.get("spec"):
                raise KinterpError(f"{path} is a report without a recorded run spec")
            raw = raw["spec"]
        return cls.from_dict(raw, allow_unsafe=allow_unsafe)


def _parse_json(text: str | bytes | bytearray, name: str) -> Any:
    """JSON text as Python values.

    Raises:
        KinterpError: not valid JSON, or nested too deeply for the parser.
    """
    try:
        return json.loads(text)
    except RecursionError:
        raise KinterpError(f"{name} is nested too deeply to read; no spec needs that") from None
    except ValueError as exc:
        raise KinterpError(f"{name} is not valid JSON ({exc})") from None
