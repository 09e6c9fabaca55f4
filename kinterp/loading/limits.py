"""Size caps for what kinterp reads from users' files, checked before anything is inflated.

A 10 MB ``.keras`` file can hold a config.json that inflates to gigabytes, and a few MB of
gzipped IDX can declare gigabytes of pixels. Archives declare their sizes up front (zip
members, npy and IDX headers), so those are checked first and every read is bounded.
"""

from __future__ import annotations

import os
import resource
import zipfile
from pathlib import Path
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
MAX_PARAMETER_BYTES = 4 * 2**30
"""A model's parameters, estimated from its config before building (ConvNeXtXLarge, the
largest Keras Applications model, has 1.4 GB); never more than half of what is available."""
CGROUP = Path("/sys/fs/cgroup")


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


def parameter_cap() -> tuple[int, str]:
    """The most a model's parameters may take, and in words where that number comes from."""
    half = available_bytes() // 2
    if half < MAX_PARAMETER_BYTES:
        return half, f"half of the {size_text(2 * half)} of memory available"
    return MAX_PARAMETER_BYTES, "for a model's parameters"


def available_bytes() -> int:
    """Memory this process can still get: the least of MemAvailable (else physical RAM), the
    room under its cgroup's limit and the room under its RLIMIT_AS and RLIMIT_DATA."""
    return min(_system_available(), _cgroup_room(), _rlimit_room())


def _system_available() -> int:
    """MemAvailable (what the system can give without swapping), else total physical RAM."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _cgroup_room() -> int:
    """Limit minus usage of this process's memory cgroup (v2 or v1); unlimited if none."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return 2**63
    room = 2**63
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":
            files = [(CGROUP / path.lstrip("/"), "memory.max", "memory.current")]
        elif "memory" in controllers.split(","):
            base = CGROUP / "memory"
            pair = ("memory.limit_in_bytes", "memory.usage_in_bytes")
            files = [(base / path.lstrip("/"), *pair), (base, *pair)]
        else:
            continue
        for folder, limit, usage in files:
            try:
                cap = (folder / limit).read_text().strip()
                used = int((folder / usage).read_text())
            except (OSError, ValueError):
                continue
            if cap.isdigit():
                room = min(room, max(0, int(cap) - used))
            break
    return room


def _rlimit_room() -> int:
    """Room under RLIMIT_AS (against VmSize) and RLIMIT_DATA (against VmData)."""
    sizes: dict[str, int] = {}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmSize", "VmData"):
                sizes[key] = int(value.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    room = 2**63
    for limit, key in ((resource.RLIMIT_AS, "VmSize"), (resource.RLIMIT_DATA, "VmData")):
        soft, _ = resource.getrlimit(limit)
        if soft != resource.RLIM_INFINITY:
            room = min(room, max(0, soft - sizes.get(key, 0)))
    return room
