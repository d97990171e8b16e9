"""Job: scan a dataset (reject unreadable files, find duplicates), split it leakage-free, measure its colours."""

from __future__ import annotations

from ml.operations import SplitConfig

from .common import dataset_root
from .runner import JobContext, run_job


def run(dataset: str, config: dict | None = None) -> dict:
    """RQ entry point ("jobs.dataset.run"): `config` is a `SplitConfig` as JSON (defaults for the rest)."""

    def body(ctx: JobContext) -> dict:
        settings = SplitConfig.from_dict(config or {}).validate()
        from ml.dataset import split, stats

        root = dataset_root(ctx.host.setting("DATA_DIR"), dataset)
        report = split(root, test=settings.test, val=settings.val, seed=settings.seed,
                       on_progress=ctx.on_progress, should_stop=ctx.should_stop)
        summary = report.summary()
        ctx.log(f"split: {summary['counts']}")
        channel = stats(root, on_progress=ctx.on_progress, should_stop=ctx.should_stop).as_dict()
        ctx.host.record_dataset(dataset, fingerprint=summary.get("fingerprint"), split=summary, stats=channel)
        return {"dataset": dataset, "split": summary, "stats": channel}

    return run_job(body)
