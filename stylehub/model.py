"""A StyleHub model: what its folder's config.json says, read in this one place, and its network.

`Model.read(folder)` describes a model (its kind, its styles with names, pictures and credits) without loading the
network; `Model.load(folder, device, runtime)` loads the network too. runtime "auto" runs a transformer or
arbitrary-style network with onnxruntime when it runs on the CPU and the onnx extra is installed (1.05-1.6x PyTorch's
speed there), and everything else with PyTorch; "torch" and "onnxruntime" choose.

onnxruntime runs the network's ONNX export, kept in StyleHub's cache folder (STYLEHUB_CACHE, else
$XDG_CACHE_HOME/stylehub or ~/.cache/stylehub; a model folder, e.g. in the Hugging Face cache, may be read-only)
under a name derived from the weights, the network settings and the exporter: a model is exported once, and a
changed model, or a changed exporter, never meets an old export.
"""
from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch

from . import __version__, checkpoints, onnx_export
from .arbitrary_nets import ArbitraryStyleNet
from .backbones import pick_device
from .errors import OutputError, SettingsError, StyleHubError
from .nets import TransformerNet
from .onnx_export import EXPORTABLE
from .onnx_runtime import OnnxRuntimeNet

RUNTIMES = ("auto", "torch", "onnxruntime")
CACHE_ENV = "STYLEHUB_CACHE"
KEPT_EXPORTS = 32  # the cache keeps the exports used last; older ones are removed when a new one is written
PREVIEW_NAME = "preview.png"  # the sample grid of a model card, shown when a style keeps no picture


@dataclass(frozen=True)
class Style:
    """One style of a model, as its config.json describes it."""
    name: str
    image: str | None  # the style's picture: a path inside the model folder, when the folder keeps one
    source: str | None
    licence: str | None


@dataclass(frozen=True)
class Model:
    """A model folder's description and, once loaded, its network (None for `Model.read`)."""
    config: dict
    folder: Path | None = None
    net: torch.nn.Module | None = field(default=None, repr=False)

    @classmethod
    def read(cls, folder) -> Model:
        """The model in `folder`, its config.json checked; the network is not loaded."""
        return cls(checkpoints.read_config(folder), Path(folder))

    @classmethod
    def load(cls, folder, device: str = "auto", runtime: str = "auto") -> Model:
        """The model in `folder` with its network in eval mode, run by `runtime` (see the module's docstring)."""
        if runtime not in RUNTIMES:
            raise SettingsError(f"unknown runtime {runtime!r}; use {', '.join(RUNTIMES)}")
        if runtime == "onnxruntime" and device not in ("auto", "cpu"):
            raise SettingsError(f"the onnxruntime runtime runs on the CPU; use device cpu or auto, not {device}")
        net, config = checkpoints.load_model(folder, "cpu" if runtime == "onnxruntime" else pick_device(device))
        if runtime == "onnxruntime" and not isinstance(net, EXPORTABLE):
            raise SettingsError("the onnxruntime runtime runs transformer and arbitrary-style networks; this is a "
                                "texture network")
        if runtime == "onnxruntime" or (runtime == "auto" and _onnxruntime_suits(net)):
            net = onnxruntime_net(net)
        return cls(config, Path(folder), net)

    @property
    def kind(self) -> str:
        """transformer (Johnson et al.; several styles with conditional instance norm), texture, arbitrary, or
        style-vector (no network: a style for an arbitrary network, see style_vectors.py)."""
        return self.config["kind"]

    @property
    def num_styles(self) -> int:
        return self.config.get("net", {}).get("num_styles", 1)

    @property
    def paints_photos(self) -> bool:
        """False for a texture network made to draw from noise alone: it has no photo to stylise."""
        return self.kind != "texture" or bool(self.config["net"].get("with_content", True))

    @property
    def is_single_style(self) -> bool:
        """One style, painted on a photo with nothing else to choose (no painting, no mix)."""
        return self.kind in ("transformer", "texture") and self.paints_photos and self.num_styles == 1

    @property
    def is_multi_style(self) -> bool:
        return self.kind == "transformer" and self.num_styles > 1

    @property
    def styles(self) -> list[Style]:
        return [Style(name, entry.get("image"), entry.get("source"), entry.get("licence") or entry.get("license"))
                for entry, name in zip(self.config.get("styles", []), self.style_names)]

    @property
    def style_names(self) -> list[str]:
        return [style.get("name") or f"style {i + 1}" for i, style in enumerate(self.config.get("styles", []))]

    def style_index(self, index: int) -> int | None:
        """What picks style `index` for `fast.stylize_image`: the index itself, or None for a single style."""
        return index if self.num_styles > 1 else None

    def style_vector(self, chosen: list[str | None], weights: list[float | None]) -> torch.Tensor:
        """One weight per style of the network from styles named with weights (a style named twice adds up)."""
        names = self.style_names
        vector = torch.zeros(len(names))
        for name, weight in zip(chosen, weights):
            if name is None or not weight:
                continue
            if name not in names:
                raise SettingsError(f"this network has no style named {name!r}")
            vector[names.index(name)] += float(weight)
        if vector.sum() <= 0:
            raise SettingsError("Give at least one style a weight above zero.")
        return vector

    def pictures(self) -> list[tuple[Path, str]]:
        """(picture, name) of each style whose picture the folder keeps (and may show)."""
        found = [(self._file(style.image), style.name) for style in self.styles]
        return [(path, name) for path, name in found if path]

    def picture(self, index: int = 0) -> Path | None:
        """The picture of style `index` if the folder keeps it, else the model card's sample grid, else None."""
        styles = self.styles
        return self._file(styles[index].image if index < len(styles) else None) or self._file(PREVIEW_NAME)

    def _file(self, relative: str | None) -> Path | None:
        try:
            return checkpoints.model_file(self.folder, relative) if self.folder else None
        except StyleHubError:
            return None  # a path that leaves the folder: not shown

    @property
    def runtime(self) -> str:
        return "onnxruntime" if isinstance(self.net, OnnxRuntimeNet) else "torch"

    @property
    def runs_on(self) -> str:
        """Where the network runs, in words: "cpu, onnxruntime", "cpu" or "cuda:0"."""
        device = str(next(self.net.parameters()).device)
        return f"{device}, onnxruntime" if self.runtime == "onnxruntime" else device


