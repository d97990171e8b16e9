"""A guided build, declared once: a new classifier from class names and keywords (`flask build`, the builder page, the API).

The build runs the other operations in order, each as its own job (crawl every class, scan, review,
split, train, evaluate, activate on confirmation); this declares only what a person chooses: the
dataset, the classes (name, keywords, display names), how many pictures per class, the training
recipe (`TrainConfig`'s web settings; empty means its recommended defaults) and whether to skip the
review. Torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import MLError
from .crawl import CrawlClassesRequest, CrawlRequest, split_keywords
from .fields import N_, Config, setting
from .names import clean_name
from .train import TrainConfig

#: The steps of a build, in order (each but review and activate runs one or more jobs).
STEPS = ("crawl", "scan", "review", "split", "train", "evaluate", "activate")

_COUNT = {s.name: s for s in CrawlRequest.settings()}["count"]
#: Display names a class may carry (the languages of the site).
LANGUAGES = ("zh", "en")


@dataclass
class BuildClass:
    """One class of a build: its folder name, the keywords that fetch it, and optional display names."""

    name: str
    keywords: list[str] = field(default_factory=list)
    display: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_value(cls, value: Any, index: int) -> BuildClass:
        """A class from plain values: {"name", "keywords", "display": {"zh", "en"}} (keywords may be one typed line)."""
        if not isinstance(value, dict):
            raise MLError(f"Bad setting classes: class {index + 1} must be an object with a name and keywords.",
                          code="bad_config")
        unknown = sorted(set(value) - {"name", "keywords", "display"})
        if unknown:
            raise MLError(f"Bad setting classes: class {index + 1} has unknown keys: {', '.join(unknown)}.",
                          code="bad_config")
        name = clean_name(value.get("name"), f"Class {index + 1}'s name", code="bad_class_name")
        keywords = split_keywords(value.get("keywords") or [])
        if not keywords:
            keywords = [name]  # the class name is the obvious search word (猫)
        display = value.get("display") or {}
        if not isinstance(display, dict) or not all(isinstance(v, str) for v in display.values()) \
                or set(display) - set(LANGUAGES):
            raise MLError(f"Bad setting classes: class {name!r}'s display names must map "
                          f"{' or '.join(LANGUAGES)} to text.", code="bad_config")
        return cls(name, keywords, {k: v.strip() for k, v in display.items() if v.strip()})

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "keywords": list(self.keywords), "display": dict(self.display)}


@dataclass
class BuildRequest(Config):
    """A new classifier: which classes, found with which keywords, how many pictures each, trained how."""

    what = "build setting"

    dataset: str = setting("", web=True, required=True, label=N_("Dataset name"),
                           help="The new dataset's folder (one name: 猫狗, pets).")
    classes: list = setting(default_factory=list, web=True, cli=False,
                            help='Classes: [{"name": "猫", "keywords": ["猫", "小猫"], "display": {"en": "cat"}}, ...].')
    per_class: int = setting(30, low=_COUNT.low, high=_COUNT.high, web=True, label=N_("Pictures per class"),
                             help="Pictures each class folder should hold after crawling.")
    skip_review: bool = setting(False, web=True, label=N_("Skip the review"),
                                help="Train without waiting for a person to look through the pictures.")
    recipe: dict = setting(default_factory=dict, web=True, cli=False,
                           help="Training settings (TrainConfig's web settings); empty: the recommended defaults.")

    def check(self) -> None:
        self.dataset = clean_name(self.dataset, "The dataset name", code="bad_dataset_name")
        if not isinstance(self.classes, list):
            raise MLError("Bad setting classes: give a list of classes.", code="bad_config")
        classes = [BuildClass.from_value(c, i) if not isinstance(c, BuildClass) else c
                   for i, c in enumerate(self.classes)]
        if len(classes) < 2:
            raise MLError("Bad setting classes: a classifier needs at least two classes.", code="bad_config")
        names = [c.name for c in classes]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise MLError(f"Bad setting classes: each class needs its own name ({', '.join(twice)} given twice).",
                          code="bad_config")
        self.classes = [c.as_dict() for c in classes]
        if not isinstance(self.recipe, dict):
            raise MLError("Bad setting recipe: give the training settings as an object.", code="bad_config")
        self.recipe = self.train_config_web()

    def train_config(self) -> TrainConfig:
        """The recipe as a validated `TrainConfig` (web settings only; the rest at their defaults)."""
        return TrainConfig.from_dict(self.recipe, web=True).validate()

    def train_config_web(self) -> dict[str, Any]:
        """The recipe's web settings, every one filled in (the defaults where the recipe says nothing)."""
        config = self.train_config()
        return {s.name: getattr(config, s.name) for s in TrainConfig.web_settings()}

    def class_names(self) -> list[str]:
        """The class folder names, in the order they were given."""
        return [c["name"] for c in self.classes]

    def display_names(self) -> dict[str, list[str]] | None:
        """{lang: one name per class in the training order (code point order)}, or None when none was given."""
        by_name = {c["name"]: c.get("display") or {} for c in self.classes}
        order = sorted(by_name)
        langs = [lang for lang in LANGUAGES if any(lang in d for d in by_name.values())]
        if not langs:
            return None
        return {lang: [by_name[n].get(lang) or n for n in order] for lang in langs}

    def crawl_classes(self, only: list[str] | None = None) -> CrawlClassesRequest:
        """Every class crawled at once (or only the classes named in `only`), validated."""
        wanted = [c for c in self.crawl_requests() if only is None or c.class_name in only]
        return CrawlClassesRequest(classes=[c.to_dict() for c in wanted]).validate()

    def crawl_requests(self) -> list[CrawlRequest]:
        """One crawl per class (into the class's own folder), validated."""
        return [CrawlRequest(keywords=list(c["keywords"]), class_name=c["name"], count=self.per_class).validate()
                for c in self.classes]
