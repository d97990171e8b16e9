"""The one image loader: bytes or a path in, a decoded RGB PIL image out, or a typed error.

Every part of the system (crawler, dataset scan, training, web, desktop) loads images here, so a
file that one part accepts is accepted by all, with the same orientation and colours.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import MLError

#: Pillow's own default limit (about 89 megapixels, a 9459×9459 image).
DEFAULT_MAX_PIXELS = 89_478_485
#: Shortest side below which a picture carries too little to classify (icons, tracking pixels).
DEFAULT_MIN_SIZE = 32
#: File name endings treated as pictures when listing folders.
IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".heic", ".heif"}
)

ImageSource = bytes | bytearray | str | os.PathLike | BinaryIO

_heif_checked = False


class ImageError(MLError):
    """The input cannot be used as a picture; `code` names the reason."""

    code = "image_invalid"


class EmptyImage(ImageError):
    code = "empty"


class NotAnImage(ImageError):
    code = "not_image"


class TruncatedImage(ImageError):
    code = "truncated"


class ImageTooLarge(ImageError):
    code = "too_many_pixels"


class ImageTooSmall(ImageError):
    code = "too_small"


def heif_available() -> bool:
    """Register the HEIC/HEIF decoder once if `pillow-heif` is installed; say whether it is."""
    global _heif_checked
    try:
        import pillow_heif  # noqa: PLC0415  (optional dependency)
    except ImportError:
        return False
    if not _heif_checked:
        pillow_heif.register_heif_opener()
        _heif_checked = True
    return True


def _read_bytes(source: ImageSource) -> tuple[bytes, str]:
    """Return the raw bytes and a short name for messages."""
    if isinstance(source, (bytes, bytearray)):
        return bytes(source), "upload"
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            return path.read_bytes(), path.name
        except FileNotFoundError:
            raise ImageError(f"File not found: {path}", code="not_found") from None
        except IsADirectoryError:
            raise NotAnImage(f"{path.name} is a folder, not a picture.") from None
        except PermissionError:
            raise ImageError(f"No permission to read {path}", code="unreadable") from None
    data = source.read()
    return data, getattr(source, "name", "stream")


def _sniff_text(data: bytes) -> str | None:
    head = data[:512].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html", b"<head", b"<body")) or b"<html" in head:
        return "an HTML page"
    if head.startswith((b"{", b"[")):
        return "JSON text"
    if head.startswith(b"<?xml") and b"<svg" not in data[:2048].lower():
        return "an XML document"
    if head.startswith(b"<svg") or b"<svg" in data[:2048].lower():
        return "an SVG drawing (vector images are not supported)"
    return None


def _to_rgb(img: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB; transparent areas become white."""
    mode = img.mode
    if mode == "RGB":
        return img
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(img).astype(np.float64)
        peak = arr.max() if arr.size else 0.0
        scale = 255.0 / 65535.0 if peak > 255 else 1.0
        if mode == "F" and 0 < peak <= 1.0:
            scale = 255.0
        grey = np.clip(arr * scale, 0, 255).astype(np.uint8)
        return Image.fromarray(grey, mode="L").convert("RGB")
    has_alpha = mode in ("RGBA", "LA", "La", "RGBa", "PA") or (
        mode in ("P", "L", "RGB") and "transparency" in img.info
    )
    if has_alpha:
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def load_image(
    source: ImageSource,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    min_size: int = DEFAULT_MIN_SIZE,
) -> Image.Image:
    """Decode `source` (bytes, path or binary file) to an upright RGB image, or raise ImageError."""
    data, name = _read_bytes(source)
    if not data:
        raise EmptyImage(f"{name} is empty (0 bytes).")
    heif_available()
    try:
        with warnings.catch_warnings():
            # Pillow only warns between its limit and twice its limit; we refuse outright.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            width, height = img.size
            if width * height > max_pixels:
                raise ImageTooLarge(
                    f"{name} is {width}×{height} = {width * height:,} pixels, over the limit of "
                    f"{max_pixels:,} (a possible decompression bomb)."
                )
            img.seek(0)  # first frame of GIF/WebP animations
            img.load()
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLarge(f"{name} has too many pixels to decode safely: {exc}") from None
    except UnidentifiedImageError:
        kind = _sniff_text(data)
        what = f"it looks like {kind}" if kind else "the format is not recognised"
        raise NotAnImage(f"{name} is not a picture: {what}.") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise TruncatedImage(f"{name} is truncated or corrupt and cannot be decoded ({exc}).") from None
    try:
        img = ImageOps.exif_transpose(img)
    except Exception:  # noqa: BLE001 - a broken EXIF block should not lose a good picture
        pass
    img = _to_rgb(img)
    if min(img.size) < min_size:
        raise ImageTooSmall(
            f"{name} is only {img.size[0]}×{img.size[1]} pixels; pictures need at least "
            f"{min_size} pixels on each side."
        )
    return img


def center_square(img: Image.Image, size: int) -> Image.Image:
    """Resize the shorter side to `size` and cut the centre square: what evaluation sees."""
    w, h = img.size
    scale = size / min(w, h)
    img = img.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.Resampling.BILINEAR)
    w, h = img.size
    left, top = (w - size) // 2, (h - size) // 2
    return img.crop((left, top, left + size, top + size))


def is_image_name(path: str | os.PathLike) -> bool:
    """True when the file name ends like a picture we can decode."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS

