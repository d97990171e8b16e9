"""Job: search the web for keywords and download pictures into one class folder of a dataset."""

from __future__ import annotations

from ml.errors import MLError
from ml.operations import CrawlClassesRequest, CrawlRequest

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


def run_classes(dataset: str, config: dict) -> dict:
    """RQ entry point ("jobs.crawl.run_classes"): every class of `config` (a `CrawlClassesRequest`) crawled at once.

    One job, so even one worker crawls the classes concurrently, within one set of polite limits. A class
    that fails leaves the others to finish; the job then fails naming it (a retry redoes only the short classes).
    """

    def body(ctx: JobContext) -> dict:
        request = CrawlClassesRequest.from_dict(config).validate()
        from ml.crawl import CrawlConfig, crawl_together

        root = dataset_root(ctx.host.setting("DATA_DIR"), dataset, must_exist=False)
        root.mkdir(parents=True, exist_ok=True)
        polite = CrawlConfig(**{**ctx.host.setting("CRAWL_OPTIONS"), "base_url": ctx.host.setting("CRAWL_BASE_URL")})
        outcomes = crawl_together([r.to_dict() for r in request.requests()], root, config=polite,
                                  on_progress=ctx.on_progress, should_stop=ctx.should_stop)
        classes = {o.class_name: o.summary.as_dict() if o.summary else {} for o in outcomes}
        ctx.host.record_dataset(dataset, crawls=classes)
        for o in outcomes:
            s = classes[o.class_name]
            ctx.log(f"crawl {o.class_name}: " + (f"failed: {o.error.message}" if o.error else
                                                 f"downloaded {s.get('downloaded')} of {s.get('found')} found"))
        failed = [o for o in outcomes if o.error is not None]
        if failed:
            first = failed[0].error
            raise MLError("; ".join(f"{o.class_name}: {o.error.message}" for o in failed), code=first.code)
        return {"dataset": dataset, "classes": classes,
                "total": sum(int(s.get("total") or 0) for s in classes.values())}

    return run_job(body)
