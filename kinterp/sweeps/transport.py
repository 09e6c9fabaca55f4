"""What travels between a sweep's client and its workers: files by content, reports packed.

Nothing but the Dask scheduler is shared. A model file (or SavedModel directory), a dataset
and the files a technique's params name (``--compare``, ``--init image:``), when named by
path, go to the workers as bytes, once per sha256 (:class:`Shipper`, with Dask's
``scatter``); a worker writes them into its own temporary folder under their sha256
(:func:`materialize`: a temporary name renamed into place, the sha256 checked on arrival) and
runs the spec pointed at its copies (:func:`local_spec`).
Zoo models and registered datasets travel as names: each worker resolves its own installed
copy. A finished run's report directory comes back as an uncompressed tar in memory with
each file's sha256 (:func:`pack_report`), and :func:`receive_report` checks them all before
the directory is renamed into place under the client's out folder.

Folders (SavedModel directories, image-folder datasets) are packed as tar archives. What
travels is capped: :data:`MODEL_CAP` per model, :data:`DATA_CAP` per dataset,
:data:`REPORT_CAP` per report; a path over its cap is refused before the sweep starts.
"""

from __future__ import annotations

import hashlib
import io
import os
import secrets
import shutil
import tarfile
import tempfile
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any

from kinterp.errors import KinterpError
from kinterp.loading.modelfile import sha256_of
from kinterp.settings.filerefs import file_refs, map_file_refs
from kinterp.settings.runspec import RunSpec

MIB = 1 << 20
MODEL_CAP = 1024 * MIB
"""The most bytes of one model file (or SavedModel directory) a sweep sends to its workers."""
DATA_CAP = 256 * MIB
"""The most bytes of one dataset file or folder a sweep sends to its workers."""
REPORT_CAP = 1024 * MIB
"""The most bytes of one report directory a worker sends back."""
SEND_BUDGET = 2048 * MIB
"""The most bytes of files a sweep holds in the cluster at once: a run whose file would go
over it waits until runs holding other files finish (one run's files always fit)."""


@dataclass(frozen=True)
class Shipment:
    """One file or folder sent by content: its sha256, base name and packing."""

    sha256: str
    name: str
    folder: bool  # packed as a tar archive
    size: int


def size_of(path: Path) -> int:
    """Bytes of a file, or of every file below a folder."""
    path = Path(path)
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def over_cap(path: Path, cap: int, what: str) -> str | None:
    """A one-line problem if ``path`` is more than ``cap`` bytes to send, else None."""
    size = size_of(path)
    if size <= cap:
        return None
    fix = (
        "register it as a named dataset installed on every worker (a plugin's "
        "register_datasets hook), or pass a smaller one"
        if what == "dataset"
        else "sweeps do not send models that large to their workers; use a smaller file"
    )
    return (
        f"{what} {path} is {_mib(size)}, over the {_mib(cap)} a sweep sends to each worker; {fix}"
    )


def _mib(size: int) -> str:
    if size < MIB:
        return f"{size:,} bytes"
    return f"{size / MIB:,.1f} MiB" if size < 1024 * MIB else f"{size / (1024 * MIB):,.2f} GiB"


def pack(path: Path, cap: int, what: str) -> tuple[Shipment, bytes]:
    """A file's bytes, or a folder as a tar archive, with the sha256 of what was read.

    The sha256 is that of :func:`kinterp.loading.modelfile.sha256_of` (a folder's: every file
    sorted by relative path, each path then its bytes), computed from the bytes packed.

    Raises:
        KinterpError: the path is gone, unreadable, or over ``cap``.
    """
    path = Path(path)
    try:
        problem = over_cap(path, cap, what)
        if problem:
            raise KinterpError(problem)
        if not path.is_dir():
            data = path.read_bytes()
            return Shipment(hashlib.sha256(data).hexdigest(), path.name, False, len(data)), data
        digest, buffer = hashlib.sha256(), io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for file in sorted(p for p in path.rglob("*") if p.is_file()):
                relative = file.relative_to(path)
                data = file.read_bytes()
                digest.update(str(relative).encode())
                digest.update(data)
                info = tarfile.TarInfo(relative.as_posix())
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
        packed = buffer.getvalue()
        return Shipment(digest.hexdigest(), path.name, True, len(packed)), packed
    except FileNotFoundError:
        raise KinterpError(f"{path} is gone since the sweep was planned; restore it") from None
    except OSError as exc:
        problem = exc.strerror or exc
        raise KinterpError(f"cannot read {what} {path} ({problem}) to send it") from None


def work_root() -> Path:
    """This worker's own folder for received files and runs (its Dask local directory)."""
    try:
        from distributed import get_worker

        base = Path(get_worker().local_directory)
    except (ImportError, ValueError):  # not inside a Dask worker
        base = Path(tempfile.gettempdir()) / f"kinterp-{os.getuid()}"
    root = base / "kinterp"
    root.mkdir(parents=True, exist_ok=True)
    return root


