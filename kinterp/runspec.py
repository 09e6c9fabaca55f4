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
from kinterp.models import LoadOptions

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

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (see :meth:`from_dict`)."""
        out = dataclasses.asdict(self)
        out["load"] = {k: list(v) if isinstance(v, tuple) else v for k, v in out["load"].items()}
        return out

    def to_json(self) -> str:
        """The spec as JSON text."""
        return json.dumps(self.as_dict(), indent=2, allow_nan=False)

    @classmethod
    def from_dict(cls, raw: Any) -> RunSpec:
        """Rebuild a spec from :meth:`as_dict` output (or a hand-written mapping).

        Raises:
            KinterpError: not a mapping, an unknown key, or a value of the wrong type.
        """
        if not isinstance(raw, dict):
            raise KinterpError("a run spec must be a JSON object with technique and model")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise KinterpError(f"run spec: unknown key {unknown[0]!r}; keys: {', '.join(known)}")
        missing = [k for k in ("technique", "model") if k not in raw]
        if missing:
            raise KinterpError(f"run spec: {missing[0]!r} is missing")
        values = dict(raw)
        values["load"] = _load_options(values.get("load") or {})
        return cls(**values)

    @classmethod
    def from_json(cls, text: str) -> RunSpec:
        """Parse :meth:`to_json` output.

        Raises:
            KinterpError: not JSON, or not a valid spec.
        """
        try:
            raw = json.loads(text)
        except ValueError as exc:
            raise KinterpError(f"run spec is not valid JSON ({exc})") from None
        return cls.from_dict(raw)

    @classmethod
    def from_file(cls, path: str | Path) -> RunSpec:
        """Read a spec file, or the spec recorded in a run's report.json.

        Raises:
            KinterpError: the file is missing, unreadable, or holds no spec.
        """
        path = Path(path)
        if path.is_dir():
            path = path / "report.json"
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise KinterpError(f"cannot read run spec {path}: {exc.__class__.__name__}") from None
        try:
            raw = json.loads(text)
        except ValueError as exc:
            raise KinterpError(f"{path} is not valid JSON ({exc})") from None
        if isinstance(raw, dict) and "schema_version" in raw:  # a report: rerun what it ran
            if not raw.get("spec"):
                raise KinterpError(f"{path} is a report without a recorded run spec")
            raw = raw["spec"]
        return cls.from_dict(raw)


def _load_options(raw: Any) -> LoadOptions:
    """``load`` of a spec mapping as :class:`LoadOptions`."""
    if isinstance(raw, LoadOptions):
        return raw
    if not isinstance(raw, dict):
        raise KinterpError(f"run spec: load must be a mapping, got {raw!r}")
    known = {f.name for f in dataclasses.fields(LoadOptions)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise KinterpError(f"run spec: unknown load option {unknown[0]!r}; known: {sorted(known)}")
    try:
        return LoadOptions(
            unsafe=bool(raw.get("unsafe", False)),
            custom_objects=tuple(str(c) for c in raw.get("custom_objects") or ()),
            image_shape=_ints(raw.get("image_shape"), 3),
            input_range=_floats(raw.get("input_range"), 2),
        )
    except (TypeError, ValueError):
        raise KinterpError(f"run spec: bad load options {raw!r}") from None


def _ints(value: Any, count: int) -> tuple[int, ...] | None:
    if value is None:
        return None
    values = tuple(int(v) for v in value)
    if len(values) != count:
        raise ValueError(value)
    return values


def _floats(value: Any, count: int) -> tuple[float, ...] | None:
    if value is None:
        return None
    values = tuple(float(v) for v in value)
    if len(values) != count:
        raise ValueError(value)
    return values
