"""`flask dataset scan|split|stats|review PATH`: the data steps of the pipeline from a terminal."""

from __future__ import annotations

import click

from ml.operations import ReviewConfig, SplitConfig

from .console import friendly_errors, progress_bars, table
from .options import config_from_options, config_options


@click.group("dataset")
def dataset_cli() -> None:
    """Check, split and measure a dataset folder (one subfolder per class)."""


def _existing_folder():
    return click.Path(file_okay=False, dir_okay=True, path_type=str)


@dataset_cli.command("scan")
@click.argument("path", type=_existing_folder())
@click.option("--dry-run", is_flag=True, help="Report unreadable files without moving them to .rejected/.")
def scan_command(path: str, dry_run: bool) -> None:
    """Count pictures per class, set aside unreadable ones, report duplicates."""
    from ml.dataset import scan

    with friendly_errors(), progress_bars() as bars:
        result = scan(path, move_rejected=not dry_run, on_progress=bars)
    _print_scan(result)


def _print_scan(result) -> None:
    by_class_rejected: dict[str, int] = {}
    for item in result.rejected:
        cls = item["path"].split("/", 1)[0]
        by_class_rejected[cls] = by_class_rejected.get(cls, 0) + 1
    rows = [[cls, n, by_class_rejected.get(cls, 0)] for cls, n in result.classes.items()]
    rows.append(["TOTAL", result.usable, len(result.rejected)])
    click.echo(table(["class", "usable", "rejected"], rows))
    summary = result.summary()
    click.echo(
        f"\n{len(result.classes)} classes, {result.usable} usable pictures; "
        f"exact duplicate groups: {summary['exact_duplicate_groups']}, "
        f"near duplicate groups: {summary['near_duplicate_groups']}, "
        f"groups spanning classes: {summary['cross_class_groups']}."
    )
    if result.ignored:
        click.echo(f"Ignored files at the root (not classes): {', '.join(result.ignored)}")
    for item in result.rejected:
        click.echo(f"rejected {item['path']} → {item['moved_to']}: {item['reason']}")
    for group in result.cross_class_groups:
        click.echo(f"same picture in several classes: {', '.join(group)}")
    for cls in result.empty_classes:
        click.echo(f"warning: class '{cls}' has no usable pictures", err=True)


@dataset_cli.command("split")
@click.argument("path", type=_existing_folder())
@config_options(SplitConfig)
def split_command(path: str, **options) -> None:
    """Write train.txt/test.txt (and val.txt) with whole duplicate groups kept on one side."""
    from ml.dataset import split

    with friendly_errors():
        config = config_from_options(SplitConfig, options)
    with friendly_errors(), progress_bars() as bars:
        result = split(path, test=config.test, val=config.val, seed=config.seed, on_progress=bars)
    seed = config.seed
    parts = ["train", "val", "test"] if config.val > 0 else ["train", "test"]
    rows = [[i, cls, *(result.counts[cls][p] for p in parts)] for i, cls in enumerate(result.classes)]
    rows.append(["", "TOTAL", *(sum(c[p] for c in result.counts.values()) for p in parts)])
    click.echo(table(["label", "class", *parts], rows))
    click.echo(
        f"\nseed {seed}; fingerprint {result.fingerprint}; duplicate groups straddling parts: "
        f"{result.groups_across_parts}; lists written to {path}"
    )


@dataset_cli.command("stats")
@click.argument("path", type=_existing_folder())
@click.option("--size", default=224, show_default=True, type=int, help="Square size pictures are measured at.")
def stats_command(path: str, size: int) -> None:
    """Per-channel mean and std over the training split, saved in dataset.json."""
    from ml.dataset import stats

    with friendly_errors(), progress_bars() as bars:
        result = stats(path, size=size, on_progress=bars)
    rows = [[ch, f"{m:.4f}", f"{s:.4f}"] for ch, m, s in zip("RGB", result.mean, result.std)]
    click.echo(table(["channel", "mean", "std"], rows))
    click.echo(f"\n{result.images} training pictures at {size}×{size}" + (f", {result.skipped} unreadable skipped" if result.skipped else ""))


@dataset_cli.command("review")
@click.argument("path", type=_existing_folder())
@click.option("--model", "model_path", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Judge with this model file's features (default: the backbone below).")
@config_options(ReviewConfig)
def review_command(path: str, model_path: str | None, **options) -> None:
    """Find suspect pictures (nearer another class, far from their own); saved in .review/suspects.json."""
    from ml.review import find_suspects, write_suspects

    with friendly_errors():
        config = config_from_options(ReviewConfig, options)
    with friendly_errors(), progress_bars() as bars:
        result = find_suspects(path, model_path=model_path, backbone=config.backbone, image_size=config.image_size,
                               on_progress=bars)
        saved = write_suspects(path, result)
    ranked = sorted(result["suspects"].items(), key=lambda item: -float(item[1].get("score") or 0))
    rows = [[rel, ", ".join(v["reasons"]), v.get("nearest") or "", v.get("score", "")] for rel, v in ranked]
    if rows:
        click.echo(table(["picture", "reasons", "looks like", "score"], rows))
    features = result["features"]
    click.echo(f"\n{len(rows)} suspect pictures of {result['checked']} ({features['kind']} {features['name']}, "
               f"{features['size']} px); saved to {saved}; review them at /datasets/<name>/review")


@dataset_cli.command("add-from")
@click.argument("source", type=_existing_folder())
@click.argument("dest", type=click.Path(file_okay=False, path_type=str))
@click.option("--only-sources", default="", help="Comma-separated SOURCES.csv sources to take (default: all).")
@click.option("--exclude-sources", default="", help="Comma-separated SOURCES.csv sources to leave out.")
@click.option("--prefix", default="add", show_default=True, help="Prefix of the copied file names.")
def add_from_command(source: str, dest: str, only_sources: str, exclude_sources: str, prefix: str) -> None:
    """Copy the class folders of SOURCE into DEST, optionally filtered by the sources in SOURCES.csv."""
    from ml.dataset.merge import add_from

    def names(text: str) -> list[str]:
        return [s.strip() for s in text.split(",") if s.strip()]

    with friendly_errors():
        counts = add_from(source, dest, only_sources=names(only_sources) or None,
                          exclude_sources=names(exclude_sources), prefix=prefix)
    click.echo(table(["class", "added"], [[c, n] for c, n in sorted(counts.items())] + [["TOTAL", sum(counts.values())]]))
