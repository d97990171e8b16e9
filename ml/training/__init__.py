"""Training a classifier: `from ml.training import TrainConfig, train`.

    config.py       resolve_config: TrainConfig (declared in ml.operations.train) with torch's defaults
    data.py         hold-out, the per-run pixel cache, batches, pixels to model input
    strategy.py     the one interface of a way of training, and the choice by mode:
      linear.py       LinearProbe (frozen backbone, head on features computed once)
      last_stages.py  LastStages (last stages + head on cached maps of the frozen first stages)
      finetune.py     FineTune (the whole network, augmented pictures)
    loop.py         the epoch loop, with the checkpoints (last.pt, best.pt) written and read
    run.py          train(): one run from a split dataset to a model file

Importing this package loads no torch: the names below are looked up on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {"TrainConfig": ".config", "TrainResult": ".run", "resolve_config": ".config", "train": ".run"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name], __name__), name)
