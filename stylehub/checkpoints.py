"""Trained generators on disk: a folder with model.safetensors + config.json (+ README.md card, preview.png). A
style-vector folder (style_vectors.py) holds style.safetensors instead: one style vector for an arbitrary network,
read and written by vector_files.py; its config.json is checked here, like any model folder's.

Only safetensors and JSON are ever read; no pickle. Files are written to temporary names and moved into place, so
an interrupted save never leaves a half-written checkpoint behind.

A model folder may come from a stranger (a Hub repo, an upload), so reading one trusts nothing in it: config.json is
bounded in size, its network settings are checked against limits and against the weights' shapes (read from the
safetensors header) before anything is allocated, weights must be finite, and every file the config names must lie
inside the folder (model_file).
"""
from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path, PurePosixPath

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from . import __version__
from .arbitrary_nets import ArbitraryConfig, ArbitraryStyleNet
from .errors import StyleHubError
from .files import write_atomically
from .nets import TextureConfig, TextureNet, TransformerConfig, TransformerNet

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
STYLE_VECTOR_KIND = "style-vector"  # no network: a style vector for an arbitrary-style network (style_vectors.py)
VECTOR_NAME = "style.safetensors"
MAX_PAINTINGS = 16
NETS = {"transformer": (TransformerNet, TransformerConfig), "texture": (TextureNet, TextureConfig),
        "arbitrary": (ArbitraryStyleNet, ArbitraryConfig)}
MAX_CONFIG_BYTES = 1_000_000
MAX_PARAMETERS = 50_000_000  # 100x the largest network StyleHub trains; a config asking for more is refused
MAX_STYLES = 4096
REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")  # a Hub repo id, user/name
INT_LIMITS = {"width": (1, 512), "residual_blocks": (0, 64), "num_styles": (1, MAX_STYLES), "channels": (1, 1024),
              "scales": (1, 10), "noise_channels": (1, 64)}  # (lowest, highest); other integer settings: 0..1024


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
    """A model folder's config.json, checked: its kind, network settings within limits, style entries well formed."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: no such model folder")
    path = folder / CONFIG_NAME
    if not path.is_file():
        raise CheckpointError(f"{folder}: not a StyleHub model (no {CONFIG_NAME})")
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise CheckpointError(f"{path}: too large for a model config ({path.stat().st_size} bytes)")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as err:
        raise CheckpointError(f"{path}: not valid JSON ({err})") from None
    if isinstance(config, dict) and config.get("kind") == STYLE_VECTOR_KIND:
        _check_style_vector(config, path)
    elif not isinstance(config, dict) or config.get("kind") not in NETS or not isinstance(config.get("net"), dict):
        raise CheckpointError(f"{path}: not a StyleHub model config (needs kind: {' or '.join(NETS)}, and net; "
                              f"or kind: {STYLE_VECTOR_KIND})")
    else:
        net_config(config, path)
    _check_styles(config, path)
    return config


def model_files(config: dict) -> tuple[str, str]:
    """The files a model folder of this config must hold: its weights (or style vector) and config.json."""
    return (VECTOR_NAME if config["kind"] == STYLE_VECTOR_KIND else WEIGHTS_NAME), CONFIG_NAME


def _check_style_vector(config: dict, where) -> None:
    """A style vector's config: the network it is for, the paintings it was made from, the side they were seen at."""
    network, paintings = config.get("network"), config.get("paintings")
    if not (isinstance(network, dict) and isinstance(network.get("sha256"), str)
            and re.fullmatch(r"[0-9a-f]{64}", network["sha256"])):
        raise CheckpointError(f"{where}: 'network' must name the arbitrary-style network's sha256 (64 hex digits)")
    if not _is_int(network.get("style_dim"), 1, 1024):
        raise CheckpointError(f"{where}: 'network.style_dim' must be an integer between 1 and 1024")
    if network.get("repo") is not None and not (isinstance(network["repo"], str)
                                                and REPO_ID.match(network["repo"])):
        raise CheckpointError(f"{where}: 'network.repo' must be a Hub repo id (user/name)")
    if not (isinstance(paintings, list) and 1 <= len(paintings) <= MAX_PAINTINGS
            and all(isinstance(p, dict) and _is_number(p.get("weight")) and p["weight"] >= 0 for p in paintings)
            and sum(p["weight"] for p in paintings) > 0):
        raise CheckpointError(f"{where}: 'paintings' must list 1 to {MAX_PAINTINGS} paintings, each with a weight "
                              f"(non-negative, not all zero)")
    for painting in paintings:
        for key in ("image", "source", "licence"):
            if painting.get(key) is not None and not isinstance(painting[key], str):
                raise CheckpointError(f"{where}: a painting's {key!r} must be text")
        if painting.get("image") is not None:
            _check_relative(painting["image"], where)
    stroke = config.get("stroke_size")
    if not _is_int(config.get("painting_side"), 1, 4096) or not (stroke is None or _is_number(stroke)):
        raise CheckpointError(f"{where}: 'painting_side' must be an integer between 1 and 4096 px, 'stroke_size' a "
                              f"number or null")


