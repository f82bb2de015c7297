"""What every tab shares: the app's configuration, the upload component, the engine's queue, model loading."""
from __future__ import annotations

import atexit
import collections
import functools
import importlib.util
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from stylehub import checkpoints, fast, hub, images, onnx_io, optimize, video
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


def photo_upload(elem_id: str, height: int = 240) -> ImageUpload:
    """The photo upload of the network tabs, holding the example photo to begin with."""
    return ImageUpload(label="Photo", type="filepath", value=example_photo(), sources=["upload", "clipboard"],
                       height=height, elem_id=elem_id)


@dataclass
class AppConfig:
    backbone: str = optimize.StylizeSettings.backbone
    weights: str | None = None  # None: STYLEHUB_WEIGHTS, else the Hub
    device: str = "auto"
    concurrency: int = 1  # jobs at once: one per machine, since one job already uses every core or the GPU
    max_queue: int = 64  # waiting jobs hold only their uploads; beyond this a new job is turned away
    max_upload_mb: int = 20
    example_size: int = 384
    models: Path = MODELS  # trained networks offered by the Fast and Blender tabs
    model_folders: tuple[Path, ...] = ()  # server folders under which visitors may name model folders; () for none


def example_photo() -> str | None:
    photos = sorted((EXAMPLES / "content").glob("*.jpg"))
    return str(photos[0]) if photos else None


def examples_label(photo: str) -> str:
    """The label of a tab's examples, crediting the photo as examples/SOURCES.md does (its work and licence)."""
    credit = example_credit(photo)
    return f"Examples, with the settings above (photo: {credit})" if credit else "Examples, with the settings above"


def example_credit(path: str) -> str | None:
    """"work, licence" of a file under examples/, as examples/SOURCES.md gives them; None when it is not listed."""
    sources = EXAMPLES / "SOURCES.md"
    relative = Path(path).resolve().relative_to(EXAMPLES.resolve()).as_posix()
    for line in sources.read_text(encoding="utf-8").splitlines() if sources.is_file() else []:
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0] == relative:
            return f"{cells[1]}, {cells[2]}"
    return None


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


def load_model(folder, device: str, name: str):
    """A trained network, loaded once per folder and reloaded when its weights change on disk."""
    weights = Path(folder) / checkpoints.WEIGHTS_NAME
    stamp = weights.stat().st_mtime if weights.is_file() else 0.0
    try:
        return _cached_model(str(folder), stamp, device)
    except StyleHubError as err:  # a broken or half-copied model folder: say which and why
        raise visitor_error(err, folder, name) from None


def problem(message: str) -> gr.Error:
    """An expected visitor error (no photo, bad file, failed Load): one message in the page, no server traceback."""
    return gr.Error(message, print_exception=False)


def visitor_error(err: StyleHubError, folder, name: str) -> gr.Error:
    """The error for the page, naming the model as the visitor knows it, never by its path on the server."""
    return problem(str(err).replace(str(Path(folder).resolve()), name).replace(str(folder), name))


def load_photo(path, long_side: int):
    """The uploaded photo as a tensor, at most long_side px on its long side; errors shown in the page."""
    if path is None:
        raise problem("Add a content photo first.")
    try:
        loaded = images.load_image(path, name="content photo")
    except StyleHubError as err:
        raise problem(str(err)) from None
    rgb = loaded.rgb
    if max(rgb.shape[-2:]) > long_side:
        rgb = images.resize_long_side(rgb, long_side)
    return rgb


class Scratch:
    """The app's own folder for the images it hands to Gradio: one new file per result, so concurrent requests
    never write a file another is reading; files older than max_age seconds are removed as new ones come."""

    def __init__(self, max_age: float = 600.0):
        self.root, self.max_age = Path(tempfile.mkdtemp(prefix="stylehub-app-")), max_age
        atexit.register(shutil.rmtree, self.root, True)

    def path(self, name: str = "stylehub.png") -> Path:
        """A new path, in a folder of its own, for a file to hand to Gradio."""
        self.prune()
        folder = self.root / uuid.uuid4().hex
        folder.mkdir()
        return folder / name

    def png(self, rgb, name: str = "stylehub.png") -> str:
        return str(images.save_image(rgb, self.path(name)))

    def prune(self) -> None:
        cutoff = time.time() - self.max_age
        for folder in self.root.iterdir():
            if folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)


SCRATCH = Scratch()


FAST = "fast"  # concurrency group of the feed-forward tabs: milliseconds per job, kept apart from slow runs
WEBCAM = "webcam"  # concurrency group of the live webcam streams
WEBCAM_SIDE = 256  # long side of a stylised webcam frame


