"""Dataset pages: list, per-class counts, thumbnail grid, image detail, admin edit actions."""

from __future__ import annotations

import math
import mimetypes
import os
from datetime import UTC, datetime
from pathlib import Path

from flask import abort, current_app, flash, redirect, render_template, request, send_file, url_for

from ml.dataset import list_class_files, list_classes, read_metadata
from ml.errors import DatasetError
from ml.images import IMAGE_EXTENSIONS

from ..auth import admin_required
from ..i18n import N_, _
from . import bp
from .edit import EditError, move_image, rename_class, trash_image
from .grid import FILTER_LABELS, FLAG_LABELS, PART_LABELS, grid_facts, offered_filters, page_sizes
from .paths import UnsafePath, class_dir, dataset_root, image_file
from .thumbs import DEFAULT_THUMB_SIZE, thumbnail

DEFAULT_PAGE_SIZE = 48
#: Thumbnails on each class card of the dataset page.
CARD_SAMPLES = 4


# ---------------------------------------------------------------- helpers

def is_admin() -> bool:
    """True when a logged-in user may edit datasets (every account is an admin account)."""
    if not hasattr(current_app, "login_manager"):
        return False
    from flask_login import current_user

    return bool(current_user.is_authenticated and getattr(current_user, "is_admin", True))


@bp.app_template_global("datasets_is_admin")
def _datasets_is_admin() -> bool:
    return is_admin()


def data_dir() -> Path:
    return Path(current_app.config["DATA_DIR"])


def thumb_dir() -> Path:
    configured = current_app.config.get("THUMB_DIR")
    return Path(configured) if configured else Path(current_app.instance_path) / "thumbs"


def open_dataset(name: str) -> Path:
    """The dataset folder for a URL name, or 404."""
    try:
        return dataset_root(data_dir(), name)
    except DatasetError as exc:
        abort(404, description=exc.message)


def page_number(pages: int) -> int:
    try:
        page = int(request.args.get("page", 1))
    except ValueError:
        page = 1
    return min(max(page, 1), max(pages, 1))


def summarise(root: Path) -> dict:
    """Class counts, split state and staleness for one dataset folder."""
    classes = list_classes(root)
    counts = {cls: len(list_class_files(root, cls)) for cls in classes}
    meta = read_metadata(root)
    split = meta.get("split") or {}
    edited = meta.get("edited") or {}
    return {
        "name": root.name,
        "classes": classes,
        "counts": counts,
        "total": sum(counts.values()),
        "split": split,
        "stale": _edited_after(edited.get("time"), split.get("time")),
    }


def _edited_after(edited: str | None, split_time: str | None) -> bool:
    """True when the folders were edited at or after the split (same second counts: edits are rarer)."""
    if not edited or not split_time:
        return False
    try:
        return datetime.fromisoformat(edited) >= datetime.fromisoformat(split_time)
    except ValueError:
        return True


def list_datasets() -> list[dict]:
    """Every visible dataset folder directly under DATA_DIR, summarised."""
    base = data_dir()
    if not base.is_dir():
        return []
    out = []
    for entry in sorted(base.iterdir(), key=lambda p: p.name):
        try:
            out.append(summarise(dataset_root(base, entry.name)))
        except DatasetError:
            continue  # hidden, a plain file, or a symlink leading elsewhere
    return out


# ---------------------------------------------------------------- pages

@bp.get("/")
def index():
    """All datasets with their class and image counts."""
    return render_template("datasets/index.html", datasets=list_datasets())


@bp.get("/<name>/")
def dataset(name: str):
    """One dataset: a card per class with a few thumbnails, its counts and split state."""
    root = open_dataset(name)
    ds = summarise(root)
    facts = grid_facts(root, None)
    cards = []
    for cls in ds["classes"]:
        files = list_class_files(root, cls)
        cards.append({
            "name": cls, "count": len(files), "samples": files[:CARD_SAMPLES],
            "parts": {part: n for part, n in facts.counts(files, ("train", "val", "test")).items() if n},
            "flagged": facts.counts(files, ("flagged",))["flagged"],
        })
    return render_template("datasets/dataset.html", ds=ds, cards=cards, part_labels=PART_LABELS)


def _mistakes_model(admin: bool):
    """(model row, chosen) whose mistakes an administrator's grid shows: `?model=<id>`, else the active one."""
    if not admin:
        return None, False
    from ..extensions import db
    from ..models import ModelVersion
    from ..registry import active_model

    model_id = request.args.get("model", type=int)
    row = db.session.get(ModelVersion, model_id) if model_id else None
    return (row, True) if row is not None else (active_model(), False)


