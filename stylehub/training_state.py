"""The resume state of a training run (training_state.safetensors): network, optimiser and step, for --resume."""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from .errors import SettingsError
from .files import write_atomically

STATE_NAME = "training_state.safetensors"
FREE_SETTINGS = ("steps", "max_minutes", "checkpoint_every", "preview_every", "device", "amp")  # may change on resume


def save(out_dir: Path, net, optimiser, step: int, settings: dict) -> None:
    """Write out_dir's training state atomically: the network, the optimiser's state, the step and the settings."""
    state = optimiser.state_dict()
    tensors = {f"net.{k}": v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    tensors.update({f"optimizer.{pid}.{k}": v.detach().cpu().contiguous()
                    for pid, entry in state["state"].items() for k, v in entry.items()})
    meta = {"step": step, "param_groups": state["param_groups"], "settings": settings}
    metadata = {"stylehub": json.dumps(meta)}
    write_atomically(out_dir / STATE_NAME, lambda tmp: save_file(tensors, tmp, metadata=metadata))


def restore(out_dir: Path, net, optimiser, settings: dict) -> int:
    """Restore network and optimiser from out_dir's training state; the step to continue from."""
    path = out_dir / STATE_NAME
    if not path.is_file():
        raise SettingsError(f"{out_dir}: nothing to resume ({STATE_NAME} is missing)")
    meta, tensors = _read(path)
    saved = {k: v for k, v in meta["settings"].items() if k not in FREE_SETTINGS}
    mine = {k: v for k, v in settings.items() if k in saved}
    if saved != mine:
        changed = sorted(k for k in saved if saved[k] != mine.get(k))
        raise SettingsError(f"cannot resume with different settings ({', '.join(changed)}); use those of the "
                            f"interrupted run, or start anew with --overwrite or in a new output folder")
    mismatch = _mismatch(tensors, net, optimiser)
    if mismatch:
        raise SettingsError(f"{path} does not match this network ({mismatch}); resume with the styles and settings of "
                            f"the interrupted run, or start anew with --overwrite")
    net.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("net.")})
    state: dict = {"state": {}, "param_groups": meta["param_groups"]}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, pid, name = key.split(".", 2)
            state["state"].setdefault(int(pid), {})[name] = value
    try:
        optimiser.load_state_dict(state)
    except (ValueError, KeyError, TypeError) as err:
        raise SettingsError(f"{path}: its optimiser state does not fit ({err}); start anew with --overwrite") from None
    return meta["step"]


def _read(path: Path) -> tuple[dict, dict[str, torch.Tensor]]:
    """A training state's metadata (step, param_groups, settings) and tensors; SettingsError when unusable."""
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = json.loads((f.metadata() or {}).get("stylehub", "null"))
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise SettingsError(f"{path}: unreadable training state ({err}); start anew with --overwrite") from None
    kinds = {"step": int, "param_groups": list, "settings": dict}
    if not isinstance(meta, dict) or not all(isinstance(meta.get(k), kind) for k, kind in kinds.items()):
        raise SettingsError(f"{path}: not a StyleHub training state (its metadata lacks step, param_groups or "
                            f"settings); start anew with --overwrite")
    return meta, tensors


def _mismatch(tensors: dict[str, torch.Tensor], net, optimiser) -> str | None:
    """The first tensor of a training state that the network or its optimiser has not, or has in another shape."""
    params = [p for group in optimiser.param_groups for p in group["params"]]
    expected = {f"net.{k}": tuple(v.shape) for k, v in net.state_dict().items()}
    missing = sorted(set(expected) - set(tensors))
    if missing:
        return f"{missing[0]} is missing"
    for key, value in tensors.items():
        parts = key.split(".", 2)
        if key in expected:
            wanted = expected[key]
        elif parts[0] == "optimizer" and len(parts) == 3 and parts[1].isdigit() and int(parts[1]) < len(params):
            wanted = () if parts[2] == "step" else tuple(params[int(parts[1])].shape)
        else:
            return f"unexpected {key}"
        if tuple(value.shape) != wanted:
            return f"{key} is {list(value.shape)}, not {list(wanted)}"
    return None
