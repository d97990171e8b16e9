"""Job: train a model on a split dataset, export ONNX, evaluate, then move it into place and register it.

Everything is written under MODEL_DIR/.partial-<job id>/ first; only a complete model is renamed to
its final folder and registered, so a killed or failed job never leaves a half-written active model.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import replace
from pathlib import Path

from ml.operations import TrainConfig
from ml.places import partial_model_dir

from .common import dataset_root
from .runner import JobContext, run_job


def run(dataset: str, config: dict | None = None) -> dict:
    """RQ entry point ("jobs.train.run"): train on `dataset` with `config` (`TrainConfig` as JSON, defaults for the rest)."""

    def body(ctx: JobContext) -> dict:
        settings = TrainConfig.from_dict(config or {}).validate()
        from ml.dataset import read_split
        from ml.device import pick_device
        from ml.errors import DatasetError
        from ml.evaluate import evaluate
        from ml.export import export_onnx
        from ml.training import train

        root = dataset_root(ctx.host.setting("DATA_DIR"), dataset)
        classes, _ = read_split(root, "train")
        models = Path(ctx.host.setting("MODEL_DIR"))
        models.mkdir(parents=True, exist_ok=True)
        partial = partial_model_dir(models, ctx.job_id)
        name = f"{dataset}-{settings.arch}-{time.strftime('%Y%m%d-%H%M%S')}-{ctx.job_id[:6]}"
        chosen = pick_device(settings.device, settings.amp)
        ctx.log(f"device: {chosen.label}")
        try:
            result = train(root, partial, replace(settings, name=name), on_progress=ctx.on_progress,
                           should_stop=ctx.should_stop)
            ctx.log(f"trained: in-source test accuracy {result.metrics.get('accuracy')} (photos from the training sources)")
            export_onnx(result.model_path)
            metrics = dict(result.metrics)
            try:
                if "per_class" not in metrics:  # ml.training usually scores the test part itself
                    metrics.update(evaluate(result.model_path, root, part="test", device=chosen.type,
                                            on_progress=ctx.on_progress, should_stop=ctx.should_stop))
            except DatasetError as exc:
                ctx.log(f"evaluation skipped: {exc.message}")
            final = models / name
            os.replace(partial, final)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        model_path = final / Path(result.model_path).relative_to(partial)
        fingerprint = (metrics.get("dataset_fingerprint") or metrics.get("fingerprint")
                       or _split_fingerprint(root))
        model_id = ctx.host.register_model(model_path, name=name, arch=settings.arch, classes=classes,
                                           metrics=_jsonable(metrics), dataset_fingerprint=fingerprint)
        ctx.log(f"registered model version {model_id} ({name}); accuracy {metrics.get('accuracy')}")
        return {"model_id": model_id, "name": name, "accuracy": metrics.get("accuracy"), "path": str(model_path),
                "device": chosen.label}

    return run_job(body)


def _split_fingerprint(root: Path) -> str | None:
    from ml.dataset import read_metadata

    return (read_metadata(root).get("split") or {}).get("fingerprint")


def _jsonable(value):
    """Metrics as plain JSON (numpy numbers and tuples come back from ml)."""
    import json

    return json.loads(json.dumps(value, default=lambda o: o.item() if hasattr(o, "item") else str(o)))
