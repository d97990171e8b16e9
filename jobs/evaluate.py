"""Job: evaluate a registered model on a dataset part; metrics.json and confusion.png land beside the model."""

from __future__ import annotations

from .common import dataset_root
from .runner import JobContext, run_job


def run(model_id: int, dataset: str, part: str = "test", device: str = "auto") -> dict:
    """RQ entry point ("jobs.evaluate.run")."""

    def body(ctx: JobContext) -> dict:
        from ml.evaluate import evaluate

        from .train import _jsonable

        path = ctx.host.model_path(model_id)
        metrics = _jsonable(evaluate(path, dataset_root(ctx.host.setting("DATA_DIR"), dataset), part=part,
                                     device=device, on_progress=ctx.on_progress, should_stop=ctx.should_stop))
        ctx.host.add_evaluation(model_id, f"{dataset}:{part}", metrics)
        ctx.log(f"accuracy on {dataset}/{part}: {metrics.get('accuracy')} (ECE {metrics.get('ece')}, "
                f"{metrics.get('backend')} on {metrics.get('device')})")
        return {"model_id": model_id, "dataset": dataset, "part": part, "accuracy": metrics.get("accuracy"),
                "metrics": metrics}

    return run_job(body)
