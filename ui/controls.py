"""A tab's controls for the app settings of a settings dataclass, made from the fields' declarations
(stylehub.settings), and the handler that takes them by field name."""
from __future__ import annotations

import contextlib
import inspect
import typing

import gradio as gr

from stylehub.settings import SettingInfo, declared, parse_layer_weights, value_type

RADIO_CHOICES = 3  # at most this many choices show as radio buttons; more, as a dropdown


def app_settings(settings_class) -> list[str]:
    """The names of the settings the app shows, in field order (the order of the API's parameters)."""
    return [f.name for f, info in declared(settings_class) if info.app is not None]


def make_control(name: str, kind, info: SettingInfo, value, overrides: dict | None = None) -> gr.components.Component:
    """The control for one setting: radio buttons or a dropdown for choices, a checkbox, a text box for layer
    weights, a slider where the app declares one, else a number box with the setting's range. `overrides`: the
    control's own arguments, in place of the declared ones."""
    shown = info.app
    options = {"label": shown.label, "info": shown.info, "elem_id": name, "value": value, **(overrides or {})}
    choices = list(options.pop("choices", info.choices))
    if choices:  # the kind of control follows the declared choices, not those this server offers
        return (gr.Radio if len(info.choices or choices) <= RADIO_CHOICES else gr.Dropdown)(choices, **options)
    if kind is bool:
        return gr.Checkbox(**options)
    if kind not in (int, float):
        return gr.Textbox(**{"placeholder": shown.placeholder, **options, "value": _text(options["value"])})
    if shown.slider:
        low, high, step = shown.slider
        return gr.Slider(low, high, step=step, **options)
    return gr.Number(**{"precision": 0 if kind is int else None, "minimum": info.minimum, "maximum": info.maximum,
                        **options})


def make_controls(settings_class, defaults, *, advanced: bool, overrides=None) -> dict[str, gr.components.Component]:
    """The controls of the settings shown in the Advanced section (or above it), in field order; those declared
    with the same row side by side, each row where its first field comes."""
    overrides = overrides or {}
    rows: dict[str, list] = {}
    for f, info in declared(settings_class):
        if info.app is not None and info.app.advanced == advanced:
            rows.setdefault(info.app.row or f"field {f.name}", []).append((f.name, info))
    controls = {}
    for members in rows.values():
        with gr.Row() if len(members) > 1 else contextlib.nullcontext():
            for name, info in members:
                controls[name] = make_control(name, value_type(settings_class, name), info, getattr(defaults, name),
                                              overrides.get(name))
    return controls


def setting_values(settings_class, values: dict) -> dict:
    """The settings from the controls' values (by field name): numbers as the fields' types, layer weights parsed
    (empty: None). An empty control is left out, so the setting keeps the preset's value."""
    settings = {}
    for name in app_settings(settings_class):
        value = values.get(name)
        if value is None:
            continue
        kind = value_type(settings_class, name)
        if typing.get_origin(kind) is dict:
            settings[name] = parse_layer_weights(value) if value.strip() else None
        else:
            settings[name] = kind(value)
    return settings


def named_handler(handler, required: list[str], optional: list[str]):
    """A streaming event function with one parameter per input, named: it calls handler(values, request) with the
    values by name. Gradio names an API's parameters after its function's; the None defaults make the optional ones
    optional for API clients, who then get the controls' values."""
    parameters = [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD) for name in required]
    parameters += [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None)
                   for name in [*optional, "request"]]
    signature = inspect.Signature(parameters)

    def named(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        values = dict(bound.arguments)
        yield from handler(values, values.pop("request"))

    named.__signature__ = signature
    named.__annotations__ = {"request": gr.Request}  # where Gradio passes the request
    named.__name__ = named.__qualname__ = handler.__name__
    return named


def _text(value) -> str:
    """Layer weights as the text box shows them (None: empty, the backbone's default)."""
    if isinstance(value, dict):
        return ", ".join(f"{name}:{weight:g}" for name, weight in value.items())
    return "" if value is None else str(value)
