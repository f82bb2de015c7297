"""The Fast tab: one trained network per style (Johnson et al.; Ulyanov et al.), milliseconds per photo."""
from __future__ import annotations

import gradio as gr

from stylehub import checkpoints

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
    stream_video,
    style_image,
    stylize,
    video_panel,
    webcam_panel,
)

MAX_SIDE = 2048
DEFAULT_SIDE = 1024
GALLERY_SIDE = 512


def is_single_style(config: dict) -> bool:
    if config["kind"] not in ("transformer", "texture"):  # e.g. "arbitrary": it needs a painting to paint with
        return False
    if config["kind"] == "texture":
        return bool(config["net"].get("with_content", True))  # noise-only networks make textures, not pictures
    return config["net"].get("num_styles", 1) == 1


def build_tab(config: AppConfig) -> None:
    shipped = model_choices(config.models, is_single_style)
    with gr.Row():
        with gr.Column(scale=1):
            content = photo_upload("fast-content", height=260)
            style = gr.Dropdown(list(shipped), value=next(iter(shipped), None), label="Style", elem_id="fast-style",
                                allow_custom_value=True,
                                info="a shipped style, or a Hub repo id (user/name)")
            gallery_of_styles = gr.Gallery(_style_tiles(shipped), label="Styles (click one to choose it)", columns=4,
                                           height=170, allow_preview=False, show_label=True, elem_id="fast-styles")
            with gr.Row():
                reference = gr.Textbox(label="Load a style from the Hub (user/name)", placeholder="user/style-name",
                                       scale=3, elem_id="fast-reference")
                load = gr.Button("Load", scale=1, elem_id="fast-load")
            published_styles(reference)
            strength = gr.Slider(0, 1, value=1.0, step=0.05, label="Strength", info="0: the photo, 1: full style")
            preserve_colour = gr.Checkbox(False, label="Keep the photo's colours")
            size = gr.Slider(128, MAX_SIDE, value=DEFAULT_SIDE, step=32, label="Output size (long side, px)")
            with gr.Row():
                run = gr.Button("Stylise", variant="primary", elem_id="fast-run")
                every = gr.Button("Every style", elem_id="fast-every")
        with gr.Column(scale=1, elem_classes="results"):
            timing = gr.Markdown(elem_id="fast-timing", elem_classes="status")  # also where errors and progress show
            result = gr.Image(label="Result", type="pil", format="png", interactive=False, height=360,
                              elem_id="fast-result")
            slider = gr.ImageSlider(label="Before / after", type="pil", interactive=False, max_height=360,
                                    elem_id="fast-compare")
            download = gr.File(label="Download (lossless PNG)", interactive=False, elem_id="fast-download")
            sheet = gr.Gallery(label="Your photo in every style", columns=3, height=300, elem_id="fast-gallery")
    photo = example_photo()
    examples = gr.Examples([[photo, name] for name in shipped], [content, style], elem_id="fast-examples",
                           label=examples_label(photo),
                           ) if photo and shipped else None
    camera, live = webcam_panel("fast")
    clip, video_run, styled_clip, video_status = video_panel("fast")
    choices = gr.State(shipped)

    def stylise(content, style, strength=1.0, preserve_colour=False, size=DEFAULT_SIDE, choices=None):
        folder = folder_for(style, choices or shipped, config)
        net, _ = load_model(folder, config.device, style)
        photo = load_photo(content, int(size))
        return run_network(net, photo, None, strength, preserve_colour, size)

    recent = Recent()

    def remembered(content, style, strength=1.0, preserve_colour=False, size=DEFAULT_SIDE, choices=None):
        """stylise, answered from `recent` when the same photo, style and settings ran a moment ago."""
        if content is None:
            return stylise(content, style, strength, preserve_colour, size, choices)
        folder = folder_for(style, choices or shipped, config)
        key = photo_key(content), model_key(folder), float(strength), bool(preserve_colour), int(size)
        return recent.get(key, lambda: stylise(content, style, strength, preserve_colour, size, choices))

    def webcam(frame, style, strength=1.0, preserve_colour=False, choices=None):
        net, _ = load_model(folder_for(style, choices or shipped, config), config.device, style)
        return stream_frame(net, frame, None, strength, preserve_colour, WEBCAM_SIDE)

    def stylise_video(clip, style, strength=1.0, preserve_colour=False, choices=None):
        net, _ = load_model(folder_for(style, choices or shipped, config), config.device, style)
        yield from stream_video(net, clip, None, strength, preserve_colour)

    def every_style(content, strength=1.0, preserve_colour=False, choices=None):
        photo = load_photo(content, GALLERY_SIDE)
        tiles = []
        for name, folder in (choices or shipped).items():
            net, _ = load_model(folder, config.device, name)
            tiles.append((SCRATCH.png(stylize(net, photo, None, strength, preserve_colour)), name))
        return tiles

    def load_style(reference, choices, progress=gr.Progress()):
        folder, model_config = resolve_model(reference, config, progress)
        if not is_single_style(model_config):
            raise problem(f"{reference} holds {len(model_config['styles'])} styles: open it in the Blender tab.")
        name = checkpoints.style_names(model_config)[0]
        label = name if choices.get(name) in (None, folder) else f"{name} [{reference}]"
        choices = {**choices, label: folder}
        return gr.update(choices=list(choices), value=label), choices, _style_tiles(choices)

    def pick_tile(event: gr.SelectData):
        return event.value["caption"]

    outputs = [result, slider, download, timing]
    inputs = [content, style, strength, preserve_colour, size, choices]
    shown = dict(show_progress_on=[timing])  # progress and errors in one place: inputs and results stay usable
    run.click(stylise, inputs, outputs, api_name="fast_stylize", concurrency_id=FAST, scroll_to_output=True, **shown)
    for control in (strength, size):  # the result follows the settings once there is one
        control.change(if_ready(stylise), inputs, outputs, api_visibility="private", concurrency_id=FAST,
                       trigger_mode="always_last", **shown)
    for control in (preserve_colour, style):
        control.input(if_ready(stylise), inputs, outputs, api_visibility="private", concurrency_id=FAST, **shown)
    content.upload(if_ready(stylise), inputs, outputs, api_visibility="private", concurrency_id=FAST, **shown)
    every.click(every_style, [content, strength, preserve_colour, choices], sheet, api_name="fast_every_style",
                concurrency_id=FAST, **shown)
    load.click(load_style, [reference, choices], [style, choices, gallery_of_styles], api_name="fast_load_style",
               **shown)
    gallery_of_styles.select(pick_tile, None, style, api_visibility="private").then(
        if_ready(stylise), inputs, outputs, api_visibility="private", concurrency_id=FAST, **shown)
    if examples is not None:  # run on click (not at start-up), then answered from `recent` for a while
        examples.load_input_event.then(remembered, inputs, outputs, api_visibility="private", concurrency_id=FAST,
                                       scroll_to_output=True, **shown)
    video_run.click(stylise_video, [clip, style, strength, preserve_colour, choices], [styled_clip, video_status],
                    api_name="fast_video", concurrency_id="video", show_progress="hidden",
                    show_progress_on=[video_status])
    camera.stream(webcam, [camera, style, strength, preserve_colour, choices], live, api_visibility="private",
                  concurrency_id=WEBCAM, stream_every=0.1, time_limit=120, show_progress="hidden")



def _style_tiles(choices: dict[str, str]) -> list[tuple[str, str]]:
    tiles = []
    for name, folder in choices.items():
        image = style_image(folder, checkpoints.read_config(folder))
        if image:
            tiles.append((image, name))
    return tiles

