"""Job: evaluate a registered model on a dataset part; metrics.json and confusion.png land beside the model."""

from __future__ import annotations

from ml.operations import EvaluateConfig

from .common import dataset_root
from .runner import JobContext, run_job


def run(model_id: int, dataset: str, config: dict | None = None) -> dict:
    """RQ entry point ("jobs.evaluate.run"): `config` is an `EvaluateConfig` as JSON (defaults for the rest)."""

    def body(ctx: JobContext) -> dict:
        settings = EvaluateConfig.from_dict(config or {}).validate()
        from ml.evaluate import evaluate

        from .train import _jsonable

        path = ctx.host.model_path(model_id)
        metrics = _jsonable(evaluate(path, dataset_root(ctx.host.setting("DATA_DIR"), dataset), part=settings.part,
                                     backend=settings.backend, device=settings.device, batch_size=settings.batch_size,
                                     only_sources=settings.only_sources, exclude_sources=settings.exclude_sources,
                                     skip_unknown_classes=settings.skip_unknown_classes, kind=settings.kind,
                                     tag=settings.tag, on_progress=ctx.on_progress, should_stop=ctx.should_stop))
        part = metrics.get("part") or settings.part
        ctx.host.add_evaluation(model_id, f"{dataset}:{part}", metrics)
        ctx.log(f"accuracy on {dataset}/{part}: {metrics.get('accuracy')} (ECE {metrics.get('ece')}, "
                f"{metrics.get('backend')} on {metrics.get('device')})")
        return {"model_id": model_id, "dataset": dataset, "part": part, "accuracy": metrics.get("accuracy"),
                "metrics": metrics}

    return run_job(body)
