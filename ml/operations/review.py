"""The review before training, declared once: the features suspects are judged with (the review page, the API, `jobs.review`)."""

from __future__ import annotations

from dataclasses import dataclass

from ..choices import ARCH_NAMES
from .fields import N_, Config, setting


@dataclass
class ReviewConfig(Config):
    """Which features `ml.review.find_suspects` uses when no model is given: a frozen ImageNet backbone, at what size."""

    what = "review setting"

    backbone: str = setting("efficientnet_lite0", choices=ARCH_NAMES, web=True, label=N_("Backbone"),
                            help="The frozen ImageNet backbone whose features judge the pictures when no model is active.")
    image_size: int = setting(224, low=32, high=512, web=True, label=N_("Image size"),
                              help="Input size of that backbone, in pixels (smaller: faster, rougher).")
