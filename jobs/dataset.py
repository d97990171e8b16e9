"""Job: scan a dataset (reject unreadable files, find duplicates), split it leakage-free, measure its colours."""

from __future__ import annotations

from .common import dataset_root
from .runner import JobContext, run_job


def run(dataset: str, test: float = 0.2, val: float = 0.0, seed: int = 0) -> dict:
    """RQ entry point ("jobs.dataset.run")."""

    def body(ctx: JobContext) -> dict:
        from ml.dataset import split, stats

        root = dataset_root(ctx.host.setting("DATA_DIR"), dataset)
        report = split(root, test=test, val=val, seed=seed, on_progress=ctx.on_progress, should_stop=ctx.should_stop)
        summary = report.summary()
        ctx.log(f"split: {summary['counts']}")
        channel = stats(root, on_progress=ctx.on_progress, should_stop=ctx.should_stop).as_dict()
        ctx.host.record_dataset(dataset, fingerprint=summary.get("fingerprint"), split=summary, stats=channel)
        return {"dataset": dataset, "split": summary, "stats": channel}

    return run_job(body)
