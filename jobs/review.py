"""Job: find suspect pictures of a dataset before training (far from their class, nearer another one).

The features are those of registered model `model_id` (the active one, as the web app enqueues it), or
of a frozen ImageNet backbone (`ml.operations.ReviewConfig`) when there is none; the result lands in
`<dataset>/.review/suspects.json`.
"""

from __future__ import annotations

from ml.operations import ReviewConfig

from .common import dataset_root
from .runner import JobContext, run_job


def run(dataset: str, model_id: int | None = None, config: dict | None = None) -> dict:
    """RQ entry point ("jobs.review.run"): `config` is a `ReviewConfig` as JSON (defaults for the rest)."""

    def body(ctx: JobContext) -> dict:
        settings = ReviewConfig.from_dict(config or {}).validate()
        from ml.review import find_suspects, write_suspects

        root = dataset_root(ctx.host.setting("DATA_DIR"), dataset)
        model_path = ctx.host.model_path(model_id) if model_id is not None else None
        result = find_suspects(root, model_path=model_path, backbone=settings.backbone, image_size=settings.image_size,
                               on_progress=ctx.on_progress, should_stop=ctx.should_stop)
        write_suspects(root, result)
        found = len(result["suspects"])
        ctx.log(f"review: {found} suspect pictures of {result['checked']} ({result['features']['kind']} "
                f"{result['features']['name']})")
        return {"dataset": dataset, "checked": result["checked"], "suspects": found, "features": result["features"]}

    return run_job(body)
