"""Style vectors: a style for the arbitrary-style network (arbitrary.py), made once from paintings and then used and
published like any model.

A style-vector folder (kind "style-vector") holds config.json (the style's name and credits, the paintings with
their blend weights and credits, the side the style predictor saw them at, and the network the vector is for),
style.safetensors (the (1, style_dim) float32 vector, a few hundred bytes), copies of the paintings (styles/, long
side 512) and, once published, a README.md card. checkpoints.py checks the config, vector_files.py reads and
writes the vector.

A vector means something only to the network that made it, so the folder names that network by the sha256 of its
model.safetensors, and by its Hub repo id when it was made from one; `open_network` refuses any other network.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from . import arbitrary, checkpoints, hub, images, vector_files
from .arbitrary_nets import ArbitraryStyleNet
from .checkpoints import CheckpointError
from .errors import HubError, SettingsError
from .model import Model

COPY_SIDE = 512  # long side of the painting copies kept in the folder
COPIES_FOLDER = "styles"


@dataclass(frozen=True)
class VectorStyle:
    """A style-vector folder: its checked config and vector."""
    folder: Path
    config: dict
    vector: torch.Tensor  # (1, style_dim) float32

    @property
    def name(self) -> str:
        return Model(self.config, self.folder).style_names[0]

    @property
    def network_sha256(self) -> str:
        return self.config["network"]["sha256"]

    @property
    def stroke_size(self) -> float | None:
        return self.config.get("stroke_size")


def weights_sha256(folder) -> str:
    """The sha256 of a network folder's model.safetensors: what a style vector names its network by."""
    return hashlib.sha256((Path(folder) / checkpoints.WEIGHTS_NAME).read_bytes()).hexdigest()