def _choice(arg: str, allowed, default):
    value = request.args.get(arg, "")
    if isinstance(default, int):
        try:
            value = int(value)
        except ValueError:
            return default
    return value if value in allowed else default


@bp.get("/<name>/classes/<cls>/")
def class_images(name: str, cls: str):
    """Thumbnail grid of one class, a page at a time, filtered by split part, scan flags or mistakes."""
    root = open_dataset(name)
    try:
        class_dir(root, cls)
    except DatasetError as exc:
        abort(404, description=exc.message)
    admin = is_admin()
    model, chosen = _mistakes_model(admin)
    facts = grid_facts(root, model.path if model is not None else None)
    offered = offered_filters(facts, admin)
    show = _choice("show", offered, "all")
    seen = request.args.get("seen", "") if show == "misclassified" else ""
    default_size = int(current_app.config.get("DATASET_PAGE_SIZE", DEFAULT_PAGE_SIZE))
    sizes = page_sizes(default_size)
    per_page = _choice("per", sizes, default_size)
    every = list_class_files(root, cls)
    files = [rel for rel in every if facts.matches(rel, show) and (not seen or facts.wrong[rel].get("predicted") == seen)]
    pages = max(1, math.ceil(len(files) / per_page))
    page = page_number(pages)
    shown = files[(page - 1) * per_page : page * per_page]
    query = {k: v for k, v in (("show", show), ("seen", seen), ("model", model.id if chosen else None),
                               ("per", per_page)) if v not in ("all", "", None, default_size)}
    return render_template(
        "datasets/class.html",
        name=name,
        cls=cls,
        files=shown,
        total=len(every),
        matching=len(files),
        page=page,
        pages=pages,
        classes=list_classes(root),
        facts=facts,
        show=show,
        filters=[(f, FILTER_LABELS[f], n) for f, n in facts.counts(every, offered).items()],
        per_page=per_page,
        sizes=sizes,
        query=query,
        flag_labels=FLAG_LABELS,
        part_labels=PART_LABELS,
        seen=seen,
        mistakes_of=model if chosen else None,
    )


def _image_or_404(name: str, relpath: str) -> tuple[Path, Path, str]:
    """(dataset root, image path, class) for a URL, or 404 when it names nothing inside the dataset."""
    root = open_dataset(name)
    try:
        path, cls = image_file(root, relpath)
    except DatasetError as exc:
        abort(404, description=exc.message)
    return root, path, cls


