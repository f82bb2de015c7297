"""The Fast tab: one trained network per style (Johnson et al.; Ulyanov et al.), milliseconds per photo."""
from __future__ import annotations

import gradio as gr

from stylehub.model import Model

from . import common, media, models, results

MAX_SIDE = 2048
DEFAULT_SIDE = 1024
GALLERY_SIDE = 512


def is_single_style(config: dict) -> bool:
    return Model(config).is_single_style


def build_tab(config: common.AppConfig) -> None:
    shipped = models.model_choices(config.models, is_single_style)
    with gr.Row():
        with gr.Column(scale=1):
            content = common.photo_upload("fast-content", height=260)
            style = gr.Dropdown(list(shipped), value=next(iter(shipped), None), label="Style", elem_id="fast-style",
                                allow_custom_value=True,
                                info="a shipped style, or a Hub repo id (user/name)")
            gallery_of_styles = gr.Gallery(_style_tiles(shipped), label="Styles (click one to choose it)", columns=4,
                                           height=170, allow_preview=False, show_label=True, elem_id="fast-styles")
            reference, load = models.hub_loader("fast", "a style")
            strength, preserve_colour, size = results.look_controls(DEFAULT_SIDE, MAX_SIDE)
            with gr.Row():
                run = gr.Button("Stylise", variant="primary", elem_id="fast-run")
                every = gr.Button("Every style", elem_id="fast-every")
        with gr.Column(scale=1, elem_classes="results"):
            outputs = results.result_panel("fast")
            sheet = gr.Gallery(label="Your photo in every style", columns=3, height=300, elem_id="fast-gallery")
    photo = common.example_photo()
    examples = gr.Examples([[photo, name] for name in shipped], [content, style], elem_id="fast-examples",
                           label=common.examples_label(photo),
                           ) if photo and shipped else None
    camera, live = media.webcam_panel("fast")
    clip, video_run, styled_clip, video_status = media.video_panel("fast")
    choices = gr.State(shipped)

    def stylise(content, style, strength=1.0, preserve_colour=False, size=DEFAULT_SIDE, choices=None):
        model = models.chosen_model(style, choices or shipped, config)
        photo = common.load_photo(content, int(size))
        return results.run_network(model, photo, None, strength, preserve_colour, size)

    recent = results.Recent()

    def remembered(content, style, strength=1.0, preserve_colour=False, size=DEFAULT_SIDE, choices=None):
        """stylise, answered from `recent` when the same photo, style and settings ran a moment ago."""
        if content is None:
            return stylise(content, style, strength, preserve_colour, size, choices)
        folder = models.folder_for(style, choices or shipped, config)
        key = results.photo_key(content), models.model_key(folder), float(strength), bool(preserve_colour), int(size)
        return recent.get(key, lambda: stylise(content, style, strength, preserve_colour, size, choices))

    def webcam(frame, style, strength=1.0, preserve_colour=False, choices=None):
        model = models.chosen_model(style, choices or shipped, config)
        return media.stream_frame(model, frame, None, strength, preserve_colour, media.WEBCAM_SIDE)

    def stylise_video(clip, style, strength=1.0, preserve_colour=False, choices=None):
        model = models.chosen_model(style, choices or shipped, config)
        yield from media.stream_video(model, clip, None, strength, preserve_colour)

    def every_style(content, strength=1.0, preserve_colour=False, choices=None):
        photo = common.load_photo(content, GALLERY_SIDE)
        tiles = []
        for name, folder in (choices or shipped).items():
            model = models.open_model(folder, config.device, name)
            tiles.append((common.SCRATCH.png(results.stylize(model, photo, None, strength, preserve_colour)), name))
        return tiles

    def load_style(reference, choices, progress=gr.Progress()):
        label, choices = models.add_model(reference, choices, config, progress, lambda model: None if (
            model.is_single_style) else f"holds {len(model.styles)} styles: open it in the Blender tab.")
        return gr.update(choices=list(choices), value=label), choices, _style_tiles(choices)

    def pick_tile(event: gr.SelectData):
        return event.value["caption"]

    inputs = [content, style, strength, preserve_colour, size, choices]
    shown = dict(show_progress_on=[outputs[-1]])  # progress and errors on the timing line
    follow = dict(api_visibility="private", concurrency_id=common.NETS, **shown)  # events that re-run the result
    run.click(stylise, inputs, outputs, api_name="fast_stylize", concurrency_id=common.NETS, scroll_to_output=True,
              **shown)
    for control in (strength, size):  # the result follows the settings once there is one
        control.change(results.if_ready(stylise), inputs, outputs, trigger_mode="always_last", **follow)
    for control in (preserve_colour, style):
        control.input(results.if_ready(stylise), inputs, outputs, **follow)
    content.upload(results.if_ready(stylise), inputs, outputs, **follow)
    every.click(every_style, [content, strength, preserve_colour, choices], sheet, api_name="fast_every_style",
                concurrency_id=common.NETS, **shown)
    load.click(load_style, [reference, choices], [style, choices, gallery_of_styles], api_name="fast_load_style",
               **shown)
    gallery_of_styles.select(pick_tile, None, style, api_visibility="private").then(
        results.if_ready(stylise), inputs, outputs, **follow)
    if examples is not None:  # run on click (not at start-up), then answered from `recent` for a while
        examples.load_input_event.then(remembered, inputs, outputs, scroll_to_output=True, **follow)
    video_run.click(stylise_video, [clip, style, strength, preserve_colour, choices], [styled_clip, video_status],
                    api_name="fast_video", concurrency_id="video", show_progress="hidden",
                    show_progress_on=[video_status])
    camera.stream(webcam, [camera, style, strength, preserve_colour, choices], live, api_visibility="private",
                  concurrency_id=media.WEBCAM, stream_every=0.1, time_limit=120, show_progress="hidden")


def _style_tiles(choices: dict[str, str]) -> list[tuple[str, str]]:
    tiles = []
    for name, folder in choices.items():
        picture = Model.read(folder).picture()
        if picture:
            tiles.append((str(picture), name))
    return tiles
