"""`flask train|evaluate|predict|export-onnx`: the model steps of the pipeline from a terminal."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from ml.choices import ARCH_NAMES, DEFAULT_ARCH, DEFAULT_MODE, DEVICES, EVAL_KINDS, EVAL_PARTS, MODES

from .console import friendly_errors, progress_bars, table


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
@click.option("--arch", type=click.Choice(ARCH_NAMES), default=DEFAULT_ARCH, show_default=True)
@click.option("--pretrained", type=click.Choice(["imagenet", "none"]), default="imagenet", show_default=True)
@click.option("--mode", type=click.Choice(MODES), default=DEFAULT_MODE, show_default=True,
              help="linear: train the head on frozen features (fast); finetune: train the whole network.")
@click.option("--epochs", type=int, default=None, help="Default 30 (linear) or 8 (finetune).")
@click.option("--lr", type=float, default=1e-3, show_default=True, help="Learning rate of the head.")
@click.option("--backbone-lr-factor", type=float, default=0.1, show_default=True, help="Backbone LR = lr × this (finetune).")
@click.option("--batch-size", type=int, default=32, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--image-size", type=int, default=None,
              help="Default: the architecture's own input size (224; efficientnet_lite1 240, lite2 260).")
@click.option("--optimizer", type=click.Choice(["adamw", "adam"]), default="adamw", show_default=True)
@click.option("--schedule", type=click.Choice(["cosine", "step", "constant"]), default="cosine", show_default=True)
@click.option("--label-smoothing", type=float, default=0.0, show_default=True)
@click.option("--class-weights", type=click.Choice(["none", "balanced"]), default="none", show_default=True)
@click.option("--warmup-epochs", type=int, default=0, show_default=True, help="Finetune: epochs with the backbone frozen first.")
@click.option("--patience", type=int, default=0, show_default=True, help="Stop after N epochs without validation gain (0: off).")
@click.option("--no-augment", is_flag=True, help="Train without random crops, flips and colour jitter.")
@click.option("--weights", "weights_file", type=click.Path(dir_okay=False), help="Local ImageNet weights file.")
@click.option("--display-names", "display_names_file", type=click.Path(dir_okay=False),
              help='JSON file: {"en": [...], "zh": [...]} with one name per class.')
@click.option("--name", help="Model file name (without .pt); default <arch>-<mode>-<time>.")
@click.option("--out", type=click.Path(file_okay=False), help="Folder for the model file; default the app's MODEL_DIR.")
@click.option("--resume", "resume_dir", type=click.Path(file_okay=False, exists=True), help="Continue the run in this folder.")
@click.option("--onnx", "export", is_flag=True, help="Also export the model to ONNX when training ends.")
@click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True,
              help="auto: CUDA, then Apple's MPS, then the CPU.")
@click.option("--no-amp", is_flag=True, help="On CUDA, train in float32 instead of mixed precision.")
@with_appcontext
def train_command(dataset, arch, pretrained, mode, epochs, lr, backbone_lr_factor, batch_size, seed, image_size,
                  optimizer, schedule, label_smoothing, class_weights, warmup_epochs, patience, no_augment,
                  weights_file, display_names_file, name, out, resume_dir, export, device, no_amp) -> None:
    """Train a classifier on a split dataset and write a self-describing model file."""
    from ml.training import TrainConfig, train

    root = _dataset_path(dataset)
    out_dir = Path(out) if out else Path(current_app.config["MODEL_DIR"])
    with friendly_errors():
        run_dir = Path(resume_dir) if resume_dir else None
        name = name or (run_dir.name if run_dir else f"{arch}-{mode}-{time.strftime('%Y%m%d-%H%M%S')}")
        run_dir = run_dir or Path(current_app.instance_path) / "runs" / name
        config = TrainConfig(
            arch=arch, pretrained=pretrained, mode=mode, epochs=epochs, lr=lr, backbone_lr_factor=backbone_lr_factor,
            batch_size=batch_size, seed=seed, image_size=image_size, optimizer=optimizer, schedule=schedule,
            label_smoothing=label_smoothing, class_weights=class_weights, warmup_epochs=warmup_epochs,
            patience=patience, augment=not no_augment, weights_file=weights_file,
            display_names=_display_names(display_names_file, root), name=name, resume=bool(resume_dir),
            device=device, amp=not no_amp,
        )
        from ml.device import pick_device

        click.echo(f"device: {pick_device(device, not no_amp).label}", err=True)
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
@click.option("--part", type=click.Choice(EVAL_PARTS), default=None,
              help="Default: test for a split dataset; all (every picture in the class folders) for any other folder.")
@click.option("--backend", type=click.Choice(["auto", "onnx", "torch"]), default="auto", show_default=True)
@click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True,
              help="Where the torch backend runs; auto: CUDA, then MPS, then the CPU.")
@click.option("--only-sources", help="Score only pictures of these sources (comma separated, as SOURCES.csv names them).")
@click.option("--exclude-sources", help="Leave out pictures of these sources (comma separated).")
@click.option("--skip-unknown-classes", is_flag=True, help="Skip class folders the model does not know instead of failing.")
@click.option("--kind", type=click.Choice(EVAL_KINDS), default="unknown", show_default=True,
              help="Record whether these photos come from the training sources or from others.")
@click.option("--tag", help="Name the report files <model>.<tag>.metrics.json (default: the folder's name).")
@click.option("--out", type=click.Path(file_okay=False), help="Folder for the report files; default beside the model.")
@click.option("--expect-unknown", is_flag=True,
              help="The folder holds photos of other things: report how many the model calls none of its classes.")
@with_appcontext
def evaluate_command(model, dataset, part, backend, device, only_sources, exclude_sources, skip_unknown_classes, kind,
                     tag, out, expect_unknown) -> None:
    """Score a model file on a split part or any folder of class folders: quality, calibration, sources."""
    from ml.evaluate import evaluate

    if expect_unknown:
        _evaluate_unknown(model, _dataset_path(dataset), backend, tag, out)
        return
    with friendly_errors(), progress_bars() as bars:
        metrics = evaluate(model, _dataset_path(dataset), part, backend=backend, device=device, only_sources=only_sources,
                           exclude_sources=exclude_sources, skip_unknown_classes=skip_unknown_classes, kind=kind,
                           tag=tag, out_dir=out, on_progress=bars)
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
def export_command(model) -> None:
    """Export a model file to ONNX beside it, checked against torch."""
    from ml.export import export_onnx

    with friendly_errors():
        result = export_onnx(model)
    click.echo(f"onnx: {result['onnx']}\nmetadata: {result['metadata']}")
    click.echo(f"max probability difference torch vs onnxruntime: {result['max_abs_diff']:.1e} "
               f"(tolerance {result['tolerance']:.0e}, opset {result['opset']})")


model_commands = (train_command, evaluate_command, predict_command, export_command)