@bp.get("/<name>/images/<path:relpath>")
def image(name: str, relpath: str):
    """One image: the picture, its facts, neighbours in its class, and admin actions."""
    root, path, cls = _image_or_404(name, relpath)
    siblings = list_class_files(root, cls)
    index_in_class = siblings.index(relpath) if relpath in siblings else -1
    st = path.stat()
    admin = is_admin()
    model, _chosen = _mistakes_model(admin)
    grid = grid_facts(root, model.path if model is not None else None)
    facts = {
        "bytes": st.st_size,
        "modified": datetime.fromtimestamp(st.st_mtime, UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "size": _pixel_size(path),
        "part": grid.parts.get(relpath),
        "flags": grid.flags.get(relpath, []),
        "wrong": grid.wrong.get(relpath) if admin else None,
        "model": model.name if model is not None else None,
    }
    return render_template(
        "datasets/image.html",
        name=name,
        cls=cls,
        relpath=relpath,
        facts=facts,
        previous=siblings[index_in_class - 1] if index_in_class > 0 else None,
        following=siblings[index_in_class + 1] if 0 <= index_in_class < len(siblings) - 1 else None,
        position=index_in_class + 1,
        count=len(siblings),
        classes=[c for c in list_classes(root) if c != cls],
        flag_labels=FLAG_LABELS,
        part_labels=PART_LABELS,
    )


def _pixel_size(path: Path) -> str | None:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            return f"{img.width} × {img.height}"
    except (UnidentifiedImageError, OSError, ValueError):
        return None


@bp.get("/<name>/thumbs/<path:relpath>")
def thumb(name: str, relpath: str):
    """A cached JPEG thumbnail, or a 'broken picture' drawing for undecodable files."""
    _root, path, _cls = _image_or_404(name, relpath)
    size = int(current_app.config.get("THUMB_SIZE", DEFAULT_THUMB_SIZE))
    made = thumbnail(path, thumb_dir(), size)
    if made is None:
        broken = Path(current_app.static_folder) / "broken-image.svg"
        return send_file(broken, mimetype="image/svg+xml", max_age=60)
    return send_file(made, mimetype="image/jpeg", max_age=7 * 24 * 3600)


@bp.get("/<name>/files/<path:relpath>")
def original(name: str, relpath: str):
    """The original file; only picture types are shown inline, anything else downloads."""
    _root, path, _cls = _image_or_404(name, relpath)
    suffix = path.suffix.lower()
    mimetype = mimetypes.guess_type(path.name)[0] if suffix in IMAGE_EXTENSIONS else None
    if not mimetype or not mimetype.startswith("image/"):
        response = send_file(path, mimetype="application/octet-stream", as_attachment=True, max_age=0)
    else:
        response = send_file(path, mimetype=mimetype, max_age=3600)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"
    return response


# ---------------------------------------------------------------- admin actions

#: Edit refusals in the visitor's language (EditError messages are English, for logs and tests).
EDIT_MESSAGES = {
    "same_class": N_("The image is already in class %(cls)s."),
    "same_name": N_("The new name is the same as the old one."),
    "empty_name": N_("Enter the new class name."),
    "class_exists": N_("There is already a class named %(cls)s."),
    "bad_class_name": N_("%(cls)s cannot be a class name: use words without '/', '\\' or a leading dot."),
    "changed_meanwhile": N_("Someone changed this meanwhile. Reload the page and try again."),
    "fs_error": N_("The server could not move the file (%(detail)s)."),
}


def _refusal(exc: EditError, cls: str) -> str:
    template = EDIT_MESSAGES.get(exc.code)
    return _(template, cls=cls, detail=exc.message) if template else exc.message


def _user_name() -> str | None:
    from flask_login import current_user

    return getattr(current_user, "username", None)


def _back_to(name: str, relpath: str | None = None, cls: str | None = None):
    if relpath:
        return redirect(url_for("datasets.image", name=name, relpath=relpath))
    if cls:
        return redirect(url_for("datasets.class_images", name=name, cls=cls))
    return redirect(url_for("datasets.dataset", name=name))


@bp.post("/<name>/actions/delete")
@admin_required
def delete_image(name: str):
    """Move an image to the dataset's trash folder, then show the next one in its class."""
    root = open_dataset(name)
    relpath = request.form.get("path", "")
    try:
        _path, cls = image_file(root, relpath)
        siblings = list_class_files(root, cls)
        following = siblings[siblings.index(relpath) + 1] if siblings.index(relpath) + 1 < len(siblings) else None
        trash_image(root, relpath, user=_user_name())
    except UnsafePath as exc:
        abort(404, description=exc.message)
    except EditError as exc:
        flash(_refusal(exc, cls), "error")
        return _back_to(name, cls=cls)
    flash(_("Image moved to the trash folder."), "success")
    return _back_to(name, following, cls)


@bp.post("/<name>/actions/move")
@admin_required
def move(name: str):
    """Move an image to another class."""
    root = open_dataset(name)
    relpath = request.form.get("path", "")
    target = request.form.get("target", "")
    try:
        _path, cls = image_file(root, relpath)
        new_rel = move_image(root, relpath, target, user=_user_name())
    except EditError as exc:
        flash(_refusal(exc, cls), "error")
        return _back_to(name, relpath)
    except UnsafePath as exc:
        abort(404, description=exc.message)
    flash(_("Image moved to %(cls)s.", cls=target), "success")
    return _back_to(name, new_rel)


@bp.post("/<name>/actions/rename")
@admin_required
def rename(name: str):
    """Rename a class folder."""
    root = open_dataset(name)
    cls = request.form.get("class", "")
    new_name = request.form.get("new_name", "")
    try:
        renamed = rename_class(root, cls, new_name, user=_user_name())
    except EditError as exc:
        flash(_refusal(exc, new_name.strip()), "error")
        return _back_to(name, cls=cls)
    except UnsafePath as exc:
        abort(404, description=exc.message)
    flash(_("Class renamed to %(cls)s.", cls=renamed), "success")
    return _back_to(name, cls=renamed)


def file_version(name: str, relpath: str) -> int:
    """A number that changes when the file does, to make thumbnail URLs cache-safe."""
    try:
        return int(os.stat(data_dir() / name / relpath).st_mtime)
    except OSError:
        return 0


bp.add_app_template_global(file_version, "dataset_file_version")
