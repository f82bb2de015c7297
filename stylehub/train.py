"""Training feed-forward stylisation networks with perceptual losses (Johnson et al. 2016).

`train()` is a generator like `optimize.stylize()`: it yields TrainProgress after each step and a TrainResult at
the end. Checkpoints are written atomically every `checkpoint_every` steps; `resume=True` continues an interrupted
run exactly: network, optimiser state and step count come back, and the data order is a function of (seed, step).
With several style images the network uses conditional instance normalisation (Dumoulin et al. 2017), one style
per step in turn.
"""
from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from . import checkpoints, images
from .backbones import load_backbone, pick_device
from .errors import SettingsError
from .files import cannot_write, check_writable, remove_stale_temporaries, write_atomically
from .losses import LossWeights, PerceptualLoss
from .nets import TRANSFORMER_SIZES, ConditionalInstanceNorm2d, TextureConfig, TextureNet, TransformerNet
from .optimize import check_layer_weights, check_loss_weights, check_seed, require_number
from .settings import Settings

STATE_NAME = "training_state.safetensors"
LOG_NAME = "training_log.csv"
LOG_COLUMNS = ("step", "content", "style", "tv", "total")
STYLE_IMAGES = "styles"  # the folder, inside a model folder, with the style images it learnt
GENERATORS = ("transformer", "texture")


@dataclass
class TrainSettings(Settings):
    """Every knob of fast-network training, with defaults shared by the CLI and the app."""

    generator: str = "transformer"  # Johnson et al.'s transformer, or "texture" (Ulyanov et al.)
    net_size: str = "slim"  # transformer widths: "paper" (Johnson et al.), "slim" or "tiny" (for CPUs)
    image_size: int = 256  # training crops are image_size x image_size
    style_size: int = 256  # long side of the style image(s)
    batch_size: int = 4
    steps: int = 2000
    max_minutes: float = 0.0  # stop early (saving a checkpoint) after this many minutes; 0: no limit
    learning_rate: float = 1e-3
    content_weight: float = 1.0
    style_weight: float = 5.0
    tv_weight: float = 1.0
    # Against a pattern locked to the transformer's 4-px grid (a weave on every photo): penalises fine detail
    # whose mean differs between the 16 pixel phases of that grid.
    grid_weight: float = 100.0
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
        if self.generator not in GENERATORS:
            raise SettingsError(f"generator must be one of {', '.join(GENERATORS)}, not {self.generator!r}")
        if self.net_size not in TRANSFORMER_SIZES:
            raise SettingsError(f"net_size must be one of {', '.join(TRANSFORMER_SIZES)}, not {self.net_size!r}")
        for name in ("image_size", "style_size", "batch_size", "steps", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise SettingsError(f"{name} must be at least 1")
        require_number("max_minutes (0: no limit)", self.max_minutes, 0.0)
        require_number("learning_rate", self.learning_rate, 0.0, above=True)
        check_loss_weights(self)
        require_number("grid_weight", self.grid_weight, 0.0)
        for layers in (self.content_layers, self.style_layers):
            check_layer_weights(layers)
        check_seed(self.seed)
        stride = 2 ** (TextureConfig().scales - 1) if self.generator == "texture" else TransformerNet.stride
        if self.image_size % stride:
            raise SettingsError(f"image_size must be a multiple of {stride} for a {self.generator} network")
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


def train(styles, content_dir, out_dir, settings: TrainSettings | None = None, *, style_info=None,
          resume: bool = False, overwrite: bool = False) -> Iterator[TrainProgress | TrainResult]:
    """Train one network for one style (instance norm) or several (conditional instance norm).

    style_info: one dict per style merged into the model's config (name, source, licence); the name defaults to
    the image's file name. With generator="texture", content_dir=None trains Ulyanov et al.'s texture synthesis
    from noise alone (style loss only). An out_dir that already holds a model is refused unless resume=True
    (continue its training) or overwrite=True (replace it: replaced_names() are removed first).

    Launched by torchrun (WORLD_SIZE > 1), every process trains on its own share of each step's photos with
    DistributedDataParallel (NCCL on GPUs, gloo on CPUs); the effective batch is batch_size x processes, and
    only the first process writes checkpoints.
    """
    settings = (settings or TrainSettings()).check()
    styles = list(styles) if isinstance(styles, (list, tuple)) else [styles]
    if settings.generator == "texture" and len(styles) > 1:
        raise SettingsError("a texture network learns one style; train one network per style")
    if content_dir is None and settings.generator != "texture":
        raise SettingsError("a transformer network needs a folder of training photos (content_dir)")
    _prepare_output(Path(out_dir), resume, overwrite)
    with torch.random.fork_rng(devices=[]):  # the seed fixes the initial weights without touching global state
        torch.manual_seed(settings.seed)
        net = _new_net(settings, len(styles), with_content=content_dir is not None)
    out_dir = Path(out_dir)
    if resume and style_info is None and (out_dir / checkpoints.CONFIG_NAME).is_file():
        style_info = checkpoints.read_config(out_dir)["styles"]  # the interrupted run's names and credits
    job = Job(net, styles, list(range(len(styles))), _describe_styles(styles, style_info), content_dir, out_dir,
              settings)
    yield from _run_job(job, resume)


def replaced_names() -> list[str]:
    """What overwrite=True removes from the output folder first: the model, its card, scores, state and logs."""
    from . import cards  # (cards imports this module)

    return [checkpoints.WEIGHTS_NAME, checkpoints.CONFIG_NAME, cards.CARD_NAME, cards.PREVIEW_NAME, cards.CURVE_NAME,
            cards.SCORES_NAME, STATE_NAME, "training_log*.csv"]


def _prepare_output(out_dir: Path, resume: bool, overwrite: bool) -> None:
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


def add_style(model_dir, style, content_dir, out_dir=None, *, steps: int | None = None, style_info=None,
              device: str = "auto") -> Iterator[TrainProgress | TrainResult]:
    """Teach a trained transformer network one more style, training only that style's (gamma, beta).

    The shared convolutions and every existing style's parameters stay bit-identical; the new style starts
    from the mean of the existing ones. Uses the loss settings the network was trained with; writes to out_dir
    (default: the model folder itself). Its loss log goes to training_log_<name>.csv, the network's own training
    record gains an "added_styles" entry, and no resume state is written (the base's stays as it was).
    """
    model_dir = Path(model_dir)
    net, config = checkpoints.load_model(model_dir)
    if config["kind"] != "transformer":
        raise SettingsError(f"{model_dir}: only transformer networks can learn more styles")
    known = {f.name for f in dataclasses.fields(TrainSettings)}
    saved = {k: v for k, v in config.get("training", {}).items() if k in known}
    settings = TrainSettings(**saved).replace(device=device, **({"steps": steps} if steps else {})).check()
    old = config["styles"]
    net = _with_added_style(net)
    job = Job(net, [style], [len(old)], old + _describe_styles([style], style_info), content_dir,
              Path(out_dir or model_dir), settings, only_style=len(old), base=model_dir,
              base_training=config.get("training", {}))
    yield from _run_job(job, resume=False)


@dataclass
class Job:
    """One training run: a network, the styles it learns (and at which style index), where it goes."""

    net: torch.nn.Module
    styles: list
    style_indices: list[int]
    style_entries: list[dict]
    content_dir: object
    out_dir: Path
    settings: TrainSettings
    only_style: int | None = None  # train only this style's (gamma, beta)
    base: Path | None = None  # the trained model folder a grown network comes from
    base_training: dict | None = None  # and its training record

    @property
    def log_name(self) -> str:
        return LOG_NAME if self.base is None else f"training_log_{_slug(self.style_entries[-1]['name'])}.csv"

    def training_record(self, world: "World", step: int) -> dict:
        """config.json's "training": these settings, or for an added style the base's record plus this run."""
        mine = {**self.settings.to_dict(), "processes": world.size, "hardware": _hardware(world.device),
                "steps_done": step}
        if self.base_training is None:
            return mine
        added = {"name": self.style_entries[-1]["name"], "trained": "its gamma and beta only",
                 **{k: mine[k] for k in ("steps_done", "hardware", "learning_rate", "image_size", "style_size",
                                         "batch_size")}}
        return {**self.base_training, "added_styles": [*self.base_training.get("added_styles", []), added]}


def _run_job(job: Job, resume: bool):
    world = _join_process_group(pick_device(job.settings.device))
    try:
        yield from _train(job, resume, world)
    finally:
        if world.size > 1:
            torch.distributed.destroy_process_group()


def _new_net(settings: TrainSettings, num_styles: int, with_content: bool) -> torch.nn.Module:
    if settings.generator == "texture":
        return TextureNet(TextureConfig(with_content=with_content))
    return TransformerNet(dataclasses.replace(TRANSFORMER_SIZES[settings.net_size], num_styles=num_styles))


def _train(job: Job, resume: bool, world: "World"):
    settings, device, out_dir = job.settings, world.device, job.out_dir
    photos = ContentPhotos(job.content_dir, settings.image_size) if job.content_dir is not None else None
    style_images = [images.resize_long_side(images.load_image(s, name=f"style image {i + 1}").rgb,
                                            settings.style_size) for i, s in enumerate(job.styles)]
    net = job.net.to(device)
    optimiser = torch.optim.Adam(_trainable(net, job.only_style), lr=settings.learning_rate)
    start = _resume(out_dir, net, optimiser, settings) if resume else 0
    log = [row for row in read_log(out_dir / job.log_name) if row["step"] <= start] if resume else []
    loss, style_targets = _losses(settings, [s.to(device) for s in style_images], device)
    use_amp = settings.amp and device.type == "cuda"
    if use_amp:
        net = net.to(memory_format=torch.channels_last)
    model = net
    if world.size > 1:
        model = torch.nn.parallel.DistributedDataParallel(net, device_ids=[device] if device.type == "cuda" else None)
    if world.rank == 0:
        remove_stale_temporaries(out_dir, [checkpoints.WEIGHTS_NAME, checkpoints.CONFIG_NAME, STATE_NAME,
                                           job.log_name])  # left by a killed run
        _write_style_images(job, style_images)
    preview_input = photos.photo(0)[..., :settings.image_size, :settings.image_size].to(device) if photos else None

    started, terms, done = time.perf_counter(), {}, start
    model.train()
    for step in range(start, settings.steps):
        which = step % len(style_images)
        loss.style_targets = style_targets[which]
        batch = photos.batch(step, settings.batch_size, settings.seed, world.rank, world.size).to(device) \
            if photos else None
        if use_amp and batch is not None:
            batch = batch.contiguous(memory_format=torch.channels_last)
        noise = torch.Generator().manual_seed(settings.seed * 1_000_003 + step * world.size + world.rank)
        optimiser.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
            output = _generate(model, batch, job.style_indices[which], settings, noise)
            values = loss(output.float(), loss.content_targets(batch) if batch is not None else None)
            if batch is not None and settings.generator == "transformer" and settings.grid_weight:
                values = _with_grid_term(values, output.float(), settings.grid_weight)
        values["total"].backward()
        optimiser.step()
        terms = {k: v.item() for k, v in values.items()}
        _stop_if_diverged(terms, step + 1)
        done = step + 1
        log.append({"step": done, **terms})
        seconds = time.perf_counter() - started
        last = done == settings.steps or _out_of_time(seconds, settings.max_minutes, world)
        if world.rank == 0 and (done % settings.checkpoint_every == 0 or last):
            _save(job, net, optimiser, done, log, world)
        preview = None
        if settings.preview_every and (done % settings.preview_every == 0 or last):
            preview = _preview(net, preview_input, job.style_indices[which], settings)
        eta = seconds / (done - start) * (settings.steps - done)
        if settings.max_minutes:
            eta = min(eta, max(0.0, settings.max_minutes * 60 - seconds))
        yield TrainProgress(done, settings.steps, terms, seconds, eta, preview)
        if last:
            break
    yield TrainResult(out_dir, done, time.perf_counter() - started, terms)


def _stop_if_diverged(terms: dict[str, float], step: int) -> None:
    """SettingsError, before this step's weights are saved, when the loss is NaN or infinite."""
    if not math.isfinite(terms["total"]):
        bad = ", ".join(k for k, v in terms.items() if not math.isfinite(v))
        raise SettingsError(f"training diverged at step {step}: the loss ({bad}) is not finite, and this step was not "
                            f"saved; lower the learning rate or the loss weights and train again")


def _out_of_time(seconds: float, max_minutes: float, world: "World") -> bool:
    """Whether the time limit is reached; under torchrun the first process decides for all."""
    if not max_minutes:
        return False
    if world.size == 1:
        return seconds >= max_minutes * 60
    stop = torch.tensor([float(seconds >= max_minutes * 60)], device=world.device)
    torch.distributed.broadcast(stop, src=0)
    return bool(stop.item())


def _with_added_style(net: TransformerNet) -> TransformerNet:
    """The same network with one more style, whose (gamma, beta) start as the mean of the others'."""
    config = dataclasses.replace(net.config, num_styles=net.config.num_styles + 1)
    state = net.state_dict()
    for name, module in net.named_modules():
        if isinstance(module, ConditionalInstanceNorm2d):
            for key in (f"{name}.weight", f"{name}.bias"):
                state[key] = torch.cat([state[key], state[key].mean(0, keepdim=True)])
    grown = TransformerNet(config)
    grown.load_state_dict(state)
    return grown


def _trainable(net: torch.nn.Module, only_style: int | None) -> list[torch.nn.Parameter]:
    """Every parameter, or only one style's rows of the conditional norms (the others get zero gradients)."""
    if only_style is None:
        return list(net.parameters())
    keep = torch.zeros(net.config.num_styles, 1)
    keep[only_style] = 1
    chosen = []
    for module in net.modules():
        if isinstance(module, ConditionalInstanceNorm2d):
            for parameter in (module.weight, module.bias):
                parameter.register_hook(lambda grad: grad * keep.to(grad.device, grad.dtype))
                chosen.append(parameter)
    for parameter in net.parameters():
        parameter.requires_grad_(any(parameter is c for c in chosen))
    return chosen


def _fine_detail(image: torch.Tensor, kernel: int = 5) -> torch.Tensor:
    """The image minus its local mean (a kernel x kernel box, edges mirrored): its fine detail."""
    padded = torch.nn.functional.pad(image, (kernel // 2,) * 4, mode="reflect")
    return image - torch.nn.functional.avg_pool2d(padded, kernel, 1)


def _with_grid_term(values: dict, output: torch.Tensor, weight: float) -> dict:
    """The loss terms plus one against a pattern locked to the network's own 4-pixel grid.

    A transformer network (stride 4) can paint the same 4-pixel pattern on every photo: no loss on one crop sees
    it as anything but texture. The term is the variance of the fine detail's mean at each of the 4 x 4 pixel
    phases, relative to the fine detail's variance, per image (a pattern repeating every 4 px has phase means
    that differ; a photo's do not).
    """
    detail = _fine_detail(output)
    energy = detail.pow(2).mean(dim=(1, 2, 3)).detach() + 1e-8
    n, c, h, w = detail.shape
    phases = detail.reshape(n, c, h // 4, 4, w // 4, 4).mean(dim=(2, 4))  # (n, c, 4, 4)
    grid = weight * (phases.var(dim=(2, 3), unbiased=False).mean(1) / energy).mean()
    return {**values, "grid": grid, "total": values["total"] + grid}


def _generate(model, batch, style_index: int, settings: TrainSettings, noise: torch.Generator) -> torch.Tensor:
    if settings.generator == "texture":
        if batch is None:
            return model(None, (settings.image_size, settings.image_size), batch=settings.batch_size,
                         generator=noise)
        return model(batch, generator=noise)
    return model(batch, style_index)


@torch.no_grad()
def _preview(net, image: torch.Tensor | None, style_index: int, settings: TrainSettings) -> torch.Tensor:
    """The network's output on the first training photo (or on fixed noise for texture synthesis)."""
    net.eval()
    try:
        return _generate(net, image, style_index, settings.replace(batch_size=1),
                         torch.Generator().manual_seed(0)).float().clamp(0, 1).cpu()
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


def _hardware(device: torch.device) -> str:
    """What a process trained on, for the training record: the GPU's name, or the CPU and its threads."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "cpu":
        return f"CPU ({torch.get_num_threads()} threads)"
    return device.type


def is_main_process() -> bool:
    """False in every process but the first of a torchrun launch: only the first one reports."""
    return int(os.environ.get("RANK", "0")) == 0


def _describe_styles(styles: list, style_info) -> list[dict]:
    """The config's entry for each style: name (default: the file's name), source, licence, image."""
    style_info = list(style_info or [{}] * len(styles))
    if len(style_info) != len(styles):
        raise SettingsError(f"{len(style_info)} style descriptions for {len(styles)} styles")
    entries = []
    for i, (style, info) in enumerate(zip(styles, style_info)):
        is_file = isinstance(style, (str, Path))
        entry = {"name": Path(style).stem if is_file else f"style {i + 1}", "source": str(style) if is_file else None,
                 **{k: v for k, v in info.items() if v is not None}}
        entry["image"] = f"{STYLE_IMAGES}/{_slug(entry['name'])}.jpg"
        entries.append(entry)
    return entries


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name.lower()).strip("_") or "style"


def _write_style_images(job: Job, style_images: list[torch.Tensor]) -> None:
    """The style images the network learns from, at training size, kept beside it (for cards and the app)."""
    (job.out_dir / STYLE_IMAGES).mkdir(parents=True, exist_ok=True)
    learnt = dict(zip(job.style_indices, style_images))
    for index, entry in enumerate(job.style_entries):
        target = job.out_dir / entry["image"]
        if index in learnt:
            images.save_image(learnt[index], target, quality=90)
        elif job.base and job.base.resolve() != job.out_dir.resolve():
            if source := checkpoints.model_file(job.base, entry.get("image")):
                shutil.copyfile(source, target)
    if job.base and job.base.resolve() != job.out_dir.resolve():
        for log in job.base.glob("training_log*.csv"):  # the curves of the base's own training
            shutil.copyfile(log, job.out_dir / log.name)


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


def _save(job: Job, net, optimiser, step: int, log: list[dict], world: "World") -> None:
    """The model folder (for use), its loss log and the training state (for --resume), each written atomically."""
    checkpoints.save_model(net, job.out_dir, styles=job.style_entries, training=job.training_record(world, step))
    _write_log(job.out_dir / job.log_name, log)
    if job.base is not None:
        return  # a grown network is not resumed; the base's own state stays as it was
    state = optimiser.state_dict()
    tensors = {f"net.{k}": v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    tensors.update({f"optimizer.{pid}.{k}": v.detach().cpu().contiguous()
                    for pid, entry in state["state"].items() for k, v in entry.items()})
    meta = {"step": step, "param_groups": state["param_groups"], "settings": job.settings.to_dict()}
    metadata = {"stylehub": json.dumps(meta)}
    write_atomically(job.out_dir / STATE_NAME, lambda tmp: save_file(tensors, tmp, metadata=metadata))


def _write_log(path: Path, log: list[dict]) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=LOG_COLUMNS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows({k: (f"{v:.6g}" if k != "step" else v) for k, v in row.items()} for row in log)

    write_atomically(path, write)


def read_log(path: Path) -> list[dict[str, float]]:
    """The rows of a training log (step, content, style, tv, total) as numbers; [] when absent."""
    if not path.is_file():
        return []
    rows = []
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            try:
                rows.append({k: float(row[k]) for k in LOG_COLUMNS if row.get(k) not in (None, "")})
            except ValueError:
                continue  # a damaged line: the curve does without it
    return [{**row, "step": int(row["step"])} for row in rows if "step" in row]


def _resume(out_dir: Path, net, optimiser, settings: TrainSettings) -> int:
    """Restore network and optimiser from out_dir's training state; the step to continue from."""
    path = out_dir / STATE_NAME
    if not path.is_file():
        raise SettingsError(f"{out_dir}: nothing to resume ({STATE_NAME} is missing)")
    meta, tensors = _read_state(path)
    free = ("steps", "max_minutes", "checkpoint_every", "preview_every", "device", "amp")  # may change between runs
    saved = {k: v for k, v in meta["settings"].items() if k not in free}
    mine = {k: v for k, v in settings.to_dict().items() if k in saved}
    if saved != mine:
        changed = sorted(k for k in saved if saved[k] != mine.get(k))
        raise SettingsError(f"cannot resume with different settings ({', '.join(changed)}); use those of the "
                            f"interrupted run, or start anew with --overwrite or in a new output folder")
    mismatch = _state_mismatch(tensors, net, optimiser)
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


def _read_state(path: Path) -> tuple[dict, dict[str, torch.Tensor]]:
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


def _state_mismatch(tensors: dict[str, torch.Tensor], net, optimiser) -> str | None:
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
