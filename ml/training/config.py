"""Every training setting, its defaults and its checks: `TrainConfig`.

    TrainConfig(arch="efficientnet_lite0", mode="linear").resolved()   # defaults filled in, or MLError

JSON-friendly (`TrainConfig(**json.loads(text))` round-trips); the model file keeps it as
`meta.train_config`, and a resumed run must match it (`ml.training.loop.RESUMABLE_CHANGES`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ..choices import DEFAULT_ARCH, DEFAULT_MODE, MODES, PRETRAINED_CHOICES
from ..device import pick_device
from ..errors import MLError
from ..models import get_arch
from ..openset import UNKNOWN_RATE
from ..settings import from_known_fields

DEFAULT_EPOCHS = {"linear": 30, "last_stages": 4, "finetune": 8}
#: Label smoothing when none is given: last-stages fine-tuning was chosen with 0.1 (docs/model.md).
DEFAULT_LABEL_SMOOTHING = {"last_stages": 0.1}
#: Epochs of head-only fitting before the last stages start learning (LP-FT).
PROBE_EPOCHS = 30


@dataclass
class TrainConfig:
    """Every training setting, JSON-friendly: `TrainConfig(**json.loads(text))` round-trips."""

    arch: str = DEFAULT_ARCH
    pretrained: str = "imagenet"
    mode: str = DEFAULT_MODE
    epochs: int | None = None  # None: 30 for linear, 8 for finetune
    lr: float = 1e-3  # the head's; the backbone gets lr × backbone_lr_factor
    backbone_lr_factor: float = 0.1
    batch_size: int = 32
    seed: int = 0
    image_size: int | None = None  # None: the architecture's own input size (224, lite1 240, lite2 260)
    optimizer: str = "adamw"  # adam | adamw
    weight_decay: float = 1e-4
    label_smoothing: float | None = None  # None: 0.1 for last_stages, else 0
    schedule: str = "cosine"  # cosine | step | constant
    step_epochs: int = 0  # step schedule: epochs between ×gamma drops (0: a third of the run)
    gamma: float = 0.1
    class_weights: str = "none"  # none | balanced
    augment: bool = True
    warmup_epochs: int = 0  # finetune: epochs with the backbone frozen first
    probe_epochs: int | None = None  # finetune: fit the head on frozen features first (None: 20 if pretrained)
    patience: int = 0  # stop after this many epochs without validation gain (0: never)
    val_fraction: float = 0.1  # held out from train when the dataset has no val split
    weights_file: str | None = None  # local ImageNet weights instead of download/cache
    display_names: dict[str, list[str]] | None = None
    name: str | None = None  # model file stem; default "<arch>-<mode>-<time>"
    resume: bool = False
    open_set: bool = True  # fit the "none of my classes" check and the temperature on validation pictures
    unknown_rate: float = UNKNOWN_RATE  # share of known validation pictures the check may call unknown
    device: str = "auto"  # auto | cpu | cuda | mps; auto: CUDA, then MPS, then the CPU
    amp: bool = True  # mixed precision (bfloat16/float16 autocast) when the device is CUDA

    def resolved(self) -> TrainConfig:
        """A copy with defaults filled in (image size, device), or MLError naming the bad setting.

        Codes: bad_config, unknown_arch, device_unavailable (cuda or mps asked for, none here).
        """
        cfg = replace(self, epochs=self.epochs if self.epochs is not None else DEFAULT_EPOCHS.get(self.mode, 10))
        if cfg.label_smoothing is None:
            cfg = replace(cfg, label_smoothing=DEFAULT_LABEL_SMOOTHING.get(cfg.mode, 0.0))
        if cfg.probe_epochs is None:
            probe = {"finetune": 20, "last_stages": PROBE_EPOCHS}.get(cfg.mode, 0)
            cfg = replace(cfg, probe_epochs=probe if cfg.pretrained == "imagenet" else 0)
        if cfg.image_size is None:
            cfg = replace(cfg, image_size=get_arch(cfg.arch).input_size)
        get_arch(cfg.arch)
        cfg = replace(cfg, device=pick_device(cfg.device, cfg.amp).type)
        checks = [
            (cfg.mode in MODES, f"mode must be one of {MODES}"),
            (cfg.pretrained in PRETRAINED_CHOICES, f"pretrained must be one of {PRETRAINED_CHOICES}"),
            (cfg.optimizer in ("adam", "adamw"), "optimizer must be adam or adamw"),
            (cfg.schedule in ("cosine", "step", "constant"), "schedule must be cosine, step or constant"),
            (cfg.class_weights in ("none", "balanced"), "class_weights must be none or balanced"),
            (cfg.epochs >= 1, "epochs must be at least 1"),
            (cfg.lr > 0, "lr must be positive"),
            (cfg.batch_size >= 1, "batch_size must be at least 1"),
            (32 <= cfg.image_size <= 1024, "image_size must be between 32 and 1024"),
            (0 <= cfg.label_smoothing < 1, "label_smoothing must be in [0, 1)"),
            (0 <= cfg.val_fraction < 0.5, "val_fraction must be in [0, 0.5)"),
            (0 < cfg.unknown_rate < 0.5, "unknown_rate must be in (0, 0.5)"),
            (min(cfg.warmup_epochs, cfg.patience, cfg.probe_epochs) >= 0, "warmup, probe and patience epochs must be >= 0"),
        ]
        for ok, message in checks:
            if not ok:
                raise MLError(f"Bad training setting: {message}.", code="bad_config")
        return cfg

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Build from a dict, refusing unknown keys with a clear message."""
        return from_known_fields(cls, data, what="training setting(s)")


__all__ = ["DEFAULT_EPOCHS", "MODES", "PROBE_EPOCHS", "TrainConfig"]
