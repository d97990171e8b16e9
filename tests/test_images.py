"""ml.images: every format decodes to upright RGB; every bad input gets its own typed error."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from ml import images
from ml.images import (
    EmptyImage,
    ImageError,
    ImageTooLarge,
    ImageTooSmall,
    NotAnImage,
    TruncatedImage,
    load_image,
)
from tests import imagegen


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "BMP", "GIF", "TIFF"])
def test_common_formats_decode_to_rgb(fmt):
    data = imagegen.encode(imagegen.shapes(3, (80, 60)), fmt)
    img = load_image(data)
    assert img.mode == "RGB"
    assert img.size == (80, 60)


def test_gif_animation_gives_first_frame():
    frames = [Image.new("RGB", (40, 40), c) for c in [(255, 0, 0), (0, 0, 255)]]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100)
    r, g, b = load_image(buf.getvalue()).getpixel((20, 20))
    assert r > 200 and b < 50


def test_path_and_file_object_inputs(tmp_path):
    data = imagegen.encode(imagegen.shapes(4), "PNG")
    path = tmp_path / "猫.png"
    path.write_bytes(data)
    assert load_image(path).size == load_image(str(path)).size == load_image(io.BytesIO(data)).size


@pytest.mark.parametrize("orientation, expected_size", [(1, (80, 40)), (3, (80, 40)), (6, (40, 80)), (8, (40, 80))])
def test_exif_orientation_is_applied(orientation, expected_size):
    # Left half red, right half blue; rotating moves the red half to a known side.
    img = Image.new("RGB", (80, 40), (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, 40, 40))
    out = load_image(imagegen.jpeg_with_orientation(img, orientation))
    assert out.size == expected_size
    arr = np.asarray(out).astype(int)
    red_mask = (arr[..., 0] > 150) & (arr[..., 2] < 100)
    if orientation == 1:
        assert red_mask[:, :40].mean() > 0.9
    elif orientation == 3:  # rotated 180°: red now on the right
        assert red_mask[:, 40:].mean() > 0.9
    elif orientation == 6:  # rotate 90° clockwise: left half becomes the top
        assert red_mask[:40, :].mean() > 0.9
    elif orientation == 8:  # rotate 90° anticlockwise: left half becomes the bottom
        assert red_mask[40:, :].mean() > 0.9


def test_rgba_transparency_is_composited_on_white():
    out = load_image(imagegen.rgba_png())
    assert out.mode == "RGB"
    assert out.getpixel((5, 5)) == (255, 0, 0)
    assert out.getpixel((60, 5)) == (255, 255, 255)


def test_palette_with_transparency_and_la_modes():
    p = Image.new("P", (40, 40), 0)
    p.putpalette([0, 255, 0] + [0, 0, 0] * 255)
    p.info["transparency"] = 0
    assert load_image(imagegen.encode(p, "PNG")).getpixel((1, 1)) == (255, 255, 255)
    la = Image.new("LA", (40, 40), (0, 255))
    assert load_image(imagegen.encode(la, "PNG")).getpixel((1, 1)) == (0, 0, 0)


def test_greyscale_and_cmyk_convert_to_rgb():
    grey = load_image(imagegen.encode(Image.new("L", (40, 40), 128), "PNG"))
    assert grey.getpixel((1, 1)) == (128, 128, 128)
    r, g, b = load_image(imagegen.cmyk_jpeg()).getpixel((10, 10))
    assert r > 200 and g < 60 and b < 60


def test_sixteen_bit_greyscale_is_scaled_not_clipped():
    white = load_image(imagegen.i16_png(value=65535)).getpixel((1, 1))
    mid = load_image(imagegen.i16_png(value=32768)).getpixel((1, 1))
    assert white == (255, 255, 255)
    assert 120 <= mid[0] <= 135


def test_zero_bytes_is_empty(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"")
    with pytest.raises(EmptyImage, match="empty"):
        load_image(tmp_path / "a.jpg")


def test_html_page_named_jpg_is_not_an_image(tmp_path):
    path = tmp_path / "photo.jpg"
    path.write_bytes(imagegen.html_page())
    with pytest.raises(NotAnImage, match="HTML page") as info:
        load_image(path)
    assert info.value.code == "not_image"


def test_random_bytes_are_not_an_image():
    with pytest.raises(NotAnImage, match="not recognised"):
        load_image(b"\x00\x01binary junk" * 20)


def test_truncated_jpeg_is_refused():
    with pytest.raises(TruncatedImage, match="truncated"):
        load_image(imagegen.truncated_jpeg())


def test_decompression_bomb_is_refused_without_decoding():
    with pytest.raises(ImageTooLarge, match="decompression bomb"):
        load_image(imagegen.bomb_png(10_000))


def test_pixel_limit_is_configurable():
    data = imagegen.encode(imagegen.shapes(1, (200, 200)), "PNG")
    with pytest.raises(ImageTooLarge):
        load_image(data, max_pixels=100 * 100)
    assert load_image(data, max_pixels=200 * 200).size == (200, 200)


def test_pillow_bomb_warning_becomes_an_error():
    # Above Pillow's own limit but below ours: Pillow only warns; we still refuse.
    side = int((images.Image.MAX_IMAGE_PIXELS * 1.2) ** 0.5)
    with pytest.raises(ImageTooLarge):
        load_image(imagegen.bomb_png(side), max_pixels=side * side * 4)


def test_tiny_image_is_refused_and_minimum_is_configurable():
    one = imagegen.encode(Image.new("RGB", (1, 1)), "PNG")
    with pytest.raises(ImageTooSmall, match="1×1"):
        load_image(one)
    assert load_image(one, min_size=1).size == (1, 1)


def test_missing_file_and_folder_give_image_errors(tmp_path):
    with pytest.raises(ImageError) as info:
        load_image(tmp_path / "nope.jpg")
    assert info.value.code == "not_found"
    with pytest.raises(NotAnImage):
        load_image(tmp_path)


def test_every_error_is_an_ml_error_with_a_code():
    from ml.errors import MLError

    for exc in (EmptyImage, NotAnImage, TruncatedImage, ImageTooLarge, ImageTooSmall):
        assert issubclass(exc, MLError)
        assert exc("x").code != "image_invalid"


def test_center_square_is_what_evaluation_sees():
    from ml.images import center_square

    img = Image.new("RGB", (300, 200), (0, 0, 255))
    img.paste((255, 0, 0), (100, 0, 200, 200))  # the middle third is red
    out = center_square(img, 64)
    assert out.size == (64, 64)
    assert out.getpixel((32, 32)) == (255, 0, 0)



@pytest.mark.parametrize("size", [(640, 480), (480, 640), (333, 333), (1000, 261), (261, 999)])
def test_center_square_resamples_only_the_kept_square_with_the_same_pixels(size):
    """Cutting the square out while resizing gives what resizing the whole picture and then cropping gives."""
    import numpy as np

    from ml.images import center_square
    from tests.imagegen import shapes

    img = shapes(3, size=size).convert("RGB")
    w, h = img.size
    scale = 260 / min(w, h)
    whole = img.resize((max(260, round(w * scale)), max(260, round(h * scale))), Image.Resampling.BILINEAR)
    left, top = (whole.width - 260) // 2, (whole.height - 260) // 2
    expected = np.asarray(whole.crop((left, top, left + 260, top + 260)), dtype=np.int16)
    got = np.asarray(center_square(img, 260), dtype=np.int16)
    assert got.shape == expected.shape == (260, 260, 3)
    assert np.abs(got - expected).max() <= 1
    assert np.abs(got - expected).mean() < 0.01

def test_prediction_path_does_not_import_dataset_tools():
    """ml.predict (used by the torch-free desktop) must not pull in imagehash/scipy via ml.dataset."""
    import subprocess
    import sys

    code = "import sys, ml.predict; print(sorted(m for m in ('imagehash', 'scipy', 'torch') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
