"""The model folder a training run writes: what replacing a model removes, and the styles it records and keeps."""
from __future__ import annotations

import shutil
from pathlib import Path

import torch

from . import cards, checkpoints, images, training_state
from .errors import SettingsError
from .files import cannot_write, check_writable
from .training_log import LOG_PATTERN

STYLE_IMAGES = "styles"  # the folder, inside a model folder, with the style images it learnt


def replaced_names() -> list[str]:
    """What overwrite=True removes from the output folder first: the model, its card, scores, state and logs."""
    return [checkpoints.WEIGHTS_NAME, checkpoints.CONFIG_NAME, cards.CARD_NAME, cards.PREVIEW_NAME, cards.CURVE_NAME,
            cards.SCORES_NAME, training_state.STATE_NAME, LOG_PATTERN]


def prepare_output(out_dir: Path, resume: bool, overwrite: bool) -> None:
    """Refuse to replace a model unless asked (then remove its files), and prove that out_dir can be written."""
    if resume and overwrite:
        raise SettingsError("resume continues the model in the output folder and overwrite replaces it: choose one")
    holds_model = any((out_dir / name).is_file() for name in (checkpoints.WEIGHTS_NAME, checkpoints.CONFIG_NAME))
    if holds_model and not resume and not overwrite:
        raise SettingsError(f"{out_dir} already holds a model: continue its training with --resume, replace it with "
                            f"--overwrite, or choose another output folder")
    if holds_model and overwrite:
        for path in [p for name in replaced_names() for p in out_dir.glob(name) if p.is_file()]:
            path.unlink()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise cannot_write(out_dir, err) from None
    check_writable(out_dir / checkpoints.CONFIG_NAME)


def describe_styles(styles: list, style_info) -> list[dict]:
    """The config's entry for each style: name (default: the file's name), source, licence, image."""
    style_info = list(style_info or [{}] * len(styles))
    if len(style_info) != len(styles):
        raise SettingsError(f"{len(style_info)} style descriptions for {len(styles)} styles")
    entries = []
    for i, (style, info) in enumerate(zip(styles, style_info)):
        is_file = isinstance(style, (str, Path))
        entry = {"name": Path(style).stem if is_file else f"style {i + 1}", "source": str(style) if is_file else None,
                 **{k: v for k, v in info.items() if v is not None}}
        entry["image"] = f"{STYLE_IMAGES}/{slug(entry['name'])}.jpg"
        entries.append(entry)
    return entries


def slug(name: str) -> str:
    """A style's name as a file name."""
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name.lower()).strip("_") or "style"


def write_style_images(out_dir: Path, entries: list[dict], learnt: dict[int, torch.Tensor],
                       base: Path | None) -> None:
    """The style images the network learns from (by style index), at training size, kept beside it (for cards and
    the app); the others are copied, as they are, from the model folder `base` (when it is elsewhere)."""
    (out_dir / STYLE_IMAGES).mkdir(parents=True, exist_ok=True)
    copy_base = base is not None and base.resolve() != out_dir.resolve()
    for index, entry in enumerate(entries):
        target = out_dir / entry["image"]
        if index in learnt:
            images.save_image(learnt[index], target, quality=90)
        elif copy_base and (source := checkpoints.model_file(base, entry.get("image"))):
            shutil.copyfile(source, target)


def copy_loss_logs(base: Path, out_dir: Path) -> None:
    """The curves of a model's own training, for a network grown from it elsewhere."""
    if base.resolve() != out_dir.resolve():
        for log in base.glob(LOG_PATTERN):
            shutil.copyfile(log, out_dir / log.name)
