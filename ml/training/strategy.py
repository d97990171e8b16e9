"""The one small interface every way of training offers the loop, and the choice of one by mode.

    linear       `LinearProbe`  backbone frozen, features computed once, only the head learns
    last_stages  `LastStages`   first stages frozen (their maps computed once), last stages + head learn
    finetune     `FineTune`     the whole network learns on augmented pictures

`ml.training.loop.TrainingLoop` drives any of them the same way: `prepare` once, then per epoch
`begin_epoch` and `forward` over `batches`; `trainable` is what the checkpoints hold.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ..device import Device
from ..progress import ProgressFn, StopFn
from .data import CachedSplit
from .finetune import FineTune
from .last_stages import LastStages
from .linear import LinearProbe

if TYPE_CHECKING:
    import torch
    from torch import nn

    from .config import TrainConfig


class Strategy(Protocol):
    """What the training loop needs from a way of training."""

    #: The module that learns: its state is what last.pt and the best epoch keep.
    trainable: nn.Module
    #: Tiny steps that run faster on one CPU thread than on many.
    single_thread: bool

    def prepare(self, splits: dict[str, CachedSplit], on_progress: ProgressFn | None, should_stop: StopFn | None) -> None:
        """Once before the first epoch: keep the splits, compute what stays frozen, fit a first head."""

    def param_groups(self, lr: float, backbone_factor: float) -> list[dict]:
        """The optimizer's parameter groups (the backbone's at `lr × backbone_factor`)."""

    def steps_per_epoch(self) -> int:
        """How many batches one epoch has."""

    def begin_epoch(self, epoch: int) -> None:
        """Set train/eval modes (and what is frozen) for this epoch."""

    def batches(self, epoch_seed: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """One epoch of (inputs, targets), shuffled by `epoch_seed`, on the training device."""

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """Logits of one batch from `batches`."""

    def logits(self, part: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Scores and labels of a whole prepared split part, in eval mode, on the CPU."""

    def centre_features(self, part: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Pooled features and labels of a split part's centre views, on the CPU (for the open-set check)."""


def make_strategy(cfg: TrainConfig, model: nn.Module, mean: Sequence[float], std: Sequence[float], device: Device,
                  *, resuming: bool = False, cache_dir: Path | None = None) -> Strategy:
    """The strategy `cfg.mode` names; a resumed run skips the head's first fit (last.pt has it)."""
    probe_epochs = 0 if resuming else cfg.probe_epochs
    if cfg.mode == "last_stages":
        return LastStages(model, cfg.arch, mean, std, cfg.batch_size, cfg.augment, probe_epochs, device=device,
                          seed=cfg.seed, cache_dir=cache_dir)
    if cfg.mode == "linear":
        return LinearProbe(model, cfg.arch, mean, std, cfg.batch_size, cfg.augment, device=device)
    return FineTune(model, cfg.arch, mean, std, cfg.batch_size, cfg.augment, cfg.image_size, cfg.warmup_epochs,
                    probe_epochs, device=device)


__all__ = ["Strategy", "make_strategy"]
