"""The Blender tab: one conditional-instance-norm network (Dumoulin et al.), many styles, any mix of them."""
from __future__ import annotations

import gradio as gr
import torch

from stylehub import checkpoints, fast
from stylehub.errors import StyleHubError

from .common import (
    FAST,
    SCRATCH,
    WEBCAM,
    WEBCAM_SIDE,
    AppConfig,
    Recent,
    example_photo,
    examples_label,
    folder_for,
    if_ready,
    load_model,
    load_photo,
    model_choices,
    model_key,
    photo_key,
    photo_upload,
    problem,
    published_styles,
    resolve_model,
    run_network,
    stream_frame,
    visitor_error,
    webcam_panel,
)

SLOTS = 4  # styles mixed at once; any of the network's styles can sit in any slot
DEFAULT_SIDE = 768
SHEET_SIDE = 256


def is_multi_style(config: dict) -> bool:
    return config["kind"] == "transformer" and config["net"].get("num_styles", 1) > 1


def build_tab(config: AppConfig) -> None:
    shipped = model_choices(config.models, is_multi_style)
    first = next(iter(shipped.values()), None)
    names = checkpoints.style_names(checkpoints.read_config(first)) if first else []
    with gr.Row():
        with gr.Column(scale=1):
            content = photo_upload("blend-content")
            model = gr.Dropdown(list(shipped), value=next(iter(shipped), None), label="Multi-style network",
                                elem_id="blend-model")
            thumbnails = gr.Gallery(_thumbnails(first) if first else [], label="Its styles (click one to use it alone)",
                                    columns=6, height=150, allow_preview=False, elem_id="blend-thumbnails")
            with gr.Row():
                reference = gr.Textbox(label="Load a network from the Hub (user/name)", placeholder="user/name",
                                       scale=3)
                load = gr.Button("Load", scale=1)
            published_styles(reference)
            slots, weights = [], []
            for slot in range(SLOTS):
                with gr.Row():
                    slots.append(gr.Dropdown(names, value=names[slot] if slot < len(names) else None,
                                             label=f"Style {slot + 1}", scale=2, elem_id=f"blend-style-{slot + 1}",
                                             allow_custom_value=True))  # API calls name any network's styles
                    weights.append(gr.Slider(0, 1, value=1.0 if slot == 0 else 0.0, step=0.05, label="Weight",
                                             scale=3, elem_id=f"blend-weight-{slot + 1}"))
            strength = gr.Slider(0, 1, value=1.0, step=0.05, label="Strength", info="0: the photo, 1: full style")
            preserve_colour = gr.Checkbox(False, label="Keep the photo's colours")
            size = gr.Slider(128, 2048, value=DEFAULT_SIDE, step=32, label="Output size (long side, px)")
            with gr.Row():
                run = gr.Button("Blend", variant="primary", elem_id="blend-run")
                sheet_button = gr.Button("Contact sheet of every style", elem_id="blend-sheet-run")
        with gr.Column(scale=1, elem_classes="results"):
            timing = gr.Markdown(elem_id="blend-timing", elem_classes="status")  # also where errors and progress show
            result = gr.Image(label="Result (follows the weights)", type="pil", format="png", interactive=False,
                              height=360, elem_id="blend-result")
            slider = gr.ImageSlider(label="Before / after", type="pil", interactive=False, max_height=360,
                                    elem_id="blend-compare")
            download = gr.File(label="Download (lossless PNG)", interactive=False, elem_id="blend-download")
            sheet = gr.Gallery(label="Every style of the network", columns=4, height=360, elem_id="blend-sheet")
    mix = [x for pair in zip(slots, weights) for x in pair]
    rows = _example_mixes(example_photo(), next(iter(shipped), None), names)
    examples = gr.Examples([row for row, _ in rows], [content, model, *mix],
                           example_labels=[label for _, label in rows], elem_id="blend-examples",
                           label=examples_label(example_photo()),
                           ) if rows else None
    camera, live = webcam_panel("blend")
    choices = gr.State(shipped)

    def blend(content, model, style_1, weight_1, style_2=None, weight_2=0.0, style_3=None, weight_3=0.0,
              style_4=None, weight_4=0.0, strength=1.0, preserve_colour=False, size=DEFAULT_SIDE, choices=None):
        net, model_config = load_model(folder_for(model, choices or shipped, config), config.device, model)
        vector = _style_vector(checkpoints.style_names(model_config), [style_1, style_2, style_3, style_4],
                               [weight_1, weight_2, weight_3, weight_4])
        return run_network(net, load_photo(content, int(size)), vector, strength, preserve_colour, size)

    recent = Recent()

    def remembered(content, model, *mix_and_settings):
        """blend, answered from `recent` when the same photo, network, mix and settings ran a moment ago: an example
        (or a thumbnail) sets the weights, whose change events then ask for the picture the example already made."""
        if content is None:
            return blend(content, model, *mix_and_settings)
        folder = folder_for(model, mix_and_settings[-1] or shipped, config)
        key = photo_key(content), model_key(folder), *mix_and_settings[:-1]
        return recent.get(key, lambda: blend(content, model, *mix_and_settings))

    def blend_example(content, model, *mix_and_settings):
        """An example: its network's styles in the slots' lists and thumbnails, and its mix run."""
        folder = folder_for(model, mix_and_settings[-1] or shipped, config)
        styles = checkpoints.style_names(checkpoints.read_config(folder))
        lists = [gr.update(choices=styles) for _ in range(SLOTS)]
        return *lists, _thumbnails(folder), *remembered(content, model, *mix_and_settings)

    def webcam(frame, model, style_1, weight_1, style_2, weight_2, style_3, weight_3, style_4, weight_4, strength,
               preserve_colour, choices):
        net, model_config = load_model(folder_for(model, choices, config), config.device, model)
        vector = _style_vector(checkpoints.style_names(model_config), [style_1, style_2, style_3, style_4],
                               [weight_1, weight_2, weight_3, weight_4])
        return stream_frame(net, frame, vector, strength, preserve_colour, WEBCAM_SIDE)

    def contact_sheet(content, model, strength=1.0, preserve_colour=False, choices=None):
        folder = folder_for(model, choices or shipped, config)
        net, model_config = load_model(folder, config.device, model)
        try:
            every = fast.contact_sheet(net, load_photo(content, SHEET_SIDE), strength=float(strength),
                                       preserve_colour=bool(preserve_colour))
        except StyleHubError as err:
            raise visitor_error(err, folder, model) from None
        return [(SCRATCH.png(image[None]), name) for image, name in zip(every, checkpoints.style_names(model_config))]

    def pick_model(model, choices):
        """A new network: its styles in the slots and thumbnails, and the last network's result cleared."""
        folder = folder_for(model, choices, config)
        names = checkpoints.style_names(checkpoints.read_config(folder))
        slots_now = [gr.update(choices=names, value=names[i] if i < len(names) else None) for i in range(SLOTS)]
        return *slots_now, _thumbnails(folder), None, None, None, ""

    def use_alone(event: gr.SelectData):
        return event.value["caption"], *[1.0] + [0.0] * (SLOTS - 1)

    def load_network(reference, choices, progress=gr.Progress()):
        folder, model_config = resolve_model(reference, config, progress)
        if not is_multi_style(model_config):
            raise problem(f"{reference} holds a single style: open it in the Fast tab.")
        choices = {**choices, reference: folder}
        return gr.update(choices=list(choices), value=reference), choices

    inputs = [content, model, *mix, strength, preserve_colour, size, choices]
    outputs = [result, slider, download, timing]
    shown = dict(show_progress_on=[timing])  # progress and errors in one place: inputs and results stay usable
    run.click(blend, inputs, outputs, api_name="blend", concurrency_id=FAST, scroll_to_output=True, **shown)
    for control in (*weights, strength, size):  # the result follows the weights
        control.change(if_ready(remembered), inputs, outputs, api_visibility="private", concurrency_id=FAST,
                       trigger_mode="always_last", **shown)
    for control in (*slots, preserve_colour):
        control.input(if_ready(blend), inputs, outputs, api_visibility="private", concurrency_id=FAST, **shown)
    content.upload(if_ready(blend), inputs, outputs, api_visibility="private", concurrency_id=FAST, **shown)
    sheet_button.click(contact_sheet, [content, model, strength, preserve_colour, choices], sheet,
                       api_name="contact_sheet", concurrency_id=FAST, **shown)
    refreshed = [*slots, thumbnails, *outputs]
    model.input(pick_model, [model, choices], refreshed, api_visibility="private", **shown).then(
        if_ready(blend), inputs, outputs, api_visibility="private", concurrency_id=FAST, **shown)
    load.click(load_network, [reference, choices], [model, choices], api_name="blend_load_network", **shown).success(
        pick_model, [model, choices], refreshed, api_visibility="private", **shown).then(
        if_ready(blend), inputs, outputs, api_visibility="private", concurrency_id=FAST, **shown)
    thumbnails.select(use_alone, None, [slots[0], *weights], api_visibility="private").then(
        if_ready(remembered), inputs, outputs, api_visibility="private", concurrency_id=FAST, **shown)
    if examples is not None:  # run on click (not at start-up), then answered from `recent` for a while
        examples.load_input_event.then(blend_example, inputs, [*slots, thumbnails, *outputs], api_visibility="private",
                                       concurrency_id=FAST, scroll_to_output=True, **shown)
    camera.stream(webcam, [camera, model, *mix, strength, preserve_colour, choices], live, api_visibility="private",
                  concurrency_id=WEBCAM, stream_every=0.1, time_limit=120, show_progress="hidden")


