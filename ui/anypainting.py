"""The Any painting tab: any uploaded painting, or a mix of up to three, or a published style vector, in one pass
(Ghiasi et al. 2017)."""
from __future__ import annotations

from pathlib import Path

import gradio as gr

from stylehub import arbitrary, images
from stylehub.model import Model

from . import common, models, published, results

SLOTS = 3  # paintings mixed at once
MAX_SIDE = 2048
DEFAULT_SIDE = 1024
EXAMPLE_PAINTINGS = {"starry_night": "The Starry Night", "the_scream": "The Scream", "great_wave": "The Great Wave",
                     "composition_vii": "Composition VII"}  # files in examples/style, and their titles
EXAMPLE_MIXES = ((0,), (1,), (2,), (0, 1), (2, 3))  # indices into EXAMPLE_PAINTINGS, mixed in equal parts


def is_arbitrary(config: dict) -> bool:
    return Model(config).kind == "arbitrary"


def build_tab(config: common.AppConfig, refine) -> gr.Button | None:
    """The tab. Returns its Refine button (None without a network), which hands the photo, the paintings and the
    result to `refine`: the Optimise tab's, which optimises from that result."""
    folder = next(iter(models.model_choices(config.models, is_arbitrary).values()), None)
    if folder is None:
        gr.Markdown("This server has no arbitrary-style network, so this tab cannot paint: it needs the folder "
                    "`models/arbitrary` (it ships with StyleHub; `stylehub import-arbitrary` makes it).",
                    elem_id="any-missing")
        return None
    paintings = _example_paintings()
    with gr.Row():
        with gr.Column(scale=1):
            content = common.photo_upload("any-content")
            slots, weights = [], []
            with gr.Row(equal_height=True) as painting_box:
                for slot in range(SLOTS):
                    with gr.Column(min_width=100):
                        first = paintings[0] if slot == 0 and paintings else None
                        slots.append(common.ImageUpload(label=f"Painting {slot + 1}", type="filepath", value=first,
                                                 sources=["upload", "clipboard"], height=140,
                                                 elem_id=f"any-painting-{slot + 1}"))
                        weights.append(gr.Slider(0, 1, value=1.0, step=0.05, label="Weight",
                                                 elem_id=f"any-weight-{slot + 1}"))
            with gr.Column(visible=False) as loaded_box:
                loaded_name = gr.Markdown(elem_id="any-style")
                loaded_pictures = gr.Gallery(label="Its paintings", columns=4, height=140, allow_preview=False,
                                             elem_id="any-style-paintings")
                unload = gr.Button("Paint with uploaded paintings instead", elem_id="any-clear")
            reference, load = models.hub_loader("any", "a published style")
            strength, preserve_colour, size = results.look_controls(DEFAULT_SIDE, MAX_SIDE)
            run = gr.Button("Paint", variant="primary", elem_id="any-run")
        with gr.Column(scale=1, elem_classes="results"):
            outputs = results.result_panel("any")
            refine_button = gr.Button("Refine", interactive=False, elem_id="any-refine")
            gr.Markdown("Refine continues in the Optimise tab for its best quality: the slow optimisation "
                        "starts from this result, with the photo and the paintings (their weights as blend weights).")
    mix = [x for pair in zip(slots, weights) for x in pair]
    rows = _example_rows(common.example_photo(), paintings)
    examples = gr.Examples([row for row, _ in rows], [content, *mix], example_labels=[label for _, label in rows],
                           elem_id="any-examples", label=common.examples_label(common.example_photo()),
                           ) if rows else None
    if rows:
        credits = "; ".join(filter(None, (common.example_credit(path) for path in paintings)))
        gr.Markdown(f"Paintings of the examples: {credits}.", elem_id="any-credits")

    loaded = gr.State(None)  # the published.Published the tab paints with instead of the paintings

    def paint(content, painting_1, weight_1=1.0, painting_2=None, weight_2=1.0, painting_3=None, weight_3=1.0,
              strength=1.0, preserve_colour=False, size=DEFAULT_SIDE, style=None):
        photo = common.load_photo(content, int(size))
        if style is not None:
            return published.paint(style, folder, config.device, photo, strength, preserve_colour, size)
        model = models.open_model(folder, config.device, "models/arbitrary")
        chosen = [(i, path, w) for i, (path, w) in enumerate(zip([painting_1, painting_2, painting_3],
                                                                  [weight_1, weight_2, weight_3]), 1) if path]
        if not chosen:
            raise common.problem("Add a painting first.")
        used = [(i, path, float(w or 0)) for i, path, w in chosen if w]
        if not used:
            raise common.problem("Give at least one painting a weight above zero.")
        with common.shown_in_page():
            styles = [images.load_image(path, name=f"painting {i}").rgb for i, path, _ in used]
            return results.timed_result(model, photo, lambda: arbitrary.stylize(
                model.net, photo, styles, weights=[w for *_, w in used], strength=float(strength),
                preserve_colour=bool(preserve_colour), working_side=arbitrary.WORKING_SIDE), size)

    recent = results.Recent()

    def remembered(content, *mix_and_settings):
        """paint, answered from `recent` when the same photo, paintings and settings ran a moment ago: an example
        sets the weights, whose change events then ask for the picture the example already made."""
        if content is None:
            return paint(content, *mix_and_settings)
        files = [results.photo_key(x) if i < 2 * SLOTS and i % 2 == 0 and x else x
                 for i, x in enumerate(mix_and_settings)]
        key = results.photo_key(content), models.model_key(folder), *files
        return recent.get(key, lambda: paint(content, *mix_and_settings))

    def if_ready(content, *mix_and_settings):
        """For events fired by a new upload or setting: re-run only when there is a photo and a painting (or a
        loaded style)."""
        if content is None or not (any(mix_and_settings[:2 * SLOTS:2]) or mix_and_settings[-1]):
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        return remembered(content, *mix_and_settings)

    def paint_style(content, style, strength=1.0, preserve_colour=False, size=DEFAULT_SIDE,
                    progress=gr.Progress()):
        """The photo painted with the published style `style` (a Hub repo id), for API callers."""
        return paint(content, None, strength=strength, preserve_colour=preserve_colour, size=size,
                     style=published.find(style, config, progress))

    def load_style(reference, progress=gr.Progress()):
        style = published.find(reference, config, progress)
        return style, style.shown, published.pictures(style), gr.Row(visible=False), gr.Column(visible=True)

    def unload_style():
        return None, "", [], gr.Row(visible=True), gr.Column(visible=False)

    inputs = [content, *mix, strength, preserve_colour, size, loaded]
    shown = dict(show_progress_on=[outputs[-1]])  # progress and errors on the timing line
    follow = dict(api_visibility="private", concurrency_id=common.NETS, **shown)  # events that re-run the result
    run.click(paint, inputs, outputs, api_name="any_painting", concurrency_id=common.NETS, scroll_to_output=True,
              **shown)
    for control in (*weights, strength, size):  # the result follows the settings once there is one
        control.change(if_ready, inputs, outputs, trigger_mode="always_last", **follow)
    preserve_colour.input(if_ready, inputs, outputs, **follow)
    for image in (content, *slots):
        image.upload(if_ready, inputs, outputs, **follow)
    for image in slots:  # a painting taken out: the others paint alone
        image.clear(if_ready, inputs, outputs, **follow)
    style_outputs = [loaded, loaded_name, loaded_pictures, painting_box, loaded_box]
    load.click(load_style, reference, style_outputs, api_name="any_load_style", **shown).success(
        if_ready, inputs, outputs, **follow)
    unload.click(unload_style, None, style_outputs, queue=False, api_visibility="private").then(
        if_ready, inputs, outputs, **follow)
    gr.on([], paint_style, [content, reference, strength, preserve_colour, size], outputs,
          api_name="any_painting_style", concurrency_id=common.NETS)  # for API callers: the UI paints with `loaded`
    if examples is not None:  # run on click (not at start-up), then answered from `recent` for a while
        examples.load_input_event.then(unload_style, None, style_outputs, queue=False, api_visibility="private",
                                       ).then(remembered, inputs, outputs, scroll_to_output=True, **follow)
    download = outputs[2]
    download.change(lambda path: gr.Button(interactive=path is not None), download, refine_button, queue=False,
                    api_visibility="private")
    refine(refine_button.click, [content, *mix, download, loaded], _to_refine)
    return refine_button


