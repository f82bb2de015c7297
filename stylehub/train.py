"""Training feed-forward stylisation networks with perceptual losses (Johnson et al. 2016).

`train()` is a generator like `optimize.stylize()`: it yields TrainProgress after each step and a TrainResult at
the end. Checkpoints are written atomically every `checkpoint_every` steps; `resume=True` continues an interrupted
run exactly: network, optimiser state and step count come back, and the data order is a function of (seed, step).
With several style images the network uses conditional instance normalisation (Dumoulin et al. 2017), one style
per step in turn.
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch

from . import checkpoints, images, training_state
from .backbones import BACKBONES, load_backbone, pick_device
from .distributed import World, process_group
from .errors import SettingsError
from .files import remove_stale_temporaries
from .losses import LossWeights, PerceptualLoss, with_grid_term
from .nets import TRANSFORMER_SIZES, TextureConfig, TextureNet, TransformerNet
from .settings import (
    MAX_SEED,
    Settings,
    check_layer_weights,
    check_loss_weights,
    check_seed,
    require_number,
    setting,
)
from .style_growth import trainable_parameters, with_added_style
from .training_data import ContentPhotos
from .training_log import LOG_NAME, read_log, style_log_name, write_log
from .training_output import copy_loss_logs, describe_styles, prepare_output, slug, write_style_images

GENERATORS = ("transformer", "texture")


@dataclass
class TrainSettings(Settings):
    """Every knob of fast-network training, with defaults shared by the CLI and the app.

    Each setting() is an option of `stylehub train` (see stylehub.settings).
    """

    # Johnson et al.'s transformer, or "texture" (Ulyanov et al.): the command's KIND
    generator: str = setting("transformer", choices=GENERATORS, cli=False)
    net_size: str = setting("slim", help="transformer widths: paper (Johnson et al.), slim or tiny (for CPUs)",
                            choices=TRANSFORMER_SIZES)
    image_size: int = setting(256, help="training crops are image_size x image_size", minimum=1)
    style_size: int = setting(512, help="long side of the style image(s)", minimum=1)
    batch_size: int = setting(4, minimum=1)
    steps: int = setting(2000, minimum=1)
    max_minutes: float = setting(0.0, help="stop after this many minutes, saving the network; --resume continues; "
                                           "0: no limit", minimum=0)
    learning_rate: float = setting(1e-3)
    content_weight: float = setting(1.0, minimum=0)
    style_weight: float = setting(10.0, minimum=0)
    tv_weight: float = setting(1.0, minimum=0)
    # Against a pattern locked to the transformer's pixel grid (a weave on every photo): penalises fine detail
    # whose mean differs between the 8 x 8 pixel phases (losses.with_grid_term).
    grid_weight: float = 100.0
    backbone: str = setting("vgg16", help="loss network", choices=BACKBONES)
    weights: str | None = setting(None, help="loss network weights (.safetensors), or 'random'")
    pooling: str = "max"
    normalisation: str = "layer"  # of the loss terms (see losses.py): "layer" or "network"
    content_layers: dict[str, float] = setting(factory=lambda: {"relu2_2": 1.0})
    # Gatys et al.'s layers: with Johnson et al.'s (relu1_2, relu2_2, relu3_3, relu4_3, style weight 5) networks
    # learn the painting's colours and fine texture far more slowly (a washed-out picture after 15 min on a CPU)
    style_layers: dict[str, float] = setting(
        factory=lambda: dict.fromkeys(("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"), 1.0))
    checkpoint_every: int = setting(200, minimum=1)
    preview_every: int = setting(100, minimum=0)
    seed: int = setting(0, minimum=0, maximum=MAX_SEED - 1)
    device: str = setting("auto", help="auto, cpu, cuda, cuda:N or mps")
    amp: bool = setting(True, help="mixed precision on GPU (bfloat16 autocast and channels-last; the CPU runs "
                                   "without)")

    def check(self) -> "TrainSettings":
        self.check_choices()
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


def train(styles, content_dir, out_dir, settings: TrainSettings | None = None, *, style_info=None,
          resume: bool = False, overwrite: bool = False) -> Iterator[TrainProgress | TrainResult]:
    """Train one network for one style (instance norm) or several (conditional instance norm).

    style_info: one dict per style merged into the model's config (name, source, licence); the name defaults to
    the image's file name. With generator="texture", content_dir=None trains Ulyanov et al.'s texture synthesis
    from noise alone (style loss only). An out_dir that already holds a model is refused unless resume=True
    (continue its training) or overwrite=True (replace it: training_output.replaced_names() are removed first).

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
    prepare_output(Path(out_dir), resume, overwrite)
    with torch.random.fork_rng(devices=[]):  # the seed fixes the initial weights without touching global state
        torch.manual_seed(settings.seed)
        net = _new_net(settings, len(styles), with_content=content_dir is not None)
    out_dir = Path(out_dir)
    if resume and style_info is None and (out_dir / checkpoints.CONFIG_NAME).is_file():
        style_info = checkpoints.read_config(out_dir)["styles"]  # the interrupted run's names and credits
    job = Job(net, styles, list(range(len(styles))), describe_styles(styles, style_info), content_dir, out_dir,
              settings)
    yield from _run_job(job, resume)


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
    net = with_added_style(net)
    job = Job(net, [style], [len(old)], old + describe_styles([style], style_info), content_dir,
              Path(out_dir or model_dir), settings, only_style=len(old), base=model_dir,
              base_training=config.get("training", {}))
    yield from _run_job(job, resume=False)


