"""The upload page. Recognition itself is the JSON API's job; the page script calls it."""

from __future__ import annotations

from pathlib import Path

from flask import current_app, render_template
from sqlalchemy.exc import SQLAlchemyError

from ..i18n import N_, messages_for
from . import bp

#: Upload limit shown and checked in the browser when the app sets none (the server enforces its own).
DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024
#: Where the page script sends the picture (the API blueprint's contract).
PREDICT_API_URL = "/api/v1/predict"
#: Where "Why this answer?" sends the picture again for its heat map (only when asked).
EXPLAIN_API_URL = "/api/v1/explain"
#: Where "wrong? tell us" sends the picture again with the right class.
CORRECTIONS_API_URL = "/api/v1/corrections"

#: Shown above the guesses when the model finds the photo like none of its classes (API `unknown: true`).
UNKNOWN_MESSAGE = N_("This photo doesn't look like any animal I know — closest: %(label)s %(percent)s")
#: Shown small under the guesses when the model has no such check (API `unknown: null`).
NO_CHECK_MESSAGE = N_("Unknown-photo check not available for this model.")
#: The model's measured quality under the result: the out-of-source figure first, each saying its kind.
OOS_MESSAGE = N_("%(percent)s right on %(count)s photos from other sources")
IN_SOURCE_MESSAGE = N_("%(percent)s on its own sources' test photos")

#: Every text the page script may show, translated on the server and handed over as JSON.
SCRIPT_MESSAGES = (
    UNKNOWN_MESSAGE,
    OOS_MESSAGE,
    IN_SOURCE_MESSAGE,
    N_("Recognising…"),
    N_("Model"),
    N_("Time taken"),
    N_("%(ms)s ms"),
    N_("Please choose a picture first."),
    N_("No model has been trained yet. An administrator must train and activate one first."),
    N_("This file is not a picture. Please choose a JPEG, PNG, WebP, GIF or BMP image."),
    N_("The file is empty."),
    N_("The picture is damaged or incomplete."),
    N_("The picture is too small to recognise."),
    N_("The picture has too many pixels."),
    N_("The file is too large. The limit is %(size)s."),
    N_("Too many requests. Please wait a moment and try again."),
    N_("The server could not be reached. Please try again."),
    N_("The model could not be loaded."),
    N_("Something went wrong."),
    N_("Thank you! An administrator will review it."),
    N_("Sending…"),
    N_("Too many corrections from here. Please try again later."),
    N_("That is not one of this model's classes."),
    N_("Why this answer?"),
    N_("Show the photo"),
    N_("Working out why…"),
    N_("Red and yellow: the parts of the photo that mattered most for “%(label)s”."),
    N_("This server cannot make heat maps: it needs the full install with torch."),
    N_("Too many heat maps are being made right now. Please try again in a moment."),
)


def upload_limit() -> int:
    """The largest upload in bytes: the app's MAX_CONTENT_LENGTH, else 10 MB."""
    return int(current_app.config.get("MAX_CONTENT_LENGTH") or DEFAULT_UPLOAD_LIMIT)


def human_size(n_bytes: int) -> str:
    """'10 MB', '512 KB', '900 B' (binary units, as browsers report file sizes)."""
    for unit, size in (("MB", 1024 * 1024), ("KB", 1024)):
        if n_bytes >= size:
            value = n_bytes / size
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{n_bytes} B"


def model_available() -> bool:
    """Whether an upload can be answered: an active model, or a default model file to start from."""
    from ..registry import active_model

    try:
        if active_model() is not None:
            return True
    except SQLAlchemyError:
        return True  # the database is down: the API answers with the precise reason
    default = current_app.config.get("DEFAULT_MODEL")
    return bool(default) and Path(default).is_file()


@bp.get("/")
def index():
    """The upload page: pick, drop, paste or photograph a picture; see the top-3 guesses."""
    limit = upload_limit()
    return render_template(
        "predict/index.html",
        api_url=PREDICT_API_URL,
        corrections_url=CORRECTIONS_API_URL,
        explain_url=EXPLAIN_API_URL,
        limit_bytes=limit,
        limit_text=human_size(limit),
        script_messages=messages_for(SCRIPT_MESSAGES),
        model_ready=model_available(),
    )
