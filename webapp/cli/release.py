"""`flask shrink-model` and `flask model-card`: prepare a model pair for shipping."""

from __future__ import annotations

from pathlib import Path

import click

from .console import friendly_errors

DEFAULT_LIMITS = [
    "Trained on small web photos (about 300×225), mostly whole animals seen from the side; close-ups, "
    "unusual angles, night shots and drawings are less reliable.",
    "It only knows its classes: a picture of anything else (a goat, a car, a person) still gets one "
    "of them, often with high confidence. Check the probability, not only the label.",
    "Some training photos carry stock-photo watermarks; the model may have learned a little from them.",
    "150 photos per class is a small dataset; the test split has 30 per class, so one picture is 3.3 "
    "percentage points of a class's recall.",
]


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
        text = render_model_card(model, command=command_text, data_source=data_source, limits=DEFAULT_LIMITS, wall_seconds=wall_seconds)
    target = out or model.with_name("MODEL_CARD.md")
    target.write_text(text, encoding="utf-8")
    click.echo(f"wrote {target}")
