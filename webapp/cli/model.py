"""`flask train|evaluate|predict|export-onnx`: the model steps of the pipeline from a terminal."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from ml.operations import EvaluateConfig, ExportConfig, TrainConfig
from ml.operations.train import run_folder

from .console import friendly_errors, progress_bars, table
from .options import config_from_options, config_options


def _dataset_path(dataset: str) -> Path:
    """A dataset given as a path, or as a name inside the configured DATA_DIR."""
    path = Path(dataset)
    if not path.exists():
        named = Path(current_app.config["DATA_DIR"]) / dataset
        if named.exists():
            return named
    return path


def _display_names(path: str | None, dataset: Path) -> dict | None:
    """Read `{lang: [name per class]}` (or `{lang: {class: name}}`) from a JSON file."""
    if not path:
        return None
    from ml.dataset import read_split
    from ml.errors import MLError

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise MLError(f"Cannot read display names from {path}: {exc}", code="bad_config") from None
    if not isinstance(data, dict):
        raise MLError(f"{path} must hold an object like {{\"en\": [...], \"zh\": [...]}}.", code="bad_config")
    classes = None
    out = {}
    for lang, names in data.items():
        if isinstance(names, dict):
            classes = classes or read_split(dataset, "train")[0]
            missing = [c for c in classes if c not in names]
            if missing:
                raise MLError(f"{path}: no {lang!r} name for class(es) {', '.join(missing)}.", code="bad_config")
            names = [names[c] for c in classes]
        out[lang] = names
    return out


def _print_metrics(metrics: dict) -> None:
    rows = [[cls, f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m['f1']:.3f}", m["support"]]
            for cls, m in metrics["per_class"].items()]
    click.echo(table(["class", "precision", "recall", "f1", "pictures"], rows))
    part = metrics.get("part", "test")
    scored = Path(metrics.get("dataset", "")).name if part == "all" else part
    kind = f" ({metrics['kind'].replace('_', '-')})" if metrics.get("kind", "unknown") != "unknown" else ""
    click.echo(
        f"\n{scored}{kind}: accuracy {metrics['accuracy']:.4f}, top-{metrics['top_k']} "
        f"{metrics['top_k_accuracy']:.4f}, macro F1 {metrics['macro_f1']:.4f} over {metrics['count']} pictures"
    )
    if "ece" in metrics:
        click.echo(f"calibration: expected calibration error {metrics['ece']:.4f} "
                   f"({len(metrics.get('reliability') or [])} bins), mean confidence {metrics['mean_confidence']:.4f}")
    unknown = metrics.get("unknown") or {}
    if unknown.get("available"):
        click.echo(f"unknown: {unknown['flagged']} of {metrics['count']} photos of known classes flagged as none of "
                   f"them ({unknown['rate']:.1%}, {unknown['method']})")
    elif unknown:
        click.echo("unknown: not available (this model file has no open-set check)")
    per_source = metrics.get("per_source") or {}
    if per_source:
        flagged = unknown.get("available", False)
        click.echo("\n" + table(["source", "pictures", "accuracy", "ECE", *(["unknown"] if flagged else [])],
                                [[name, m["count"], f"{m['accuracy']:.3f}", f"{m['ece']:.3f}",
                                  *([f"{m['unknown_rate']:.1%}"] if flagged else [])] for name, m in per_source.items()]))
    for note in metrics.get("notes") or []:
        click.echo(f"note: {note}")
    skipped = metrics.get("skipped") or []
    for item in skipped[:10]:
        click.echo(f"  skipped: {item['file']}: {item['reason']}")
    if len(skipped) > 10:
        click.echo(f"  … and {len(skipped) - 10} more skipped (see the metrics file)")
    wrong = metrics.get("misclassified") or []
    for item in wrong[:10]:
        click.echo(f"  wrong: {item['file']}  {item['label']} → {item['predicted']} ({item['confidence']:.2f})")
    if len(wrong) > 10:
        click.echo(f"  … and {len(wrong) - 10} more (see the metrics file)")
    files = metrics.get("files") or {}
    if files:
        click.echo(f"metrics: {files['metrics']}\nconfusion matrix: {files['confusion']}")
        if files.get("reliability"):
            click.echo(f"reliability diagram: {files['reliability']}")


@click.command("train")
@click.argument("dataset")
@config_options(TrainConfig)
@click.option("--weights", "weights_file", type=click.Path(dir_okay=False), help="Local ImageNet weights file.")
@click.option("--display-names", "display_names_file", type=click.Path(dir_okay=False),
              help='JSON file: {"en": [...], "zh": [...]} with one name per class.')
@click.option("--out", type=click.Path(file_okay=False), help="Folder for the model file; default the app's MODEL_DIR.")
@click.option("--resume", "resume_dir", type=click.Path(file_okay=False, exists=True), help="Continue the run in this folder.")
@click.option("--onnx", "export", is_flag=True, help="Also export the model to ONNX when training ends.")
@with_appcontext
def train_command(dataset, weights_file, display_names_file, out, resume_dir, export, **options) -> None:
    """Train a classifier on a split dataset and write a self-describing model file.

    Every training setting is an option built from ml.operations.train.TrainConfig (same defaults
    as the admin panel, the API and the jobs).
    """
    from ml.training import train

    root = _dataset_path(dataset)
    out_dir = Path(out) if out else Path(current_app.config["MODEL_DIR"])
    with friendly_errors():
        run_dir = Path(resume_dir) if resume_dir else None
        if run_dir and not options.get("name"):
            options["name"] = run_dir.name
        config = config_from_options(TrainConfig, options, weights_file=weights_file,
                                     display_names=_display_names(display_names_file, root), resume=bool(resume_dir))
        config.name = config.run_name()
        run_dir = run_dir or run_folder(current_app.instance_path, config.name)
        from ml.device import pick_device

        click.echo(f"device: {pick_device(config.device, config.amp).label}", err=True)
        started = time.monotonic()
        with progress_bars("step") as bars:
            result = train(root, out_dir, config, on_progress=bars, run_dir=run_dir)
        seconds = time.monotonic() - started
        _print_metrics(result.metrics)
        click.echo(f"best epoch {result.best_epoch} of {len(result.history)}; {seconds:.0f} s")
        click.echo(f"model: {result.model_path}\nrun (TensorBoard): {result.run_dir}")
        if export:
            from ml.export import export_onnx

            exported = export_onnx(result.model_path)
            click.echo(f"onnx: {exported['onnx']} (max probability difference {exported['max_abs_diff']:.1e})")


@click.command("evaluate")
@click.argument("model", type=click.Path(dir_okay=False))
@click.argument("dataset")
@config_options(EvaluateConfig)
@click.option("--out", type=click.Path(file_okay=False), help="Folder for the report files; default beside the model.")
@click.option("--expect-unknown", is_flag=True,
              help="The folder holds photos of other things: report how many the model calls none of its classes.")
@with_appcontext
def evaluate_command(model, dataset, out, expect_unknown, **options) -> None:
    """Score a model file on a split part or any folder of class folders: quality, calibration, sources."""
    from ml.evaluate import evaluate

    with friendly_errors():
        config = config_from_options(EvaluateConfig, options)
    if expect_unknown:
        _evaluate_unknown(model, _dataset_path(dataset), config.backend, config.tag, out)
        return
    with friendly_errors(), progress_bars() as bars:
        metrics = evaluate(model, _dataset_path(dataset), config.part, backend=config.backend, device=config.device,
                           batch_size=config.batch_size, only_sources=config.only_sources, exclude_sources=config.exclude_sources,
                           skip_unknown_classes=config.skip_unknown_classes, kind=config.kind, tag=config.tag,
                           out_dir=out, on_progress=bars)
    bars.close()
    _print_metrics(metrics)


def _evaluate_unknown(model, folder, backend, tag, out) -> None:
    from ml.evaluate_unknown import evaluate_unknown

    with friendly_errors(), progress_bars() as bars:
        result = evaluate_unknown(model, folder, backend=backend, tag=tag, out_dir=out, on_progress=bars)
    bars.close()
    rows = [[group, r["count"], f"{r['flagged_rate']:.1%}",
             ", ".join(f"{c} {n}" for c, n in list(r["missed_as"].items())[:3]) or "–"]
            for group, r in result["per_group"].items()]
    click.echo(table(["folder", "pictures", "flagged unknown", "missed ones looked like"], rows))
    click.echo(f"\n{result['flagged']} of {result['count']} pictures of other things flagged unknown "
               f"({result['flagged_rate']:.1%}); report: {result['file']}")
    for item in result["skipped"]:
        click.echo(f"  skipped {item['file']}: {item['reason']}")


@click.command("predict")
@click.argument("model", type=click.Path(dir_okay=False))
@click.argument("images", nargs=-1, required=True)
@click.option("--backend", type=click.Choice(["auto", "onnx", "torch"]), default="auto", show_default=True)
@click.option("-k", "--top", "k", type=int, default=3, show_default=True, help="How many labels per picture.")
@click.option("--lang", default=None, help="Show display names in this language (e.g. zh, en) when the model has them.")
def predict_command(model, images, backend, k, lang) -> None:
    """Print the most likely labels with probabilities for each picture, and whether it is none of the classes."""
    from ml.errors import MLError
    from ml.predict import Predictor

    with friendly_errors():
        predictor = Predictor.load(model, backend=backend)
    check = (predictor.info.get("open_set") or {}).get("method") or "not available"
    click.echo(f"{predictor.info['name']} ({predictor.info['arch']}, {predictor.backend}); unknown-photo check: {check}",
               err=True)
    failed = 0
    for image in images:
        try:
            answer = predictor.classify(image, k=k)
        except MLError as exc:
            failed += 1
            click.echo(f"{image}: error: {exc.message}", err=True)
            continue
        labels = ", ".join(f"{predictor.display_label(c, lang) if lang else c} {p:.3f}" for c, p in answer.top_k)
        if answer.unknown is None:
            verdict = "unknown: n/a"
        else:
            verdict = f"unknown: {'yes' if answer.unknown else 'no'} (score {answer.unknown_score:.3f})"
        click.echo(f"{image}: {labels}; {verdict}")
    if failed:
        raise click.ClickException(f"{failed} of {len(images)} picture(s) could not be read.")


@click.command("export-onnx")
@click.argument("model", type=click.Path(dir_okay=False))
@config_options(ExportConfig)
def export_command(model, **options) -> None:
    """Export a model file to ONNX beside it, checked against torch."""
    from ml.export import export_onnx

    with friendly_errors():
        config = config_from_options(ExportConfig, options)
        result = export_onnx(model, tolerance=config.tolerance, check_batch=config.check_batch)
    click.echo(f"onnx: {result['onnx']}\nmetadata: {result['metadata']}")
    click.echo(f"max probability difference torch vs onnxruntime: {result['max_abs_diff']:.1e} "
               f"(tolerance {result['tolerance']:.0e}, opset {result['opset']})")


model_commands = (train_command, evaluate_command, predict_command, export_command)
