"""The linear probe: the backbone frozen, its features computed once, only the head learns.

Seconds to a minute on a CPU. One of the strategies behind `ml.training.strategy.Strategy`.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from ..device import CPU, Device
from ..frozen import feature_runner
from ..models import backbone_parameters, head_of
from ..progress import ProgressFn, StopFn, check_stop, report
from .data import CachedSplit, batch_indices, to_input


class LinearProbe:
    """Train only the head on features the frozen backbone computed once."""

    single_thread = True

    def __init__(self, model: nn.Module, arch: str, mean, std, batch_size: int, augment: bool, *, device: Device = CPU):
        self.model, self.arch, self.mean, self.std = model, arch, mean, std
        self.batch_size, self.augment, self.device = batch_size, augment, device
        self.trainable = head_of(model, arch)
        # Channels-last runs the convolutions 1.4-2.6x faster on CPU (depthwise ones most).
        model.to(memory_format=torch.channels_last)
        for p in backbone_parameters(model, arch):
            p.requires_grad_(False)
        self.features: dict[str, torch.Tensor] = {}
        self.labels: dict[str, torch.Tensor] = {}
        self.counts: dict[str, int] = {}
        self.engine = "torch"

    def param_groups(self, lr: float, backbone_factor: float) -> list[dict]:
        return [{"params": list(self.trainable.parameters()), "lr": lr, "name": "head"}]

    def prepare(self, splits: dict[str, CachedSplit], on_progress: ProgressFn | None, should_stop: StopFn | None) -> None:
        """Run the backbone once over every split (and mirrored training pictures when augmenting)."""
        size = next(iter(splits.values())).pixels.shape[1]
        extract, self.engine = feature_runner(self.model, self.arch, size, device=self.device)
        jobs = [(name, split, False) for name, split in splits.items()]
        if self.augment and "train" in splits:
            jobs.append(("train", splits["train"], True))
        total = sum(len(split) for _, split, _ in jobs)
        done = 0
        report(on_progress, "features", 0, total)
        for name, split, mirror in jobs:
            chunks = []
            for index in batch_indices(len(split), 64, 0, shuffle=False):
                check_stop(should_stop)
                pixels = split.pixels[index]
                if mirror:
                    pixels = pixels[:, :, ::-1, :]
                chunks.append(extract(to_input(pixels, self.mean, self.std)))
                done += len(index)
                report(on_progress, "features", done, total, part=name)
            feats = torch.cat(chunks) if chunks else torch.zeros(0)
            labels = torch.from_numpy(np.asarray(split.labels)).to(self.device.torch)
            if mirror:
                self.features[name] = torch.cat([self.features[name], feats])
                self.labels[name] = torch.cat([self.labels[name], labels])
            else:
                self.features[name], self.labels[name] = feats, labels
                self.counts[name] = len(labels)

    def steps_per_epoch(self) -> int:
        return len(batch_indices(len(self.labels["train"]), self.batch_size, 0))

    def begin_epoch(self, epoch: int) -> None:
        self.trainable.train()

    def batches(self, epoch_seed: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        feats, labels = self.features["train"], self.labels["train"]
        for index in batch_indices(len(labels), self.batch_size, epoch_seed):
            yield feats[index], labels[index]

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.trainable(inputs)

    def centre_features(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Pooled features and labels of a split's centre views (no mirrored copies), on the CPU."""
        n = self.counts[name]
        return self.features[name][:n].cpu(), self.labels[name][:n].cpu()

    def logits(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Scores and labels for a whole prepared split, in eval mode."""
        self.trainable.eval()
        with torch.inference_mode(), self.device.autocast():
            return self.trainable(self.features[name]).float().cpu(), self.labels[name].cpu()


__all__ = ["LinearProbe"]
