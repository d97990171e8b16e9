"""`python -m desktop [IMAGE] [--model FILE] [--lang zh|en]`: the offline desktop client."""

from __future__ import annotations

import argparse
import sys

from .i18n import LANGUAGES


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options of the desktop client."""
    parser = argparse.ArgumentParser(prog="python -m desktop", description="Recognise animals in photos, offline.")
    parser.add_argument("image", nargs="?", help="a picture to open at start")
    parser.add_argument("--model", help="model file: .pt (its .onnx export beside it is used when present) or .onnx with its .json")
    parser.add_argument("--lang", choices=LANGUAGES, help="UI language (default: the one chosen last, else the system's)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Open the main window and run until it is closed."""
    args = parse_args(argv)
    from PyQt5.QtCore import QTimer  # noqa: PLC0415 - keep `--help` fast and Qt-free
    from PyQt5.QtWidgets import QApplication  # noqa: PLC0415

    from .app import build  # noqa: PLC0415

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Animal recogniser")
    window, controller = build(lang=args.lang)
    window.show()
    QTimer.singleShot(0, lambda: controller.start(args.model, args.image))
    return app.exec_()


if __name__ == "__main__":
    sys.exit(main())
