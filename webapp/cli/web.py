"""Web and queue commands: `flask create-admin`, `flask worker`, `flask reconcile-jobs`, `flask register-model`,
`flask activate-model`, `flask rollback-model`."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext


@click.command("create-admin")
@click.argument("username")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True, help="At least 8 characters.")
@with_appcontext
def create_admin(username: str, password: str) -> None:
    """Create an administrator account (the first one, or another)."""
    from ..auth import AuthError, create_user

    try:
        create_user(username, password)
    except AuthError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"Administrator {username!r} created; log in at /admin/login.")


@click.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queues are empty (tests, cron).")
@click.option("--queues", default="crawl,train", show_default=True, help="Comma-separated queues to serve, in priority order.")
@click.option("--name", default=None, help="Worker name (default: host + pid).")
@with_appcontext
def worker(burst: bool, queues: str, name: str | None) -> None:
    """Run one RQ worker on this installation's Redis (same as `rq worker` with our serializer and queues)."""
    from rq.serializers import JSONSerializer

    from ..job_adapter import JobWorker
    from ..redis_conn import QUEUE_NAMES, RedisUnavailable, get_queue, get_redis, ping
    from ..schema import DatabaseNotMigrated, prepare_schema

    wanted = [q.strip() for q in queues.split(",") if q.strip()]
    unknown = [q for q in wanted if q not in QUEUE_NAMES]
    if unknown:
        raise click.ClickException(f"Unknown queue(s) {', '.join(unknown)}; choose from {', '.join(QUEUE_NAMES)}.")
    try:  # first: a database that is not migrated stops the worker before anything is started
        prepare_schema(current_app._get_current_object())
    except DatabaseNotMigrated as exc:
        raise click.ClickException(exc.message) from None
    try:
        ping()
    except RedisUnavailable as exc:
        raise click.ClickException(exc.message) from None
    from ..logmask import mask_url

    click.echo(f"worker listening on {', '.join(wanted)} at {mask_url(current_app.config['REDIS_URL'])}", err=True)
    w = JobWorker([get_queue(q) for q in wanted], connection=get_redis(), serializer=JSONSerializer, name=name,
                  app=current_app._get_current_object())
    w.work(burst=burst, with_scheduler=False)


@click.command("reconcile-jobs")
@with_appcontext
def reconcile_jobs() -> None:
    """Mark jobs whose worker died as failed (the admin pages do this on every look, too)."""
    from ..tasks import reconcile

    click.echo(f"{reconcile()} job(s) updated")


@click.command("register-model")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--activate", is_flag=True, help="Also make it the model that answers predictions.")
@with_appcontext
def register_model_cmd(path: str, activate: bool) -> None:
    """Register a trained model file (.pt, with its .onnx beside it) as a model version."""
    from ml.errors import MLError
    from ml.predict import Predictor

    from ..registry import model_summary, register_model

    try:
        predictor = Predictor.load(path, backend=current_app.config["PREDICT_BACKEND"])
    except MLError as exc:
        raise click.ClickException(exc.message) from None
    info = dict(predictor.info or {})
    info.setdefault("classes", predictor.classes)
    row = register_model(path, name=info.get("name"), activate=activate, **model_summary(info))
    click.echo(f"model version {row.id} ({row.name}){' active' if row.is_active else ''}")


@click.command("activate-model")
@click.argument("model_id", type=int)
@with_appcontext
def activate_model_cmd(model_id: int) -> None:
    """Make a registered model version the one that answers predictions (recorded in the activation history)."""
    from ..errors import AppError
    from ..registry import activate_model

    try:
        row = activate_model(model_id, via="cli")
    except AppError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"model version {row.id} ({row.name}) active")


@click.command("rollback-model")
@with_appcontext
def rollback_model_cmd() -> None:
    """Activate again the model the last activation replaced."""
    from ..errors import AppError
    from ..registry import roll_back

    try:
        row = roll_back()
    except AppError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"rolled back: model version {row.id} ({row.name}) active")
