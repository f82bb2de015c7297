"""The optimisation tab (Gatys et al.): any content, any style image(s), the image itself optimised."""
from __future__ import annotations

import tempfile
from pathlib import Path

import gradio as gr
import pandas as pd

from stylehub import images, optimize
from stylehub.backbones import BACKBONES, weights_problem
from stylehub.errors import StyleHubError

from .common import ENGINE, EXAMPLES, AppConfig, ImageUpload

STYLE_SLOTS = 3
PLOT_TERMS = ("total", "content", "style")


def weights_notice(config: AppConfig) -> str:
    problem = weights_problem(config.backbone, config.weights)
    if problem is None:
        return ""
    return (f"**Backbone weights are not available, so optimisation cannot run yet** (the Fast and Blender tabs "
            f"work without them). {problem}. Start the app with `--weights FILE.safetensors` (and `--backbone`), "
            f"or set `STYLEHUB_WEIGHTS`.")


def settings_from_controls(config: AppConfig, preset, size, backbone, optimizer, init, steps, coarse_steps,
                           content_weight, style_weight, tv_weight, preserve_colour, style_scale, style_statistic,
                           content_layers, style_layers, seed) -> optimize.StylizeSettings:
    return optimize.preset(
        preset, size=int(size), backbone=backbone, optimizer=optimizer, init=init, steps=int(steps),
        coarse_steps=int(coarse_steps), content_weight=float(content_weight), style_weight=float(style_weight),
        tv_weight=float(tv_weight), preserve_colour=preserve_colour, style_scale=float(style_scale),
        style_statistic=style_statistic, seed=int(seed), device=config.device,
        weights=config.weights if backbone == config.backbone else None,
        content_layers=optimize.parse_layer_weights(content_layers) if content_layers.strip() else None,
        style_layers=optimize.parse_layer_weights(style_layers) if style_layers.strip() else None,
    ).check()


def stream_stylize(content, styles, blend, settings: optimize.StylizeSettings, progress: gr.Progress):
    """Run the engine, yielding (preview, loss plot, before/after, download, settings) as it goes."""
    if content is None:
        raise gr.Error("Add a content image first.")
    if not styles:
        raise gr.Error("Add at least one style image.")
    curve = []
    try:
        for event in optimize.stylize(content, styles, settings.replace(style_blend=blend)):
            if isinstance(event, optimize.Progress):
                progress((event.step, event.total), desc=f"scale {event.scale + 1}/{event.scales}", unit="steps")
                curve += [{"step": event.step, "loss": event.losses[t], "term": t} for t in PLOT_TERMS]
                if event.preview is not None:
                    yield images.to_pil(event.preview), pd.DataFrame(curve), gr.skip(), gr.skip(), gr.skip()
                continue
            height, width = event.image.shape[-2:]
            before = images.to_pil(images.resize(images.load_image(content).rgb, (width, height)))
            path = Path(tempfile.mkdtemp(prefix="stylehub-")) / "stylehub.png"
            event.save(path)
            used = {"seconds": round(event.seconds, 1), **event.settings.to_dict()}
            yield event.to_pil(), pd.DataFrame(curve), (before, event.to_pil()), str(path), used
    except StyleHubError as err:
        raise gr.Error(str(err)) from None