def _onnxruntime_suits(net: torch.nn.Module) -> bool:
    on_cpu = next(net.parameters()).device.type == "cpu"
    installed = all(importlib.util.find_spec(name) is not None for name in ("onnx", "onnxruntime"))
    return on_cpu and installed and isinstance(net, EXPORTABLE)


def onnxruntime_net(net: TransformerNet | ArbitraryStyleNet, threads: int | None = None) -> OnnxRuntimeNet:
    """`net` run by onnxruntime, from its exports in the cache (exported on first use): the network, and an
    arbitrary-style network's style predictor."""
    def exports() -> tuple[Path, Path | None]:
        return exported_file(net), exported_file(net, predictor=True) if isinstance(net, ArbitraryStyleNet) else None

    paths = exports()
    try:
        return OnnxRuntimeNet(net, *paths, threads=threads)
    except Exception:  # a damaged file: its name says what it should hold, not what it holds
        for path in paths:
            if path is not None:
                path.unlink(missing_ok=True)
        return OnnxRuntimeNet(net, *exports(), threads=threads)


def exported_file(net: TransformerNet | ArbitraryStyleNet, *, predictor: bool = False) -> Path:
    """The ONNX export of `net` (or of an arbitrary-style network's style predictor) in the cache, written when
    missing (in a temporary folder if the cache cannot be written)."""
    folder = cache_folder() / "onnx"
    path = folder / f"{export_key(net)}{'-predictor' if predictor else ''}.onnx"
    if path.is_file():
        with contextlib.suppress(OSError):
            os.utime(path)  # used now: kept by _prune
        return path
    export = onnx_export.export_predictor_onnx if predictor else onnx_export.export_onnx
    try:
        folder.mkdir(parents=True, exist_ok=True)
        written = export(net, path)
    except (OSError, OutputError):
        return export(net, Path(tempfile.mkdtemp(prefix="stylehub-onnx-")) / path.name)
    _prune(folder, written)
    return written


def export_key(net: TransformerNet | ArbitraryStyleNet) -> str:
    """sha256 of what the export depends on: the exporter's and the network's code (and torch's version: its
    exporter traces the arbitrary-style network), the network's settings and its weights."""
    digest = hashlib.sha256(f"stylehub {__version__} opset {onnx_export.OPSET} torch {torch.__version__}\n".encode())
    for module in (onnx_export, sys.modules[type(net).__module__]):
        digest.update(Path(module.__file__).read_bytes())
    settings = net.config.to_dict() | ({"rounds": net.rounds_to_int8} if isinstance(net, ArbitraryStyleNet) else {})
    digest.update(json.dumps(settings, sort_keys=True).encode())
    for name, tensor in sorted(net.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def cache_folder() -> Path:
    """StyleHub's cache: STYLEHUB_CACHE, else $XDG_CACHE_HOME/stylehub, else ~/.cache/stylehub."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "stylehub"


def _prune(folder: Path, newest: Path) -> None:
    """Remove all but the KEPT_EXPORTS exports used last, `newest` (just written) kept."""
    def last_used(path: Path) -> float:
        with contextlib.suppress(OSError):  # another process may have removed it
            return path.stat().st_mtime
        return 0.0

    others = sorted((p for p in folder.glob("*.onnx") if p != newest), key=last_used, reverse=True)
    for old in others[KEPT_EXPORTS - 1:]:
        old.unlink(missing_ok=True)
