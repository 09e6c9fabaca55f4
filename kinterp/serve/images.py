"""Uploaded images (``POST /images``), stored by sha256 under ``OUT/images/<sha256>/<name>``.

A run names one as ``image:SHA256`` in a file param (``--init``). An upload must be a PNG,
JPEG, GIF, BMP or WebP of at most :data:`MAX_IMAGE_PIXELS` pixels (and, as a request, at most
``ServeConfig.max_image_bytes``), checked with Pillow: the size from the header first, then a
full decode (only the formats named are tried).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, BinaryIO

from kinterp.errors import KinterpError
from kinterp.serve.filestore import FileStore

FORMATS = {"PNG": ".png", "JPEG": ".jpg", "GIF": ".gif", "BMP": ".bmp", "WEBP": ".webp"}
MAX_IMAGE_PIXELS = 4096 * 4096


def image_check(path: Path) -> tuple[Path, dict[str, Any]]:
    """Decode the staged image; return it renamed to its format's suffix, and its geometry.

    Raises:
        KinterpError: not an image of an accepted format, too many pixels, or truncated.
    """
    from PIL import Image, UnidentifiedImageError

    accepted = ", ".join(FORMATS)
    pixels = f"this server takes images of 1 to {MAX_IMAGE_PIXELS:,} pixels"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path, formats=list(FORMATS)) as image:
                width, height = image.size
                if width * height > MAX_IMAGE_PIXELS or not width or not height:
                    raise KinterpError(f"{path.name}: {width} x {height} pixels; {pixels}")
                image.load()
                fmt, mode = image.format or "", image.mode
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise KinterpError(f"{path.name}: too many pixels; {pixels}") from None
    except UnidentifiedImageError:
        raise KinterpError(f"{path.name}: not an image this server takes ({accepted})") from None
    except (OSError, SyntaxError, ValueError):
        raise KinterpError(f"{path.name}: a truncated or broken image") from None
    final = path.with_suffix(FORMATS[fmt])
    path.rename(final)
    return final, {"format": fmt.lower(), "width": width, "height": height, "mode": mode}


def save_image(store: FileStore, source: BinaryIO, filename: str) -> dict[str, Any]:
    """Check and store an uploaded image; return its record.

    Raises:
        KinterpError: not an accepted image (nothing is kept).
        StoreFull: the image store is full.
    """
    return store.save(source, filename or "image", image_check)
