"""A style-vector folder's vector file, style.safetensors: one (1, style_dim) float32 tensor (see style_vectors.py).

checkpoints.read_config checks the folder's config.json, as for any model folder; this module reads and writes the
vector, trusting nothing in the file.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from . import __version__
from .checkpoints import CONFIG_NAME, STYLE_VECTOR_KIND, VECTOR_NAME, CheckpointError, read_config
from .files import write_atomically

VECTOR_TENSOR = "style_vector"


def load_style_vector(folder) -> torch.Tensor:
    """The (1, style_dim) float32 vector of a style-vector folder; CheckpointError unless it is exactly one finite
    float32 tensor of the shape its config.json names."""
    folder = Path(folder)
    config = read_config(folder)
    if config["kind"] != STYLE_VECTOR_KIND:
        raise CheckpointError(f"{folder}: a {config['kind']} network, not a style vector")
    path, shape = folder / VECTOR_NAME, [1, config["network"]["style_dim"]]
    if not path.is_file():
        raise CheckpointError(f"{folder}: {VECTOR_NAME} is missing")
    try:
        with safe_open(str(path), framework="pt") as f:
            header = {name: (f.get_slice(name).get_dtype(), f.get_slice(name).get_shape()) for name in f.keys()}
            if header != {VECTOR_TENSOR: ("F32", shape)}:
                raise CheckpointError(f"{path}: must hold one float32 tensor {VECTOR_TENSOR!r} of shape {shape}, "
                                      f"not {_described(header)}")
            vector = f.get_tensor(VECTOR_TENSOR)
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path}: not a readable safetensors file ({err})") from None
    if not torch.isfinite(vector).all():
        raise CheckpointError(f"{path}: the style vector holds NaN or infinite numbers; make the style again")
    return vector


def _described(header: dict) -> str:
    return ", ".join(f"{name!r} {dtype} {list(shape)}" for name, (dtype, shape) in list(header.items())[:3]) or "none"


def save_style_vector(vector: torch.Tensor, folder, config: dict) -> Path:
    """Write a style-vector folder's style.safetensors and config.json (kind and version added); the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = {"library": "stylehub", "stylehub_version": __version__, "kind": STYLE_VECTOR_KIND, **config}
    tensors = {VECTOR_TENSOR: vector.detach().float().cpu().reshape(1, -1).contiguous()}
    write_atomically(folder / VECTOR_NAME, lambda tmp: save_file(tensors, tmp, metadata={"format": "pt"}))
    write_atomically(folder / CONFIG_NAME, lambda tmp: Path(tmp).write_text(json.dumps(config, indent=2) + "\n"))
    return folder