# What a fine-tuned network does not take from its base's record: how long and where the base ran
NOT_INHERITED = ("steps", "max_minutes", "checkpoint_every", "preview_every", "device", "weights")
# What the record of one style trained alone keeps of its run's settings
STYLE_RUN_SETTINGS = ("steps_done", "hardware", "learning_rate", "image_size", "style_size", "batch_size",
                      "content_weight", "style_weight", "tv_weight", "grid_weight")


def finetune(model_dir, content_dir, out_dir, changes: dict | None = None, *, styles: list | None = None,
             only_style: int | None = None, resume: bool = False,
             overwrite: bool = False) -> Iterator[TrainProgress | TrainResult]:
    """Train a finished transformer network further, all of its weights, on its own styles (the pictures its folder
    keeps, or `styles`: one image per style, in order, e.g. larger copies of the same paintings), with the loss
    settings it was trained with, `changes` on top, and today's defaults for what its record lacks. A network
    trained before the grid term (grid_weight) loses its weave this way in a few hundred steps and keeps its style.
    Writes a new model folder (not model_dir); its training record keeps the base's under "fine_tuned_from".

    only_style (a multi-style network's style index): train only that style's (gamma, beta), e.g. with its own
    content weight; the other styles stay bit-identical, and the record is the base's plus a "tuned_styles" entry.
    """
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    if out_dir.resolve() == model_dir.resolve():
        raise SettingsError("a fine-tuned network goes to a new folder: its styles are read from the model folder")
    net, config = checkpoints.load_model(model_dir)
    if config["kind"] != "transformer":
        raise SettingsError(f"{model_dir}: only transformer networks can be fine-tuned")
    pictures = [Path(p) for p in styles] if styles else [model_dir / s.get("image", "") for s in config["styles"]]
    if len(pictures) != len(config["styles"]):
        raise SettingsError(f"{len(pictures)} style image(s) for a network of {len(config['styles'])} style(s)")
    missing = [str(p) for p in pictures if not p.is_file()]
    if missing:
        raise SettingsError(f"{missing[0]} is not a file: give the style images (one per style)")
    known = {f.name for f in dataclasses.fields(TrainSettings)} - set(NOT_INHERITED)
    base_training = config.get("training", {})
    saved = {k: v for k, v in base_training.items() if k in known}
    settings = TrainSettings(**saved).replace(**(changes or {})).check()
    entries = [{k: v for k, v in style.items() if k in ("name", "source", "licence", "image")}
               for style in config["styles"]]
    own_pictures = model_dir if not styles else None
    if only_style is None:
        job = Job(net, pictures, list(range(len(pictures))), entries, content_dir, out_dir, settings,
                  tuned_from=base_training, pictures_from=own_pictures)
    else:
        _check_style_alone(only_style, len(entries), resume)
        job = Job(net, [pictures[only_style]], [only_style], entries, content_dir, out_dir, settings,
                  only_style=only_style, base=model_dir, base_training=base_training, style_runs="tuned_styles",
                  pictures_from=own_pictures)
    prepare_output(out_dir, resume, overwrite)
    yield from _run_job(job, resume)


