"""The dashboard's job forms, drawn from each operation's declaration (`ml.operations`).

Every `web=True` setting of a job kind's config becomes one form row with the declared label,
default, choices and bounds; `tasks.enqueue` checks what comes back against the same declaration.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ml.operations import Config, Setting


@dataclass(frozen=True)
class FormField:
    """One input of a job form, ready for `admin/_fields.html`."""

    name: str
    label: str  # English msgid; the template translates it
    widget: str  # "select" or "input"
    input_type: str  # for inputs: "number" or "text"
    value: str  # the declared default as the form shows it ("" for None)
    choices: tuple[str, ...]
    hint: str | None  # placeholder msgid, or the label of the empty choice of an optional select
    optional: bool
    attrs: dict[str, Any]


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    return str(value)


def form_field(spec: Setting) -> FormField:
    """The form input for one declared setting."""
    attrs: dict[str, Any] = {"required": "required"} if spec.required else {}
    if spec.choices or spec.kind is bool:
        choices = tuple(str(c) for c in spec.choices) if spec.choices else ("true", "false")
        return FormField(spec.name, spec.label or spec.name, "select", "", _shown(spec.default), choices, spec.hint,
                         spec.optional, attrs)
    if spec.kind in (int, float):
        low = spec.low if spec.low is not None else spec.above
        high = spec.high if spec.high is not None else spec.below
        if low is not None:
            attrs["min"] = low
        if high is not None:
            attrs["max"] = high
        attrs["step"] = "1" if spec.kind is int else "any"
        return FormField(spec.name, spec.label or spec.name, "input", "number", _shown(spec.default), (), spec.hint,
                         spec.optional, attrs)
    return FormField(spec.name, spec.label or spec.name, "input", "text", _shown(spec.default), (), spec.hint,
                     spec.optional, attrs)


def form_fields(config: type[Config]) -> list[FormField]:
    """The inputs of the form for `config`: its web settings, in declaration order."""
    return [form_field(spec) for spec in config.web_settings()]
