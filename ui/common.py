"""What every tab shares: the app's configuration, the upload component, the engine's queue, model loading."""
from __future__ import annotations

import functools
import importlib.util
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from stylehub import checkpoints, fast, images, onnx_io, optimize
from stylehub.backbones import pick_device
from stylehub.errors import StyleHubError
from stylehub.nets import TransformerNet

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
MODELS = ROOT / "models"
ENGINE = "engine"  # the one concurrency group every heavy event shares


class ImageUpload(gr.Image):
    """An image upload handed to StyleHub as the uploaded file, undecoded: StyleHub's loader checks the size
    before decoding and names the problem with a bad file, where Gradio's own decoding fails with a generic error."""

    is_template = True  # drawn by the frontend as a plain gr.Image

    def preprocess(self, payload):
        return None if payload is None else payload.path


@dataclass
class AppConfig:
    backbone: str = optimize.StylizeSettings.backbone
    weights: str | None = None  # None: STYLEHUB_WEIGHTS, else the Hub
    device: str = "auto"
    concurrency: int = 1  # jobs at once: one per machine, since one job already uses every core or the GPU
    max_queue: int = 16
    max_upload_mb: int = 20
    example_size: int = 384
    models: Path = MODELS  # trained networks offered by the Fast and Blender tabs


def example_photo() -> str | None:
    photos = sorted((EXAMPLES / "content").glob("*.jpg"))
    return str(photos[0]) if photos else None


@functools.lru_cache(maxsize=8)
def _cached_model(folder: str, stamp: float, device: str):
    net, config = checkpoints.load_model(folder, pick_device(device))
    if _onnxruntime_can_run(net):  # on a CPU, onnxruntime runs the same network 1.5-1.7x faster than PyTorch
        net = onnx_io.OnnxRuntimeNet(net)
    return net, config


def _onnxruntime_can_run(net) -> bool:
    on_cpu = next(net.parameters()).device.type == "cpu"
    installed = all(importlib.util.find_spec(name) is not None for name in ("onnx", "onnxruntime"))
    return on_cpu and installed and isinstance(net, TransformerNet)


def runs_on(net) -> str:
    """Where a network runs, for the timing line: "cpu, onnxruntime", "cpu" or "cuda:0"."""
    device = str(next(net.parameters()).device)
    return f"{device}, onnxruntime" if isinstance(net, onnx_io.OnnxRuntimeNet) else device


def load_model(folder, device: str):
    """A trained network, loaded once per folder and reloaded when its weights change on disk."""
    weights = Path(folder) / checkpoints.WEIGHTS_NAME
    stamp = weights.stat().st_mtime if weights.is_file() else 0.0
    try:
        return _cached_model(str(folder), stamp, device)
    except StyleHubError as err:  # a broken or half-copied model folder: say which and why
        raise gr.Error(str(err)) from None


def load_photo(path, long_side: int):
    """The uploaded photo as a tensor, at most long_side px on its long side; errors shown in the page."""
    if path is None:
        raise gr.Error("Add a content photo first.")
    try:
        loaded = images.load_image(path, name="content photo")
    except StyleHubError as err:
        raise gr.Error(str(err)) from None
    rgb = loaded.rgb
    if max(rgb.shape[-2:]) > long_side:
        rgb = images.resize_long_side(rgb, long_side)
    return rgb


def png_download(rgb, name: str = "stylehub.png") -> str:
    path = Path(tempfile.mkdtemp(prefix="stylehub-")) / name
    images.save_image(rgb, path)
    return str(path)


FAST = "fast"  # concurrency group of the feed-forward tabs: milliseconds per job, kept apart from slow runs


def run_network(net, photo, styles, strength: float, preserve_colour: bool):
    """(result, (before, after), PNG path, timing line) for one stylisation with a trained network."""
    started = time.perf_counter()
    styled = stylize(net, photo, styles, strength, preserve_colour)
    milliseconds = (time.perf_counter() - started) * 1000
    result = images.to_pil(styled)
    timing = f"{styled.shape[-1]}×{styled.shape[-2]} px in {milliseconds:.0f} ms on {runs_on(net)}"
    return result, (images.to_pil(photo), result), png_download(styled), timing


def stylize(net, photo, styles, strength: float, preserve_colour: bool):
    """The engine's stylisation, its errors shown in the page."""
    try:
        return fast.stylize_image(net, photo, styles=styles, strength=float(strength),
                                  preserve_colour=bool(preserve_colour))
    except StyleHubError as err:
        raise gr.Error(str(err)) from None


def model_choices(folder, keep) -> dict[str, str]:
    """Display name → model folder for the models in `folder` whose config passes `keep(config)`."""
    choices = {}
    for path, config in checkpoints.find_models(folder).items():
        if not keep(config):
            continue
        names = checkpoints.style_names(config)
        label = names[0] if len(names) == 1 else f"{path.name} ({len(names)} styles)"
        choices[label if label not in choices else f"{label} [{path.name}]"] = str(path)
    return choices


def style_image(folder, config: dict, index: int = 0) -> str | None:
    """The style image a model learnt from, if the folder keeps it (else its preview)."""
    styles = config.get("styles", [])
    relative = styles[index].get("image") if index < len(styles) else None
    for candidate in ([Path(folder) / relative] if relative else []) + [Path(folder) / "preview.png"]:
        if candidate.is_file():
            return str(candidate)
    return None


def resolve_model(reference: str, progress: gr.Progress) -> tuple[str, dict]:
    """A model folder or Hub repo id → (local folder, config), downloading with progress if needed."""
    from stylehub import hub

    reference = (reference or "").strip()
    if not reference:
        raise gr.Error("Type a Hub repo id (user/name) or a model folder.")
    progress(0, desc=f"fetching {reference}")
    try:
        folder = hub.resolve_model(reference, progress=progress)
        return str(folder), checkpoints.read_config(folder)
    except StyleHubError as err:
        raise gr.Error(str(err)) from None


def if_ready(run):
    """For events fired by settings changes: re-run only when there is a photo and a model to run."""
    def maybe(content, model, *rest):
        if content is None or not model:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        return run(content, model, *rest)

    return maybe


def folder_for(model: str | None, choices: dict[str, str]) -> str:
    """The folder of a model shown in a tab's list; API callers may also name a repo id or a folder."""
    if not model:
        raise gr.Error("Choose a style first.")
    if model in choices:
        return choices[model]
    folder, _ = resolve_model(model, gr.Progress())
    return folder


def published_styles(reference: gr.Textbox) -> None:
    """The curated registry (models/registry.json) and a Hub search; choosing one fills `reference`."""
    from stylehub import hub

    def label(style: dict) -> tuple[str, str]:
        return f"{style['name']} ({style['repo']})", style["repo"]

    with gr.Accordion("Published styles", open=False):
        found = gr.Dropdown([label(s) for s in hub.read_registry()], value=None, label="Curated and published styles",
                            info="choose one, then Load")
        search = gr.Button("Search the Hub")

    def find():
        styles = hub.curated_styles()
        if not styles:
            gr.Info("No published StyleHub styles found (or the Hub cannot be reached).")
        return gr.update(choices=[label(s) for s in styles])

    search.click(find, None, found, api_visibility="private")
    found.input(lambda repo: repo, found, reference, api_visibility="private")
