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

from .common import ENGINE, EXAMPLES, SCRATCH, STATUS_EVERY, AppConfig, ImageUpload, Scratch, problem
from .controls import app_settings, make_controls, named_handler, setting_values
from .results import not_enlarged

STYLE_SLOTS = 3
PLOT_TERMS = ("total", "content", "style")
# Clients may pass the /stylize API's parameters by position, so a new one comes last: `start` came after the settings
# up to this one, and the settings added since come after it.
LAST_SETTING_BEFORE_START = "seed"


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


def settings_from_controls(config: AppConfig, preset: str, values: dict) -> optimize.StylizeSettings:
    """The preset's settings changed by the controls' values (by field name), run on the app's device with its
    weights for its own backbone.

    A control the preset sets (steps) that still shows the default preset's value takes the chosen preset's: the
    page moves it when the preset changes, but an API call that names only a preset leaves it at the default.
    """
    changes = setting_values(optimize.StylizeSettings, values)
    default, chosen = optimize.preset(), optimize.preset(preset)
    for name in optimize.PRESETS.get(preset, {}):
        if changes.get(name) == getattr(default, name):
            changes[name] = getattr(chosen, name)
    settings = optimize.preset(preset, **changes)
    return settings.replace(device=config.device,
                            weights=config.weights if settings.backbone == config.backbone else None).check()


def stream_stylize(content, styles, blend, settings: optimize.StylizeSettings, config: AppConfig, start=None):
    """Run the engine, yielding (preview, loss plot, before/after, download, settings, status line) as it goes:
    the status line (progress bar, step, scale, seconds since the start) at most every STATUS_EVERY seconds.
    start: an image to begin from (e.g. a fast result to refine) instead of settings.init."""
    if content is None:
        raise problem("Add a content image first.")
    if not styles:
        raise problem("Add at least one style image.")
    curve, started, shown = [], time.perf_counter(), 0.0
    try:
        for event in optimize.stylize(content, styles, settings.replace(style_blend=blend), start=start):
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
                    **weights_used(event.settings, config), **({"start": Path(start).name} if start else {})}
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


def build_tab(config: AppConfig, notice: str):
    """The optimisation tab. Returns its `refine`, with which another tab hands it a picture to refine."""
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
            with gr.Accordion("Start from an image (optional)", open=False, elem_id="start-box") as start_box:
                start = ImageUpload(label="Start image", type="filepath", sources=["upload", "clipboard"], height=160,
                                    elem_id="start")
                gr.Markdown("The optimisation begins from this picture (resized to the output) instead of *Start "
                            "from*: Refine in the Any painting tab puts its result here. Clear it to start afresh.")
            preset = gr.Radio(list(optimize.PRESETS), value=optimize.DEFAULT_PRESET, label="Preset",
                              info="fast: a quick look; best: more iterations at every scale")
            controls = make_controls(optimize.StylizeSettings, defaults, advanced=False)
            with gr.Accordion("Advanced", open=False):
                backbone = dict(choices=runnable_backbones(config), value=config.backbone,
                                info="the backbones this server has weights for")
                controls |= make_controls(optimize.StylizeSettings, defaults, advanced=True,
                                          overrides={"backbone": backbone})
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
            used = gr.JSON(label="Settings used (to reproduce this result)", elem_id="settings-used")

    def on_preset(name):
        chosen = optimize.preset(name)
        return chosen.steps, chosen.coarse_steps

    preset.change(on_preset, preset, [controls["steps"], controls["coarse_steps"]], api_visibility="private")
    names = app_settings(optimize.StylizeSettings)  # in field order
    style_names = [f"style_{slot + 1}" for slot in range(STYLE_SLOTS)]
    weight_names = [f"weight_{slot + 1}" for slot in range(STYLE_SLOTS)]

    # Each visitor's newest preview while a run goes on, for Stop: the preview component's own value is not sent
    # reliably while an update to it is on its way.
    newest_preview: dict[str | None, str] = {}

    def stylize(values: dict, request: gr.Request | None):
        try:
            settings = settings_from_controls(config, values["preset"], values)
        except StyleHubError as err:
            raise problem(str(err)) from None
        chosen = [(values[s], values[w]) for s, w in zip(style_names, weight_names) if values[s] is not None]
        visitor = request.session_hash if request is not None else None
        for outputs in stream_stylize(values["content"], [s for s, _ in chosen], [w for _, w in chosen] or None,
                                      settings, config, values["start"]):
            if isinstance(outputs[0], (str, Path)):
                newest_preview[visitor] = str(outputs[0])
            yield outputs
        newest_preview.pop(visitor, None)

    def stop(status, request: gr.Request = None):
        return stopped(newest_preview.pop(request.session_hash if request is not None else None, None), status)

    outputs = [preview, plot, slider, download, used, status]
    waiting = "Waiting for the engine…"
    run.click(None, None, status, js=f"() => {waiting!r}", api_visibility="private", queue=False)
    cut = names.index(LAST_SETTING_BEFORE_START) + 1
    parameters = ["content", *style_names, *weight_names, "preset", *names[:cut], "start", *names[cut:]]
    components = {"content": content, **dict(zip(style_names, style_inputs)), **dict(zip(weight_names, blend_inputs)),
                  "preset": preset, "start": start, **controls}
    handler = named_handler(stylize, parameters[:2], parameters[2:])
    inputs = [components[name] for name in parameters]
    # One progress display: the status line, which also takes the error badge; the results stay as they were.
    running = dict(concurrency_id=ENGINE, concurrency_limit=config.concurrency, show_progress="hidden",
                   show_progress_on=[status], scroll_to_output=True)
    job = run.click(handler, inputs, outputs, api_name="stylize", **running)
    stop_button.click(stop, [status], [download, status], cancels=[job], api_visibility="private")

    def refine(trigger, sources: list, picked) -> None:
        """On `trigger` (an event, such as a button's click), fill this tab with picked(*values of `sources`):
        (content photo, [(style image, blend weight), ...], start image), and run it as Stylise does."""
        def fill(*values):
            photo, styles, start_image = picked(*values)
            styles = [*styles, *[(None, 1.0)] * (STYLE_SLOTS - len(styles))][:STYLE_SLOTS]
            return (photo, *[s for s, _ in styles], *[w for _, w in styles], start_image, gr.Accordion(open=True),
                    waiting)

        filled = trigger(fill, sources, [content, *style_inputs, *blend_inputs, start, start_box, status],
                         queue=False, api_visibility="private")
        refined = filled.then(handler, inputs, outputs, api_visibility="private", **running)
        stop_button.click(None, None, None, cancels=[refined], api_visibility="private")

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
                                       [status, preview, download, used, preset, controls["size"]],
                                       api_visibility="private", **running)
    return refine


def _example_pairs() -> list[list[str]]:
    photos = sorted((EXAMPLES / "content").glob("*.jpg"))
    paintings = sorted((EXAMPLES / "style").glob("*.jpg"))
    return [[str(photo), str(painting)] for photo in photos for painting in paintings]
