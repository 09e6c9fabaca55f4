"""Files and sprite-sheet tiles as ``data:`` URIs, so a page carries its own images (it can be
mailed alone)."""

from __future__ import annotations

import base64
import io
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from kinterp.reporting.imaging import PNG_LEVEL

SVG_SIZE = re.compile(rb'<svg [^>]*?width="(?P<width>\d+)" height="(?P<height>\d+)"')
MIME_TYPES = {".png": "image/png", ".gif": "image/gif", ".svg": "image/svg+xml"}


def data_uri(path: Path) -> str:
    """The file at ``path`` as a base64 ``data:`` URI (its type from the suffix)."""
    mime = MIME_TYPES.get(path.suffix.lower(), "application/octet-stream")
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def png_uri(pixels: np.ndarray) -> str:
    """uint8 pixels (H, W) or (H, W, 3) as a PNG ``data:`` URI."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", compress_level=PNG_LEVEL)
    return f"data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode('ascii')}"


@lru_cache(maxsize=8)
def _sheet(path: Path, mtime_ns: int) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image)


def image_uri(directory: Path, record: dict[str, Any]) -> dict[str, Any]:
    """A tile or plot record as ``{"src", "width", "height"}``: its box cut out of its sprite
    sheet, or its whole file (width and height 0 when they are not known)."""
    path = Path(directory) / record["path"]
    box = record.get("box")
    if box is None:
        width, height = picture_size(path)
        return {"src": data_uri(path), "width": width, "height": height}
    x, y, width, height = box
    sheet = _sheet(path, path.stat().st_mtime_ns)
    return {"src": png_uri(sheet[y : y + height, x : x + width]), "width": width, "height": height}


def picture_size(path: Path) -> tuple[int, int]:
    """(width, height) read from a PNG's header or an SVG's root (0, 0 for anything else)."""
    with open(path, "rb") as handle:
        head = handle.read(512)
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    root = SVG_SIZE.match(head)
    return (int(root["width"]), int(root["height"])) if root else (0, 0)
