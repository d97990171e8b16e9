"""Command-line interface: `flask dataset ...` and friends. Each module registers its commands."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Attach every command group to `app.cli`."""
    from .dataset import dataset_cli

    app.cli.add_command(dataset_cli)
