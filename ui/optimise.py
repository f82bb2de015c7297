"""The optimisation tab (Gatys et al.): any content, any style image(s), the image itself optimised."""
from __future__ import annotations

import functools
import hashlib
import math
import os
import re
import shutil
import time
from pathlib import Path

import gradio as gr
import pandas as pd

from stylehub import images, optimize
from stylehub.backbones import BACKBONES, RANDOM, WEIGHTS_ENV, weights_problem
from stylehub.errors import StyleHubError

from .common import ENGINE, EXAMPLES, SCRATCH, STATUS_EVERY, AppConfig, ImageUpload, Scratch, not_enlarged, problem

STYLE_SLOTS = 3
PLOT_TERMS = ("total", "content", "style")


KEPT = Scratch(max_age=math.inf)  # the examples' results, kept while the app runs


def weights_notice(config: AppConfig) -> str:
    missing = weights_problem(config.backbone, config.weights)
    if missing is None:
        return ""
    return (f"**Backbone weights are not available, so optimisation cannot run yet** (the Fast and Blender tabs "
            f"work without them). {hide_weights_path(missing, config)}. Start the app with `--weights "
            f"FILE.safetensors` (and `--backbone`), or set `STYLEHUB_WEIGHTS`.")


def weights_file(config: AppConfig) -> str | None:
    """The local weights file of the app's backbone (--weights, else STYLEHUB_WEIGHTS), or None for the Hub."""
    source = config.weights or os.environ.get(WEIGHTS_ENV) or None
    return None if source in (None, RANDOM) else source


def hide_weights_path(text: str, config: AppConfig) -> str:
    """Text for the page with the weights file named by its file name, never by its path on the server."""
    source = weights_file(config)
    if source is None:
        return text
    for path in (str(Path(source).expanduser().resolve()), str(source)):
        text = text.replace(path, Path(source).name)
    return text


def runnable_backbones(config: AppConfig) -> list[str]:
    """The backbones this server has weights for: the app's own, and any other the Hub cache (or Hub) provides."""
    return [name for name in BACKBONES if name == config.backbone or weights_problem(name) is None]


@functools.lru_cache(maxsize=4)
def _sha256(path: str, stamp: float) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_used(settings: optimize.StylizeSettings, config: AppConfig) -> dict:
    """How the settings JSON names the backbone weights: the file's name and SHA-256 (never its server path),
    "random", or None for timm's pretrained weights from the Hub."""
    source = weights_file(config) if settings.backbone == config.backbone else None
    if source is None:
        return {"weights": settings.weights}  # "random", or None: the Hub's
    path = Path(source).expanduser().resolve()
    return {"weights": path.name, "weights_sha256": _sha256(str(path), path.stat().st_mtime)}


def progress_line(step: int, total: int, scale: int, scales: int, seconds: float) -> str:
    return (f"<progress value='{step}' max='{total}'></progress> step {step}/{total} · scale {scale + 1}/{scales} · "
            f"{seconds:.0f} s")


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


def stream_stylize(content, styles, blend, settings: optimize.StylizeSettings, config: AppConfig):
    """Run the engine, yielding (preview, loss plot, before/after, download, settings, status line) as it goes:
    the status line (progress bar, step, scale, seconds since the start) at most every STATUS_EVERY seconds."""
    if content is None:
        raise problem("Add a content image first.")
    if not styles:
        raise problem("Add at least one style image.")
    curve, started, shown = [], time.perf_counter(), 0.0
    try:
        for event in optimize.stylize(content, styles, settings.replace(style_blend=blend)):
            if isinstance(event, optimize.Progress):
                curve += [{"step": event.step, "loss": event.losses[t], "loss term": t} for t in PLOT_TERMS]
                now = time.perf_counter()
                if event.preview is None and now - shown < STATUS_EVERY:
                    continue
                shown = now
                status = progress_line(event.step, event.total, event.scale, event.scales, now - started)
                if event.preview is None:
                    yield gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), status
                else:
                    preview = SCRATCH.png(event.preview, "preview.png")
                    yield preview, pd.DataFrame(curve), gr.skip(), gr.skip(), gr.skip(), status
                continue
            height, width = event.image.shape[-2:]
            before = SCRATCH.png(images.resize(images.load_image(content).rgb, (width, height)), "photo.png")
            path = str(event.save(SCRATCH.path()))
            used = {"seconds": round(event.seconds, 1), **event.settings.to_dict(),
                    **weights_used(event.settings, config)}
            status = f"Done: {width}×{height} px in {event.seconds:.1f} s" + not_enlarged(event.image, settings.size)
            yield path, pd.DataFrame(curve), (before, path), path, used, status
    except StyleHubError as err:
        raise problem(hide_weights_path(str(err), config)) from None


