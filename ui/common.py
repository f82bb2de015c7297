"""What every tab shares: the app's configuration and folders, the upload component, the concurrency groups,
the example photos, errors shown in the page and the scratch folder of results."""
from __future__ import annotations

import atexit
import contextlib
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from stylehub import images, optimize
from stylehub.errors import StyleHubError

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
MODELS = ROOT / "models"  # the shipped models
REGISTRY = MODELS / "registry.json"  # the curated styles published on the Hub
ENGINE = "engine"  # the one concurrency group every heavy event shares
NETS = "fast"  # concurrency group of the trained networks' tabs: milliseconds per job, kept apart from slow runs
STATUS_EVERY = 0.5  # seconds between two updates of a status line while a job runs


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


def problem(message: str) -> gr.Error:
    """An expected visitor error (no photo, bad file, failed Load): one message in the page, no server traceback."""
    return gr.Error(message, print_exception=False)


@contextlib.contextmanager
def shown_in_page(folder=None, name: str | None = None):
    """StyleHub's errors inside the block become a `problem` in the page; a model's folder, if given, is named
    as the visitor knows it (`name`), never by its path on the server."""
    try:
        yield
    except StyleHubError as err:
        message = str(err)
        if folder is not None:
            message = message.replace(str(Path(folder).resolve()), name).replace(str(folder), name)
        raise problem(message) from None


def load_photo(path, long_side: int):
    """The uploaded photo as a tensor, at most long_side px on its long side; errors shown in the page."""
    if path is None:
        raise problem("Add a content photo first.")
    with shown_in_page():
        rgb = images.load_image(path, name="content photo").rgb
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
