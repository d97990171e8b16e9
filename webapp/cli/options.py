"""Click options built from an operation's declaration (`ml.operations`): one adapter for every command.

    @click.command("train")
    @config_options(TrainConfig)
    def train_command(dataset, **options):
        config = config_from_options(TrainConfig, options)

Each `cli=True` setting becomes `--<name-with-dashes>` with the declared default, choices, bounds
and help; a bool that defaults to True becomes its declared off switch (`--no-augment`). Adding a
setting to the dataclass adds the option.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from ml.operations import Config, Setting


def _param_type(spec: Setting) -> Any:
    if spec.choices:
        return click.Choice([str(c) for c in spec.choices])
    if spec.kind in (int, float):
        low = spec.low if spec.low is not None else spec.above
        high = spec.high if spec.high is not None else spec.below
        if low is None and high is None:
            return spec.kind
        cls = click.IntRange if spec.kind is int else click.FloatRange
        return cls(min=low, max=high, min_open=spec.above is not None, max_open=spec.below is not None)
    return str


def option_for(spec: Setting) -> Callable:
    """The click option decorator for one declared setting."""
    name = "--" + spec.name.replace("_", "-")
    if spec.kind is bool:
        if spec.default:
            if not spec.flag:
                raise TypeError(f"{spec.name} defaults to True: declare the CLI switch that turns it off (flag=...)")
            return click.option(spec.flag, spec.name, is_flag=True, flag_value=False, default=True, help=spec.help)
        return click.option(name, spec.name, is_flag=True, default=False, help=spec.help)
    return click.option(name, spec.name, type=_param_type(spec), default=spec.default,
                        show_default=spec.default is not None, help=spec.help)


def config_options(cls: type[Config], *, skip: tuple[str, ...] = ()) -> Callable:
    """A decorator adding one option per CLI setting of `cls` (in declaration order), except `skip`."""
    specs = [s for s in cls.settings() if s.cli and s.name not in skip]

    def decorate(func: Callable) -> Callable:
        for spec in reversed(specs):
            func = option_for(spec)(func)
        return func

    return decorate


def config_from_options(cls: type[Config], options: dict[str, Any], **extra: Any) -> Any:
    """Take `cls`'s settings out of a command's `options` (the rest stays), add `extra`, build and validate."""
    names = {s.name for s in cls.settings()}
    values = {k: options.pop(k) for k in list(options) if k in names}
    return cls.from_dict({**values, **extra}).validate()
