"""Pictures made by the tests themselves: shapes, noise, odd modes, and broken files."""

from __future__ import annotations

import io
import random
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

#: Distinct base colours, one per synthetic class, far apart so a tiny model can learn them.
CLASS_COLOURS = [(220, 40, 40), (40, 180, 60), (40, 70, 220), (230, 200, 30), (160, 50, 200), (30, 200, 200)]


def shapes(seed: int, size: tuple[int, int] = (96, 72), colour: tuple[int, int, int] | None = None) -> Image.Image:
    """A picture of random shapes over noise; different seeds give perceptually different pictures."""
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    w, h = size
    base = colour or (rng.randrange(256), rng.randrange(256), rng.randrange(256))
    arr = np.clip(nrng.normal(0, 18, (h, w, 3)) + np.array(base), 0, 255).astype(np.uint8)
    img = Image.fromarray(arr, "RGB")
    draw = ImageDraw.Draw(img)
    for _ in range(rng.randint(3, 6)):
        x0, y0 = rng.randrange(w), rng.randrange(h)
        x1, y1 = x0 + rng.randint(w // 6, w // 2), y0 + rng.randint(h // 6, h // 2)
        fill = tuple(rng.randrange(256) for _ in range(3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x0, y0, x1, y1), fill=fill)
    return img


def tinted(seed: int, colour: tuple[int, int, int], size: tuple[int, int] = (80, 64)) -> Image.Image:
    """Mostly one colour (with grain) and one small random ellipse: pictures whose class is their colour."""
    rng = np.random.default_rng(seed)
    w, h = size
    img = Image.fromarray(np.clip(rng.normal(0, 25, (h, w, 3)) + np.array(colour), 0, 255).astype(np.uint8), "RGB")
    x, y = int(rng.integers(0, w // 2)), int(rng.integers(0, h // 2))
    ImageDraw.Draw(img).ellipse((x, y, x + w // 4, y + h // 4), fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
    return img


def encode(img: Image.Image, fmt: str = "JPEG", **params) -> bytes:
    """Encode `img` in memory."""
    buf = io.BytesIO()
    if fmt == "JPEG" and img.mode not in ("RGB", "L", "CMYK"):
        img = img.convert("RGB")
    img.save(buf, fmt, **params)
    return buf.getvalue()


def jpeg_with_orientation(img: Image.Image, orientation: int) -> bytes:
    """A JPEG whose pixels are stored as-is but whose EXIF says how to rotate them."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(img, "JPEG", quality=95, exif=exif.tobytes())


def rgba_png(size=(64, 64)) -> bytes:
    """Left half opaque red, right half fully transparent."""
    img = Image.new("RGBA", size, (255, 0, 0, 255))
    ImageDraw.Draw(img).rectangle((size[0] // 2, 0, size[0], size[1]), fill=(0, 0, 255, 0))
    return encode(img, "PNG")


def cmyk_jpeg(size=(64, 64)) -> bytes:
    return encode(Image.new("CMYK", size, (0, 255, 255, 0)), "JPEG")  # pure red in CMYK


def i16_png(size=(64, 64), value: int = 65535) -> bytes:
    return encode(Image.fromarray(np.full((size[1], size[0]), value, dtype=np.uint16)), "PNG")


def truncated_jpeg(seed: int = 1) -> bytes:
    data = encode(shapes(seed, (200, 150)), "JPEG", quality=90)
    return data[: len(data) // 2]


def html_page() -> bytes:
    return b"<!DOCTYPE html>\n<html><head><title>Not found</title></head><body>gone</body></html>\n"


def bomb_png(side: int = 10_000) -> bytes:
    """A tiny file that claims side×side pixels (100 megapixels by default)."""
    return encode(Image.new("1", (side, side)), "PNG", optimize=True)


def near_duplicate(data: bytes) -> bytes:
    """The same picture re-encoded smaller and at lower quality: a different file, the same photo."""
    img = Image.open(io.BytesIO(data)).convert("RGB")
    img = img.resize((img.width * 3 // 4, img.height * 3 // 4), Image.Resampling.BILINEAR)
    return encode(img, "JPEG", quality=60)


def make_dataset(root: Path, counts: dict[str, int], *, size=(96, 72), coloured: bool = False, seed: int = 0) -> Path:
    """Write `counts[class]` distinct JPEGs per class folder; `coloured` tints each class for learning."""
    root.mkdir(parents=True, exist_ok=True)
    for ci, (cls, n) in enumerate(counts.items()):
        folder = root / cls
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            colour = CLASS_COLOURS[ci % len(CLASS_COLOURS)] if coloured else None
            img = shapes(seed * 100_000 + ci * 1000 + i, size, colour)
            (folder / f"{i:04d}.jpg").write_bytes(encode(img, "JPEG", quality=90))
    return root


def phone_photo(seed: int = 0, size: tuple[int, int] = (4032, 3024), quality: int = 92, orientation: int = 1,
                noise: int = 0) -> bytes:
    """A JPEG like a phone camera's: smooth shapes upscaled to `size` (phones denoise; `noise` adds ±noise grain)."""
    from PIL import ImageFilter

    w, h = size
    small = shapes(seed, (max(8, w // 8), max(8, h // 8))).filter(ImageFilter.GaussianBlur(1))
    arr = np.asarray(small.resize(size, Image.Resampling.BICUBIC), dtype=np.int16)
    if noise:
        arr = arr + np.random.default_rng(seed).integers(-noise, noise + 1, arr.shape, dtype=np.int16)
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(img, "JPEG", quality=quality, exif=exif.tobytes())


def png_bomb(width: int, height: int, *, bit_depth: int = 16, colour_type: int = 0) -> bytes:
    """A valid, flat PNG of width×height written row by row (tiny file, no big image in memory).

    colour_type 0 is greyscale (16-bit: Pillow's I;16), 6 is RGBA; the pixels are all zero.
    """
    import struct
    import zlib

    channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour_type]
    row = b"\x00" + bytes(width * channels * bit_depth // 8)  # filter byte 0, then the pixels

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small JPEG whose header says width×height (a 100-megapixel claim costs a few bytes)."""
    import struct

    data = bytearray(encode(shapes(1, (64, 48)), "JPEG", quality=80))
    i = 2
    while i < len(data):
        marker, length = data[i + 1], struct.unpack(">H", data[i + 2 : i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):  # start of frame: precision, height, width
            data[i + 5 : i + 9] = struct.pack(">HH", height, width)
            return bytes(data)
        i += 2 + length
    raise AssertionError("no SOF marker")


def refused_format(kind: str, size: tuple[int, int] = (64, 48)) -> bytes:
    """A real file in a format Pillow can read but the loader refuses: "EPS", "PSD" or "TGA"."""
    import struct

    img = shapes(5, size)
    if kind == "PSD":  # Pillow reads PSD but cannot write it: a minimal uncompressed RGB document
        w, h = size
        return (b"8BPS" + struct.pack(">H", 1) + bytes(6) + struct.pack(">HIIHH", 3, h, w, 8, 3)
                + struct.pack(">III", 0, 0, 0) + struct.pack(">H", 0) + b"".join(ch.tobytes() for ch in img.split()))
    return encode(img, kind)