def _style_vector(names: list[str], chosen: list[str | None], weights: list[float | None]) -> torch.Tensor:
    """One weight per style of the network from the slots (a style in two slots adds up); normalised later."""
    vector = torch.zeros(len(names))
    for name, weight in zip(chosen, weights):
        if name is None or not weight:
            continue
        if name not in names:
            raise problem(f"this network has no style named {name!r}")
        vector[names.index(name)] += float(weight)
    if vector.sum() <= 0:
        raise problem("Give at least one style a weight above zero.")
    return vector


EXAMPLE_MIXES = ((0.5, 0, 0.5, 0), (0, 0.5, 0, 0.5), (0.7, 0.3, 0, 0), (1, 1, 1, 1))  # weights of the slots


def _example_mixes(photo: str | None, model: str | None, names: list[str]) -> list[tuple[list, str]]:
    """(example row, its label) for a few mixes of the first network's styles, as they sit in the slots."""
    if photo is None or model is None:
        return []
    slotted = [names[i] if i < len(names) else None for i in range(SLOTS)]
    rows = []
    for mix in EXAMPLE_MIXES:
        if any(weight and name is None for name, weight in zip(slotted, mix)) or sum(map(bool, mix)) < 2:
            continue
        total, used = sum(mix), [(name, weight) for name, weight in zip(slotted, mix) if weight]
        label = " + ".join(f"{name} {weight / total:.0%}" for name, weight in used)
        if len(used) > 2 and len(set(mix)) == 1:
            label = f"Styles 1-{len(used)} in equal parts"
        rows.append(([photo, model, *[x for pair in zip(slotted, mix) for x in pair]], label))
    return rows


def _thumbnails(folder: str) -> list[tuple[str, str]]:
    """(image, name) of each style of a network whose folder keeps its style images."""
    config = checkpoints.read_config(folder)
    tiles = []
    for style, name in zip(config.get("styles", []), checkpoints.style_names(config)):
        try:
            image = checkpoints.model_file(folder, style.get("image"))
        except StyleHubError:
            continue  # a picture the model may not show
        if image:
            tiles.append((str(image), name))
    return tiles

