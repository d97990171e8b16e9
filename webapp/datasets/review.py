"""Review before training: a dataset's pictures per class, suspects first, with one-key keep, trash, move, undo.

Suspects come from the scan (duplicates, tiny or odd pictures, in dataset.json) and from the review
job (`jobs.review`, features far from the picture's class or nearer another one, in
`.review/suspects.json`); what the administrator decided is in `.review/decisions.json`
(`webapp.datasets.review_state`). `?next=<local path>` adds "Done reviewing — continue", which a
pipeline uses to go on.
"""

from __future__ import annotations

import math
from urllib.parse import urlsplit

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from ml.dataset import list_class_files, list_classes
from ml.errors import DatasetError
from ml.review import read_decisions, read_suspects

from ..auth import admin_required
from ..errors import InvalidParams
from ..i18n import N_, _
from ..redis_conn import RedisUnavailable
from . import bp
from .edit import EditError, move_image, restore_image, trash_image
from .grid import FLAG_LABELS, scan_flags, split_parts
from .paths import UnsafePath, class_dir, image_file
from .review_state import changing, now
from .routes import _refusal, _user_name, open_dataset

#: Why the review job flagged a picture, as the badges say it (`nearest` fills %(cls)s).
REASON_LABELS = {
    "closer_to": N_("closer to %(cls)s"),
    "far": N_("far from its class"),
    "unknown": N_("unlike every class"),
    "unreadable": N_("unreadable"),
}
#: Ordering weight of a scan flag beside the review job's scores (which start around 1).
SCAN_FLAG_SCORE = 0.5
REVIEW_PAGE_SIZE = 48


def local_next(value: str | None) -> str | None:
    """`value` when it is a path on this site ("/datasets/..."); None when absent; 400 for any other URL."""
    if not value:
        return None
    parts = urlsplit(value)
    if (not value.startswith("/") or value.startswith("//") or "\\" in value or parts.scheme or parts.netloc
            or any(ord(ch) < 32 for ch in value)):
        abort(400, description="next must be a path on this site.")
    return value


def _review_url(name: str, cls: str | None, nxt: str | None, page: int | None = None, focus: int | None = None) -> str:
    params = {k: v for k, v in (("cls", cls), ("page", page if page and page > 1 else None), ("next", nxt)) if v}
    url = url_for("datasets.review", name=name, **params)
    return url + (f"#r-{focus}" if focus is not None else "")


def _items(root, cls: str, suspects: dict, flags: dict, kept: dict) -> list[dict]:
    """The class's pictures as review cards: suspects (by score) first, then the rest, kept ones last."""
    items = []
    for rel in list_class_files(root, cls):
        found = suspects.get(rel) or {}
        reasons = [(code, _(REASON_LABELS[code], cls=found.get("nearest") or "")) for code in found.get("reasons", [])
                   if code in REASON_LABELS]
        reasons += [(code, _(FLAG_LABELS[code])) for code in flags.get(rel, []) if code in FLAG_LABELS]
        score = float(found.get("score") or 0.0) + SCAN_FLAG_SCORE * len(flags.get(rel, []))
        is_kept = rel in kept
        items.append({"rel": rel, "name": rel.split("/")[-1], "reasons": reasons, "kept": is_kept,
                      "suspect": bool(reasons) and not is_kept, "score": score, "nearest": found.get("nearest")})
    items.sort(key=lambda it: (not it["suspect"], it["kept"], -it["score"] if it["suspect"] else 0.0))
    return items


def _latest_job(name: str):
    """The newest review job of this dataset (reconciled with Redis when it is still active), or None."""
    from ..extensions import db
    from ..models import Job
    from ..tasks import get_job

    rows = db.session.execute(db.select(Job).where(Job.kind == "review").order_by(Job.created_at.desc()).limit(50)).scalars()
    row = next((r for r in rows if (r.params or {}).get("dataset") == name), None)
    if row is not None and row.active:
        try:
            row = get_job(row.id)
        except RedisUnavailable:
            pass
    return row


@bp.get("/<name>/review")
@admin_required
def review(name: str):
    """The review grid of one class: suspects first with their reasons, one-key actions, undo, continue."""
    root = open_dataset(name)
    nxt = local_next(request.args.get("next"))
    classes = list_classes(root)
    cls = request.args.get("cls") or (classes[0] if classes else "")
    if classes:
        try:
            class_dir(root, cls)
        except DatasetError as exc:
            abort(404, description=exc.message)
    found = read_suspects(root)
    suspects = (found or {}).get("suspects", {})
    flags = scan_flags(root)
    decisions = read_decisions(root)
    tabs = []
    for c in classes:
        files = list_class_files(root, c)
        flagged = sum(1 for rel in files if (rel in suspects or rel in flags) and rel not in decisions["kept"])
        tabs.append({"name": c, "count": len(files), "suspects": flagged})
    items = _items(root, cls, suspects, flags, decisions["kept"]) if classes else []
    per_page = int(current_app.config.get("DATASET_PAGE_SIZE", REVIEW_PAGE_SIZE))
    pages = max(1, math.ceil(len(items) / per_page))
    page = min(max(request.args.get("page", 1, type=int) or 1, 1), pages)
    start = (page - 1) * per_page
    last = decisions["undo"][-1] if decisions["undo"] else None
    return render_template(
        "datasets/review.html", name=name, cls=cls, tabs=tabs, items=items[start : start + per_page], start=start,
        page=page, pages=pages, suspect_count=sum(1 for it in items if it["suspect"]), total=len(items),
        others=[c for c in classes if c != cls], found=found, job=_latest_job(name), nxt=nxt, last=last,
        done=decisions["done"], query={k: v for k, v in (("cls", cls), ("next", nxt)) if v},
    )


