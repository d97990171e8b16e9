"""Admin authentication: Flask-Login session users, and one guard for every admin route and API."""

from __future__ import annotations

from functools import lru_cache, wraps

from flask import Flask, redirect, request, url_for
from flask_login import current_user
from werkzeug.security import check_password_hash, generate_password_hash

from .errors import error_response, wants_json
from .extensions import db, login_manager
from .models import User


class AuthError(Exception):
    """Creating or checking an admin account failed (name taken, password too short)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


MIN_PASSWORD = 8


def create_user(username: str, password: str) -> User:
    """Add an administrator; raises AuthError for a taken name or a weak password."""
    username = (username or "").strip()
    if not username:
        raise AuthError("The user name is empty.")
    if len(password or "") < MIN_PASSWORD:
        raise AuthError(f"The password is too short (at least {MIN_PASSWORD} characters).")
    if db.session.execute(db.select(User).filter_by(username=username)).scalar_one_or_none():
        raise AuthError(f"A user named {username!r} already exists.")
    user = User(username=username)
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    return user


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """A hash made like real ones (same method and cost), checked when the user name is unknown."""
    return generate_password_hash("no user has this password")


def authenticate(username: str, password: str) -> User | None:
    """The user with this name and password, or None; unknown names cost as much time as wrong passwords."""
    user = db.session.execute(db.select(User).filter_by(username=(username or "").strip())).scalar_one_or_none()
    if user is None:
        check_password_hash(_dummy_hash(), password or "")  # so timing does not reveal which names exist
        return None
    if not user.check_password(password or ""):
        return None
    return user


def login_name_key() -> str:
    """Rate-limit key for login attempts on one user name, whoever makes them."""
    from flask import current_app

    name = (request.form.get("username") or "").strip().lower()[:80]
    return f"{current_app.config['QUEUE_PREFIX']}login-name:{name}"


def _load_user(user_id: str) -> User | None:
    try:
        return db.session.get(User, int(user_id))
    except (TypeError, ValueError):
        return None


def _unauthorized():
    if wants_json():
        return error_response("unauthorized", "Log in as an administrator first.", 401)
    return redirect(url_for("admin.login", next=request.full_path.rstrip("?")))


def admin_required(view):
    """Refuse anonymous users: 401 JSON for API clients, a redirect to the login page for browsers."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        if not current_user.is_authenticated:
            return _unauthorized()
        return view(*args, **kwargs)

    return wrapped


def init_app(app: Flask) -> None:
    """Bind Flask-Login to `app`."""
    login_manager.init_app(app)
    login_manager.user_loader(_load_user)
    login_manager.unauthorized_handler(_unauthorized)
    login_manager.session_protection = "basic"
