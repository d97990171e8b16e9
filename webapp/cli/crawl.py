"""`flask crawl KEYWORD... --count 60 --dataset PATH`: fill a class folder from Baidu Images."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from ml.crawl.config import CrawlConfig
from ml.operations import CrawlRequest
from ml.operations.crawl import split_keywords

from .console import friendly_errors, progress_bars, table

_SETTINGS = {s.name: s for s in CrawlRequest.settings()}
_COUNT = _SETTINGS["count"]
#: The crawler's own defaults (ml.crawl.CrawlConfig): the politeness flags below show and start from them.
_POLITE = CrawlConfig()


def _stdin_is_terminal() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()


def _ask(count: int | None) -> tuple[list[str], int]:
    """Ask like the original spider.py did: a keyword, then how many pictures (unless given)."""
    text = click.prompt("关键词 / keyword (several: 猫, cat, 家猫)", type=str)
    if count is None:
        count = click.prompt("图片数量 / how many pictures", type=click.IntRange(min=_COUNT.low, max=_COUNT.high),
                             default=_COUNT.default)
    return split_keywords(text), count


@click.command("crawl")
@with_appcontext
@click.argument("keywords", nargs=-1)
@click.option("--count", type=click.IntRange(min=_COUNT.low, max=_COUNT.high), default=None,
              help=f"{_COUNT.help} (default {_COUNT.default}; asked for when no keyword is given).")
@click.option("--dataset", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Dataset folder; the class folder goes inside it (default: DATA_DIR/crawled).")
@click.option("--class-name", default=None, help=_SETTINGS["class_name"].help)
@click.option("--base-url", default=None, help=f"Search site root (default {_POLITE.base_url}).")
@click.option("--workers", type=click.IntRange(min=1, max=64), default=_POLITE.workers, show_default=True,
              help="Download threads.")
@click.option("--per-host", type=click.IntRange(min=1, max=64), default=_POLITE.per_host, show_default=True,
              help="Downloads at once per host.")
@click.option("--page-delay", type=click.FloatRange(min=0), default=_POLITE.page_delay, show_default=True,
              help="Seconds between result pages.")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=_POLITE.timeout[1], show_default=True,
              help="Read timeout in seconds.")
@click.option("--retries", type=click.IntRange(min=0, max=10), default=_POLITE.retries, show_default=True,
              help="Retries of a failed result page.")
@click.option("--image-retries", type=click.IntRange(min=0, max=10), default=_POLITE.image_retries, show_default=True,
              help="Retries of a failed picture.")
@click.option("--allow-network", "allow_networks", multiple=True, metavar="CIDR",
              help="Let the egress guard connect to this non-public network (repeatable; adds to CRAWL_OPTIONS).")
def crawl_command(keywords, count, dataset, class_name, base_url, workers, per_host, page_delay, timeout, retries,
                  image_retries, allow_networks) -> None:
    """Download pictures for KEYWORD(s) into one class folder: checked, deduplicated, resumable."""
    from ml.crawl import CrawlError, crawl

    words = split_keywords(list(keywords))
    if not words:
        if not _stdin_is_terminal():
            raise click.UsageError("Give at least one keyword, e.g. `flask crawl 猫 --count 60`.")
        words, count = _ask(count)
    count = count or _COUNT.default
    root = dataset if dataset is not None else Path(current_app.config["DATA_DIR"]) / "crawled"
    # CRAWL_OPTIONS gives what these flags do not set (egress allow-list, byte and pixel caps...).
    settings = dict(current_app.config.get("CRAWL_OPTIONS") or {})
    settings.update(workers=workers, per_host=per_host, page_delay=page_delay, retries=retries, image_retries=image_retries)
    settings["allow_networks"] = [*settings.get("allow_networks", ()), *allow_networks]
    settings["base_url"] = base_url or current_app.config.get("CRAWL_BASE_URL", _POLITE.base_url)
    settings["timeout"] = (min(_POLITE.timeout[0], timeout), timeout)
    with friendly_errors():
        request = CrawlRequest.from_dict({"keywords": words, "class_name": class_name, "count": count}).validate()
        config = CrawlConfig.from_dict(settings)
        try:
            with progress_bars() as bars:
                summary = crawl(request.keywords, root, class_name=request.class_name, count=request.count,
                                config=config, on_progress=bars)
        except CrawlError as exc:
            if exc.summary is not None:
                _print_summary(exc.summary, with_message=False)
            raise
    _print_summary(summary)


def _print_summary(summary, *, with_message: bool = True) -> None:
    s = summary.as_dict()
    click.echo(table(
        ["class", "found", "downloaded", "duplicates", "rejected", "in folder", "blocked"],
        [[s["class_name"], s["found"], s["downloaded"], s["duplicates"], s["rejected_total"], f"{s['total']}/{s['count']}",
          "yes" if s["blocked"] else "no"]],
    ))
    if s["rejected"]:
        click.echo("\n" + table(["rejected because", "results"], sorted(s["rejected"].items(), key=lambda kv: (-kv[1], kv[0]))))
    if s["skipped"]:
        click.echo(f"\n{s['skipped']} results were already handled by an earlier run (see {s['folder']}/.manifest.jsonl).")
    if with_message:
        click.echo(f"\n{s['message']}")
