"""The Blender tab: one conditional-instance-norm network (Dumoulin et al.), many styles, any mix of them."""
from __future__ import annotations

import gradio as gr

from stylehub import fast
from stylehub.model import Model

from . import common, media, models, results

SLOTS = 4  # styles mixed at once; any of the network's styles can sit in any slot
DEFAULT_SIDE = 768
SHEET_SIDE = 256


def is_multi_style(config: dict) -> bool:
    return Model(config).is_multi_style


def build_tab(config: common.AppConfig) -> None:
    shipped = models.model_choices(config.models, is_multi_style)
    first = next(iter(shipped.values()), None)
    names = Model.read(first).style_names if first else []
    with gr.Row():
        with gr.Column(scale=1):
            content = common.photo_upload("blend-content")
            model = gr.Dropdown(list(shipped), value=next(iter(shipped), None), label="Multi-style network",
                                elem_id="blend-model")
            thumbnails = gr.Gallery(_thumbnails(first) if first else [], label="Its styles (click one to use it alone)",
                                    columns=4, height=280, allow_preview=False, elem_id="blend-thumbnails")
            reference, load = models.hub_loader("blend", "a network")
            slots, weights = [], []
            for slot in range(SLOTS):
                with gr.Row():
                    slots.append(gr.Dropdown(names, value=names[slot] if slot < len(names) else None,
                                             label=f"Style {slot + 1}", scale=2, elem_id=f"blend-style-{slot + 1}",
                                             allow_custom_value=True))  # API calls name any network's styles
                    weights.append(gr.Slider(0, 1, value=1.0 if slot == 0 else 0.0, step=0.05, label="Weight",
                                             scale=3, elem_id=f"blend-weight-{slot + 1}"))
            strength, preserve_colour, size = results.look_controls(DEFAULT_SIDE)
            with gr.Row():
                run = gr.Button("Blend", variant="primary", elem_id="blend-run")
                sheet_button = gr.Button("Contact sheet of every style", elem_id="blend-sheet-run")
        with gr.Column(scale=1, elem_classes="results"):
            outputs = results.result_panel("blend", "Result (follows the weights)")
            sheet = gr.Gallery(label="Every style of the network", columns=4, height=360, elem_id="blend-sheet")
    mix = [x for pair in zip(slots, weights) for x in pair]
    rows = _example_mixes(common.example_photo(), next(iter(shipped), None), names)
    examples = gr.Examples([row for row, _ in rows], [content, model, *mix],
                           example_labels=[label for _, label in rows], elem_id="blend-examples",
                           label=common.examples_label(common.example_photo()),
                           ) if rows else None
    camera, live = media.webcam_panel("blend")
    choices = gr.State(shipped)

    def mixed(model, choices, styles, weights):
        """The chosen network, and the weight of each of its styles from the slots."""
        network = models.chosen_model(model, choices, config)
        with common.shown_in_page():
            return network, network.style_vector(styles, weights)

    def blend(content, model, style_1, weight_1, style_2=None, weight_2=0.0, style_3=None, weight_3=0.0,
              style_4=None, weight_4=0.0, strength=1.0, preserve_colour=False, size=DEFAULT_SIDE, choices=None):
        network, vector = mixed(model, choices or shipped, [style_1, style_2, style_3, style_4],
                                [weight_1, weight_2, weight_3, weight_4])
        return results.run_network(network, common.load_photo(content, int(size)), vector, strength, preserve_colour,
                                  size)

    recent = results.Recent()

    def remembered(content, model, *mix_and_settings):
        """blend, answered from `recent` when the same photo, network, mix and settings ran a moment ago: an example
        (or a thumbnail) sets the weights, whose change events then ask for the picture the example already made."""
        if content is None:
            return blend(content, model, *mix_and_settings)
        folder = models.folder_for(model, mix_and_settings[-1] or shipped, config)
        key = results.photo_key(content), models.model_key(folder), *mix_and_settings[:-1]
        return recent.get(key, lambda: blend(content, model, *mix_and_settings))

    def blend_example(content, model, *mix_and_settings):
        """An example: its network's styles in the slots' lists and thumbnails, and its mix run."""
        folder = models.folder_for(model, mix_and_settings[-1] or shipped, config)
        names = Model.read(folder).style_names
        lists = [gr.update(choices=names) for _ in range(SLOTS)]
        return *lists, _thumbnails(folder), *remembered(content, model, *mix_and_settings)

    def webcam(frame, model, style_1, weight_1, style_2, weight_2, style_3, weight_3, style_4, weight_4, strength,
               preserve_colour, choices):
        network, vector = mixed(model, choices, [style_1, style_2, style_3, style_4],
                                [weight_1, weight_2, weight_3, weight_4])
        return media.stream_frame(network, frame, vector, strength, preserve_colour, media.WEBCAM_SIDE)

    def every_style_sheet(content, model, strength=1.0, preserve_colour=False, choices=None):
        folder = models.folder_for(model, choices or shipped, config)
        network = models.open_model(folder, config.device, model)
        photo = common.load_photo(content, SHEET_SIDE)
        with common.shown_in_page(folder, model):
            every = fast.stylize_every_style(network.net, photo, strength=float(strength),
                                             preserve_colour=bool(preserve_colour))
        return [(common.SCRATCH.png(image[None]), name) for image, name in zip(every, network.style_names)]

    def pick_model(model, choices):
        """A new network: its styles in the slots and thumbnails, and the last network's result cleared."""
        folder = models.folder_for(model, choices, config)
        names = Model.read(folder).style_names
        slots_now = [gr.update(choices=names, value=names[i] if i < len(names) else None) for i in range(SLOTS)]
        return *slots_now, _thumbnails(folder), None, None, None, ""

    def use_alone(event: gr.SelectData):
        return event.value["caption"], *[1.0] + [0.0] * (SLOTS - 1)

    def load_network(reference, choices, progress=gr.Progress()):
        label, choices = models.add_model(reference, choices, config, progress, lambda network: None if (
            network.is_multi_style) else "holds a single style: open it in the Fast tab.")
        return gr.update(choices=list(choices), value=label), choices

    inputs = [content, model, *mix, strength, preserve_colour, size, choices]
    shown = dict(show_progress_on=[outputs[-1]])  # progress and errors on the timing line
    follow = dict(api_visibility="private", concurrency_id=common.NETS, **shown)  # events that re-run the result
    run.click(blend, inputs, outputs, api_name="blend", concurrency_id=common.NETS, scroll_to_output=True, **shown)
    for control in (*weights, strength, size):  # the result follows the weights
        control.change(results.if_ready(remembered), inputs, outputs, trigger_mode="always_last", **follow)
    for control in (*slots, preserve_colour):
        control.input(results.if_ready(blend), inputs, outputs, **follow)
    content.upload(results.if_ready(blend), inputs, outputs, **follow)
    sheet_button.click(every_style_sheet, [content, model, strength, preserve_colour, choices], sheet,
                       api_name="contact_sheet", concurrency_id=common.NETS, **shown)
    refreshed = [*slots, thumbnails, *outputs]
    model.input(pick_model, [model, choices], refreshed, api_visibility="private", **shown).then(
        results.if_ready(blend), inputs, outputs, **follow)
    load.click(load_network, [reference, choices], [model, choices], api_name="blend_load_network", **shown).success(
        pick_model, [model, choices], refreshed, api_visibility="private", **shown).then(
        results.if_ready(blend), inputs, outputs, **follow)
    thumbnails.select(use_alone, None, [slots[0], *weights], api_visibility="private").then(
        results.if_ready(remembered), inputs, outputs, **follow)
    if examples is not None:  # run on click (not at start-up), then answered from `recent` for a while
        examples.load_input_event.then(blend_example, inputs, refreshed, scroll_to_output=True, **follow)
    camera.stream(webcam, [camera, model, *mix, strength, preserve_colour, choices], live, api_visibility="private",
                  concurrency_id=media.WEBCAM, stream_every=0.1, time_limit=120, show_progress="hidden")


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
    return [(str(picture), name) for picture, name in Model.read(folder).pictures()]
