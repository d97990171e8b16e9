"""Training settings: declared once, torch-free, in `ml.operations.train.TrainConfig`; resolved here.

    resolve_config(TrainConfig(arch="efficientnet_lite0", mode="linear"))   # defaults filled in, or MLError

`TrainConfig.validate()` checks choices and bounds without torch (the web app and the CLI call it
before anything runs); `resolve_config` adds what needs torch: the architecture's input size and
the device. The model file keeps the result as `meta.train_config`, and a resumed run must match
it (`ml.operations.train.RESUMABLE_CHANGES`).
"""

from __future__ import annotations

from dataclasses import replace

from ..choices import MODES
from ..device import pick_device
from ..models import get_arch
from ..operations.train import DEFAULT_EPOCHS, DEFAULT_LABEL_SMOOTHING, TrainConfig

#: Epochs of head-only fitting before the last stages start learning (LP-FT).
PROBE_EPOCHS = 30


def resolve_config(config: TrainConfig) -> TrainConfig:
    """A copy with defaults filled in (epochs, smoothing, WiSE-FT alpha, probe epochs, image size, device), or MLError.

    Codes: bad_config (from `TrainConfig.validate`), unknown_arch, device_unavailable (cuda or mps
    asked for, none here).
    """
    cfg = config.validate()
    cfg = replace(cfg, epochs=cfg.epochs if cfg.epochs is not None else DEFAULT_EPOCHS.get(cfg.mode, 10))
    if cfg.label_smoothing is None:
        cfg = replace(cfg, label_smoothing=DEFAULT_LABEL_SMOOTHING.get(cfg.mode, 0.0))
    if cfg.wise_alpha is None:
        cfg = replace(cfg, wise_alpha=1.0)  # averaging measured no gain (docs/model.md): off unless asked for
    if cfg.probe_epochs is None:
        probe = {"finetune": 20, "last_stages": PROBE_EPOCHS}.get(cfg.mode, 0)
        cfg = replace(cfg, probe_epochs=probe if cfg.pretrained == "imagenet" else 0)
    if cfg.image_size is None:
        cfg = replace(cfg, image_size=get_arch(cfg.arch).input_size)
    get_arch(cfg.arch)
    return replace(cfg, device=pick_device(cfg.device, cfg.amp).type).validate()


__all__ = ["DEFAULT_EPOCHS", "MODES", "PROBE_EPOCHS", "TrainConfig", "resolve_config"]
