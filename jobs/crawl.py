"""Job: search the web for keywords and download pictures into one class folder of a dataset."""

from __future__ import annotations

from ml.operations import CrawlRequest

from .common import dataset_root
from .runner import JobContext, run_job


def run(dataset: str, config: dict) -> dict:
    """RQ entry point ("jobs.crawl.run"): `config` is a `CrawlRequest` as JSON (keywords, class name, count)."""

    def body(ctx: JobContext) -> dict:
        request = CrawlRequest.from_dict(config).validate().with_class_name()
        class_name = request.class_name
        from ml.crawl import CrawlBlocked, CrawlConfig, crawl

        root = dataset_root(ctx.host.setting("DATA_DIR"), dataset, must_exist=False)
        root.mkdir(parents=True, exist_ok=True)
        polite = CrawlConfig(**{**ctx.host.setting("CRAWL_OPTIONS"), "base_url": ctx.host.setting("CRAWL_BASE_URL")})
        try:
            summary = crawl(request.keywords, root, class_name=class_name, count=request.count, config=polite,
                            on_progress=ctx.on_progress, should_stop=ctx.should_stop)
        except CrawlBlocked as exc:
            partial = exc.summary.as_dict() if getattr(exc, "summary", None) else {}
            ctx.host.record_dataset(dataset, crawls={class_name: partial})
            raise
        result = summary.as_dict()
        ctx.log(f"crawl: downloaded {result.get('downloaded')} of {result.get('found')} found")
        ctx.host.record_dataset(dataset, crawls={class_name: result})
        return {"dataset": dataset, **result}

    return run_job(body)