def _form_context(name: str):
    """(dataset root, class, next, page, position) from a review form."""
    root = open_dataset(name)
    nxt = local_next(request.form.get("next"))
    return root, request.form.get("cls") or None, nxt, request.form.get("page", type=int), request.form.get("at", type=int)


@bp.post("/<name>/review/act")
@admin_required
def review_act(name: str):
    """One action on one picture: keep (reviewed, no longer flagged), trash, or move to another class."""
    root, cls, nxt, page, at = _form_context(name)
    rel = request.form.get("path", "")
    action = request.form.get("action", "")
    if action not in ("keep", "trash", "move"):
        abort(400, description="Unknown review action.")
    user = _user_name()
    try:
        _path, where = image_file(root, rel)
        if action == "keep":
            with changing(root) as data:
                data["kept"][rel] = {"time": now(), "user": user}
                data["undo"].append({"action": "keep", "path": rel, "time": now(), "user": user})
            flash(_("Kept %(name)s: it is no longer flagged.", name=rel.split("/")[-1]), "success")
        elif action == "trash":
            part = split_parts(root).get(rel)
            moved = trash_image(root, rel, user=user)
            with changing(root) as data:
                data["kept"].pop(rel, None)
                data["undo"].append({"action": "trash", "original": rel, "moved_to": moved, "part": part,
                                     "time": now(), "user": user})
            flash(_("Moved %(name)s to the trash folder.", name=rel.split("/")[-1]), "success")
        else:
            target = request.form.get("target", "")
            new_rel = move_image(root, rel, target, user=user)
            with changing(root) as data:
                data["kept"].pop(rel, None)
                data["undo"].append({"action": "move", "original": rel, "moved_to": new_rel, "time": now(), "user": user})
            flash(_("Moved %(name)s to %(cls)s.", name=rel.split("/")[-1], cls=target), "success")
    except UnsafePath:
        flash(_("%(name)s is no longer in this class.", name=rel.split("/")[-1]), "error")
    except EditError as exc:
        flash(_refusal(exc, request.form.get("target") or where), "error")
    return redirect(_review_url(name, cls, nxt, page, at), code=303)


@bp.post("/<name>/review/undo")
@admin_required
def review_undo(name: str):
    """Undo the newest review action: un-keep, bring back from the trash folder, or move back."""
    root, cls, nxt, page, at = _form_context(name)
    with changing(root) as data:
        if not data["undo"]:
            flash(_("Nothing to undo."), "error")
            return redirect(_review_url(name, cls, nxt, page, at), code=303)
        last = data["undo"].pop()
        label = str(last.get("original") or last.get("path") or "").split("/")[-1]
        try:
            if last["action"] == "keep":
                data["kept"].pop(last["path"], None)
            elif last["action"] == "trash":
                restore_image(root, last["moved_to"], last["original"], part=last.get("part"), user=_user_name())
            else:
                back, *_sub, file_name = last["original"].split("/")
                move_image(root, last["moved_to"], back, name=file_name, user=_user_name())
        except (UnsafePath, EditError):
            flash(_("%(name)s cannot be put back: it was changed meanwhile.", name=label), "error")
        else:
            flash(_("Undone: %(name)s is back as it was.", name=label), "success")
    return redirect(_review_url(name, cls, nxt, page, at), code=303)


@bp.post("/<name>/review/compute")
@admin_required
def review_compute(name: str):
    """Queue the review job that finds pictures far from their class or nearer another one."""
    root, cls, nxt, _page, _at = _form_context(name)
    from ..tasks import enqueue

    options = dict(current_app.config.get("REVIEW_OPTIONS") or {})
    try:
        enqueue("review", {**options, "dataset": root.name}, current_user)
    except RedisUnavailable:
        flash(_("The job queue is unreachable (Redis is down); try again later."), "error")
    except InvalidParams as exc:
        flash(exc.message, "error")
    else:
        flash(_("Looking for suspect pictures; this page shows the progress."), "success")
    return redirect(_review_url(name, cls, nxt), code=303)


@bp.post("/<name>/review/done")
@admin_required
def review_done(name: str):
    """Record that the review is finished, then continue to `next` (or the dataset page)."""
    root, _cls, nxt, _page, _at = _form_context(name)
    with changing(root) as data:
        data["done"] = {"time": now(), "user": _user_name()}
    return redirect(nxt or url_for("datasets.dataset", name=name), code=303)