def _to_refine(content, painting_1, weight_1, painting_2, weight_2, painting_3, weight_3, result, style=None):
    """(photo, [(painting, weight), ...], start image) for Refine: the paintings the result was painted with (a
    loaded style's: those it was made from)."""
    if style is not None:
        return content, published.refine_paintings(style), result
    mix = [painting_1, weight_1, painting_2, weight_2, painting_3, weight_3]
    used = [(painting, float(weight)) for painting, weight in zip(mix[::2], mix[1::2]) if painting and weight]
    return content, used, result


def _example_paintings() -> list[str]:
    """The shipped paintings of the examples (examples/style, credited in examples/SOURCES.md) that are present."""
    found = [common.EXAMPLES / "style" / f"{name}.jpg" for name in EXAMPLE_PAINTINGS]
    return [str(path) for path in found if path.is_file()]


def _example_rows(photo: str | None, paintings: list[str]) -> list[tuple[list, str]]:
    """(example row, its label): the photo with one painting, or two in equal parts."""
    if photo is None or not paintings:
        return []
    rows = []
    for mix in EXAMPLE_MIXES:
        if max(mix) >= len(paintings):
            continue
        chosen = [paintings[i] for i in mix] + [None] * (SLOTS - len(mix))
        row = [photo, *[x for path in chosen for x in (path, 1.0)]]
        rows.append((row, " + ".join(EXAMPLE_PAINTINGS[Path(paintings[i]).stem] for i in mix)))
    return rows
