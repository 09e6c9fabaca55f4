"""Tell what a model path is before Keras sees it, so bad files get honest errors.

Keras' own messages are often wrong for broken files (a random-bytes ``.keras`` file is
reported as "file not found"), so the format is decided here from the bytes.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

from kinterp.errors import KinterpError
from kinterp.loading.limits import MAX_CONFIG_BYTES, check_declared, check_zip_member

ZIP_MAGIC = b"PK\x03\x04"
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
FIX = "pass a .keras or .h5 file, a SavedModel directory, or a zoo name (see: kinterp models)"
CONFIG_MEMBERS = ("config.json", "metadata.json")
MAX_MEMBER_BYTES = 64 * 2**30  # the weights of a .keras file: any real model fits


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, or of every file in a directory (sorted by relative path)."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            digest.update(str(file.relative_to(path)).encode())
        with file.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def classify(path: Path) -> str:
    """Return ``keras``, ``h5`` or ``savedmodel`` for a loadable-looking path.

    Raises:
        KinterpError: the path is missing or is not a model in any supported format.
    """
    if not path.exists():
        raise KinterpError(f"no such file or directory: {path}; {FIX}")
    if path.is_dir():
        if (path / "saved_model.pb").is_file():
            return "savedmodel"
        raise KinterpError(f"{path} is a directory without saved_model.pb, not a SavedModel; {FIX}")
    if path.stat().st_size == 0:
        raise KinterpError(f"{path} is empty (0 bytes), not a model; {FIX}")
    with path.open("rb") as fh:
        head = fh.read(8)
    if head.startswith(ZIP_MAGIC):
        _check_keras_zip(path)
        return "keras"
    if head == HDF5_MAGIC:
        _check_hdf5(path)
        return "h5"
    raise KinterpError(f"{path} is not a Keras model (neither a .keras zip nor HDF5); {FIX}")


def read_config(path: Path, fmt: str) -> dict:
    """The model config of a ``.keras`` or ``.h5`` file that :func:`classify` passed, read
    without building anything (``config.json``, or the HDF5 ``model_config`` attribute).

    Raises:
        KinterpError: the config is over ``MAX_CONFIG_BYTES`` or not a JSON object.
    """
    fix = "re-save the model with model.save('model.keras')"
    if fmt == "keras":
        with zipfile.ZipFile(path) as archive, archive.open("config.json") as member:
            text = member.read(MAX_CONFIG_BYTES + 1)
    else:
        import h5py

        with h5py.File(path, "r") as h5:
            declared = h5.attrs.get_id("model_config").get_storage_size()
            check_declared(str(path), "model_config", declared, MAX_CONFIG_BYTES, fix)
            text = h5.attrs["model_config"]
    check_declared(str(path), "the model config", len(text), MAX_CONFIG_BYTES, fix)
    try:
        config = json.loads(text)
    except (ValueError, RecursionError):
        config = None
    if not isinstance(config, dict):
        raise KinterpError(f"{path}: the model config is not a JSON object; {fix}")
    return config


def _check_keras_zip(path: Path) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            _check_sizes(path, archive)
            bad_member = archive.testzip()
            names = set(archive.namelist())
            if bad_member is not None:
                raise KinterpError(
                    f"{path} is a corrupted .keras archive ({bad_member} fails its checksum); "
                    "re-save or re-download the model"
                )
            if "config.json" not in names:
                raise KinterpError(
                    f"{path} is a zip file but not a Keras archive (no config.json); {FIX}"
                )
            with archive.open("config.json") as member:
                json.loads(member.read(MAX_CONFIG_BYTES))
    except KinterpError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError) as exc:
        raise KinterpError(
            f"{path} is a truncated or corrupted .keras archive ({type(exc).__name__}); "
            "re-save or re-download the model"
        ) from None
    if path.suffix != ".keras":
        raise KinterpError(f"{path} is a .keras archive with another suffix; rename it to .keras")


def _check_sizes(path: Path, archive: zipfile.ZipFile) -> None:
    """Refuse members whose declared sizes are too large, before any is inflated."""
    fix = "this is not a model Keras saved; re-save or re-download it"
    for info in archive.infolist():
        cap = MAX_CONFIG_BYTES if info.filename in CONFIG_MEMBERS else MAX_MEMBER_BYTES
        check_zip_member(str(path), info, cap, fix)


def _check_hdf5(path: Path) -> None:
    import h5py

    try:
        with h5py.File(path, "r") as h5:
            has_config = "model_config" in h5.attrs
    except Exception as exc:
        raise KinterpError(
            f"{path} is a broken HDF5 file ({type(exc).__name__}); re-save or re-download the model"
        ) from None
    if not has_config:
        raise KinterpError(
            f"{path} is HDF5 without a model config (weights only?); save the whole model "
            "with model.save('model.keras')"
        )
    if path.suffix not in (".h5", ".hdf5"):
        raise KinterpError(f"{path} is a legacy HDF5 model with another suffix; rename it to .h5")