def build_tab(config: AppConfig, notice: str) -> int | None:
    """The optimisation tab; returns the id of its example-running event, if any."""
    defaults = optimize.preset()
    with gr.Row():
        with gr.Column(scale=1):
            content = ImageUpload(label="Content photo", type="filepath", sources=["upload", "clipboard"], height=260,
                                  elem_id="content")
            style_inputs, blend_inputs = [], []
            with gr.Tabs():
                for slot in range(STYLE_SLOTS):
                    with gr.Tab(f"Style {slot + 1}"):
                        style_inputs.append(ImageUpload(label=f"Style image {slot + 1}" + (" (optional)" if slot else ""),
                                                     type="filepath", sources=["upload", "clipboard"], height=200,
                                                     elem_id=f"style-{slot + 1}"))
                        blend_inputs.append(gr.Slider(0, 1, value=1.0, step=0.05, label="Blend weight"))
            preset = gr.Radio(list(optimize.PRESETS), value=optimize.DEFAULT_PRESET, label="Preset",
                              info="fast: a quick look; best: more iterations at every scale")
            size = gr.Slider(32, 1024, value=defaults.size, step=32, label="Output size (long side, px)",
                             elem_id="size")
            with gr.Accordion("Advanced", open=False):
                with gr.Row():
                    backbone = gr.Dropdown(list(BACKBONES), value=config.backbone, label="Backbone")
                    optimizer = gr.Radio(list(optimize.OPTIMIZERS), value=defaults.optimizer, label="Optimiser")
                    init = gr.Dropdown(list(optimize.INITS), value=defaults.init, label="Start from")
                with gr.Row():
                    steps = gr.Number(defaults.steps, precision=0, minimum=1, label="Steps at full size")
                    coarse_steps = gr.Number(defaults.coarse_steps, precision=0, minimum=0,
                                             label="Steps at each coarser scale")
                    seed = gr.Number(defaults.seed, precision=0, label="Seed")
                with gr.Row():
                    content_weight = gr.Number(defaults.content_weight, minimum=0, label="Content weight")
                    style_weight = gr.Number(defaults.style_weight, minimum=0, label="Style weight")
                    tv_weight = gr.Number(defaults.tv_weight, minimum=0, label="Smoothness (TV) weight")
                with gr.Row():
                    preserve_colour = gr.Radio(list(optimize.COLOUR_MODES), value=defaults.preserve_colour,
                                               label="Keep the photo's colours")
                    style_scale = gr.Slider(0.25, 2.0, value=defaults.style_scale, step=0.05, label="Style scale")
                    style_statistic = gr.Radio(["gram", "w2"], value=defaults.style_statistic,
                                               label="Style statistic")
                content_layers = gr.Textbox("", label="Content layers (empty: the backbone's default)",
                                            placeholder="relu4_2")
                style_layers = gr.Textbox("", label="Style layers (empty: the backbone's default)",
                                          placeholder="relu1_1, relu2_1, relu3_1:0.5")
            with gr.Row():
                run = gr.Button("Stylise", variant="primary", interactive=not notice, elem_id="run")
                stop = gr.Button("Stop", variant="stop", elem_id="stop")
        with gr.Column(scale=1):
            preview = gr.Image(label="Result (updates while it runs)", type="pil", format="png", interactive=False,
                               height=360, elem_id="result")
            plot = gr.LinePlot(x="step", y="loss", color="term", label="Loss", height=220)
            slider = gr.ImageSlider(label="Before / after", type="pil", interactive=False, max_height=360)
            download = gr.File(label="Download (lossless PNG)", interactive=False, elem_id="download")
            used = gr.JSON(label="Settings used (to reproduce this result)")

    def on_preset(name):
        chosen = optimize.preset(name)
        return chosen.steps, chosen.coarse_steps

    preset.change(on_preset, preset, [steps, coarse_steps], api_visibility="private")

    controls = [preset, size, backbone, optimizer, init, steps, coarse_steps, content_weight, style_weight, tv_weight,
                preserve_colour, style_scale, style_statistic, content_layers, style_layers, seed]

    # The None defaults make those parameters optional for API clients, who then get the controls' values.
    def stylize(content, style_1, style_2=None, style_3=None, weight_1=None, weight_2=None, weight_3=None,
                preset=None, size=None, backbone=None, optimizer=None, init=None, steps=None, coarse_steps=None,
                content_weight=None, style_weight=None, tv_weight=None, preserve_colour=None, style_scale=None,
                style_statistic=None, content_layers=None, style_layers=None, seed=None, progress=gr.Progress()):
        try:
            settings = settings_from_controls(config, preset, size, backbone, optimizer, init, steps, coarse_steps,
                                              content_weight, style_weight, tv_weight, preserve_colour, style_scale,
                                              style_statistic, content_layers, style_layers, seed)
        except StyleHubError as err:
            raise gr.Error(str(err)) from None
        chosen = [(s, w) for s, w in ((style_1, weight_1), (style_2, weight_2), (style_3, weight_3)) if s is not None]
        yield from stream_stylize(content, [s for s, _ in chosen], [w for _, w in chosen] or None, settings, progress)

    outputs = [preview, plot, slider, download, used]
    job = run.click(stylize, [content, *style_inputs, *blend_inputs, *controls], outputs, api_name="stylize",
                    concurrency_id=ENGINE, concurrency_limit=config.concurrency)
    stop.click(None, None, None, cancels=[job], api_visibility="private")

    def example(content_path, style_path):
        settings = optimize.preset("fast", size=config.example_size, backbone=config.backbone,
                                   weights=config.weights, device=config.device)
        for image, _, _, download_path, settings_used in stream_stylize(content_path, [style_path], None, settings,
                                                                        gr.Progress()):
            result = image, download_path, settings_used
        return result

    pairs = _example_pairs()
    if pairs:
        # An example's cached result fills the result, download and settings (the plot and slider are for live runs).
        examples = gr.Examples(pairs, [content, style_inputs[0]], [preview, download, used], fn=example,
                               cache_examples=True,
                               cache_mode="lazy", label="Examples (public-domain paintings; run once, then cached)",
                               api_visibility="private")
        return examples.cache_event["id"]  # the event that runs (and caches) an example
    return None


def _example_pairs() -> list[list[str]]:
    photos = sorted((EXAMPLES / "content").glob("*.jpg"))
    paintings = sorted((EXAMPLES / "style").glob("*.jpg"))
    return [[str(photo), str(painting)] for photo in photos for painting in paintings]