def stopped(preview, status):
    """After Stop: the status says so, and the download holds the last preview."""
    step = re.search(r"step (\d+)/(\d+)", status or "")
    at = f" at step {step[1]}/{step[2]}" if step else ""
    if preview is None:
        return gr.skip(), f"Stopped{at}, before the first preview."
    partial = SCRATCH.path("stylehub-stopped.png")
    shutil.copyfile(preview, partial)
    return str(partial), f"Stopped{at}: the download holds the last preview."


def build_tab(config: AppConfig, notice: str) -> None:
    """The optimisation tab."""
    defaults = optimize.preset()
    with gr.Row():
        with gr.Column(scale=1):
            content = ImageUpload(label="Content photo", type="filepath", sources=["upload", "clipboard"], height=260,
                                  elem_id="content")
            style_inputs, blend_inputs = [], []
            with gr.Tabs():
                for slot in range(STYLE_SLOTS):
                    with gr.Tab(f"Style {slot + 1}"):
                        label = f"Style image {slot + 1}" + (" (optional)" if slot else "")
                        style_inputs.append(ImageUpload(label=label, type="filepath", sources=["upload", "clipboard"],
                                                        height=200, elem_id=f"style-{slot + 1}"))
                        blend_inputs.append(gr.Slider(0, 1, value=1.0, step=0.05, label="Blend weight"))
            preset = gr.Radio(list(optimize.PRESETS), value=optimize.DEFAULT_PRESET, label="Preset",
                              info="fast: a quick look; best: more iterations at every scale")
            size = gr.Slider(32, 1024, value=defaults.size, step=32, label="Output size (long side, px)",
                             elem_id="size")
            with gr.Accordion("Advanced", open=False):
                with gr.Row():
                    backbone = gr.Dropdown(runnable_backbones(config), value=config.backbone, label="Backbone",
                                           info="the backbones this server has weights for")
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
                stop_button = gr.Button("Stop", variant="stop", elem_id="stop")
        with gr.Column(scale=1, elem_classes="results"):
            status = gr.HTML("", elem_id="run-status", elem_classes="status")
            preview = gr.Image(label="Result (updates while it runs)", type="filepath", format="png",
                               interactive=False, height=360, elem_id="result")
            plot = gr.LinePlot(x="step", y="loss", color="loss term", label="Loss", height=240, elem_id="loss-plot",
                               color_map={"total": "#333333", "content": "#1f77b4", "style": "#d62728"})
            slider = gr.ImageSlider(label="Before / after", type="pil", interactive=False, max_height=360,
                                    elem_id="compare")
            download = gr.File(label="Download (lossless PNG)", interactive=False, elem_id="download")
            used = gr.JSON(label="Settings used (to reproduce this result)")

    def on_preset(name):
        chosen = optimize.preset(name)
        return chosen.steps, chosen.coarse_steps

    preset.change(on_preset, preset, [steps, coarse_steps], api_visibility="private")

    controls = [preset, size, backbone, optimizer, init, steps, coarse_steps, content_weight, style_weight, tv_weight,
                preserve_colour, style_scale, style_statistic, content_layers, style_layers, seed]

    # Each visitor's newest preview while a run goes on, for Stop: the preview component's own value is not sent
    # reliably while an update to it is on its way.
    newest_preview: dict[str | None, str] = {}

    # The None defaults make those parameters optional for API clients, who then get the controls' values.
    def stylize(content, style_1, style_2=None, style_3=None, weight_1=None, weight_2=None, weight_3=None,
                preset=None, size=None, backbone=None, optimizer=None, init=None, steps=None, coarse_steps=None,
                content_weight=None, style_weight=None, tv_weight=None, preserve_colour=None, style_scale=None,
                style_statistic=None, content_layers=None, style_layers=None, seed=None,
                request: gr.Request = None):
        try:
            settings = settings_from_controls(config, preset, size, backbone, optimizer, init, steps, coarse_steps,
                                              content_weight, style_weight, tv_weight, preserve_colour, style_scale,
                                              style_statistic, content_layers, style_layers, seed)
        except StyleHubError as err:
            raise problem(str(err)) from None
        chosen = [(s, w) for s, w in ((style_1, weight_1), (style_2, weight_2), (style_3, weight_3)) if s is not None]
        visitor = request.session_hash if request is not None else None
        for outputs in stream_stylize(content, [s for s, _ in chosen], [w for _, w in chosen] or None, settings,
                                      config):
            if isinstance(outputs[0], (str, Path)):
                newest_preview[visitor] = str(outputs[0])
            yield outputs
        newest_preview.pop(visitor, None)

    def stop(status, request: gr.Request = None):
        return stopped(newest_preview.pop(request.session_hash if request is not None else None, None), status)

    outputs = [preview, plot, slider, download, used, status]
    waiting = "() => 'Waiting for the engine…'"
    run.click(None, None, status, js=waiting, api_visibility="private", queue=False)
    # One progress display: the status line, which also takes the error badge; the results stay as they were.
    job = run.click(stylize, [content, *style_inputs, *blend_inputs, *controls], outputs, api_name="stylize",
                    concurrency_id=ENGINE, concurrency_limit=config.concurrency, show_progress="hidden",
                    show_progress_on=[status], scroll_to_output=True)
    stop_button.click(stop, [status], [download, status], cancels=[job], api_visibility="private")

    finished = {}  # an example's final outputs, by the contents of its two images: each example runs once

    def example(content_path, style_path):
        key = tuple(hashlib.sha256(Path(path).read_bytes()).hexdigest() for path in (content_path, style_path))
        if key not in finished:
            settings = optimize.preset("fast", size=config.example_size, backbone=config.backbone,
                                       weights=config.weights, device=config.device)
            for *shown, status_line in stream_stylize(content_path, [style_path], None, settings, config):
                yield status_line, shown[0], shown[3], shown[4], "fast", config.example_size
            kept = str(shutil.copyfile(shown[0], KEPT.path()))  # out of reach of the scratch folder's clean-up
            finished[key] = status_line, kept, kept, shown[4]
        yield *finished[key], "fast", config.example_size

    pairs = _example_pairs()
    if pairs:
        # An example streams its steps and previews like a run (then comes from memory), and sets Preset and Size
        # to what it ran with.
        examples = gr.Examples(pairs, [content, style_inputs[0]], elem_id="optimise-examples",
                               label="Examples (public-domain paintings; run once, then kept)")
        examples.load_input_event.then(example, [content, style_inputs[0]],
                                       [status, preview, download, used, preset, size], api_visibility="private",
                                       concurrency_id=ENGINE, concurrency_limit=config.concurrency,
                                       show_progress="hidden", show_progress_on=[status], scroll_to_output=True)


def _example_pairs() -> list[list[str]]:
    photos = sorted((EXAMPLES / "content").glob("*.jpg"))
    paintings = sorted((EXAMPLES / "style").glob("*.jpg"))
    return [[str(photo), str(painting)] for photo in photos for painting in paintings]
