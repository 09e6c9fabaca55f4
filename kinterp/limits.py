"""Size caps for what kinterp reads from users' files, checked before anything is inflated.

A 10 MB ``.keras`` file can hold a config.json that inflates to gigabytes, and a few MB of
gzipped IDX can declare gigabytes of pixels. Archives declare their sizes up front (zip
members, npy and IDX headers), so those are checked first and every read is bounded.
"""

from __future__ import annotations

import zipfile
from typing import BinaryIO

from kinterp.errors import KinterpError

MiB = 2**20
MAX_CONFIG_BYTES = 16 * MiB
"""A model's config.json or metadata.json; real ones are kilobytes."""
MAX_ARRAY_BYTES = 512 * MiB
"""One dataset array (npz member or IDX file) as stored; full MNIST's images are 47 MB."""
MAX_GRAPH_BYTES = 1024 * MiB
"""A SavedModel's saved_model.pb (Keras exports keep weights outside it)."""
MAX_ZIP_RATIO = 200
"""Uncompressed / compressed size above which a large zip member is taken for a bomb."""
RATIO_FLOOR = 64 * MiB
"""Members smaller than this may compress any amount (zeros and text compress well)."""


def size_text(count: int) -> str:
    """A byte count in words: ``512 MiB``, ``6.0 GiB``."""
    if count >= 2**30:
        return f"{count / 2**30:.1f} GiB"
    return f"{count / MiB:.1f} MiB" if count >= MiB else f"{count:,} bytes"


def check_declared(source: str, what: str, declared: int, cap: int, fix: str) -> None:
    """Refuse ``what`` of ``source`` when its declared size is over ``cap``.

    Raises:
        KinterpError: naming both sizes and ``fix``.
    """
    if declared > cap:
        raise KinterpError(
            f"{source}: {what} declares {size_text(declared)}, over kinterp's limit of "
            f"{size_text(cap)}; {fix}"
        )


def check_zip_member(source: str, info: zipfile.ZipInfo, cap: int, fix: str) -> None:
    """Refuse a zip member whose declared size is over ``cap`` or that compresses like a bomb.

    Raises:
        KinterpError: the member is too large, or over ``MAX_ZIP_RATIO`` times compressed.
    """
    check_declared(source, info.filename, info.file_size, cap, fix)
    ratio = info.file_size / max(info.compress_size, 1)
    if info.file_size > RATIO_FLOOR and ratio > MAX_ZIP_RATIO:
        raise KinterpError(
            f"{source}: {info.filename} inflates {ratio:,.0f} times (to "
            f"{size_text(info.file_size)}), like a zip bomb; {fix}"
        )


def read_capped(handle: BinaryIO, count: int, source: str, fix: str) -> bytes:
    """Read exactly ``count`` bytes (the size a header declared) and check nothing follows.

    Memory stays bounded even when the stream inflates far beyond what it declared.

    Raises:
        KinterpError: the stream holds more than ``count`` bytes.
    """
    data = handle.read(count)
    if handle.read(1):
        raise KinterpError(
            f"{source}: holds more data than its header declares ({size_text(count)}); "
            f"the file is damaged or crafted; {fix}"
        )
    return data