def webcam_panel(prefix: str) -> tuple[gr.Image, gr.Image]:
    """A webcam input streaming frames, and the image that shows them stylised with the tab's current style."""
    with gr.Accordion("Webcam (live)", open=False):
        gr.Markdown(f"Frames are stylised at {WEBCAM_SIDE} px with the style chosen above; nothing is stored.")
        with gr.Row():
            camera = gr.Image(label="Camera", sources=["webcam"], streaming=True, type="numpy",
                              elem_id=f"{prefix}-camera")
            live = gr.Image(label="Stylised", type="filepath", interactive=False, elem_id=f"{prefix}-live")
    return camera, live


def run_network(net, photo, styles, strength: float, preserve_colour: bool, size: int | None = None):
    """(result, (before, after), PNG path, timing line) for one stylisation with a trained network."""
    return timed_result(net, photo, lambda: stylize(net, photo, styles, strength, preserve_colour), size)


def timed_result(net, photo, paint, size: int | None = None):
    """(result, (before, after), PNG path, timing line) for the picture paint() returns, and the time it took."""
    started = time.perf_counter()
    styled = paint()
    milliseconds = (time.perf_counter() - started) * 1000
    result = SCRATCH.png(styled)
    timing = f"{styled.shape[-1]}×{styled.shape[-2]} px in {milliseconds:.0f} ms on {runs_on(net)}"
    return result, (SCRATCH.png(photo, "photo.png"), result), result, timing + not_enlarged(styled, size)


def not_enlarged(image, size: int | None) -> str:
    """The words that explain a result smaller than the size asked for: photos are never enlarged."""
    if size is None or max(image.shape[-2:]) >= int(size):
        return ""
    return f" (the photo's own size: photos are never enlarged, so {int(size)} px was not reached)"


VIDEO_SECONDS = 20  # longest video the app stylises (the CLI has no limit)
VIDEO_SIDE = 640  # long side of a stylised video in the app
STATUS_EVERY = 0.5  # seconds between two updates of a status line while a job runs


def video_panel(prefix: str):
    """A video upload, its button, the stylised video and the line that shows progress and errors."""
    with gr.Accordion("Video", open=False):
        gr.Markdown(f"Up to {VIDEO_SECONDS} s, stylised at {VIDEO_SIDE} px with the style chosen above; the sound is "
                    f"kept, and frames are smoothed where the picture is still so that the style does not flicker.")
        with gr.Row():
            clip = gr.Video(label="Video", sources=["upload"], elem_id=f"{prefix}-video")
            styled = gr.Video(label="Stylised video", interactive=False, elem_id=f"{prefix}-video-result")
        button = gr.Button("Stylise the video", elem_id=f"{prefix}-video-run")
        status = gr.HTML("", elem_id=f"{prefix}-video-status", elem_classes="status")
    return clip, button, styled, status


def stream_video(net, clip, styles, strength: float, preserve_colour: bool):
    """Stylise an uploaded video, yielding (video, status line): progress, then the file and what it took."""
    if clip is None:
        raise problem("Add a video first.")
    target, shown = SCRATCH.path("stylehub.mp4"), 0.0
    try:
        for event in video.stylize_video(net, clip, target, styles=styles, strength=float(strength),
                                         preserve_colour=bool(preserve_colour), long_side=VIDEO_SIDE,
                                         max_seconds=VIDEO_SECONDS):
            if isinstance(event, video.VideoProgress):
                if time.perf_counter() - shown >= STATUS_EVERY:
                    shown = time.perf_counter()
                    yield gr.skip(), (f"<progress value='{event.frame}' max='{event.total}'></progress> frame "
                                      f"{event.frame}/{event.total} · {event.seconds:.0f} s")
                continue
            width, height = event.size
            yield str(event.path), (f"Done: {event.frames} frames at {width}×{height} px in {event.seconds:.1f} s "
                                    f"({event.seconds / event.frames:.2f} s per frame)")
    except StyleHubError as err:
        raise problem(str(err)) from None


def stream_frame(net, frame, styles, strength: float, preserve_colour: bool, long_side: int):
    """One webcam frame (H, W, 3 uint8 array) stylised, as a JPEG file for the page; None without a frame."""
    if frame is None:
        return None
    rgb = images.load_image(frame[..., :3]).rgb
    if max(rgb.shape[-2:]) > long_side:
        rgb = images.resize_long_side(rgb, long_side)
    return SCRATCH.png(stylize(net, rgb, styles, strength, preserve_colour), "frame.jpg")


