"""The Any painting tab: any uploaded painting, or a mix of up to three, in one pass (Ghiasi et al. 2017)."""
from __future__ import annotations

from pathlib import Path

import gradio as gr

from stylehub import arbitrary, images
from stylehub.errors import StyleHubError

from .common import (
    EXAMPLES,
    FAST,
    AppConfig,
    ImageUpload,
    Recent,
    example_credit,
    example_photo,
    examples_label,
    load_model,
    load_photo,
    model_choices,
    model_key,
    photo_key,
    photo_upload,
    problem,
    timed_result,
)

SLOTS = 3  # paintings mixed at once
MAX_SIDE = 2048
DEFAULT_SIDE = 1024
EXAMPLE_PAINTINGS = {"starry_night": "The Starry Night", "the_scream": "The Scream", "great_wave": "The Great Wave",
                     "composition_vii": "Composition VII"}  # files in examples/style, and their titles
EXAMPLE_MIXES = ((0,), (1,), (2,), (0, 1), (2, 3))  # indices into EXAMPLE_PAINTINGS, mixed in equal parts


def is_arbitrary(config: dict) -> bool:
    return config["kind"] == "arbitrary"


def build_tab(config: AppConfig) -> None:
    folder = next(iter(model_choices(config.models, is_arbitrary).values()), None)
    if folder is None:
        gr.Markdown("This server has no arbitrary-style network, so this tab cannot paint: it needs the folder "
                    "`models/arbitrary` (it ships with StyleHub; `stylehub import-arbitrary` makes it).",
                    elem_id="any-missing")
        return
    paintings = _example_paintings()
    with gr.Row():
        with gr.Column(scale=1):
            content = photo_upload("any-content")
            slots, weights = [], []
            with gr.Row(equal_height=True):
                for slot in range(SLOTS):
                    with gr.Column(min_width=100):
                        first = paintings[0] if slot == 0 and paintings else None
                        slots.append(ImageUpload(label=f"Painting {slot + 1}", type="filepath", value=first,
                                                 sources=["upload", "clipboard"], height=140,
                                                 elem_id=f"any-painting-{slot + 1}"))
                        weights.append(gr.Slider(0, 1, value=1.0, step=0.05, label="Weight",
                                                 elem_id=f"any-weight-{slot + 1}"))
            strength = gr.Slider(0, 1, value=1.0, step=0.05, label="Strength", info="0: the photo, 1: full style")
            preserve_colour = gr.Checkbox(False, label="Keep the photo's colours")
            size = gr.Slider(128, MAX_SIDE, value=DEFAULT_SIDE, step=32, label="Output size (long side, px)")
            run = gr.Button("Paint", variant="primary", elem_id="any-run")
        with gr.Column(scale=1, elem_classes="results"):
            timing = gr.Markdown(elem_id="any-timing", elem_classes="status")  # also where errors and progress show
            result = gr.Image(label="Result", type="pil", format="png", interactive=False, height=360,
                              elem_id="any-result")
            slider = gr.ImageSlider(label="Before / after", type="pil", interactive=False, max_height=360,
                                    elem_id="any-compare")
            download = gr.File(label="Download (lossless PNG)", interactive=False, elem_id="any-download")
    mix = [x for pair in zip(slots, weights) for x in pair]
    rows = _example_rows(example_photo(), paintings)
    examples = gr.Examples([row for row, _ in rows], [content, *mix], example_labels=[label for _, label in rows],
                           elem_id="any-examples", label=examples_label(example_photo()),
                           ) if rows else None
    if rows:
        credits = "; ".join(filter(None, (example_credit(path) for path in paintings)))
        gr.Markdown(f"Paintings of the examples: {credits}.", elem_id="any-credits")

    def paint(content, painting_1, weight_1=1.0, painting_2=None, weight_2=1.0, painting_3=None, weight_3=1.0,
              strength=1.0, preserve_colour=False, size=DEFAULT_SIDE):
        net, _ = load_model(folder, config.device, "models/arbitrary")
        photo = load_photo(content, int(size))
        chosen = [(i, path, w) for i, (path, w) in enumerate(zip([painting_1, painting_2, painting_3],
                                                                  [weight_1, weight_2, weight_3]), 1) if path]
        if not chosen:
            raise problem("Add a painting first.")
        used = [(i, path, float(w or 0)) for i, path, w in chosen if w]
        if not used:
            raise problem("Give at least one painting a weight above zero.")
        try:
            styles = [images.load_image(path, name=f"painting {i}").rgb for i, path, _ in used]
            return timed_result(net, photo, lambda: arbitrary.stylize(
                net, photo, styles, weights=[w for *_, w in used], strength=float(strength),
                preserve_colour=bool(preserve_colour), working_side=arbitrary.WORKING_SIDE), size)
        except StyleHubError as err:
            raise problem(str(err)) from None

    recent = Recent()

    def remembered(content, *mix_and_settings):
        """paint, answered from `recent` when the same photo, paintings and settings ran a moment ago: an example
        sets the weights, whose change events then ask for the picture the example already made."""
        if content is None:
            return paint(content, *mix_and_settings)
        files = [photo_key(x) if i < 2 * SLOTS and i % 2 == 0 and x else x for i, x in enumerate(mix_and_settings)]
        key = photo_key(content), model_key(folder), *files
        return recent.get(key, lambda: paint(content, *mix_and_settings))

    def if_ready(content, *mix_and_settings):
        """For events fired by a new upload or setting: re-run only when there is a photo and a painting."""
        if content is None or not any(mix_and_settings[:2 * SLOTS:2]):
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        return remembered(content, *mix_and_settings)

    inputs = [content, *mix, strength, preserve_colour, size]
    outputs = [result, slider, download, timing]
    shown = dict(show_progress_on=[timing])  # progress and errors in one place: inputs and results stay usable
    run.click(paint, inputs, outputs, api_name="any_painting", concurrency_id=FAST, scroll_to_output=True, **shown)
    for control in (*weights, strength, size):  # the result follows the settings once there is one
        control.change(if_ready, inputs, outputs, api_visibility="private", concurrency_id=FAST,
                       trigger_mode="always_last", **shown)
    preserve_colour.input(if_ready, inputs, outputs, api_visibility="private", concurrency_id=FAST, **shown)
    for image in (content, *slots):
        image.upload(if_ready, inputs, outputs, api_visibility="private", concurrency_id=FAST, **shown)
    for image in slots:  # a painting taken out: the others paint alone
        image.clear(if_ready, inputs, outputs, api_visibility="private", concurrency_id=FAST, **shown)
    if examples is not None:  # run on click (not at start-up), then answered from `recent` for a while
        examples.load_input_event.then(remembered, inputs, outputs, api_visibility="private", concurrency_id=FAST,
                                       scroll_to_output=True, **shown)


def _example_paintings() -> list[str]:
    """The shipped paintings of the examples (examples/style, credited in examples/SOURCES.md) that are present."""
    found = [EXAMPLES / "style" / f"{name}.jpg" for name in EXAMPLE_PAINTINGS]
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
