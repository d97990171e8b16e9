"""Scanning and splitting a dataset, declared once (`flask dataset split`, the admin form, the API, `jobs.dataset`)."""

from __future__ import annotations

from dataclasses import dataclass

from .fields import N_, Config, setting


@dataclass
class SplitConfig(Config):
    """How a dataset is split into train/val/test, whole duplicate groups kept on one side."""

    what = "split setting"

    test: float = setting(0.2, low=0.05, high=0.5, web=True, label=N_("Test fraction"),
                          help="Share of each class for testing.")
    val: float = setting(0.0, low=0.0, high=0.5, web=True, label=N_("Validation fraction"),
                         help="Share of each class for validation.")
    seed: int = setting(0, low=0, high=2**31 - 1, web=True, label=N_("Seed"), help="Same seed, same split.")