def make_style(network, paintings: list, out_dir, *, weights: list[float] | None = None, stroke: float | None = None,
               name: str | None = None, sources: list[str] | None = None, licences: list[str] | None = None,
               device: str = "auto") -> Path:
    """Make a style-vector folder `out_dir` (new or empty) from paintings (paths) for the arbitrary-style network
    `network` (a folder or a Hub repo id); the folder.

    The vector is the weighted mean of the paintings' vectors (arbitrary.blend), each painting shown to the
    predictor at `stroke` (default arbitrary.DEFAULT_STROKE) times the working side (arbitrary.WORKING_SIDE, the
    long side apply and the app paint at), as `apply --style-image` does. sources and licences: one per painting.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise SettingsError(f"{out_dir}: already exists and is not an empty folder; choose a new folder")
    if not 1 <= len(paintings) <= checkpoints.MAX_PAINTINGS:
        raise SettingsError(f"give 1 to {checkpoints.MAX_PAINTINGS} paintings, not {len(paintings)}")
    for given, what in ((sources, "--style-source"), (licences, "--style-licence")):
        if given is not None and len(given) != len(paintings):
            raise SettingsError(f"{len(given)} {what} for {len(paintings)} painting(s)")
    folder = hub.resolve_model(network)
    model = Model.load(folder, device, "torch")
    if model.kind != "arbitrary":
        raise SettingsError(f"{network} is a {model.kind} model; a style vector is made with an arbitrary-style "
                            f"network (the shipped models/arbitrary)")
    loaded = [images.load_image(path).rgb for path in paintings]
    side = arbitrary.painting_side((arbitrary.WORKING_SIDE,) * 2, stroke)
    vector = arbitrary.blend([arbitrary.style_vector(model.net, painting, side) for painting in loaded], weights)
    weights = [float(w) for w in weights] if weights is not None else [1.0] * len(paintings)
    copies = _copy_paintings(paintings, loaded, out_dir)
    entries = [{"image": copy, "weight": weight, "source": (sources or [None] * len(paintings))[i] or Path(path).name,
                "licence": (licences or [None] * len(paintings))[i]}
               for i, (path, copy, weight) in enumerate(zip(paintings, copies, weights))]
    style = {"name": name or " + ".join(Path(path).stem for path in paintings), "image": copies[0],
             "source": _joined(e["source"] for e in entries), "licence": _joined(e["licence"] for e in entries)}
    repo = str(network) if hub.is_repo_id(str(network)) and not Path(network).expanduser().exists() else None
    config = {"styles": [style], "paintings": entries, "painting_side": side, "stroke_size": stroke,
              "network": {"sha256": weights_sha256(folder), "style_dim": model.net.config.style_dim, "repo": repo}}
    return vector_files.save_style_vector(vector, out_dir, config)


def _copy_paintings(paintings: list, loaded: list[torch.Tensor], out_dir: Path) -> list[str]:
    """Save each painting, at most COPY_SIDE on its long side, as styles/NAME.jpg; their paths in the folder."""
    (out_dir / COPIES_FOLDER).mkdir(parents=True, exist_ok=True)
    names = []
    for path, rgb in zip(paintings, loaded):
        stem = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(path).stem)[:60] or "painting"
        name, n = f"{stem}.jpg", 2
        while name in names:
            name, n = f"{stem}-{n}.jpg", n + 1
        names.append(name)
        small = images.resize_long_side(rgb, COPY_SIDE) if max(rgb.shape[-2:]) > COPY_SIDE else rgb
        images.save_image(small, out_dir / COPIES_FOLDER / name, quality=90)
    return [f"{COPIES_FOLDER}/{name}" for name in names]


def _joined(values) -> str | None:
    distinct = list(dict.fromkeys(v for v in values if v))
    return "; ".join(distinct) or None


def read_style(folder) -> VectorStyle:
    """The style-vector folder `folder`, its config and vector checked (CheckpointError)."""
    return VectorStyle(Path(folder), checkpoints.read_config(folder), vector_files.load_style_vector(folder))


def open_network(style: VectorStyle, network=None, *, fallback=None, device: str = "auto",
                 runtime: str = "auto") -> Model:
    """The arbitrary-style network `style` was made with, loaded: `network` (a folder or a Hub repo id) when given,
    else the Hub repo the style names, else `fallback` (where the caller keeps the shipped network, e.g.
    models/arbitrary). CheckpointError when there is none, or when it is not the network the style names."""
    ref = network or style.config["network"].get("repo")
    wanted = f"the arbitrary-style network it was made with (model.safetensors sha256 {style.network_sha256[:16]}…)"
    advice = "give that network with --network FOLDER_OR_REPO"
    if ref is None and (fallback is None or not Path(fallback).is_dir()):
        shipped = f", which StyleHub ships in {fallback}: not found here (not a StyleHub checkout)" if fallback else ""
        raise CheckpointError(f"the style {style.name!r} paints with {wanted}{shipped}; {advice}")
    ref = ref or fallback
    try:
        folder = hub.resolve_model(ref)
        kind = Model.read(folder).kind
        found = weights_sha256(folder) if kind == "arbitrary" else None
    except (CheckpointError, OSError, HubError) as err:
        raise CheckpointError(f"the style {style.name!r} paints with {wanted}, and {ref} cannot be opened ({err}); "
                              f"{advice}") from None
    if kind != "arbitrary":
        raise CheckpointError(f"the style {style.name!r} paints with {wanted}; {ref} is a {kind} model; {advice}")
    if found != style.network_sha256:
        raise CheckpointError(f"the style {style.name!r} paints with {wanted}; {ref} is another network (sha256 "
                              f"{found[:16]}…), to which the vector means nothing; {advice}")
    return Model.load(folder, device, runtime)


def open_style(folder, network=None, *, fallback=None, device: str = "auto") -> tuple[VectorStyle, Model]:
    """A style-vector folder and the network it paints with (see read_style, open_network)."""
    style = read_style(folder)
    return style, open_network(style, network, fallback=fallback, device=device)


def stylize(net: ArbitraryStyleNet, photo: torch.Tensor, style: VectorStyle, **options) -> torch.Tensor:
    """Paint a (1, 3, H, W) photo with a style vector: arbitrary.stylize with the style's vector (its stroke size for
    the photo's own vector); options: strength, preserve_colour, max_tile, working_side."""
    return arbitrary.stylize(net, photo, vector=style.vector, stroke=style.stroke_size, **options)
