"""Fine-tune only the last stages of a pretrained backbone: the recipe that generalised best.

    LastStages   stem and early stages frozen (their feature maps computed once, through
                 onnxruntime on a CPU); the last stages, the head conv and the classifier learn,
                 with BatchNorm statistics kept as pretrained, at a tenth of the head's rate,
                 after the head was first fitted on frozen features (LP-FT). Each training
                 picture's maps are cached for its centre square, its mirror and, with
                 augmentation, two random resized crops (`CROP_VIEWS`); every epoch takes one of
                 them per picture.

On photos from sources never seen in training this beat the linear probe by about a point
(bench/recipes_finetune.py, docs/model.md) and costs a few minutes on a CPU, because the expensive
early stages run once per picture instead of once per epoch.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..device import CPU, Device
from ..frozen import module_runner
from ..models import split_backbone
from ..progress import ProgressFn, StopFn, check_stop, report
from ..transforms import random_resized_crop
from .config import PROBE_EPOCHS
from .data import CachedSplit, batch_indices, to_input

#: Random resized crops cached per training picture beside the centre and mirrored views: out-of-source
#: 95.1% against 94.4%, pooled over five training sources each left out in turn (bench/recipes_loso.py, docs/model.md).
CROP_VIEWS = 2


class LastStages:
    """Train the last stages and the head on cached feature maps of the frozen first stages."""

    single_thread = False

    def __init__(self, model: nn.Module, arch: str, mean, std, batch_size: int, augment: bool,
                 probe_epochs: int = PROBE_EPOCHS, *, device: Device = CPU, seed: int = 0,
                 crop_views: int = CROP_VIEWS, cache_dir: Path | None = None):
        self.seed, self.crop_views, self.cache_dir = seed, crop_views, cache_dir
        self.model, self.arch, self.mean, self.std = model, arch, mean, std
        self.batch_size, self.augment, self.probe_epochs, self.device = batch_size, augment, probe_epochs, device
        self.frozen, self.top = split_backbone(model, arch)
        self.trainable = self.top
        for p in self.frozen.parameters():
            p.requires_grad_(False)
        self.maps: dict[str, list[torch.Tensor]] = {}  # per split: one float16 tensor per view (centre first)
        self.labels: dict[str, torch.Tensor] = {}
        self.engine = "torch"

    def param_groups(self, lr: float, backbone_factor: float) -> list[dict]:
        head_ids = {id(p) for p in self.top.head.parameters()}
        stages = [p for p in self.top.parameters() if id(p) not in head_ids]
        return [{"params": stages, "lr": lr * backbone_factor, "name": "backbone"},
                {"params": list(self.top.head.parameters()), "lr": lr, "name": "head"}]

    def prepare(self, splits: dict[str, CachedSplit], on_progress: ProgressFn | None, should_stop: StopFn | None) -> None:
        """Feature maps of every split once (training pictures mirrored too), then fit the head alone."""
        size = next(iter(splits.values())).pixels.shape[1]
        run, self.engine = module_runner(self.frozen, size, device=self.device)
        train_views = ("centre", "mirror") + ("crop",) * self.crop_views
        jobs = [(name, split, view) for name, split in splits.items()
                for view in (train_views if name == "train" and self.augment else ("centre",))]
        total, done = sum(len(split) for _, split, _ in jobs), 0
        report(on_progress, "features", 0, total)
        rng = np.random.default_rng(self.seed + 1)
        for number, (name, split, view) in enumerate(jobs):
            store: np.ndarray | None = None
            for index in batch_indices(len(split), 64, 0, shuffle=False):
                check_stop(should_stop)
                pixels = split.pixels[index]
                if view == "mirror":
                    pixels = pixels[:, :, ::-1, :]
                elif view == "crop":
                    pixels = np.stack([random_resized_crop(np.asarray(p), rng) for p in pixels])
                chunk = run(to_input(pixels, self.mean, self.std)).to("cpu", torch.float16).numpy()
                if store is None:
                    store = self._store(f"{name}-{number}", (len(split), *chunk.shape[1:]))
                store[index] = chunk
                done += len(index)
                report(on_progress, "features", done, total, part=name)
            self.maps.setdefault(name, []).append(torch.from_numpy(store))
            self.labels[name] = torch.from_numpy(np.asarray(split.labels))
        if self.probe_epochs:
            self._probe_head(on_progress, should_stop)

    def _store(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """Room for one view's maps: a float16 file in the run's cache folder (the OS pages it in and
        out as needed, so four views of a large dataset need not fit in memory), in memory without one."""
        if self.cache_dir is None:
            return np.empty(shape, dtype=np.float16)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        return np.lib.format.open_memmap(self.cache_dir / f"maps-{name}.npy", mode="w+", dtype=np.float16, shape=shape)

    def _pooled(self, maps: torch.Tensor) -> torch.Tensor:
        self.top.eval()
        out = []
        with torch.inference_mode(), self.device.autocast():
            for start in range(0, len(maps), 64):
                out.append(self.top.features(maps[start : start + 64].to(self.device.torch).float()).float())
        return torch.cat(out) if out else torch.zeros(0)

    def _probe_head(self, on_progress, should_stop) -> None:
        # A head fitted on frozen features first keeps the first fine-tuning steps from wrecking
        # the pretrained stages with large, noisy gradients (LP-FT).
        views = self.maps["train"][:2]  # centre and mirror, as the recipe was measured (bench/recipes_loso.py)
        feats = torch.cat([self._pooled(m) for m in views])
        labels = self.labels["train"].repeat(len(views)).to(self.device.torch)
        head = self.top.head
        optimizer = torch.optim.AdamW(head.parameters(), lr=1e-3, weight_decay=1e-4)
        for epoch in range(self.probe_epochs):
            for index in batch_indices(len(labels), 32, epoch):
                check_stop(should_stop)
                loss = nn.functional.cross_entropy(head(feats[index]), labels[index])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            report(on_progress, "probe", epoch + 1, self.probe_epochs, loss=round(loss.item(), 4))

    def steps_per_epoch(self) -> int:
        return len(batch_indices(len(self.labels["train"]), self.batch_size, 0))

    def begin_epoch(self, epoch: int) -> None:
        """Train mode for the last stages, but BatchNorm keeps its pretrained statistics."""
        self.top.train()
        for module in self.top.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()

    def batches(self, epoch_seed: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        views, labels = self.maps["train"], self.labels["train"]
        rng = np.random.default_rng(epoch_seed)
        for index in batch_indices(len(labels), self.batch_size, epoch_seed):
            choice = rng.integers(0, len(views), len(index))  # each picture once per epoch, a random view
            maps = torch.stack([views[v][i] for v, i in zip(choice, index)])
            yield maps.to(self.device.torch).float(), labels[index].to(self.device.torch)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.top(inputs)

    def centre_features(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Pooled features (from the tuned stages) and labels of a split's centre views, on the CPU."""
        return self._pooled(self.maps[name][0]).cpu(), self.labels[name]

    def logits(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Scores and labels for a whole prepared split, in eval mode."""
        feats = self._pooled(self.maps[name][0])
        with torch.inference_mode():
            return self.top.head(feats).float().cpu(), self.labels[name]


__all__ = ["LastStages"]
