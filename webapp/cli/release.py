"""`flask shrink-model` and `flask model-card`: prepare a model pair for shipping."""

from __future__ import annotations

from pathlib import Path

import click

from .console import friendly_errors

DEFAULT_LIMITS = [
    "Trained on web photos of six sources, mostly whole animals; close-ups, unusual angles, night shots and "
    "drawings are less reliable.",
    "The \"none of my classes\" check is a k-nearest-neighbour distance to stored training features. It "
    "catches most birds, fish, food, objects and landscapes, but animals that look like its classes (antelopes, "
    "big cats, bears, rabbits, marsupials, camels) mostly still get one of the five labels.",
    "Some training photos carry stock-photo watermarks; the model may have learned a little from them.",
    "The out-of-source figure rests on 487 photos from three sources; one photo is 0.2 points, one horse "
    "photo 1.6 points of horse recall.",
]


def weakest_source_limit(model: Path) -> str | None:
    """A limit line from the measured out-of-source report beside `model`: its weakest source."""
    import json

    report = model.with_name(f"{model.stem}.out_of_source.metrics.json")
    try:
        per_source = json.loads(report.read_text(encoding="utf-8")).get("per_source") or {}
    except (OSError, ValueError):
        return None
    if len(per_source) < 2:
        return None
    name, worst = min(per_source.items(), key=lambda item: item[1]["accuracy"])
    classes = ", ".join(sorted(worst.get("per_class") or {}))
    return (f"Photos from one unseen source ({name}: {classes}, {worst['count']} photos) were recognised only "
            f"{100 * worst['accuracy']:.1f}% of the time: a new source can still be much worse than the average.")


@click.command("shrink-model")
@click.argument("model", type=click.Path(dir_okay=False, path_type=Path))
def shrink_model_command(model: Path) -> None:
    """Store a model file and its ONNX export in float16 (half the size, same answers)."""
    from ml.compact import halve_model

    with friendly_errors():
        report = halve_model(model)
    for key in ("pt", "onnx"):
        if key in report:
            r = report[key]
            click.echo(f"{r['file']}: {r['bytes_before'] / 1e6:.1f} MB → {r['bytes_after'] / 1e6:.1f} MB")
    if "max_prob_diff_torch_vs_onnx" in report:
        click.echo(f"torch vs onnx after shrinking: max probability difference {report['max_prob_diff_torch_vs_onnx']:.1e}")
    if report.get("max_feature_diff_torch_vs_onnx") is not None:
        click.echo(f"torch vs onnx after shrinking: max relative feature difference "
                   f"{report['max_feature_diff_torch_vs_onnx']:.1e}")


@click.command("model-card")
@click.argument("model", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--command", "command_text", required=True, help="The command that reproduces the model.")
@click.option("--data-source", default="see the dataset's README", show_default=True)
@click.option("--wall-seconds", type=float, default=None, help="Wall time of the whole training command.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Default: MODEL_CARD.md beside the model.")
def model_card_command(model: Path, command_text: str, data_source: str, wall_seconds: float | None, out: Path | None) -> None:
    """Write a Markdown model card from the model file and its metrics."""
    from ml.card import render_model_card

    with friendly_errors():
        weakest = weakest_source_limit(model)
        limits = DEFAULT_LIMITS[:1] + ([weakest] if weakest else []) + DEFAULT_LIMITS[1:]
        text = render_model_card(model, command=command_text, data_source=data_source, limits=limits, wall_seconds=wall_seconds)
    target = out or model.with_name("MODEL_CARD.md")
    target.write_text(text, encoding="utf-8")
    click.echo(f"wrote {target}")
