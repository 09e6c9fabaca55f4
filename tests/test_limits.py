"""Decompression bombs: real ones, refused by their declared sizes with bounded memory.

Each bomb is 1 GiB of zeros compressed to a few MB. The CLI runs in a subprocess and its
peak resident memory is read from ``os.wait4`` (:mod:`tests.measured`): reading any bomb
whole would take > 1 GiB.
"""

from __future__ import annotations

import gzip
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from kinterp.data.datasets import read_idx
from kinterp.errors import KinterpError
from tests.conftest import all_entries
from tests.measured import run_measured

ZEROS = bytes(1 << 20)
GIB_OF_ZEROS = 1024  # chunks of ZEROS
MAX_RSS_MB = 500


def _write_zeros(handle, chunks: int = GIB_OF_ZEROS) -> None:
    for _ in range(chunks):
        handle.write(ZEROS)


@pytest.fixture(scope="module")
def bombs(tmp_path_factory) -> dict[str, Path]:
    """A .keras config bomb, an npz bomb and two IDX bombs (declared huge; longer than declared)."""
    root = tmp_path_factory.mktemp("bombs")
    keras_bomb = root / "bomb.keras"
    with zipfile.ZipFile(keras_bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("metadata.json", '{"keras_version": "3.15.1"}')
        with archive.open("config.json", "w", force_zip64=True) as member:
            _write_zeros(member)
    npz_bomb = root / "bomb.npz"
    with (
        zipfile.ZipFile(npz_bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive,
        archive.open("x.npy", "w", force_zip64=True) as member,
    ):
        header = {
            "descr": "|u1",
            "fortran_order": False,
            "shape": (GIB_OF_ZEROS * 1366, 28, 28),
        }
        np.lib.format.write_array_header_1_0(member, header)
        _write_zeros(member)
    cases = {"keras": keras_bomb, "npz": npz_bomb}
    for name, shape in (
        ("idx-declared", (GIB_OF_ZEROS * 1366, 28, 28)),
        ("idx-longer", (10, 28, 28)),
    ):
        folder = root / name
        folder.mkdir()
        with gzip.open(folder / "t10k-images-idx3-ubyte.gz", "wb", compresslevel=1) as handle:
            handle.write(struct.pack(">BBBBIII", 0, 0, 8, 3, *shape))
            _write_zeros(handle)
        cases[name] = folder
    return cases


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("keras", "config.json declares 1.0 GiB, over kinterp's limit of 16.0 MiB"),
        ("npz", "x.npy declares 1.0 GiB, over kinterp's limit of 512.0 MiB"),
        ("idx-declared", "its header declares 1.0 GiB, over kinterp's limit of 512.0 MiB"),
        ("idx-longer", "holds more data than its header declares"),
    ],
)
def test_bombs_are_refused_with_bounded_memory(bombs, tmp_path, case, message):
    out = tmp_path / "out"
    if case == "keras":
        args = ["run", "robustness", str(bombs[case]), "--limit", "20"]
    else:
        args = ["run", "robustness", "mnist-mlp", "--data", str(bombs[case]), "--limit", "20"]
    run = run_measured([*args, "--out", str(out)], tmp_path)
    assert run.code == 2, run.stderr
    assert message in run.stderr and len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert run.peak_mb < MAX_RSS_MB, f"peak resident memory {run.peak_mb:.0f} MB"
    assert all_entries(out) == []


def test_a_short_idx_header_is_a_one_line_error(tmp_path):
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(b"\x00\x00\x08\x03\x00\x00")
    with pytest.raises(KinterpError, match="ends inside its header"):
        read_idx(path)


def test_npz_arrays_are_checked_by_their_own_header(tmp_path):
    """An uncompressed npz whose array header declares more than the file holds."""
    path = tmp_path / "liar.npz"
    with zipfile.ZipFile(path, "w") as archive, archive.open("x.npy", "w") as member:
        header = {"descr": "<f8", "fortran_order": False, "shape": (10**9,)}
        np.lib.format.write_array_header_1_0(member, header)
    from kinterp.data.datasets import load_npz

    with pytest.raises(KinterpError, match="array x declares 7.5 GiB"):
        load_npz(path)