def materialize(shipment: Shipment, data: bytes, root: Path) -> Path:
    """Write what arrived under ``root/<sha256>/<name>`` (once) and return that path.

    Written under a temporary name, its sha256 checked, then renamed into place, so a
    half-written or corrupted copy is never used; a copy already in place is reused.

    Raises:
        KinterpError: the bytes do not have the shipment's sha256, or the archive is unsafe.
    """
    folder = Path(root) / shipment.sha256
    target = folder / shipment.name
    if target.exists():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    temp = folder / f".{shipment.name}.{secrets.token_hex(4)}.part"
    try:
        if shipment.folder:
            _extract(data, temp, f"{shipment.name} (sha256 {shipment.sha256[:12]}...)")
            found = sha256_of(temp)
        else:
            found = hashlib.sha256(data).hexdigest()
            temp.write_bytes(data)
        if found != shipment.sha256:
            raise KinterpError(
                f"{shipment.name} arrived damaged (sha256 {found[:12]}..., expected "
                f"{shipment.sha256[:12]}...); run the sweep again"
            )
        try:
            os.rename(temp, target)
        except OSError:
            if not target.exists():  # another task of this worker put it there first: fine
                raise
    finally:
        _remove(temp)
    return target


def _extract(data: bytes, folder: Path, label: str) -> None:
    """Unpack a tar archive of regular files into a new ``folder``.

    Raises:
        KinterpError: a member that is not a regular file or folder, or whose name leaves it.
    """
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            members = tar.getmembers()
            for member in members:
                name = PurePosixPath(member.name)
                regular = member.isfile() or member.isdir()
                if not regular or name.is_absolute() or ".." in name.parts:
                    raise KinterpError(f"{label}: unsafe archive member {member.name!r}; refused")
            folder.mkdir()
            tar.extractall(folder, members=members, filter="data")
    except (tarfile.TarError, EOFError) as exc:
        problem = f"not a readable archive ({exc}); run the sweep again"
        raise KinterpError(f"{label}: {problem}") from None


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def pack_report(run_dir: Path) -> tuple[bytes, dict[str, str]]:
    """A report directory as a tar archive, and each file's sha256 by relative path.

    Raises:
        KinterpError: the directory holds more than :data:`REPORT_CAP` bytes.
    """
    size = size_of(run_dir)
    if size > REPORT_CAP:
        raise KinterpError(
            f"the report is {_mib(size)}, over the {_mib(REPORT_CAP)} a worker sends back; "
            "use smaller settings"
        )
    sums: dict[str, str] = {}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for file in sorted(p for p in run_dir.rglob("*") if p.is_file() and not p.is_symlink()):
            relative = file.relative_to(run_dir).as_posix()
            data = file.read_bytes()
            sums[relative] = hashlib.sha256(data).hexdigest()
            info = tarfile.TarInfo(relative)
            info.size, info.mode, info.mtime = len(data), 0o644, int(file.stat().st_mtime)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue(), sums


def receive_report(archive: bytes, sums: dict[str, str], folder: Path, name: str) -> Path:
    """Unpack a report under ``folder`` as ``name`` (``name-2``, ... when taken), checked.

    The archive is unpacked into a hidden folder; it must hold exactly the files ``sums``
    names, each with its sha256, or nothing is kept. Then the folder is renamed into place.

    Raises:
        KinterpError: a damaged or incomplete report, or an unsafe name.
    """
    if not name or name.startswith(".") or PurePosixPath(name).name != name:
        raise KinterpError(f"a worker sent a report named {name!r}; refused")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    temp = folder / f".{name}.{secrets.token_hex(4)}.recv"
    try:
        _extract(archive, temp, f"the report {name}")
        found = {
            p.relative_to(temp).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in temp.rglob("*")
            if p.is_file()
        }
        if found != sums:
            bad = sorted(set(found) ^ set(sums)) or sorted(k for k in found if found[k] != sums[k])
            raise KinterpError(
                f"the report {name} arrived damaged or incomplete ({bad[0]} does not match its "
                f"sha256; {len(bad)} file(s) differ); run the sweep again to redo it"
            )
        return _rename_free(temp, folder, name)
    finally:
        _remove(temp)


def received_outcome(result: dict[str, Any], folder: Path) -> dict[str, Any]:
    """A finished task's outcome (a dict), its report (if it sent one) unpacked and checked
    under ``folder`` and named in ``report``; a damaged report makes the run failed."""
    outcome = dict(result["outcome"])
    if result.get("archive") is None:
        return outcome
    try:
        path = receive_report(result["archive"], result["files"], folder, result["name"])
    except KinterpError as exc:
        return {"status": "failed", "error": str(exc), "seconds": outcome.get("seconds")}
    return {**outcome, "report": str(path)}


