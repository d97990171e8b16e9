"""One admin action on many pictures of a class grid: trash them or move them to another class.

Each picture goes through the same edit as the single-picture buttons (webapp.datasets.edit), so
every one is logged in `.trash/edits.jsonl` and nothing is erased.
"""

from __future__ import annotations

from flask import abort, flash, redirect, request, url_for

from ..auth import admin_required
from ..i18n import _
from . import bp
from .edit import EditError, move_image, trash_image
from .paths import UnsafePath, class_dir, image_file
from .routes import _refusal, _user_name, open_dataset

#: The most pictures one request may change (a page holds at most 96).
MAX_BULK = 500


def _back(name: str, cls: str):
    """The grid the form came from, with its filter, page size and page."""
    params = {k: request.form.get(k) for k in ("show", "seen", "model", "per", "page") if request.form.get(k)}
    return redirect(url_for("datasets.class_images", name=name, cls=cls, **params))


@bp.post("/<name>/actions/bulk")
@admin_required
def bulk(name: str):
    """Trash the selected pictures, or move them to another class; say how many went and which not."""
    root = open_dataset(name)
    cls = request.form.get("class", "")
    try:
        class_dir(root, cls)
    except UnsafePath as exc:
        abort(404, description=exc.message)
    paths = list(dict.fromkeys(request.form.getlist("path")))[:MAX_BULK]
    action = request.form.get("action", "")
    target = action.removeprefix("move:") if action.startswith("move:") else None
    if action != "trash" and target is None:
        abort(400, description="Unknown bulk action.")
    if not paths:
        flash(_("Select at least one image first."), "error")
        return _back(name, cls)
    if target is not None:
        try:
            class_dir(root, target)
        except UnsafePath:
            flash(_("There is no class named %(cls)s.", cls=target), "error")
            return _back(name, cls)
    done, refusals = 0, []
    for rel in paths:
        try:
            _path, where = image_file(root, rel)
            if where != cls:
                raise UnsafePath(f"{rel} is not in class {cls}")
            if target is None:
                trash_image(root, rel, user=_user_name())
            else:
                move_image(root, rel, target, user=_user_name())
            done += 1
        except UnsafePath:
            refusals.append(_("%(name)s is no longer in this class.", name=rel.split("/")[-1]))
        except EditError as exc:
            refusals.append(_refusal(exc, target or cls))
    if done:
        message = (_("Images moved to the trash folder: %(num)s.", num=done) if target is None
                   else _("Images moved to %(cls)s: %(num)s.", cls=target, num=done))
        flash(message, "success")
    for refusal in refusals[:5]:
        flash(refusal, "error")
    if len(refusals) > 5:
        flash(_("%(num)s more images were not changed.", num=len(refusals) - 5), "error")
    return _back(name, cls)
