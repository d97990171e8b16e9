"""The one image loader: bytes or a path in, a decoded RGB PIL image out, or a typed error.

Every part of the system (crawler, dataset scan, training, web, desktop) loads images here, so a
file that one part accepts is accepted by all, with the same orientation and colours.

Callers say how many pixels they need (`target`: the shortest side they will scale to). The
loader then decodes no more than that: JPEG is decoded at a reduced DCT scale (`draft`), other
formats are shrunk by an integer factor (`Image.reduce`) before the mode conversion, keeping the
shortest side at least `DECODE_HEADROOM` × `target` so the final resize still averages pixels.
A 4032×3024 phone JPEG for a 224-pixel model is decoded at 504×378 instead of 12 megapixels.

Safety: only the formats in `allowed_formats()` are ever parsed; size and shortest side are
checked from the header before any pixel is decoded; at most `decode_slots()` pictures are
decoded at once per process (`set_decode_slots`), so a burst of large uploads cannot multiply
the memory one decode needs.
"""

from __future__ import annotations

import io
import math
import os
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from PIL import ExifTags, Image, UnidentifiedImageError

from .errors import MLError
from .image_convert import to_rgb

#: Pillow's own default limit (about 89 megapixels, a 9459×9459 image).
DEFAULT_MAX_PIXELS = 89_478_485
#: Shortest side below which a picture carries too little to classify (icons, tracking pixels).
DEFAULT_MIN_SIZE = 32
#: With a `target`, the decoded shortest side stays at least this many times the target.
DECODE_HEADROOM = 2
#: The `target` for perceptual hashing: `imagehash.phash` looks at a 32×32 copy, and decoding at
#: least 2 × 64 pixels keeps its hash the same as from the full picture.
HASH_TARGET = 64
#: File name endings treated as pictures when listing folders.
IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".heic", ".heif"}
)
#: The only Pillow formats ever parsed; every other plugin stays out of reach of uploaded bytes.
ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
#: Added to ALLOWED_FORMATS when `pillow-heif` is installed (iPhone photos).
HEIF_FORMATS = ("HEIF",)
#: Said in messages about refused formats.
ACCEPTED_TEXT = "JPEG, PNG, WebP, GIF, BMP or TIFF"
#: Decodes running at once per process when nobody called `set_decode_slots`.
DEFAULT_DECODE_SLOTS = 2

ImageSource = bytes | bytearray | str | os.PathLike | BinaryIO

_heif: dict[str, bool] = {}
_slots_lock = threading.Lock()
_slots = {"count": DEFAULT_DECODE_SLOTS, "semaphore": threading.BoundedSemaphore(DEFAULT_DECODE_SLOTS)}

#: Signatures of picture formats we recognise but refuse, with what to call them in a message.
_REFUSED_MAGIC = (
    (b"%!PS", "an EPS/PostScript file"),
    (b"\xc5\xd0\xd3\xc6", "an EPS/PostScript file"),
    (b"8BPS", "a Photoshop document (PSD)"),
    (b"%PDF", "a PDF document"),
    (b"\x00\x00\x01\x00", "a Windows icon (ICO)"),
    (b"icns", "a macOS icon (ICNS)"),
    (b"DDS ", "a DirectDraw texture (DDS)"),
    (b"gimp xcf", "a GIMP image (XCF)"),
    (b"\xff\x4f\xff\x51", "a JPEG 2000 file"),
    (b"\x00\x00\x00\x0cjP  ", "a JPEG 2000 file"),
    (b"SIMPLE  =", "a FITS file"),
)
_TGA_FOOTER = b"TRUEVISION-XFILE.\x00"
_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


class ImageError(MLError):
    """The input cannot be used as a picture; `code` names the reason."""

    code = "image_invalid"


class EmptyImage(ImageError):
    code = "empty"


class NotAnImage(ImageError):
    code = "not_image"


class UnsupportedFormat(ImageError):
    """A picture format we recognise but do not accept (EPS, PSD, TGA, ...; HEIC without pillow-heif)."""

    code = "unsupported_format"


class TruncatedImage(ImageError):
    code = "truncated"


class ImageTooLarge(ImageError):
    code = "too_many_pixels"


class ImageTooSmall(ImageError):
    code = "too_small"


@dataclass(frozen=True)
class Decoded:
    """A decoded picture and the facts about the file it came from."""

    #: Upright 8-bit RGB; smaller than the file when a `target` allowed it.
    image: Image.Image
    #: Upright size of the picture in the file (before any reduction).
    width: int
    height: int
    #: Pillow's format name ("JPEG", "PNG", ...).
    format: str


def heif_available() -> bool:
    """Register the HEIC/HEIF decoder once if `pillow-heif` is installed; say whether it is."""
    if "ok" not in _heif:
        try:
            import pillow_heif  # noqa: PLC0415  (optional dependency)
        except ImportError:
            _heif["ok"] = False
        else:
            pillow_heif.register_heif_opener()
            _heif["ok"] = True
    return _heif["ok"]


def allowed_formats() -> tuple[str, ...]:
    """The Pillow formats the loader parses: ALLOWED_FORMATS, plus HEIF when pillow-heif is installed."""
    return ALLOWED_FORMATS + (HEIF_FORMATS if heif_available() else ())


def set_decode_slots(count: int) -> None:
    """Allow at most `count` decodes at once in this process (the web app sets DECODE_SLOTS)."""
    count = max(1, int(count))
    with _slots_lock:
        if count != _slots["count"]:
            _slots.update(count=count, semaphore=threading.BoundedSemaphore(count))


