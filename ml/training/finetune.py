"""Fine-tuning: the whole network learns on augmented pictures, the backbone more slowly than the head.

With a pretrained backbone the new head is first fitted on frozen features (a linear probe, then
fine-tuning: LP-FT). One of the strategies behind `ml.training.strategy.Strategy`.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from ..device import CPU, Device
from ..frozen import feature_runner
from ..models import backbone_parameters, head_of
from ..progress import check_stop, report
from .data import CachedSplit, batch_indices, to_input
from .linear import LinearProbe


class FineTune:
    """Train the whole network on augmented pictures; the backbone learns more slowly than the head."""

    single_thread = False

    def __init__(self, model: nn.Module, arch: str, mean, std, batch_size: int, augment: bool,
                 image_size: int, warmup_epochs: int, probe_epochs: int = 0, *, device: Device = CPU):
        self.model, self.arch, self.mean, self.std = model, arch, mean, std
        self.batch_size, self.augment, self.size, self.warmup = batch_size, augment, image_size, warmup_epochs
        self.probe_epochs, self.device = probe_epochs, device
        self.trainable = model
        model.to(memory_format=torch.channels_last)
        self.splits: dict[str, CachedSplit] = {}
        self._augment = self._make_augment() if augment else None

    def _make_augment(self):
        from torchvision.transforms import v2

        return v2.Compose([
            v2.RandomResizedCrop(self.size, scale=(0.35, 1.0), antialias=True),
            v2.RandomHorizontalFlip(),
            v2.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3),
        ])

    def param_groups(self, lr: float, backbone_factor: float) -> list[dict]:
        return [
            {"params": backbone_parameters(self.model, self.arch), "lr": lr * backbone_factor, "name": "backbone"},
            {"params": list(head_of(self.model, self.arch).parameters()), "lr": lr, "name": "head"},
        ]

    def prepare(self, splits: dict[str, CachedSplit], on_progress, should_stop) -> None:
        """Keep the cached splits; first fit the new head on frozen features (linear probe, then fine-tune)."""
        self.splits = splits
        if self.probe_epochs:
            self._probe_head(splits["train"], on_progress, should_stop)

    def _probe_head(self, train: CachedSplit, on_progress, should_stop) -> None:
        # Fine-tuning from a random head sends large, noisy gradients into the pretrained backbone;
        # a head fitted on frozen features first (LP-FT) trains faster and ends better.
        margin = (train.pixels.shape[1] - self.size) // 2
        centre = CachedSplit(train.pixels[:, margin : margin + self.size, margin : margin + self.size],
                             train.labels, train.files)
        probe = LinearProbe(self.model, self.arch, self.mean, self.std, self.batch_size, augment=True, device=self.device)
        probe.prepare({"train": centre}, on_progress, should_stop)
        head = probe.trainable
        optimizer = torch.optim.Adam(head.parameters(), lr=1e-3)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            for epoch in range(self.probe_epochs):
                for inputs, targets in probe.batches(epoch):
                    check_stop(should_stop)
                    loss = nn.functional.cross_entropy(head(inputs), targets)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                report(on_progress, "probe", epoch + 1, self.probe_epochs, loss=round(loss.item(), 4))
        finally:
            torch.set_num_threads(threads)
        for p in self.model.parameters():
            p.requires_grad_(True)

    def steps_per_epoch(self) -> int:
        return len(batch_indices(len(self.splits["train"]), self.batch_size, 0))

    def begin_epoch(self, epoch: int) -> None:
        """Train mode; during warm-up the backbone stays frozen (weights and BatchNorm statistics)."""
        frozen = epoch < self.warmup
        self.model.train()
        for p in backbone_parameters(self.model, self.arch):
            p.requires_grad_(not frozen)
        if frozen:
            head = head_of(self.model, self.arch)
            for module in self.model.modules():
                if module is not head and not any(module is m for m in head.modules()):
                    module.eval()
            head.train()

    def batches(self, epoch_seed: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        split = self.splits["train"]
        torch.manual_seed(epoch_seed)
        for index in batch_indices(len(split), self.batch_size, epoch_seed):
            pixels = torch.from_numpy(np.ascontiguousarray(split.pixels[index])).permute(0, 3, 1, 2)
            if self._augment is not None:
                pixels = torch.stack([self._augment(img) for img in pixels])
            elif pixels.shape[-1] != self.size:
                pixels = torch.nn.functional.interpolate(pixels.float(), size=self.size, mode="bilinear").round().byte()
            targets = torch.from_numpy(split.labels[index])
            yield (to_input(pixels.permute(0, 2, 3, 1), self.mean, self.std).to(self.device.torch, non_blocking=True),
                   targets.to(self.device.torch, non_blocking=True))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.model(inputs)

    def centre_features(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Pooled features and labels of a split's centre squares, from the trained backbone, on the CPU."""
        split = self.splits[name]
        margin = (split.pixels.shape[1] - self.size) // 2
        self.model.eval()
        extract, _ = feature_runner(self.model, self.arch, self.size, device=self.device)
        chunks = []
        for index in batch_indices(len(split), 64, 0, shuffle=False):
            pixels = split.pixels[index][:, margin : margin + self.size, margin : margin + self.size]
            chunks.append(extract(to_input(pixels, self.mean, self.std)).cpu())
        return torch.cat(chunks), torch.from_numpy(np.asarray(split.labels))

    def logits(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        split = self.splits[name]
        self.model.eval()
        chunks = []
        with torch.inference_mode(), self.device.autocast():
            for index in batch_indices(len(split), 64, 0, shuffle=False):
                x = to_input(split.pixels[index], self.mean, self.std).to(self.device.torch, non_blocking=True)
                chunks.append(self.model(x).float().cpu())
        return torch.cat(chunks), torch.from_numpy(np.asarray(split.labels))


__all__ = ["FineTune"]