def _rename_free(temp: Path, folder: Path, name: str) -> Path:
    """Rename ``temp`` to ``folder/name``, or ``name-2``, ``name-3``, ... if taken."""
    for n in range(1, 1000):
        target = folder / (name if n == 1 else f"{name}-{n}")
        if target.exists():
            continue
        try:
            os.rename(temp, target)
        except OSError:
            continue
        return target
    raise KinterpError(f"{folder}: no free name for the report {name}")


Parcel = dict[str, tuple[Shipment, Any]]
"""What one run needs sent: each client path it names -> (its shipment, the bytes or their
future in the cluster)."""


def sent_files(spec: RunSpec, params_cls: type) -> list[tuple[str, int, str]]:
    """``(path, cap, what)`` of every file ``spec`` names by absolute path: its model, its
    data and the files its params name (``--compare``, ``--init image:``). Zoo models and
    registered datasets are names; they travel as they are."""
    found = []
    if Path(spec.model).is_absolute():
        found.append((spec.model, MODEL_CAP, "model"))
    if spec.data is not None and Path(spec.data).is_absolute():
        found.append((spec.data, DATA_CAP, "dataset"))
    for param, ref in file_refs(params_cls, spec.params):
        if Path(ref).is_absolute():
            cap = MODEL_CAP if param.file == "model" else DATA_CAP
            found.append((ref, cap, f"{param.option} {param.file}"))
    return list({path: (path, cap, what) for path, cap, what in found}.values())


def local_spec(spec: RunSpec, params_cls: type, paths: dict[str, str]) -> RunSpec:
    """``spec`` with every path in ``paths`` (client path -> this worker's) replaced."""
    return replace(
        spec,
        model=paths.get(spec.model, spec.model),
        data=None if spec.data is None else paths.get(spec.data, spec.data),
        params=map_file_refs(params_cls, spec.params, lambda _, ref: paths.get(ref)),
    )


def materialize_all(parcel: Parcel, root: Path) -> dict[str, str]:
    """Write every file of a parcel under ``root`` (see :func:`materialize`); returns the
    client path -> this worker's path.

    Raises:
        KinterpError: a file that arrived damaged or an unsafe archive.
    """
    return {
        path: str(materialize(shipment, data, root / "files"))
        for path, (shipment, data) in parcel.items()
    }


class Shipper:
    """The client's side: each file scattered to the cluster once per sha256, released when
    the last run that needs it has finished."""

    def __init__(self, client: Any):
        self.client = client
        self.sent: dict[str, tuple[Shipment, Any]] = {}
        self.users: Counter[str] = Counter()
        self.paths: dict[str, tuple[Shipment, Any]] = {}

    def _send(self, path: str, cap: int, what: str, sha256: str | None) -> tuple[Shipment, Any]:
        if path in self.paths:
            return self.paths[path]
        shipment, data = pack(Path(path), cap, what)
        if sha256 and shipment.sha256 != sha256:
            raise KinterpError(
                f"{path} has changed since the sweep was planned (sha256 "
                f"{shipment.sha256[:12]}..., expected {sha256[:12]}...); run the sweep again "
                "to plan it anew"
            )
        if shipment.sha256 not in self.sent:
            future = self.client.scatter(data, hash=False)
            self.sent[shipment.sha256] = (shipment, future)
        self.paths[path] = self.sent[shipment.sha256]
        return self.paths[path]

    def fits(self, spec: RunSpec, params_cls: type) -> bool:
        """True if the files a run needs are sent, or fit in :data:`SEND_BUDGET` with them."""
        held = sum(shipment.size for shipment, _ in self.sent.values())
        new = 0
        for path, _, _ in sent_files(spec, params_cls):
            if path not in self.paths:
                try:
                    new += size_of(Path(path))
                except OSError:
                    return True  # send it now: the attempt refuses it in one line
        return new == 0 or held + new <= SEND_BUDGET

    def inputs(self, spec: RunSpec, params_cls: type) -> Parcel:
        """The files a run names by path, each sent once (see :func:`sent_files`); the
        model must still have the sha256 the spec records.

        Raises:
            KinterpError: a file gone, changed since planning, or over its cap.
        """
        parcel = {
            path: self._send(path, cap, what, spec.model_sha256 if path == spec.model else None)
            for path, cap, what in sent_files(spec, params_cls)
        }
        for shipment, _ in parcel.values():
            self.users[shipment.sha256] += 1
        return parcel

    def done(self, parcel: Parcel) -> None:
        """A run that used ``parcel`` has finished: release files no other run needs."""
        for shipment, _ in parcel.values():
            self.users[shipment.sha256] -= 1
            if self.users[shipment.sha256] <= 0 and shipment.sha256 in self.sent:
                _, future = self.sent.pop(shipment.sha256)
                self.paths = {p: v for p, v in self.paths.items() if v[1] is not future}
                future.release()
