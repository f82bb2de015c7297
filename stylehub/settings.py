"""Settings dataclasses (one per engine, shared by the CLI and the app), each field declared once.

A field made with `setting()` carries what the CLI and the app need to offer it: its help text, its choices, its
range, whether it is a command-line option, and how the app shows it (`App`). A plain field is internal: only code
sets it.
"""
from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass

from .errors import SettingsError

KEY = "stylehub"  # the key of a field's SettingInfo in its metadata
MAX_SEED = 2 ** 31  # seeds are 0 <= seed < MAX_SEED


@dataclass(frozen=True)
class App:
    """How the app shows a setting."""

    label: str
    row: str | None = None  # controls with the same row sit side by side; None: a line of its own
    advanced: bool = True  # in the Advanced section; False: above it
    slider: tuple[float, float, float] | None = None  # (low, high, step): a slider rather than a number box
    placeholder: str = ""
    info: str | None = None


@dataclass(frozen=True)
class SettingInfo:
    """What the command line and the app need to offer a setting."""

    help: str = ""
    choices: tuple = ()
    minimum: float | None = None
    maximum: float | None = None
    cli: bool = True  # an option of the engine's command
    aliases: tuple[str, ...] = ()  # more option names
    app: App | None = None  # None: not in the app


def setting(default=dataclasses.MISSING, *, factory=dataclasses.MISSING, help: str = "", choices=(),
            minimum: float | None = None, maximum: float | None = None, cli: bool = True, aliases=(),
            app: App | None = None):
    """A settings field with its declaration (see SettingInfo); `factory` makes a mutable default."""
    info = SettingInfo(help, tuple(choices), minimum, maximum, cli, tuple(aliases), app)
    return dataclasses.field(default=default, default_factory=factory, metadata={KEY: info})


def declared(settings_class) -> list[tuple[dataclasses.Field, SettingInfo]]:
    """The fields declared with setting(), in order, each with its SettingInfo."""
    return [(f, f.metadata[KEY]) for f in dataclasses.fields(settings_class) if KEY in f.metadata]


def value_type(settings_class, name: str):
    """A field's type without its `| None`: int, float, str, bool, list[float], dict[str, float], ..."""
    hint = typing.get_type_hints(settings_class)[name]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        hint, = (kind for kind in typing.get_args(hint) if kind is not type(None))
    return hint


def given_values(settings_class, values: dict) -> dict:
    """The values among `values` (a parsed command line's, say) that name a field and are set (not None)."""
    return {f.name: values[f.name] for f in dataclasses.fields(settings_class) if values.get(f.name) is not None}


class Settings:
    def replace(self, **changes):
        """A copy with some fields changed; an unknown field name is an error, not silently ignored."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise SettingsError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def check_choices(self) -> None:
        """SettingsError unless every setting declared with choices has one of them."""
        for f, info in declared(self):
            value = getattr(self, f.name)
            if info.choices and value not in info.choices:
                raise SettingsError(f"{f.name} must be one of {', '.join(map(str, info.choices))}, not {value!r}")


# -- checks shared by the engines' settings ----------------------------------------------------------------------

def parse_layer_weights(text: str) -> dict[str, float]:
    """'relu1_1, relu2_1:0.5' -> {'relu1_1': 1.0, 'relu2_1': 0.5} (a missing weight is 1)."""
    weights = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, weight = item.partition(":")
        try:
            weights[name.strip()] = float(weight) if weight.strip() else 1.0
        except ValueError:
            raise SettingsError(f"bad layer weight {item!r}; write NAME or NAME:WEIGHT") from None
    enforce(bool(weights), "no layers given")
    return check_layer_weights(weights)


def enforce(condition: bool, message: str) -> None:
    """SettingsError(message) unless the condition holds."""
    if not condition:
        raise SettingsError(message)


def is_number(value, low: float, high: float = math.inf, *, above: bool = False) -> bool:
    """Whether value is a finite number in [low, high] (above low, when `above`)."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            and (value > low if above else value >= low) and value <= high)


def require_number(name: str, value, low: float, high: float = math.inf, *, above: bool = False) -> None:
    """SettingsError unless value is a finite number in [low, high] (above low, when `above`)."""
    bounds = f"> {low:g}" if above else f">= {low:g}"
    bounds += f" and <= {high:g}" if high < math.inf else ""
    enforce(is_number(value, low, high, above=above), f"{name} must be a finite number {bounds}, not {value!r}")


def check_loss_weights(settings) -> None:
    """content_weight, style_weight and tv_weight (of either engine's settings): finite numbers >= 0."""
    bad = [f"{name}={getattr(settings, name)!r}" for name in ("content_weight", "style_weight", "tv_weight")
           if not is_number(getattr(settings, name), 0.0)]
    enforce(not bad, f"loss weights must be finite numbers >= 0, not {', '.join(bad)}")


def check_layer_weights(weights: dict[str, float]) -> dict[str, float]:
    """The layer weights, each a finite number >= 0; SettingsError otherwise."""
    for name, weight in weights.items():
        require_number(f"the weight of layer {name}", weight, 0.0)
    return weights


def check_blend(weights, name: str) -> None:
    """Blend weights: finite, >= 0, not all 0, with a finite sum (only their ratios matter)."""
    for weight in weights:
        require_number(f"every {name} weight", weight, 0.0)
    enforce(0 < sum(weights) < math.inf, f"{name} weights must not all be 0 and their sum must be finite; only "
                                          f"their ratios matter, so scale them down")


def check_seed(seed) -> None:
    enforce(isinstance(seed, int) and not isinstance(seed, bool) and 0 <= seed < MAX_SEED,
             f"seed must be a whole number from 0 to {MAX_SEED - 1}, not {seed!r}")
