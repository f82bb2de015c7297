"""A published style in the Any painting tab: a style vector (style_vectors.py) loaded by Hub repo id, painted with
the tab's arbitrary-style network, and handed to Refine as the paintings it was made from."""
from __future__ import annotations

import functools
import shutil
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from stylehub import arbitrary, checkpoints, style_vectors
from stylehub.errors import StyleHubError

from . import models, results
from .common import SCRATCH, AppConfig, problem, shown_in_page

NETWORK_ADVICE = "give that network with --network FOLDER_OR_REPO"  # the command line's advice, not the page's


@dataclass(frozen=True)
class Published:
    """A loaded style vector: its folder on the server (never shown), the reference the visitor typed, its name
    and its paintings' copies with their blend weights."""
    folder: str
    reference: str
    name: str
    paintings: tuple[tuple[str, float], ...]

    @property
    def shown(self) -> str:
        return f"Painting with: **{self.name}** (from {self.reference})"


def find(reference: str, config: AppConfig, progress: gr.Progress) -> Published:
    """The style vector a visitor names (models.find_model: a Hub repo id, or an allowed folder)."""
    model = models.find_model(reference, config, progress)
    reference = reference.strip()
    if model.kind != checkpoints.STYLE_VECTOR_KIND:
        raise problem(f"{reference} is not a style vector: load it in the Fast or Blender tab.")
    with shown_in_page(model.folder, reference):
        found = [(checkpoints.model_file(model.folder, p.get("image")), float(p["weight"]))
                 for p in model.config["paintings"]]
    return Published(str(model.folder), reference, model.style_names[0],
                     tuple((str(path), weight) for path, weight in found if path))


def pictures(published: Published) -> list[tuple[str, str]]:
    """(picture, caption) of the style's paintings, copied where the page may show them."""
    return [(shown_copy(path), f"{published.name} ({weight:g})") for path, weight in published.paintings]


def refine_paintings(published: Published) -> list[tuple[str, float]]:
    """[(painting, blend weight), ...] for the Optimise tab: copies of the paintings the vector was made from."""
    return [(shown_copy(path), weight) for path, weight in published.paintings]


def shown_copy(path: str) -> str:
    """A copy of a file in the model folder, in the app's scratch folder: Gradio serves only the files it may."""
    return str(shutil.copyfile(path, SCRATCH.path(Path(path).name)))


def paint(published: Published, network_folder: str, device: str, photo, strength, preserve_colour, size):
    """(result, (before, after), PNG path, timing line): the photo painted with the style vector."""
    style, network = _opened(published, network_folder, device)
    with shown_in_page(published.folder, published.reference):
        return results.timed_result(network, photo, lambda: style_vectors.stylize(
            network.net, photo, style, strength=float(strength), preserve_colour=bool(preserve_colour),
            working_side=arbitrary.WORKING_SIDE), size)


def _opened(published: Published, network_folder: str, device: str):
    """The style and its network, loaded once; a network that does not fit is said in the page's words."""
    try:
        return _loaded(published.folder, *models.model_key(network_folder), device)
    except StyleHubError as err:
        words = (str(err).replace(NETWORK_ADVICE, "this server cannot paint it")
                 .replace(str(Path(network_folder).resolve()), "this server's network")
                 .replace(str(network_folder), "this server's network")
                 .replace(str(Path(published.folder).resolve()), published.reference)
                 .replace(published.folder, published.reference))
        raise problem(words) from None


@functools.lru_cache(maxsize=8)
def _loaded(style_folder: str, network_folder: str, weights_changed: int, device: str):
    return style_vectors.open_style(style_folder, fallback=network_folder, device=device)
