"""Job: evaluate a registered model on a dataset part; metrics.json and confusion.png land beside the model."""

from __future__ import annotations

from .common import dataset_root
from .runner import JobContext, run_job


def run(model_id: int, dataset: str, part: str = "test", device: str = "auto") -> dict:
    """RQ entry point ("jobs.evaluate.run")."""

    def body(ctx: JobContext) -> dict:
        from ml.errors import MLError
        from ml.evaluate import evaluate
        from webapp.extensions import db
        from webapp.models import ModelVersion

        from .train import _jsonable

        row = db.session.get(ModelVersion, model_id)
        if row is None:
            raise MLError(f"Model version {model_id} no longer exists.", code="model_missing")
        metrics = _jsonable(evaluate(row.path, dataset_root(dataset), part=part, device=device,
                                     on_progress=ctx.on_progress, should_stop=ctx.should_stop))
        row = db.session.get(ModelVersion, model_id)
        evaluations = dict((row.metrics or {}).get("evaluations") or {})
        evaluations[f"{dataset}:{part}"] = metrics
        row.metrics = {**(row.metrics or {}), "evaluations": evaluations}
        db.session.commit()
        ctx.log(f"accuracy on {dataset}/{part}: {metrics.get('accuracy')} (ECE {metrics.get('ece')}, "
                f"{metrics.get('backend')} on {metrics.get('device')})")
        return {"model_id": model_id, "dataset": dataset, "part": part, "accuracy": metrics.get("accuracy"),
                "metrics": metrics}

    return run_job(body)
