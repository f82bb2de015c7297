"""Trained generators on disk: a folder with model.safetensors + config.json (+ README.md card, preview.png).

Only safetensors and JSON are ever read; no pickle. Files are written to temporary names and moved into place, so
an interrupted save never leaves a half-written checkpoint behind.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from . import __version__
from .errors import StyleHubError
from .files import write_atomically
from .nets import TextureConfig, TextureNet, TransformerConfig, TransformerNet

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
NETS = {"transformer": (TransformerNet, TransformerConfig), "texture": (TextureNet, TextureConfig)}


class CheckpointError(StyleHubError):
    """A model folder is missing, incomplete or does not match the network it describes."""


def save_model(net: torch.nn.Module, folder, *, styles: list[dict], training: dict | None = None,
               extra: dict | None = None) -> Path:
    """Save a generator and what describes it (style names, sources, licences, training settings)."""
    kind = next((k for k, (cls, _) in NETS.items() if isinstance(net, cls)), None)
    if kind is None:
        raise CheckpointError(f"cannot save a {type(net).__name__}: not a StyleHub generator")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    config = {"library": "stylehub", "stylehub_version": __version__, "kind": kind, "net": net.config.to_dict(),
              "styles": styles, "training": training or {}, **(extra or {})}
    write_atomically(folder / WEIGHTS_NAME, lambda tmp: save_file(tensors, tmp, metadata={"format": "pt"}))
    write_atomically(folder / CONFIG_NAME, lambda tmp: Path(tmp).write_text(json.dumps(config, indent=2) + "\n"))
    return folder


def read_config(folder) -> dict:
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: no such model folder")
    path = folder / CONFIG_NAME
    if not path.is_file():
        raise CheckpointError(f"{folder}: not a StyleHub model (no {CONFIG_NAME})")
    try:
        config = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(config, dict) or config.get("kind") not in NETS or not isinstance(config.get("net"), dict):
        raise CheckpointError(f"{path}: not a StyleHub model config (needs kind: {' or '.join(NETS)}, and net)")
    return config


def load_model(folder, device: str | torch.device = "cpu") -> tuple[torch.nn.Module, dict]:
    """(network in eval mode, config) from a model folder; every failure is a CheckpointError."""
    folder = Path(folder)
    config = read_config(folder)
    net_class, config_class = NETS[config["kind"]]
    try:
        net = net_class(config_class(**config["net"]))
    except TypeError as err:
        raise CheckpointError(f"{folder / CONFIG_NAME}: bad network settings ({err})") from None
    weights = folder / WEIGHTS_NAME
    if not weights.is_file():
        raise CheckpointError(f"{folder}: {WEIGHTS_NAME} is missing")
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{weights}: not a readable safetensors file ({err})") from None
    try:
        net.load_state_dict(state)
    except RuntimeError as err:
        first = str(err).splitlines()[0]
        raise CheckpointError(f"{weights} does not match its config.json ({first})") from None
    return net.to(device).eval(), config


def find_models(folder) -> dict[Path, dict]:
    """Every readable model folder directly inside `folder` (sorted by name), with its config."""
    found = {}
    for candidate in sorted(Path(folder).iterdir()) if Path(folder).is_dir() else []:
        if (candidate / CONFIG_NAME).is_file():
            try:
                found[candidate] = read_config(candidate)
            except CheckpointError:
                continue  # a broken folder is reported when someone loads it, not while listing
    return found


def style_names(config: dict) -> list[str]:
    return [style.get("name") or f"style {i + 1}" for i, style in enumerate(config.get("styles", []))]
