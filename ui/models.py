"""Trained models in the app: the lists a tab offers, the model a visitor chooses or names, loading it once."""
from __future__ import annotations

import functools
from pathlib import Path

import gradio as gr

from stylehub import checkpoints, hub
from stylehub.model import Model

from .common import REGISTRY, AppConfig, problem, shown_in_page


def model_choices(folder, keep) -> dict[str, str]:
    """Display name → model folder for the models in `folder` whose config passes `keep(config)`."""
    choices = {}
    for path, config in checkpoints.find_models(folder).items():
        if not keep(config):
            continue
        names = Model(config, path).style_names
        label = names[0] if len(names) == 1 else f"{path.name} ({len(names)} styles)"
        choices[label if label not in choices else f"{label} [{path.name}]"] = str(path)
    return choices


def open_model(folder, device: str, name: str) -> Model:
    """A trained model with its network, loaded once per folder and again when its weights change on disk."""
    with shown_in_page(folder, name):  # a broken or half-copied model folder: say which and why
        return _loaded_model(*model_key(folder), device)


@functools.lru_cache(maxsize=8)
def _loaded_model(folder: str, weights_changed: int, device: str) -> Model:
    return Model.load(folder, device)


def model_key(folder) -> tuple:
    """What identifies a model (for the cache of loaded models, and for Recent): its folder and the modification
    time of its weights."""
    weights = Path(folder) / checkpoints.WEIGHTS_NAME
    return str(folder), weights.stat().st_mtime_ns if weights.is_file() else 0


def find_model(reference: str, config: AppConfig, progress: gr.Progress) -> Model:
    """The model a visitor names: a Hub repo id, or a folder under one the operator allowed (--model-folder).

    Any other server path is refused with the same words whether it exists or not: visitors learn nothing of the
    server's files.
    """
    reference = (reference or "").strip()
    if not reference:
        raise problem("Type a Hub repo id (user/name).")
    folder = _allowed_folder(reference, config)
    if folder is None and not hub.is_repo_id(reference):
        raise problem(f"{reference!r} is not a Hub repo id: type user/name, or choose a shipped style.")
    with shown_in_page(folder or reference, reference):
        if folder is None:
            progress(0, desc=f"fetching {reference}")
            folder = hub.download_model(reference, progress=progress)
        return Model.read(folder)


def _allowed_folder(reference: str, config: AppConfig) -> Path | None:
    """The folder `reference` names when it lies under one of the operator's model folders, else None."""
    if not config.model_folders:
        return None
    path = Path(reference).expanduser().resolve()
    inside = any(path.is_relative_to(Path(root).resolve()) for root in config.model_folders)
    return path if inside and path.is_dir() else None


def add_model(reference: str, choices: dict[str, str], config: AppConfig, progress: gr.Progress,
              refusal) -> tuple[str, dict[str, str]]:
    """A model a visitor loads into a tab's list: (its label, the new list). refusal(model) says why the tab does
    not take it (None: taken). The label is the style's name for a single style, else the reference; the
    reference is added where that label is taken by another folder."""
    model = find_model(reference, config, progress)
    reason = refusal(model)
    if reason:
        raise problem(f"{reference} {reason}")
    label = model.style_names[0] if model.is_single_style else reference
    if choices.get(label) not in (None, str(model.folder)):
        label = f"{label} [{reference}]"
    return label, {**choices, label: str(model.folder)}


def folder_for(model: str | None, choices: dict[str, str], config: AppConfig) -> str:
    """The folder of a model shown in a tab's list; API callers may also name a repo id (or an allowed folder)."""
    if not model:
        raise problem("Choose a style first.")
    if model in choices:
        return choices[model]
    return str(find_model(model, config, gr.Progress()).folder)


def chosen_model(name: str | None, choices: dict[str, str], config: AppConfig) -> Model:
    """The model chosen in a tab's list (or named by an API caller), loaded."""
    return open_model(folder_for(name, choices, config), config.device, name)


def hub_loader(prefix: str, what: str) -> tuple[gr.Textbox, gr.Button]:
    """The row that loads `what` (a style, a network) from the Hub by repo id, and the published styles below it."""
    with gr.Row():
        reference = gr.Textbox(label=f"Load {what} from the Hub (user/name)", placeholder="user/name", scale=3,
                               elem_id=f"{prefix}-reference")
        load = gr.Button("Load", scale=1, elem_id=f"{prefix}-load")
    published_styles(reference)
    return reference, load


def published_styles(reference: gr.Textbox) -> None:
    """The curated registry (REGISTRY) and a Hub search; choosing one fills `reference`."""
    def label(style: dict) -> tuple[str, str]:
        return f"{style['name']} ({style['repo']})", style["repo"]

    published = [label(s) for s in hub.read_registry(REGISTRY)]
    with gr.Accordion("Published styles", open=False):
        found = gr.Dropdown(published, value=None, label="Curated and published styles",
                            info="choose one, then Load" if published else
                            "none published yet: search the Hub for StyleHub styles")
        search = gr.Button("Search the Hub")

    def find():
        styles = hub.curated_styles(registry=REGISTRY)
        if not styles:
            gr.Info("No published StyleHub styles found (or the Hub cannot be reached).")
        return gr.update(choices=[label(s) for s in styles])

    search.click(find, None, found, api_visibility="private")
    found.input(lambda repo: repo, found, reference, api_visibility="private")
