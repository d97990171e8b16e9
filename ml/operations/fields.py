"""The small machinery every operation's declaration shares: a described setting and a config base.

A setting is a dataclass field whose `metadata` says what the adapters need to offer it:

    epochs: int | None = setting(None, help="Passes over the training pictures.", low=1, high=500,
                                 label=N_("Epochs"), web=True)

`Config.from_dict` builds a config from plain values (JSON, a form's strings), refusing unknown
keys; `validate()` checks choices and bounds from that metadata, then the config's own `check()`.
Every refusal is an `MLError` with code bad_config that names the setting. Torch-free.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from ..errors import MLError

C = TypeVar("C", bound="Config")


def N_(message: str) -> str:
    """Mark a label for `pybabel extract`; the web app translates it where it is shown (`_(label)`)."""
    return message


def setting(default: Any = dataclasses.MISSING, *, help: str, label: str | None = None, hint: str | None = None,
            choices: tuple | None = None, low: float | None = None, high: float | None = None,
            above: float | None = None, below: float | None = None, web: bool = False, cli: bool = True,
            flag: str | None = None, required: bool = False, default_factory: Any = dataclasses.MISSING) -> Any:
    """A dataclass field described for the adapters.

    `help`: one line for `--help` and the docs. `label`/`hint`: the admin form's label and
    placeholder (marked with `N_`). `choices`: the allowed values. `low`/`high`: inclusive bounds,
    `above`/`below`: exclusive ones. `web`: the admin form and the API may set it (a setting that
    names a server path or a file stays off the web). `cli`: the CLI offers it as an option.
    `flag`: for a bool that defaults to True, the CLI's switch that turns it off ("--no-augment").
    `required`: the form may not be sent without it (its default, such as no keywords, is refused).
    """
    metadata = {"help": help, "label": label, "hint": hint, "choices": tuple(choices) if choices else None,
                "low": low, "high": high, "above": above, "below": below, "web": web, "cli": cli, "flag": flag,
                "required": required}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclass(frozen=True)
class Setting:
    """One declared setting as the adapters see it: name, plain type, default and metadata."""

    name: str
    kind: type  # int, float, bool, str, or dict/list/tuple for values no form can give
    optional: bool  # None is allowed (it means "the default for the other settings")
    default: Any
    meta: dict

    @property
    def choices(self) -> tuple | None:
        return self.meta["choices"]

    def __getattr__(self, key: str) -> Any:  # help, label, hint, low, high, above, below, web, cli, flag, required
        try:
            return self.meta[key]
        except KeyError:
            raise AttributeError(key) from None


def _plain_type(hint: Any) -> tuple[type, bool]:
    """(int, True) for `int | None`; (dict, False) for `dict[str, list[str]]`."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        kind, _ = _plain_type(rest[0])
        return kind, len(rest) < len(args)
    origin = typing.get_origin(hint)
    return (origin or hint), False


def _bad(name: str, message: str) -> MLError:
    return MLError(f"Bad setting {name}: {message}.", code="bad_config")


def _coerce(spec: Setting, value: Any) -> Any:
    """A plain value (maybe a form's string) as the setting's type, or MLError naming the setting."""
    if value is None or (spec.optional and value == ""):
        if spec.optional:
            return None
        raise _bad(spec.name, "a value is needed")
    kind = spec.kind
    if kind is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "1", "yes", "on"):
            return True
        if text in ("false", "0", "no", "off"):
            return False
        raise _bad(spec.name, f"must be true or false, not {value!r}")
    if kind in (int, float):
        number = _number(value, kind)
        if number is None:
            raise _bad(spec.name, f"must be {'a whole number' if kind is int else 'a number'}, not {value!r}")
        return number
    if kind is str:
        if not isinstance(value, (str, int, float)):
            raise _bad(spec.name, f"must be text, not {value!r}")
        return str(value).strip()
    if kind is tuple and isinstance(value, list):
        return tuple(value)
    return value


def _number(value: Any, kind: type) -> int | float | None:
    """`value` as an int or a finite float, or None when it is not one ("fast", True, 2.5 for an int)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip()) if kind is float else int(value.strip())
        except ValueError:
            return None
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    if kind is int:
        return int(value) if float(value).is_integer() else None
    return float(value)


class Config:
    """Base of every operation's config dataclass: `from_dict`, `validate`, `to_dict`, `settings`."""

    #: What this config is called in messages ("training setting").
    what: ClassVar[str] = "setting"

    @classmethod
    def settings(cls) -> list[Setting]:
        """The declared settings, in declaration order, with their plain types."""
        hints = typing.get_type_hints(cls)
        out = []
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            kind, optional = _plain_type(hints[f.name])
            default = f.default if f.default is not dataclasses.MISSING else (
                f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
            out.append(Setting(f.name, kind, optional, default, dict(f.metadata)))
        return out

    @classmethod
    def web_settings(cls) -> list[Setting]:
        """The settings the admin form and the API may set."""
        return [s for s in cls.settings() if s.web]

    @classmethod
    def from_dict(cls: type[C], data: dict[str, Any], *, web: bool = False) -> C:
        """Build from plain values (JSON or form strings); unknown keys (or, with `web`, off-web ones) refused."""
        if not isinstance(data, dict):
            raise MLError(f"The {cls.what}s must be an object of names and values.", code="bad_config")
        specs = {s.name: s for s in cls.settings()}
        unknown = sorted(set(data) - set(specs))
        if unknown:
            raise MLError(f"Unknown {cls.what}(s): {', '.join(unknown)}.", code="bad_config")
        if web:
            hidden = sorted(k for k in data if not specs[k].web)
            if hidden:
                raise MLError(f"Not settable from the web: {', '.join(hidden)}.", code="bad_config")
        return cls(**{k: _coerce(specs[k], v) for k, v in data.items()})

    def validate(self: C) -> C:
        """`self` when every setting is one of its choices and within its bounds; else MLError naming it."""
        for spec in self.settings():
            value = getattr(self, spec.name)
            if value is None:
                if spec.optional:
                    continue
                raise _bad(spec.name, "a value is needed")
            if spec.choices and value not in spec.choices:
                raise _bad(spec.name, f"{value!r} is not one of {', '.join(map(str, spec.choices))}")
            if spec.kind in (int, float) and not isinstance(value, bool):
                low, high, above, below = spec.low, spec.high, spec.above, spec.below
                if (low is not None and value < low) or (high is not None and value > high):
                    raise _bad(spec.name, f"{value} is not between {low} and {high}"
                               if low is not None and high is not None else
                               f"{value} must be at least {low}" if low is not None else f"{value} must be at most {high}")
                if (above is not None and value <= above) or (below is not None and value >= below):
                    raise _bad(spec.name, f"{value} must be above {above}" if above is not None and value <= above
                               else f"{value} must be below {below}")
        self.check()
        return self

    def check(self) -> None:
        """Checks that span several settings; raise MLError (bad_config). Override where needed."""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-friendly values: `type(self).from_dict(self.to_dict()) == self`."""
        return dataclasses.asdict(self)  # type: ignore[call-overload]
