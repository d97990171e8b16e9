"""`flask build --dataset pets --class 猫=猫,小猫 --class dog=dog,puppy --per-class 30 [--skip-review] [--wait]`.

The same guided build as the admin panel's "New classifier" page and `POST /api/v1/builds`
(`webapp.builds`): the command writes the build and starts it; the workers run its jobs.
"""

from __future__ import annotations

import time

import click
from flask.cli import with_appcontext

from ml.operations import BuildRequest, TrainConfig

from .options import config_options

_SETTINGS = {s.name: s for s in BuildRequest.settings()}
_PER_CLASS = _SETTINGS["per_class"]
_NOT_RECIPE = tuple(s.name for s in TrainConfig.settings() if not s.web)


def _classes(specs: tuple[str, ...], displays: tuple[str, ...]) -> list[dict]:
    """`NAME=kw1,kw2` (keywords optional: the name) and `NAME=zh:家猫,en:cat` as the build's class list."""
    classes: dict[str, dict] = {}
    for spec in specs:
        name, _, keywords = spec.partition("=")
        classes[name.strip()] = {"name": name.strip(), "keywords": keywords or name, "display": {}}
    for spec in displays:
        name, _, names = spec.partition("=")
        if name.strip() not in classes:
            raise click.BadParameter(f"{name.strip()!r} is not one of the --class names.", param_hint="--display")
        for item in names.split(","):
            lang, sep, text = item.partition(":")
            if not sep:
                raise click.BadParameter(f"{item!r}: write LANG:NAME, e.g. en:cat.", param_hint="--display")
            classes[name.strip()]["display"][lang.strip()] = text.strip()
    return list(classes.values())


def _echo_steps(view: dict) -> None:
    parts = []
    for step in view["steps"]:
        text = f"{step['name']}: {step['status']}"
        if step["status"] == "running":
            text += f" {step['progress'] * 100:.0f}%"
        parts.append(text)
    click.echo(f"build {view['id']} {view['status']} | " + " · ".join(parts))


@click.command("build")
@with_appcontext
@click.option("--dataset", required=True, help=_SETTINGS["dataset"].help)
@click.option("--class", "class_specs", multiple=True, required=True, metavar="NAME=KEYWORDS",
              help="A class and its keywords, e.g. 猫=猫,小猫 (repeat for each class; keywords default to the name).")
@click.option("--display", "displays", multiple=True, metavar="NAME=LANG:TEXT,...",
              help="Display names of a class, e.g. 猫=en:cat,zh:家猫 (repeatable).")
@click.option("--per-class", type=click.IntRange(min=_PER_CLASS.low, max=_PER_CLASS.high), default=_PER_CLASS.default,
              show_default=True, help=_PER_CLASS.help)
@click.option("--skip-review", is_flag=True, help=_SETTINGS["skip_review"].help)
@click.option("--wait", is_flag=True, help="Follow the build until it ends or waits for a person.")
@click.option("--poll", type=click.FloatRange(min=0.1), default=2.0, show_default=True, help="Seconds between looks with --wait.")
@config_options(TrainConfig, skip=_NOT_RECIPE)
def build_command(dataset, class_specs, displays, per_class, skip_review, wait, poll, **recipe) -> None:
    """Build a new classifier: crawl every class, scan, review, split, train, evaluate (activate it on the admin page)."""
    from .. import builds
    from ..errors import AppError
    from ..redis_conn import RedisUnavailable

    data = {"dataset": dataset, "classes": _classes(class_specs, displays), "per_class": per_class,
            "skip_review": skip_review, "recipe": {k: v for k, v in recipe.items() if v is not None}}
    try:
        row = builds.create_build(data)
        click.echo(f"Build {row.id} started on dataset {row.dataset!r}; its timeline: /admin/builds/{row.id}")
        last = None
        while wait:
            view = builds.build_view(builds.get_build(row.id))
            line = [(s["name"], s["status"], round(s["progress"], 1)) for s in view["steps"]]
            if line != last:
                _echo_steps(view)
                last = line
            if view["status"] != "running":
                break
            time.sleep(poll)
    except (AppError, RedisUnavailable) as exc:
        raise click.ClickException(exc.message) from None
    row = builds.get_build(row.id)
    if row.status == "failed":
        raise click.ClickException(f"Build {row.id} failed: {row.error}")
    if wait and row.status == "waiting":
        step = next(s for s in row.steps if s["status"] == "waiting")
        click.echo(f"Build {row.id} waits for the {step['name']} step: open /admin/builds/{row.id}.")
