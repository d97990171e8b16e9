"""Command-line interface: `flask dataset ...` and friends. Each module registers its commands."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Attach every command group to `app.cli`."""
    from .crawl import crawl_command
    from .dataset import dataset_cli
    from .model import model_commands
    from .release import model_card_command, shrink_model_command
    from .web import activate_model_cmd, create_admin, reconcile_jobs, register_model_cmd, rollback_model_cmd, worker

    app.cli.add_command(dataset_cli)
    app.cli.add_command(crawl_command)
    for command in (create_admin, worker, reconcile_jobs, register_model_cmd, activate_model_cmd, rollback_model_cmd,
                    *model_commands, shrink_model_command, model_card_command):
        app.cli.add_command(command)
