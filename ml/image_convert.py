"""Shrink and convert a decoded picture to 8-bit RGB within a small memory budget.

`ml.images` decodes; this module turns whatever Pillow decoded (16-bit greyscale, float, palette,
alpha, CMYK) into RGB, reduced by an integer factor on the way when the caller needs fewer pixels.
Odd modes are converted in horizontal strips, so the only full-size buffer is the decoded picture
itself: no float64 copies, no second full-size RGBA image for compositing.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

#: Modes Pillow keeps more than 8 bits per channel in (greyscale only; colour 16-bit is reduced on decode).
WIDE_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I", "F"})
#: Modes that can carry transparency without a "transparency" entry in `info`.
ALPHA_MODES = frozenset({"RGBA", "LA", "La", "RGBa", "PA"})
#: Rows converted at a time on the strip path (a 10,000-pixel-wide RGBA strip is about 2.5 MB).
STRIP_ROWS = 64

WHITE = (255, 255, 255)


def has_alpha(img: Image.Image) -> bool:
    """Whether `img` has transparent areas (alpha channel or a transparent palette/colour entry)."""
    return img.mode in ALPHA_MODES or (img.mode in ("P", "L", "RGB") and "transparency" in img.info)


def wide_scale(img: Image.Image) -> float:
    """Factor that maps `img`'s values (16-bit, int32 or float) onto 0..255, from its extrema (no copy)."""
    low, high = img.getextrema()
    peak = float(high or 0)
    if img.mode == "F" and 0 < peak <= 1.0:
        return 255.0  # float pictures in 0..1
    return 255.0 / 65535.0 if peak > 255 else 1.0


def to_rgb(img: Image.Image, factor: int = 1) -> Image.Image:
    """`img` as 8-bit RGB, shrunk by the integer `factor` (box filter); transparent areas become white."""
    factor = max(1, int(factor))
    if img.mode in ("RGB", "L", "CMYK") and not has_alpha(img):
        # The common case (JPEG): Pillow reduces these modes in C, then one conversion of the small picture.
        small = img.reduce(factor) if factor > 1 else img
        return small if small.mode == "RGB" else small.convert("RGB")
    return _strips_to_rgb(img, factor)


def _strips_to_rgb(img: Image.Image, factor: int) -> Image.Image:
    width, height = img.size
    out = Image.new("RGB", (-(-width // factor), -(-height // factor)), WHITE)
    rows = factor * -(-STRIP_ROWS // factor)  # a multiple of factor, so strips reduce without seams
    convert = _wide_strip if img.mode in WIDE_MODES else _alpha_strip if has_alpha(img) else _plain_strip
    scale = wide_scale(img) if img.mode in WIDE_MODES else 1.0
    for top in range(0, height, rows):
        strip = convert(img.crop((0, top, width, min(height, top + rows))), scale)
        if factor > 1:
            strip = strip.reduce(factor)
        out.paste(strip, (0, top // factor))
    return out


def _wide_strip(strip: Image.Image, scale: float) -> Image.Image:
    """16-bit / int32 / float greyscale rows → 8-bit greyscale, computed in float32 on these rows only."""
    values = np.asarray(strip, dtype=np.float32)
    grey = np.clip(values * np.float32(scale), 0, 255).astype(np.uint8)
    return Image.fromarray(grey, mode="L")  # pasting into the RGB output makes it RGB


def _alpha_strip(strip: Image.Image, _scale: float) -> Image.Image:
    """Rows with transparency composited onto white."""
    rgba = strip.convert("RGBA")
    flat = Image.new("RGB", rgba.size, WHITE)
    flat.paste(rgba, mask=rgba.getchannel("A"))
    return flat


def _plain_strip(strip: Image.Image, _scale: float) -> Image.Image:
    """Palette, bilevel and other modes without transparency."""
    return strip.convert("RGB")