def decode_slots() -> int:
    """How many pictures this process decodes at once at most."""
    return _slots["count"]


@contextmanager
def decode_slot() -> Iterator[None]:
    """Hold one of the process's decode slots (waits while all are busy)."""
    semaphore = _slots["semaphore"]
    with semaphore:
        yield


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


def _sniff_refused(data: bytes) -> str | None:
    """What a picture format we refuse is called, from its signature; None when it is none of them."""
    for magic, what in _REFUSED_MAGIC:
        if data.startswith(magic):
            return what
    if data[4:8] == b"ftyp" and data[8:12] in (b"heic", b"heix", b"mif1", b"msf1", b"heim", b"heis", b"hevc"):
        return "a HEIC/HEIF photo (install pillow-heif to accept these)"
    if data[4:8] == b"ftyp" and data[8:12] in (b"avif", b"avis"):
        return "an AVIF picture"
    if data[-18:] == _TGA_FOOTER:
        return "a Targa picture (TGA)"
    return None


def _unidentified(data: bytes, name: str) -> ImageError:
    refused = _sniff_refused(data)
    if refused:
        return UnsupportedFormat(f"{name} is {refused}, which is not accepted; send a {ACCEPTED_TEXT} picture.")
    kind = _sniff_text(data)
    what = f"it looks like {kind}" if kind else "the format is not recognised"
    return NotAnImage(f"{name} is not a picture: {what}.")


def _orientation(img: Image.Image) -> Image.Transpose | None:
    """The transpose that makes the picture upright, from its EXIF Orientation (None: already upright)."""
    try:
        return _ORIENTATION.get(int(img.getexif().get(ExifTags.Base.Orientation, 1)))
    except Exception:  # noqa: BLE001 - a broken EXIF block should not lose a good picture
        return None


def _needed_side(target: int | None, shortest: int) -> int | None:
    """The shortest side to decode to for `target`, or None when the full picture is needed."""
    if not target or target <= 0:
        return None
    need = math.ceil(DECODE_HEADROOM * target)
    return need if shortest >= 2 * need else None


def decode_image(
    source: ImageSource,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    min_size: int = DEFAULT_MIN_SIZE,
    target: int | None = None,
) -> Decoded:
    """Decode `source` to an upright RGB image (no larger than `target` needs), or raise ImageError.

    `target`: the shortest side the caller will scale the picture to (a model's input size, a
    thumbnail's size); None decodes every pixel.
    """
    data, name = _read_bytes(source)
    if not data:
        raise EmptyImage(f"{name} is empty (0 bytes).")
    formats = allowed_formats()
    with decode_slot():
        try:
            with warnings.catch_warnings():
                # Pillow only warns between its limit and twice its limit; we refuse outright.
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                img = Image.open(io.BytesIO(data), formats=formats)
                width, height = img.size
                if width * height > max_pixels:
                    raise ImageTooLarge(
                        f"{name} is {width}×{height} = {width * height:,} pixels, over the limit of "
                        f"{max_pixels:,} (a possible decompression bomb)."
                    )
                if min(width, height) < min_size:
                    raise ImageTooSmall(
                        f"{name} is only {width}×{height} pixels; pictures need at least "
                        f"{min_size} pixels on each side."
                    )
                img.seek(0)  # first frame of GIF/WebP animations
                need = _needed_side(target, min(width, height))
                if need and img.format == "JPEG":
                    img.draft(img.mode, (need, need))  # DCT scaling: 1/2, 1/4 or 1/8 of the pixels
                img.load()
                fmt = img.format or "unknown"
                turn = _orientation(img)
                factor = min(img.size) // need if need else 1
                rgb = to_rgb(img, factor)
        except ImageError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageTooLarge(f"{name} has too many pixels to decode safely: {exc}") from None
        except UnidentifiedImageError:
            raise _unidentified(data, name) from None
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise TruncatedImage(f"{name} is truncated or corrupt and cannot be decoded ({exc}).") from None
    if turn is not None:
        rgb = rgb.transpose(turn)
        if turn in (Image.Transpose.TRANSPOSE, Image.Transpose.ROTATE_270, Image.Transpose.TRANSVERSE,
                    Image.Transpose.ROTATE_90):
            width, height = height, width
    return Decoded(image=rgb, width=width, height=height, format=fmt)


def load_image(
    source: ImageSource,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    min_size: int = DEFAULT_MIN_SIZE,
    target: int | None = None,
) -> Image.Image:
    """Decode `source` (bytes, path or binary file) to an upright RGB image, or raise ImageError.

    `target` is the shortest side the caller needs (see `decode_image`); None decodes every pixel.
    """
    return decode_image(source, max_pixels=max_pixels, min_size=min_size, target=target).image


def center_square(img: Image.Image, size: int) -> Image.Image:
    """Resize the shorter side to `size` and cut the centre square: what evaluation sees."""
    w, h = img.size
    scale = size / min(w, h)
    scaled_w, scaled_h = max(size, round(w * scale)), max(size, round(h * scale))
    left, top = (scaled_w - size) // 2, (scaled_h - size) // 2
    # Resample only the square that is kept: the same pixels as resizing the whole picture and then
    # cropping (at most 1 in 255 apart, from rounding), for three quarters of the work on a 4:3 photo.
    sx, sy = w / scaled_w, h / scaled_h
    box = (left * sx, top * sy, (left + size) * sx, (top + size) * sy)
    return img.resize((size, size), Image.Resampling.BILINEAR, box=box)


def is_image_name(path: str | os.PathLike) -> bool:
    """True when the file name ends like a picture we can decode."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS

