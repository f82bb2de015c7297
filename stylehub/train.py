"""Training feed-forward stylisation networks with perceptual losses (Johnson et al. 2016).

`train()` is a generator like `optimize.stylize()`: it yields TrainProgress after each step and a TrainResult at
the end. Checkpoints are written atomically every `checkpoint_every` steps; `resume=True` continues an interrupted
run exactly: network, optimiser state and step count come back, and the data order is a function of (seed, step).
With several style images the network uses conditional instance normalisation (Dumoulin et al. 2017), one style
per step in turn.
"""
from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from . import checkpoints, images
from .backbones import load_backbone, pick_device
from .errors import SettingsError
from .files import write_atomically
from .losses import LossWeights, PerceptualLoss
from .nets import TRANSFORMER_SIZES, TransformerNet
from .settings import Settings

STATE_NAME = "training_state.safetensors"


@dataclass
class TrainSettings(Settings):
    """Every knob of fast-network training, with defaults shared by the CLI and the app."""

    net_size: str = "slim"  # "paper" (Johnson et al.'s widths) or "slim" (for CPUs)
    image_size: int = 256  # training crops are image_size x image_size
    style_size: int = 256  # long side of the style image(s)
    batch_size: int = 4
    steps: int = 2000
    learning_rate: float = 1e-3
    content_weight: float = 1.0
    style_weight: float = 5.0
    tv_weight: float = 1.0
    backbone: str = "vgg16"
    weights: str | None = None
    pooling: str = "max"
    content_layers: dict[str, float] = field(default_factory=lambda: {"relu2_2": 1.0})
    style_layers: dict[str, float] = field(
        default_factory=lambda: dict.fromkeys(("relu1_2", "relu2_2", "relu3_3", "relu4_3"), 1.0))
    checkpoint_every: int = 200
    preview_every: int = 100
    seed: int = 0
    device: str = "auto"
    amp: bool = True  # bfloat16 autocast and channels-last on CUDA; ignored on the CPU

    def check(self) -> "TrainSettings":
        if self.net_size not in TRANSFORMER_SIZES:
            raise SettingsError(f"net_size must be one of {', '.join(TRANSFORMER_SIZES)}, not {self.net_size!r}")
        for name in ("image_size", "style_size", "batch_size", "steps", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise SettingsError(f"{name} must be at least 1")
        if self.image_size % TransformerNet.stride:
            raise SettingsError(f"image_size must be a multiple of {TransformerNet.stride}")
        return self


@dataclass
class TrainProgress:
    step: int
    total: int
    losses: dict[str, float]
    seconds: float  # since this run (or resumed run) started
    eta: float  # seconds left, estimated from this run's pace
    preview: torch.Tensor | None = None  # the network's output on the first training photo


@dataclass
class TrainResult:
    folder: Path
    steps: int
    seconds: float
    losses: dict[str, float]


class ContentPhotos:
    """The training photos of a folder, decoded once, as square crops chosen by (seed, step) alone."""

    def __init__(self, folder, image_size: int):
        self.paths, self.image_size, self._cache = images.images_in(folder), image_size, {}

    def __len__(self) -> int:
        return len(self.paths)

    def photo(self, index: int) -> torch.Tensor:
        if index not in self._cache:
            rgb = images.load_image(self.paths[index]).rgb
            height, width = rgb.shape[-2:]
            scale = self.image_size / min(height, width)
            self._cache[index] = images.resize(rgb, (max(self.image_size, round(width * scale)),
                                                     max(self.image_size, round(height * scale))))
        return self._cache[index]

    def batch(self, step: int, batch_size: int, seed: int, rank: int = 0, processes: int = 1) -> torch.Tensor:
        """This process's share of the step's photos: one sequence of positions, split between processes."""
        crops = []
        for i in range(batch_size):
            position = (step * processes + rank) * batch_size + i
            epoch, offset = divmod(position, len(self))
            order = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
            photo = self.photo(int(order[offset]))
            crop_rng = torch.Generator().manual_seed(seed * 1_000_003 + position)
            top = int(torch.randint(photo.shape[-2] - self.image_size + 1, (1,), generator=crop_rng))
            left = int(torch.randint(photo.shape[-1] - self.image_size + 1, (1,), generator=crop_rng))
            crops.append(photo[..., top:top + self.image_size, left:left + self.image_size])
        return torch.cat(crops)


def train(styles, content_dir, out_dir, settings: TrainSettings | None = None, *, style_names=None,
          resume: bool = False) -> Iterator[TrainProgress | TrainResult]:
    """Train one network for one style (instance norm) or several (conditional instance norm).

    Launched by torchrun (WORLD_SIZE > 1), every process trains on its own share of each step's photos with
    DistributedDataParallel (NCCL on GPUs, gloo on CPUs); the effective batch is batch_size x processes, and
    only the first process writes checkpoints.
    """
    settings = (settings or TrainSettings()).check()
    styles = list(styles) if isinstance(styles, (list, tuple)) else [styles]
    names = list(style_names or [_style_name(s, i) for i, s in enumerate(styles)])
    out_dir = Path(out_dir)
    world = _join_process_group(pick_device(settings.device))
    try:
        yield from _train(styles, names, content_dir, out_dir, settings, resume, world)
    finally:
        if world.size > 1:
            torch.distributed.destroy_process_group()


def _train(styles, names, content_dir, out_dir: Path, settings: TrainSettings, resume: bool, world: "World"):
    device = world.device
    photos = ContentPhotos(content_dir, settings.image_size)
    style_images = [images.resize_long_side(images.load_image(s, name=f"style image {i + 1}").rgb,
                                            settings.style_size).to(device) for i, s in enumerate(styles)]
    config = dataclasses.replace(TRANSFORMER_SIZES[settings.net_size], num_styles=len(styles))
    with torch.random.fork_rng(devices=[]):  # the seed fixes the initial weights without touching global state
        torch.manual_seed(settings.seed)
        net = TransformerNet(config).to(device)
    optimiser = torch.optim.Adam(net.parameters(), lr=settings.learning_rate)
    start = _resume(out_dir, net, optimiser, settings) if resume else 0
    loss, style_targets = _losses(settings, style_images, device)
    use_amp = settings.amp and device.type == "cuda"
    if use_amp:
        net = net.to(memory_format=torch.channels_last)
    model = net
    if world.size > 1:
        model = torch.nn.parallel.DistributedDataParallel(net, device_ids=[device] if device.type == "cuda" else None)
    describe = dict(styles=[{"name": n, "source": str(s) if isinstance(s, (str, Path)) else None}
                            for n, s in zip(names, styles)], training={**settings.to_dict(), "processes": world.size})
    preview_input = photos.photo(0)[..., :settings.image_size, :settings.image_size].to(device)

    started, terms = time.perf_counter(), {}
    model.train()
    for step in range(start, settings.steps):
        style_index = step % len(styles)
        loss.style_targets = style_targets[style_index]
        batch = photos.batch(step, settings.batch_size, settings.seed, world.rank, world.size).to(device)
        if use_amp:
            batch = batch.contiguous(memory_format=torch.channels_last)
        optimiser.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
            values = loss(model(batch, style_index).float(), loss.content_targets(batch))
        values["total"].backward()
        optimiser.step()
        terms = {k: v.item() for k, v in values.items()}
        done = step + 1
        if world.rank == 0 and (done % settings.checkpoint_every == 0 or done == settings.steps):
            _save(out_dir, net, optimiser, done, settings, describe)
        preview = None
        if settings.preview_every and (done % settings.preview_every == 0 or done == settings.steps):
            preview = _preview(net, preview_input, style_index)
        seconds = time.perf_counter() - started
        eta = seconds / (done - start) * (settings.steps - done)
        yield TrainProgress(done, settings.steps, terms, seconds, eta, preview)
    yield TrainResult(out_dir, settings.steps, time.perf_counter() - started, terms)


@torch.no_grad()
def _preview(net: TransformerNet, image: torch.Tensor, style_index: int) -> torch.Tensor:
    net.eval()
    try:
        return net(image, style_index).float().clamp(0, 1).cpu()
    finally:
        net.train()


@dataclass
class World:
    """This process's place among the training processes (one process: rank 0 of 1)."""

    device: torch.device
    rank: int = 0
    size: int = 1


def _join_process_group(device: torch.device) -> World:
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size == 1:
        return World(device)
    import torch.distributed as dist

    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return World(device, dist.get_rank(), dist.get_world_size())


def is_main_process() -> bool:
    """False in every process but the first of a torchrun launch: only the first one reports."""
    return int(os.environ.get("RANK", "0")) == 0


def _style_name(source, index: int) -> str:
    return Path(source).stem if isinstance(source, (str, Path)) else f"style {index + 1}"


def _losses(settings: TrainSettings, style_images: list[torch.Tensor], device) -> tuple[PerceptualLoss, list]:
    """The perceptual loss and, for each style, its style targets (swapped in per step)."""
    extractor = load_backbone(settings.backbone, weights=settings.weights, pooling=settings.pooling, device=device)
    loss = PerceptualLoss(extractor, content_layers=settings.content_layers, style_layers=settings.style_layers,
                          weights=LossWeights(settings.content_weight, settings.style_weight, settings.tv_weight))
    targets = []
    for image in style_images:
        loss.set_styles([image])
        targets.append(loss.style_targets)
    return loss, targets


def _save(out_dir: Path, net, optimiser, step: int, settings: TrainSettings, describe: dict) -> None:
    """The model folder (for use) and the training state (for --resume), each written atomically."""
    checkpoints.save_model(net, out_dir, styles=describe["styles"], training={**describe["training"], "steps_done": step})
    state = optimiser.state_dict()
    tensors = {f"net.{k}": v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    tensors.update({f"optimizer.{pid}.{k}": v.detach().cpu().contiguous()
                    for pid, entry in state["state"].items() for k, v in entry.items()})
    meta = {"step": step, "param_groups": state["param_groups"], "settings": settings.to_dict()}
    write_atomically(out_dir / STATE_NAME, lambda tmp: save_file(tensors, tmp, metadata={"stylehub": json.dumps(meta)}))


def _resume(out_dir: Path, net, optimiser, settings: TrainSettings) -> int:
    """Restore network and optimiser from out_dir's training state; the step to continue from."""
    path = out_dir / STATE_NAME
    if not path.is_file():
        raise SettingsError(f"{out_dir}: nothing to resume ({STATE_NAME} is missing)")
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            meta = json.loads(f.metadata()["stylehub"])
        tensors = load_file(str(path))
    except (SafetensorError, OSError, KeyError, ValueError) as err:
        raise SettingsError(f"{path}: unreadable training state ({err})") from None
    free = ("steps", "checkpoint_every", "preview_every", "device", "amp")  # may change between runs
    saved = {k: v for k, v in meta["settings"].items() if k not in free}
    mine = {k: v for k, v in settings.to_dict().items() if k in saved}
    if saved != mine:
        changed = sorted(k for k in saved if saved[k] != mine.get(k))
        raise SettingsError(f"cannot resume with different settings ({', '.join(changed)}); use those of the "
                            f"interrupted run or a new output folder")
    net.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("net.")})
    state: dict = {"state": {}, "param_groups": meta["param_groups"]}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, pid, name = key.split(".", 2)
            state["state"].setdefault(int(pid), {})[name] = value
    optimiser.load_state_dict(state)
    return int(meta["step"])
