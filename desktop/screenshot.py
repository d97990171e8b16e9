"""`python -m desktop.screenshot OUT.png --model M --image I`: a picture of the window with a real result.

Used for the README (docs/img/desktop.png) and by the tests. Runs offscreen unless a display is
chosen, with settings in a temporary file, so the person's own settings are never touched.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
from pathlib import Path

from .i18n import LANGUAGES, percent


class ScreenshotError(RuntimeError):
    """The window did not reach a result (bad model or image, or it took too long)."""


def save_png(qimage, out: Path, colours: int = 0) -> None:
    """Write a QImage as PNG; with `colours` (2-256) as a palette PNG, a third of the size for docs."""
    from PIL import Image  # noqa: PLC0415
    from PyQt5.QtCore import QBuffer, QIODevice  # noqa: PLC0415

    buffer = QBuffer()
    buffer.open(QIODevice.WriteOnly)
    if not qimage.save(buffer, "PNG"):
        raise ScreenshotError("could not encode the window as PNG")
    img = Image.open(io.BytesIO(bytes(buffer.data()))).convert("RGB")
    if colours:
        img = img.quantize(colours, method=Image.Quantize.MEDIANCUT)
    try:
        img.save(out, "PNG", optimize=True)
    except OSError as exc:
        raise ScreenshotError(f"could not write {out}: {exc}") from None


def take_screenshot(out: str | Path, model: str | Path, image: str | Path, *, lang: str = "en",
                    size: tuple[int, int] = (960, 600), colours: int = 0, timeout_s: float = 120.0):
    """Open the window on `model` and `image`, wait for the result, save the window as `out`; returns the result."""
    from PyQt5.QtCore import QEventLoop, QTimer  # noqa: PLC0415
    from PyQt5.QtWidgets import QApplication  # noqa: PLC0415

    from .app import build  # noqa: PLC0415
    from .settings import Settings  # noqa: PLC0415

    app = QApplication.instance() or QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.at(Path(tmp) / "settings.ini")
        settings.auto_recognise = True
        window, controller = build(settings, lang)
        window.confirm_exit = lambda: True
        errors: list[str] = []
        controller.error.connect(lambda title, message: errors.append(f"{title}: {message}"))
        window.resize(*size)
        window.show()
        loop = QEventLoop()
        controller.result_ready.connect(loop.quit)
        controller.error.connect(lambda *_: loop.quit())
        QTimer.singleShot(int(timeout_s * 1000), loop.quit)
        controller.start(str(model), str(image))
        loop.exec_()
        result = controller.result
        try:
            if result is None:
                raise ScreenshotError("; ".join(errors) or f"no result within {timeout_s:.0f} s")
            app.processEvents()
            out = Path(out)
            out.parent.mkdir(parents=True, exist_ok=True)
            save_png(window.grab().toImage(), out, colours)
        finally:
            window.close()
            window.deleteLater()
        return result


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: save the screenshot and print the result shown in it."""
    parser = argparse.ArgumentParser(prog="python -m desktop.screenshot", description=__doc__.splitlines()[0])
    parser.add_argument("out", help="PNG file to write")
    parser.add_argument("--model", required=True, help="model file (.pt; the .onnx beside it is used when present)")
    parser.add_argument("--image", required=True, help="picture to recognise")
    parser.add_argument("--lang", choices=LANGUAGES, default="en")
    parser.add_argument("--width", type=int, default=960)
    parser.add_argument("--height", type=int, default=600)
    parser.add_argument("--colours", type=int, default=256, help="palette size for a small PNG; 0 keeps full colour")
    args = parser.parse_args(argv)
    # An offscreen grab gives the same pixels as a real display, and works on a server.
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    try:
        result = take_screenshot(args.out, args.model, args.image, lang=args.lang, size=(args.width, args.height), colours=args.colours)
    except ScreenshotError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    top = ", ".join(f"{shown} {percent(p)}" for shown, _name, p in result.rows)
    print(f"{args.out}: {top} ({result.elapsed_ms:.0f} ms, {result.model})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
