"""This process's snapshot of the active model, shared by the registry (which resets it) and serving (which fills it).

A module of its own so that `registry` and `serving` do not import each other.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app


def serving_state(app: Flask) -> dict[str, Any]:
    """The app's serving snapshot: the active row and when it was last checked (the predictor is ml.predict's)."""
    state = app.extensions.get("animals_serving")
    if state is None:
        state = app.extensions["animals_serving"] = {"active": None, "checked": float("-inf")}
    return state


def forget_active_model(app: Flask | None = None) -> None:
    """Drop this process's snapshot of the active model (called after an activation here)."""
    serving_state(app or current_app)["checked"] = float("-inf")
