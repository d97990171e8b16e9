"""Admin edits to a dataset folder: trash an image, move it to another class, rename a class, add a picture.

Nothing is erased: a deleted image goes to `<dataset>/.trash/<class>/` (and `restore_image` brings it
back) and every edit is logged in `.trash/edits.jsonl`. The split lists (train.txt...) are kept consistent with the folders, so a
training started after an edit never meets a missing file; `dataset.json` records the edit time
so the pages can suggest a fresh split.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

from ml.dataset import CLASSES_FILE, SPLIT_FILES, list_classes
from ml.dataset.layout import update_metadata, write_json_atomic, write_text_atomic
from ml.errors import DatasetError

from .paths import UnsafePath, check_name, class_dir, image_file, inside

TRASH_DIR = ".trash"
EDIT_LOG = "edits.jsonl"


class EditError(DatasetError):
    """An edit that cannot be done as asked (target exists, same class, bad new name)."""

    code = "edit_refused"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _free_name(target: Path) -> Path:
    """`target`, or `name.1.jpg`, `name.2.jpg`... if that name is taken."""
    stem, suffix, n = target.stem, target.suffix, 1
    while target.exists():
        target = target.with_name(f"{stem}.{n}{suffix}")
        n += 1
    return target


def _log(root: Path, **entry) -> None:
    when = _now()
    log = root / TRASH_DIR / EDIT_LOG
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({"time": when, **entry}, ensure_ascii=False) + "\n")
    update_metadata(root, edited={"time": when, "last": entry["action"]})


def _rewrite_split(root: Path, change) -> None:
    """Apply `change(rel, label) -> (rel, label) | None` to every row of every split list."""
    for name in SPLIT_FILES.values():
        path = root / name
        if not path.exists():
            continue
        rows = []
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            rel, label = line.rsplit("\t", 1)
            new = change(rel, int(label))
            if new is not None:
                rows.append(f"{new[0]}\t{new[1]}\n")
        write_text_atomic(path, "".join(rows))


def _move(source: Path, target: Path) -> None:
    """Move a file or folder, turning filesystem failures into EditError."""
    try:
        shutil.move(str(source), str(target))
    except FileNotFoundError:
        raise EditError(f"{source.name} was moved or deleted meanwhile.", code="changed_meanwhile") from None
    except OSError as exc:
        raise EditError(f"Could not move {source.name}: {exc.strerror or exc}.", code="fs_error") from None


def _split_classes(root: Path) -> list[str] | None:
    path = root / CLASSES_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def trash_image(root: Path, relpath: str, *, user: str | None = None) -> str:
    """Move one image into the dataset's trash folder; return where it went (relative to root)."""
    source, _cls = image_file(root, relpath)
    target = _free_name(root / TRASH_DIR / relpath)
    target.parent.mkdir(parents=True, exist_ok=True)
    _move(source, target)
    moved = target.relative_to(root).as_posix()
    _rewrite_split(root, lambda rel, label: None if rel == relpath else (rel, label))
    _log(root, action="delete", original=relpath, moved_to=moved, user=user)
    return moved


def restore_image(root: Path, trashed: str, original: str, *, part: str | None = None, user: str | None = None) -> str:
    """Bring a trashed image back to `original` (or a free name beside it); return its path (relative to root).

    `part` ("train", "val", "test"), when given, puts the picture back into that split list, as it was
    before it was trashed (if the split still knows its class).
    """
    source = root / TRASH_DIR / trashed.removeprefix(TRASH_DIR + "/")
    if not inside(root / TRASH_DIR, source).is_file():
        raise UnsafePath(f"No trashed image {trashed!r} in this dataset")
    parts = original.split("/")
    for name in parts:
        check_name(name, "image path")
    if len(parts) < 2:
        raise UnsafePath(f"Not an image inside a class folder: {original!r}")
    class_dir(root, parts[0])
    target = _free_name(root.joinpath(*parts))
    inside(root / parts[0], target.parent)
    target.parent.mkdir(parents=True, exist_ok=True)
    _move(source, target)
    rel = target.relative_to(root).as_posix()
    classes = _split_classes(root)
    split_list = root / SPLIT_FILES[part] if part in SPLIT_FILES else None
    if split_list is not None and split_list.exists() and classes is not None and parts[0] in classes:
        rows = split_list.read_text(encoding="utf-8")
        if rows and not rows.endswith("\n"):
            rows += "\n"
        write_text_atomic(split_list, rows + f"{rel}\t{classes.index(parts[0])}\n")
    _log(root, action="restore", original=source.relative_to(root).as_posix(), moved_to=rel, user=user)
    return rel


def move_image(root: Path, relpath: str, target_class: str, *, name: str | None = None, user: str | None = None) -> str:
    """Move one image to another class folder (as `name`, else its own name); return its new path (relative to root)."""
    source, cls = image_file(root, relpath)
    class_dir(root, target_class)
    if target_class == cls:
        raise EditError(f"The image is already in class {cls!r}.", code="same_class")
    target = _free_name(root / target_class / check_name(name or source.name, "image name"))
    _move(source, target)
    new_rel = target.relative_to(root).as_posix()
    classes = _split_classes(root)
    if classes is not None and target_class in classes:
        new_label = classes.index(target_class)
        _rewrite_split(root, lambda rel, label: (new_rel, new_label) if rel == relpath else (rel, label))
    else:
        # The class is newer than the split: the picture waits for the next split.
        _rewrite_split(root, lambda rel, label: None if rel == relpath else (rel, label))
    _log(root, action="move", original=relpath, moved_to=new_rel, user=user)
    return new_rel


def rename_class(root: Path, cls: str, new_name: str, *, user: str | None = None) -> str:
    """Rename a class folder (and the class in the split lists); return the new name."""
    class_dir(root, cls)
    new_name = new_name.strip()
    if not new_name:
        raise EditError("Enter the new class name.", code="empty_name")
    try:
        check_name(new_name, "class name")
    except DatasetError:
        raise EditError(
            f"{new_name!r} cannot be a class name: use letters, digits or words without '/', '\\' or a leading dot.",
            code="bad_class_name",
        ) from None
    if new_name == cls:
        raise EditError("The new name is the same as the old one.", code="same_name")
    if new_name in list_classes(root) or (root / new_name).exists():
        raise EditError(f"There is already a class or file named {new_name!r}.", code="class_exists")
    _move(root / cls, root / new_name)
    classes = _split_classes(root)
    if classes is not None and cls in classes:
        # Label indices stay as they are: only the name and the paths change.
        classes[classes.index(cls)] = new_name
        write_json_atomic(root / CLASSES_FILE, classes)
        prefix = cls + "/"
        _rewrite_split(
            root, lambda rel, label: (new_name + "/" + rel[len(prefix):], label) if rel.startswith(prefix) else (rel, label)
        )
    _log(root, action="rename_class", original=cls, moved_to=new_name, user=user)
    return new_name


def add_image(root: Path, cls: str, source: Path, name: str, *, user: str | None = None, origin: str = "") -> str:
    """Copy a picture into a class folder under a free name; return its path (relative to root).

    The picture waits for the next split: split lists are left as they are.
    """
    folder = class_dir(root, cls)
    target = _free_name(folder / name)
    try:
        shutil.copyfile(source, target)
    except OSError as exc:
        raise EditError(f"Could not copy {source.name}: {exc.strerror or exc}.", code="fs_error") from None
    rel = target.relative_to(root).as_posix()
    _log(root, action="add", original=origin, moved_to=rel, user=user)
    return rel