def stylize(net, photo, styles, strength: float, preserve_colour: bool):
    """The engine's stylisation, its errors shown in the page."""
    try:
        return fast.stylize_image(net, photo, styles=styles, strength=float(strength),
                                  preserve_colour=bool(preserve_colour))
    except StyleHubError as err:
        raise problem(str(err)) from None


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
    for candidate in (relative, "preview.png"):
        try:
            path = checkpoints.model_file(folder, candidate)
        except StyleHubError:
            continue  # a picture the model may not show
        if path:
            return str(path)
    return None


def resolve_model(reference: str, config: AppConfig, progress: gr.Progress) -> tuple[str, dict]:
    """A Hub repo id, or a folder under one the operator allowed (--model-folder) → (local folder, config).

    Any other server path is refused with the same words whether it exists or not: visitors learn nothing of the
    server's files.
    """
    reference = (reference or "").strip()
    if not reference:
        raise problem("Type a Hub repo id (user/name).")
    folder = _allowed_folder(reference, config)
    try:
        if folder is None:
            if not hub.is_repo_id(reference):
                raise problem(f"{reference!r} is not a Hub repo id: type user/name, or choose a shipped style.")
            progress(0, desc=f"fetching {reference}")
            folder = hub.download_model(reference, progress=progress)
        return str(folder), checkpoints.read_config(folder)
    except StyleHubError as err:
        raise visitor_error(err, folder or reference, reference) from None


def _allowed_folder(reference: str, config: AppConfig) -> Path | None:
    """The folder `reference` names when it lies under one of the operator's model folders, else None."""
    if not config.model_folders:
        return None
    path = Path(reference).expanduser().resolve()
    inside = any(path.is_relative_to(Path(root).resolve()) for root in config.model_folders)
    return path if inside and path.is_dir() else None


class Recent:
    """The last few results of a tab, by everything that made them, for a short while: clicking an example again,
    or a setting that an example (or a thumbnail) changed and that asks for the same picture, is answered at once
    instead of being run again. Entries live shorter than SCRATCH's files, so the files they name still exist."""

    def __init__(self, size: int = 16, max_age: float = 300.0):
        self.size, self.max_age = size, min(max_age, SCRATCH.max_age / 2)
        self.items: collections.OrderedDict = collections.OrderedDict()
        self.lock = threading.Lock()

    def get(self, key, run):
        with self.lock:
            found = self.items.get(key)
            if found is not None and time.monotonic() - found[0] < self.max_age:
                self.items.move_to_end(key)
                return found[1]
        value = run()
        with self.lock:
            self.items[key] = (time.monotonic(), value)
            while len(self.items) > self.size:
                self.items.popitem(last=False)
        return value


def photo_key(path) -> tuple:
    """What identifies an uploaded photo for Recent: its file, size and modification time."""
    stat = Path(path).stat()
    return str(path), stat.st_size, stat.st_mtime_ns


def model_key(folder) -> tuple:
    """What identifies a model for Recent: its folder and the modification time of its weights."""
    weights = Path(folder) / checkpoints.WEIGHTS_NAME
    return str(folder), weights.stat().st_mtime_ns if weights.is_file() else 0


def if_ready(run):
    """For events fired by settings changes: re-run only when there is a photo and a model to run."""
    def maybe(content, model, *rest):
        if content is None or not model:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        return run(content, model, *rest)

    return maybe


def folder_for(model: str | None, choices: dict[str, str], config: AppConfig) -> str:
    """The folder of a model shown in a tab's list; API callers may also name a repo id (or an allowed folder)."""
    if not model:
        raise problem("Choose a style first.")
    if model in choices:
        return choices[model]
    folder, _ = resolve_model(model, config, gr.Progress())
    return folder


def published_styles(reference: gr.Textbox) -> None:
    """The curated registry (models/registry.json) and a Hub search; choosing one fills `reference`."""
    def label(style: dict) -> tuple[str, str]:
        return f"{style['name']} ({style['repo']})", style["repo"]

    published = [label(s) for s in hub.read_registry()]
    with gr.Accordion("Published styles", open=False):
        found = gr.Dropdown(published, value=None, label="Curated and published styles",
                            info="choose one, then Load" if published else
                            "none published yet: search the Hub for StyleHub styles")
        search = gr.Button("Search the Hub")

    def find():
        styles = hub.curated_styles()
        if not styles:
            gr.Info("No published StyleHub styles found (or the Hub cannot be reached).")
        return gr.update(choices=[label(s) for s in styles])

    search.click(find, None, found, api_visibility="private")
    found.input(lambda repo: repo, found, reference, api_visibility="private")