def _check_style_alone(index, count: int, resume: bool) -> None:
    if count < 2:
        raise SettingsError("only a multi-style network's styles can be trained one at a time: this network has "
                            "one style (fine-tune all of it)")
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < count:
        raise SettingsError(f"style index must be 0-{count - 1} (this network has {count} styles), not {index!r}")
    if resume:
        raise SettingsError("a fine-tune of one style is not resumed: run it again")


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
    base: Path | None = None  # the trained model folder a network trained one style at a time comes from
    base_training: dict | None = None  # and its training record
    style_runs: str = "added_styles"  # where that record lists this run: "added_styles" or "tuned_styles"
    tuned_from: dict | None = None  # a fine-tuned network's base's training record
    pictures_from: Path | None = None  # a model folder whose own style pictures are learnt: copied, not re-encoded

    @property
    def log_name(self) -> str:
        return LOG_NAME if self.base is None else style_log_name(slug(self.style_entries[self.only_style]["name"]))

    def training_record(self, world: World, step: int) -> dict:
        """config.json's "training": these settings, or for one style trained alone the base's record plus this
        run."""
        mine = {**self.settings.to_dict(), "processes": world.size, "hardware": world.hardware,
                "steps_done": step}
        if self.tuned_from is not None:
            return {**mine, "fine_tuned_from": self.tuned_from}
        if self.base_training is None:
            return mine
        run = {"name": self.style_entries[self.only_style]["name"], "trained": "its gamma and beta only",
               **{k: mine[k] for k in STYLE_RUN_SETTINGS}}
        return {**self.base_training, self.style_runs: [*self.base_training.get(self.style_runs, []), run]}



def _run_job(job: Job, resume: bool):
    with process_group(pick_device(job.settings.device)) as world:
        yield from _train(job, resume, world)


def _new_net(settings: TrainSettings, num_styles: int, with_content: bool) -> torch.nn.Module:
    if settings.generator == "texture":
        return TextureNet(TextureConfig(with_content=with_content))
    return TransformerNet(dataclasses.replace(TRANSFORMER_SIZES[settings.net_size], num_styles=num_styles))


def _train(job: Job, resume: bool, world: World):
    settings, device, out_dir = job.settings, world.device, job.out_dir
    photos = ContentPhotos(job.content_dir, settings.image_size) if job.content_dir is not None else None
    style_images = [images.resize_long_side(images.load_image(s, name=f"style image {i + 1}").rgb,
                                            settings.style_size) for i, s in enumerate(job.styles)]
    net = job.net.to(device)
    optimiser = torch.optim.Adam(trainable_parameters(net, job.only_style), lr=settings.learning_rate)
    start = training_state.restore(out_dir, net, optimiser, settings.to_dict()) if resume else 0
    log = [row for row in read_log(out_dir / job.log_name) if row["step"] <= start] if resume else []
    loss, style_targets = _losses(settings, [s.to(device) for s in style_images], device)
    use_amp = settings.amp and device.type == "cuda"
    if use_amp:
        net = net.to(memory_format=torch.channels_last)
    model = net
    if world.size > 1:
        model = torch.nn.parallel.DistributedDataParallel(net, device_ids=[device] if device.type == "cuda" else None)
    if world.rank == 0:
        remove_stale_temporaries(out_dir, [checkpoints.WEIGHTS_NAME, checkpoints.CONFIG_NAME,
                                           training_state.STATE_NAME, job.log_name])  # left by a killed run
        learnt = {} if job.pictures_from else dict(zip(job.style_indices, style_images))
        write_style_images(out_dir, job.style_entries, learnt, job.pictures_from or job.base)
        if job.base is not None:
            copy_loss_logs(job.base, out_dir)
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
                values = with_grid_term(values, output.float(), settings.grid_weight)
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


def _out_of_time(seconds: float, max_minutes: float, world: World) -> bool:
    """Whether the time limit is reached; under torchrun the first process decides for all."""
    return bool(max_minutes) and world.first_process_decides(seconds >= max_minutes * 60)


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


def _losses(settings: TrainSettings, style_images: list[torch.Tensor], device) -> tuple[PerceptualLoss, list]:
    """The perceptual loss and, for each style, its style targets (swapped in per step)."""
    extractor = load_backbone(settings.backbone, weights=settings.weights, pooling=settings.pooling, device=device)
    loss = PerceptualLoss(extractor, content_layers=settings.content_layers, style_layers=settings.style_layers,
                          weights=LossWeights(settings.content_weight, settings.style_weight, settings.tv_weight),
                          normalisation=settings.normalisation, scale_layer=next(iter(settings.content_layers)))
    targets = []
    for image in style_images:
        loss.set_styles([image])
        targets.append(loss.style_targets)
    return loss, targets


def _save(job: Job, net, optimiser, step: int, log: list[dict], world: World) -> None:
    """The model folder (for use), its loss log and the training state (for --resume), each written atomically."""
    checkpoints.save_model(net, job.out_dir, styles=job.style_entries, training=job.training_record(world, step))
    write_log(job.out_dir / job.log_name, log)
    if job.base is None:  # a grown network is not resumed; the base's own state stays as it was
        training_state.save(job.out_dir, net, optimiser, step, job.settings.to_dict())
