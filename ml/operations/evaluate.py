"""Evaluation, declared once: the settings and where the report files go (`flask evaluate`, admin, API, `jobs.evaluate`)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..choices import DEVICES, EVAL_KINDS, EVAL_PARTS
from .fields import N_, Config, setting

#: The report files of one evaluation, by kind, and their suffixes after `<stem>[.<tag>]`.
REPORT_SUFFIXES = {"metrics": ".metrics.json", "confusion": ".confusion.png", "reliability": ".reliability.png"}
#: Parts a split dataset has (the admin form offers these; "all" needs no split).
SPLIT_PARTS = ("test", "val", "train")


@dataclass
class EvaluateConfig(Config):
    """How to score a model file on a dataset: which part, on what, and how the report is named."""

    what = "evaluation setting"

    part: str | None = setting(None, choices=EVAL_PARTS, web=True, label=N_("Part"),
                               hint=N_("test (a split dataset), all (any folder)"),
                               help="Default: test for a split dataset; all (every picture in the class folders) "
                                    "for any other folder.")
    backend: str = setting("auto", choices=("auto", "onnx", "torch"), help="Which runtime scores the pictures.")
    device: str = setting("auto", choices=DEVICES, web=True, label=N_("Device"),
                          help="Where the torch backend runs; auto: CUDA, then MPS, then the CPU.")
    batch_size: int = setting(32, low=1, high=1024, help="Pictures per batch.")
    only_sources: str | None = setting(None, help="Score only pictures of these sources (comma separated, as "
                                                  "SOURCES.csv names them).")
    exclude_sources: str | None = setting(None, help="Leave out pictures of these sources (comma separated).")
    skip_unknown_classes: bool = setting(False, help="Skip class folders the model does not know instead of failing.")
    kind: str = setting("unknown", choices=EVAL_KINDS,
                        help="Record whether these photos come from the training sources or from others.")
    tag: str | None = setting(None, help="Name the report files <model>.<tag>.metrics.json (default: the folder's name).")

    def check(self) -> None:
        if self.tag is not None:
            from .names import check_name

            check_name(self.tag, "Report tag")


def report_files(model_path: str | os.PathLike, tag: str | None = None,
                 out_dir: str | os.PathLike | None = None) -> dict[str, Path]:
    """Where evaluation writes its results: `<stem>[.<tag>].metrics.json`, `.confusion.png`, `.reliability.png`."""
    path = Path(model_path)
    base = (Path(out_dir) if out_dir else path.parent) / (path.stem + (f".{tag}" if tag else ""))
    return {kind: base.with_name(base.name + suffix) for kind, suffix in REPORT_SUFFIXES.items()}