def _is_int(value, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def net_config(config: dict, where="config.json"):
    """The network settings of a config as a TransformerConfig or TextureConfig, every value checked."""
    config_class = NETS[config["kind"]][1]
    settings = dict(config["net"])
    known = {f.name: f for f in dataclasses.fields(config_class)}
    unknown = sorted(set(settings) - set(known))
    if unknown:
        raise CheckpointError(f"{where}: unknown network setting(s) {', '.join(map(repr, unknown[:5]))}")
    for name, value in settings.items():
        _check_net_value(name, value, known[name].default, where)
    try:
        return config_class(**settings)
    except (TypeError, ValueError, StyleHubError) as err:
        raise CheckpointError(f"{where}: bad network settings ({err})") from None


def _check_net_value(name: str, value, default, where) -> None:
    low, high = INT_LIMITS.get(name, (0, 1024))
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    elif isinstance(default, str):
        ok = isinstance(value, str) and len(value) <= 64
    else:  # a list of widths, or None
        ok = value is None or (isinstance(value, list) and len(value) <= 16 and all(
            isinstance(v, int) and not isinstance(v, bool) and low <= v <= high for v in value))
    if not ok:
        if isinstance(default, (bool, str, float)):
            wanted = f"a {type(default).__name__}"
        else:
            wanted = f"{'an integer' if isinstance(default, int) else 'a list of integers'} between {low} and {high}"
        raise CheckpointError(f"{where}: network setting {name!r} must be {wanted}, not {str(value)[:40]!r}")


def _check_styles(config: dict, where) -> None:
    styles = config.setdefault("styles", [])
    if not isinstance(styles, list) or len(styles) > MAX_STYLES or not all(isinstance(s, dict) for s in styles):
        raise CheckpointError(f"{where}: 'styles' must be a list of objects (one per style)")
    for style in styles:
        for key in ("name", "source", "licence", "image"):
            if style.get(key) is not None and not isinstance(style[key], str):
                raise CheckpointError(f"{where}: a style's {key!r} must be text")
        if style.get("image") is not None:
            _check_relative(style["image"], where)


def _check_relative(relative: str, where) -> PurePosixPath:
    """A path a config names, which must stay inside the model folder: relative, no '..', no drive or backslash."""
    path = PurePosixPath(relative)
    if (not relative or len(relative) > 255 or path.is_absolute() or ".." in path.parts or "\\" in relative
            or ":" in relative or "\0" in relative or relative.startswith("~")):
        raise CheckpointError(f"{where}: {relative[:80]!r} is not a path inside the model folder")
    return path


def model_file(folder, relative: str | None) -> Path | None:
    """The file `relative` names inside a model folder, or None when there is no such file.

    Refuses (CheckpointError) a path that leaves the folder, also through a symlink; the one exception is a folder
    in the Hugging Face cache, whose files are links to the repo's own blobs/.
    """
    if relative is None:
        return None
    folder = Path(folder)
    path = folder / _check_relative(relative, folder / CONFIG_NAME)
    target = path.resolve()
    inside = [folder.resolve()]
    repo = folder.resolve().parent.parent
    if folder.resolve().parent.name == "snapshots" and (repo / "blobs").is_dir():
        inside.append(repo / "blobs")
    if not any(target.is_relative_to(root) for root in inside):
        raise CheckpointError(f"{folder / CONFIG_NAME}: {relative!r} leads outside the model folder")
    return path if target.is_file() else None


def load_model(folder, device: str | torch.device = "cpu") -> tuple[torch.nn.Module, dict]:
    """(network in eval mode, config) from a model folder; every failure is a CheckpointError.

    The network is built only once its settings are within limits and match the weights file's tensor names and
    shapes, so a config cannot make it allocate more than its own weights.
    """
    folder = Path(folder)
    config = read_config(folder)
    if config["kind"] == STYLE_VECTOR_KIND:
        raise CheckpointError(f"{folder}: a style vector, not a network; it paints with the arbitrary-style network "
                              f"it names (stylehub apply {folder} PHOTO -o OUT, or style_vectors.open_style)")
    weights = folder / WEIGHTS_NAME
    if not weights.is_file():
        raise CheckpointError(f"{folder}: {WEIGHTS_NAME} is missing")
    net_class, settings = NETS[config["kind"]][0], net_config(config, folder / CONFIG_NAME)
    _check_shapes(weights, _expected_shapes(net_class, settings, folder))
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{weights}: not a readable safetensors file ({err})") from None
    if not all(torch.isfinite(t).all() for t in state.values() if t.is_floating_point()):
        raise CheckpointError(f"{weights}: holds NaN or infinite weights (a diverged training?); retrain or use an "
                              "earlier checkpoint")
    net = net_class(settings)
    net.load_state_dict(state)
    return net.to(device).eval(), config


def _expected_shapes(net_class, settings, folder: Path) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape of the network `settings` describe, found without allocating it (meta device)."""
    with torch.device("meta"):
        skeleton = net_class(settings)
    shapes = {name: tuple(t.shape) for name, t in skeleton.state_dict().items()}
    parameters = sum(math.prod(shape) for shape in shapes.values())
    if parameters > MAX_PARAMETERS:
        raise CheckpointError(f"{folder / CONFIG_NAME}: describes a network of {parameters:,} parameters, above "
                              f"the limit of {MAX_PARAMETERS:,}")
    return shapes


def _check_shapes(weights: Path, expected: dict[str, tuple[int, ...]]) -> None:
    try:
        with safe_open(str(weights), framework="pt") as f:
            found = {name: tuple(f.get_slice(name).get_shape()) for name in f.keys()}
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{weights}: not a readable safetensors file ({err})") from None
    missing, unexpected = sorted(set(expected) - set(found)), sorted(set(found) - set(expected))
    wrong = sorted(n for n in set(expected) & set(found) if expected[n] != found[n])
    if missing or unexpected or wrong:
        first = (f"missing {missing[0]}" if missing else f"unexpected {unexpected[0]}" if unexpected else
                 f"{wrong[0]} is {list(found[wrong[0]])}, not {list(expected[wrong[0]])}")
        count = len(missing) + len(unexpected) + len(wrong)
        raise CheckpointError(f"{weights} does not match its config.json ({first}; {count} tensor(s) differ)")


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
