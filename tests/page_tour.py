"""A walk through every page issue 13 added, in a real browser tab: shared by the phone-width test
(tests/test_browser_pages_tour.py) and the docs screenshots (bench/screenshots.py).

`stage(app, ...)` fills an app with what the pages need, from generated pictures only (tests/imagegen.py):
a dataset of two classes (split, with suspects), a build, models; `tour(page, base, lang, out)` visits
each page in one language, checks it (no sideways scrolling, the language asked for) and saves a
full-page screenshot per page as `<out>/<lang>-<name>.png`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tests.browser_support import OVERFLOW
from tests.imagegen import encode, make_dataset, shapes

#: The dataset the pages show: two classes of generated pictures.
DATASET = "pets"
CLASSES = {"cat": 9, "dog": 7}


@dataclass
class Staged:
    """Ids of what `stage` made: the model to show (and activate), the one to compare it with, the build."""

    model_id: int
    other_id: int | None
    build_id: int
    dataset: str = DATASET
    extra: dict = field(default_factory=dict)


def make_pictures(app) -> Path:
    """The dataset of generated pictures, split (test 30%)."""
    from ml.dataset import split

    root = make_dataset(Path(app.config["DATA_DIR"]) / DATASET, CLASSES, coloured=True)
    split(root, test=0.3, seed=0)
    return root


def start_build(app, dataset: str = "birds") -> int:
    """A build of a new classifier, just started (its crawls queued): what the timeline shows first."""
    from webapp import builds
    from webapp.models import User

    with app.app_context():
        from webapp.extensions import db

        admin = db.session.execute(db.select(User)).scalars().first()
        request = {"dataset": dataset, "per_class": 30,
                   "classes": [{"name": "鸭", "keywords": ["鸭子", "duck"], "display": {"en": "duck"}},
                               {"name": "鹅", "keywords": ["鹅"], "display": {"en": "goose"}}]}
        return builds.create_build(request, admin).id


def pages(staged: Staged) -> list[tuple[str, str]]:
    """(name, path) of every admin page of issue 13, in the order a person meets them."""
    m, ds = staged.model_id, staged.dataset
    out = [("builder", "/admin/build"), ("timeline", f"/admin/builds/{staged.build_id}"),
           ("review", f"/datasets/{ds}/review?next=/admin/builds/{staged.build_id}/continue"),
           ("dataset", f"/datasets/{ds}/"), ("class-grid", f"/datasets/{ds}/classes/cat/"),
           ("model", f"/admin/models/{m}"), ("models", "/admin/models")]
    if staged.other_id is not None:
        out.append(("compare", f"/admin/models/compare?a={staged.other_id}&b={m}"))
    out.append(("corrections", "/admin/corrections"))
    return out


def loaded(page) -> None:
    """Wait for every picture of the page, those below the fold too (lazy ones are asked for now)."""
    page.evaluate("document.querySelectorAll('img[loading=lazy]').forEach((i) => { i.loading = 'eager'; })")
    page.wait_for_function("() => [...document.images].every(i => i.complete)")


def check_page(page, lang: str, *, keyboard: bool = True) -> None:
    """The page is in `lang`, nothing sticks out sideways, and (on a page just loaded) the keyboard gets into its content."""
    loaded(page)
    assert page.evaluate("document.documentElement.lang").startswith(lang), page.url
    width, inner, sticking_out = page.evaluate(OVERFLOW)
    assert width <= inner and sticking_out == [], (page.url, width, inner, sticking_out)
    if not keyboard:
        return
    # Keyboard only: the skip link comes first and takes the focus into <main>.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.classList.contains('skip')"), page.url
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert page.evaluate("!!document.activeElement.closest('main')"), page.url


def shoot(page, out: Path | None, name: str) -> Path | None:
    """A full-page screenshot `<out>/<name>.png` (nothing when `out` is None)."""
    if out is None:
        return None
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.png"
    loaded(page)
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.screenshot(path=str(path), full_page=True)
    return path


def public_result(page, base: str, lang: str, *, seed: int = 5, explain: bool = True) -> None:
    """The public page answering an upload of a generated picture, with the Grad-CAM heat map shown."""
    page.goto(f"{base}/?lang={lang}")
    with page.expect_file_chooser() as chooser:
        page.click("label[for=file]")
    chooser.value.set_files(files=[{"name": "pet.jpg", "mimeType": "image/jpeg",
                                    "buffer": encode(shapes(seed, size=(320, 240), colour=(200, 120, 60)))}])
    page.wait_for_selector("#result:not([hidden])")
    if explain:
        page.focus("#explain-toggle")
        page.keyboard.press("Enter")
        page.wait_for_selector("#heatmap:not([hidden])", timeout=60_000)
        page.wait_for_function("() => { const i = document.getElementById('heatmap'); return i.complete && i.naturalWidth > 0; }")


def send_correction(page) -> str:
    """On a public result: "Wrong? Tell us", the first class offered, Send; the class chosen."""
    page.click("#correction summary")
    chosen = page.eval_on_selector("#correction-label", "s => s.value")
    page.click("#correction-send")
    page.wait_for_function("() => document.getElementById('correction-send').disabled")
    return chosen


def tour(page, base: str, lang: str, staged: Staged, out: Path | None = None, *, check: bool = True) -> list[Path]:
    """Visit the public result (heat map on) and every admin page in `lang`; check each; screenshots when `out`."""
    shots = []
    public_result(page, base, lang)
    if check:
        check_page(page, lang, keyboard=False)  # the heat map was asked for by keyboard (Enter on its toggle)
    shots.append(shoot(page, out, f"{lang}-result-heatmap"))
    for name, path in pages(staged):
        page.goto(base + path + ("&" if "?" in path else "?") + f"lang={lang}")
        if check:
            check_page(page, lang)
        shots.append(shoot(page, out, f"{lang}-{name}"))
    return [s for s in shots if s is not None]
