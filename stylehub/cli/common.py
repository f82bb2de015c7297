"""What every command shares: options from a settings dataclass, the progress bar, JSON output, warnings."""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
import typing
import warnings

from ..errors import StyleHubError, StyleHubWarning
from ..settings import declared, parse_layer_weights, value_type


def _layer_weights(text: str) -> dict[str, float]:
    try:
        return parse_layer_weights(text)
    except StyleHubError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def add_setting_options(parser, settings_class, leave_out=()) -> None:
    """An option --field-name for each command-line setting of the dataclass, typed by the field, with its choices
    and its default in the help. Left out, an option is None: the setting keeps the preset's value."""
    defaults = settings_class()
    for f, info in declared(settings_class):
        if not info.cli or f.name in leave_out:
            continue
        flag, default = "--" + f.name.replace("_", "-"), getattr(defaults, f.name)
        kind = value_type(settings_class, f.name)
        if kind is bool:  # a switch: --name, or --no-name for a setting on by default
            parser.add_argument("--no-" + flag[2:] if default else flag, *info.aliases, dest=f.name, default=None,
                                action="store_false" if default else "store_true",
                                help=_escaped(f"turn off: {info.help}" if default else info.help))
            continue
        shown = "" if default is None else f"(default {_shown(default)})"
        parser.add_argument(flag, *info.aliases, dest=f.name, choices=info.choices or None,
                            help=_escaped(" ".join(filter(None, (info.help, shown)))), **_parsing(kind))


def _parsing(kind) -> dict:
    """How argparse reads a setting of this type: a number, several numbers, or layer weights (L[:W],...)."""
    if typing.get_origin(kind) is dict:
        return {"type": _layer_weights, "metavar": "L[:W],..."}
    if typing.get_origin(kind) is list:
        return {"type": typing.get_args(kind)[0], "nargs": "+", "metavar": "W"}
    return {"type": kind}


def _shown(value) -> str:
    if isinstance(value, dict):
        return ",".join(f"{name}:{weight:g}" for name, weight in value.items())
    return str(value)


def _escaped(text: str) -> str:
    return text.replace("%", "%%")  # argparse formats help with %


def progress_bar(total: int, initial: int = 0):
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="step", file=sys.stderr, dynamic_ncols=True)


def report(as_json: bool, data, line: str) -> int:
    """What a command did: `data` as JSON with --json, else one line for a person; exit code 0."""
    if as_json:
        print_json(data)
    else:
        print(line)
    return 0


def print_json(data) -> None:
    """Print data as valid JSON: NaN and infinities, which JSON has not, become null."""
    print(json.dumps(_finite(data), allow_nan=False))


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


@contextlib.contextmanager
def one_line_warnings():
    """StyleHub's warnings printed as `stylehub: warning: ...`, every time; other warnings as usual."""
    with warnings.catch_warnings():  # restores the filters and showwarning afterwards
        shown = warnings.showwarning

        def show(message, category, filename, lineno, file=None, line=None):
            if issubclass(category, StyleHubWarning):
                print(f"stylehub: warning: {message}", file=sys.stderr)
            else:
                shown(message, category, filename, lineno, file, line)

        warnings.simplefilter("always", StyleHubWarning)
        warnings.showwarning = show
        yield
