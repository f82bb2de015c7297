"""Slow style transfer by optimisation (Gatys et al. 2016), coarse to fine.

`stylize()` is a generator: it yields a Progress event after every step and a Result at the end, so a caller
can show progress, stream previews, and stop between steps by simply not asking for the next event.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Iterator

import torch

from . import colour, images
from .backbones import (
    BACKBONES,
    DEFAULT_BACKBONE,
    POOLINGS,
    PRECISIONS,
    backbone_spec,
    load_backbone,
    normalize_weights,
    pick_device,
    pick_precision,
)
from .errors import SettingsError
from .losses import CONTENT_NORMS, STYLE_STATISTICS, LossWeights, PerceptualLoss
from .settings import (
    MAX_SEED,
    App,
    Settings,
    check_blend,
    check_layer_weights,
    check_loss_weights,
    check_seed,
    enforce,
    require_number,
    setting,
)

OPTIMIZERS = ("lbfgs", "adam")
INITS = ("content", "noise", "style", "blank")
COLOUR_MODES = ("none", "luminance", "histogram")
MIN_SIDE = 16  # the backbones pool four times before their deepest default style layer
MIN_SCALE_FACTOR = 1.05  # keeps the coarse-to-fine schedule short
LINE_SEARCH_EVALUATIONS = 25  # at most, per L-BFGS step (PyTorch's own bound for one line search)
NORMALISATION_SIZE = 256  # long side of the images used to calibrate Gatys weight normalisation


@dataclass
class StylizeSettings(Settings):
    """Every knob of slow style transfer, with defaults shared by the CLI and the app.

    Each setting() is an option of `stylehub stylize`; those with `app=` are also controls of the app's Optimise tab
    and parameters of its /stylize API, in field order (API clients may pass them by position: add new ones last).
    """

    size: int = setting(512, help="long side of the output in pixels", minimum=MIN_SIDE,
                        app=App("Output size (long side, px)", advanced=False, slider=(32, 1024, 32)))
    backbone: str = setting(DEFAULT_BACKBONE, choices=BACKBONES, app=App("Backbone", row="method"))
    weights: str | None = setting(None, help="backbone weights: a local .safetensors file, or 'random' (default: "
                                             "STYLEHUB_WEIGHTS, else download from the Hugging Face Hub)")
    pooling: str = setting("avg", choices=POOLINGS)
    optimizer: str = setting("lbfgs", choices=OPTIMIZERS, app=App("Optimiser", row="method"))
    learning_rate: float = setting(0.02, help="Adam's step size")  # L-BFGS chooses its own steps
    init: str = setting("content", help="starting image", choices=INITS, app=App("Start from", row="method"))
    steps: int = setting(200, help="iterations at the final scale", minimum=1,
                         app=App("Steps at full size", row="steps"))
    coarse_steps: int = setting(70, help="iterations at each coarser scale", minimum=0,
                                app=App("Steps at each coarser scale", row="steps"))
    min_size: int | None = setting(None, help="long side of the first scale of a coarse-to-fine schedule "
                                              "(default: one scale, at --size)", minimum=MIN_SIDE)
    scale_factor: float = math.sqrt(2)  # ratio between successive scales
    content_weight: float = setting(1.0, minimum=0, app=App("Content weight", row="weights"))
    # Gatys et al.'s beta (content_weight is their alpha); see losses.PAPER_SCALE
    style_weight: float = setting(1e4, minimum=0, app=App("Style weight", row="weights"))
    tv_weight: float = setting(0.0, help="total variation weight", minimum=0,
                               app=App("Smoothness (TV) weight", row="weights"))
    style_blend: list[float] | None = setting(None, help="one weight per style image")  # None: equal weights
    preserve_colour: str = setting("none", help="keep the content's colours: luminance-only transfer or colour "
                                                "histogram matching", choices=COLOUR_MODES,
                                   aliases=["--preserve-color"], app=App("Keep the photo's colours", row="style"))
    style_scale: float = setting(1.0, help="style image size relative to the output", minimum=0.05, maximum=4.0,
                                 app=App("Style scale", row="style", slider=(0.25, 2.0, 0.05)))
    style_statistic: str = setting("gram", help="Gram matrices (Gatys) or mean and covariance (Wasserstein-2)",
                                   choices=STYLE_STATISTICS, app=App("Style statistic", row="style"))
    content_norm: str = setting("l2", choices=CONTENT_NORMS)
    # None: the backbone's default layers, weight 1 each
    content_layers: dict[str, float] | None = setting(
        None, help="e.g. relu4_2", app=App("Content layers (empty: the backbone's default)", placeholder="relu4_2"))
    style_layers: dict[str, float] | None = setting(
        None, help="e.g. relu1_1,relu2_1:0.5",
        app=App("Style layers (empty: the backbone's default)", placeholder="relu1_1, relu2_1, relu3_1:0.5"))
    normalize_weights: bool = setting(False, help="Gatys et al.'s filter normalisation (mean activation 1), VGG only")
    normalisation: str = "network"  # "network": the paper's terms and layer weights; "layer": each term relative
    seed: int = setting(0, minimum=0, maximum=MAX_SEED - 1, app=App("Seed", row="steps"))
    device: str = setting("auto", help="auto, cpu, cuda, cuda:N or mps")
    precision: str = setting("auto", help="the backbone's arithmetic (auto: bfloat16 where the GPU or CPU computes "
                                          "it natively, else float32)", choices=PRECISIONS)
    max_size: int = setting(2048, help="largest output side allowed")
    preview_every: int = 10  # steps between preview images; 0 for none

    def check(self) -> "StylizeSettings":
        enforce(16 <= self.size <= self.max_size, f"size must be between 16 and {self.max_size} (max_size), "
                                                   f"not {self.size}")
        enforce(self.steps >= 1 and self.coarse_steps >= 0, "steps must be at least 1 and coarse_steps at least 0")
        enforce(self.min_size is None or self.min_size >= MIN_SIDE,
                 f"min_size must be at least {MIN_SIDE}, not {self.min_size}")
        require_number("scale_factor", self.scale_factor, MIN_SCALE_FACTOR)
        require_number("style_scale", self.style_scale, 0.05, 4.0)
        enforce(round(self.size * self.style_scale) <= self.max_size, "size x style_scale is above max_size")
        enforce(round(min(self.size, self.min_size or self.size) * self.style_scale) >= MIN_SIDE,
                 f"size (or min_size) x style_scale is below {MIN_SIDE} px: the style image would be too small; "
                 f"raise style_scale")
        require_number("learning_rate", self.learning_rate, 0.0, above=True)
        check_loss_weights(self)
        if self.style_blend is not None:
            check_blend(self.style_blend, "style_blend")
        for layers in (self.content_layers, self.style_layers):
            check_layer_weights(layers or {})
        check_seed(self.seed)
        self.check_choices()
        return self



PRESETS: dict[str, dict] = {
    "fast": dict(steps=80),
    "balanced": dict(),
    "best": dict(steps=400),
}
DEFAULT_PRESET = "balanced"


def preset(name: str = DEFAULT_PRESET, **changes) -> StylizeSettings:
    """Settings of a named preset (fast, balanced, best), with any field changed."""
    if name not in PRESETS:
        raise SettingsError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return StylizeSettings().replace(**PRESETS[name]).replace(**changes)


@dataclass
class Progress:
    step: int  # steps done so far, over all scales
    total: int
    scale: int  # index of the current scale, from 0
    scales: int
    size: tuple[int, int]  # (width, height) of the current scale
    losses: dict[str, float]
    preview: torch.Tensor | None = None  # (1, 3, H, W) on the CPU, every preview_every steps


@dataclass
class Result:
    image: torch.Tensor  # (1, 3, H, W) in [0, 1], on the CPU
    alpha: torch.Tensor | None  # the content's alpha, re-attached on saving
    settings: StylizeSettings
    seconds: float
    losses: dict[str, float] = field(default_factory=dict)

    def to_pil(self):
        return images.to_pil(self.image, self.alpha)

    def save(self, path, *, bits: int = 8):
        return images.save_image(self.image, path, alpha=self.alpha, bits=bits)


def scale_sizes(content_size: tuple[int, int], settings: StylizeSettings) -> list[tuple[int, int]]:
    """(width, height) of each scale: from min_size up by scale_factor, ending exactly at size."""
    long_sides = [settings.size]
    while long_sides[0] / settings.scale_factor >= (settings.min_size or settings.size) - 0.5:
        long_sides.insert(0, round(long_sides[0] / settings.scale_factor))
    sizes = [images.fit_size(content_size, side) for side in long_sides]
    if min(sizes[-1]) < MIN_SIDE:
        raise SettingsError(f"the output would be {sizes[-1][0]}x{sizes[-1][1]}; its short side must be at least "
                            f"{MIN_SIDE} px (raise size)")
    return [size for size in sizes if min(size) >= MIN_SIDE]


def steps_per_scale(scales: int, settings: StylizeSettings) -> list[int]:
    return [settings.coarse_steps] * (scales - 1) + [settings.steps]


def stylize(content, styles, settings: StylizeSettings | None = None, *, start=None,
            **changes) -> Iterator[Progress | Result]:
    """Optimise an image to have `content`'s content and the (blended) style of `styles`.

    content and each style: a path, PIL image, array or tensor. settings: a StylizeSettings (default: the
    balanced preset), with `changes` applied. start: an image to begin from instead of settings.init (a fast
    network's result, to refine it), resized to the output. Yields Progress after each step, then one Result.
    """
    settings = (settings or preset()).replace(**changes).check()
    started = time.perf_counter()
    styles = list(styles) if isinstance(styles, (list, tuple)) else [styles]
    content_image = images.load_image(content, name="content image")
    style_images = [images.load_image(s, name=f"style image {i + 1}").rgb for i, s in enumerate(styles)]
    start_image = None if start is None else images.load_image(start, name="starting image").rgb
    start_image = None if start_image is None else _colour_inputs(start_image, [], settings)[0]
    device = pick_device(settings.device)
    sizes = scale_sizes(content_image.size, settings)
    content_rgb, style_rgbs = _colour_inputs(images.resize(content_image.rgb, sizes[-1]), style_images, settings)
    loss = _perceptual_loss(settings, content_rgb, style_rgbs, device)
    content_rgb = content_rgb.to(device)
    style_rgbs = [s.to(device) for s in style_rgbs]

    def finished(image: torch.Tensor) -> torch.Tensor:
        """What the user sees of the optimised image: clamped, with the content's colours where asked."""
        image = image.detach().clamp(0, 1)
        if settings.preserve_colour == "luminance":
            image = colour.combine_luminance(image, content_image.rgb.to(device))
        return image.cpu()

    counts = steps_per_scale(len(sizes), settings)
    total, step, image, terms = sum(counts), 0, None, {}
    for index, (size, count) in enumerate(zip(sizes, counts)):
        content_at_scale = images.resize(content_rgb, size)
        style_side = round(max(size) * settings.style_scale)
        loss.set_styles([images.resize_long_side(s, style_side) for s in style_rgbs], settings.style_blend)
        targets = loss.content_targets(content_at_scale)
        if image is None:
            image = _initial_image(settings, content_at_scale, style_rgbs[0]) if start_image is None else start_image
        image = images.resize(image.to(device), size)
        for state in _optimise(image, loss, targets, count, settings):
            image, terms = state
            step += 1
            preview = None
            if settings.preview_every and (step % settings.preview_every == 0 or step == total):
                preview = finished(image)
            yield Progress(step, total, index, len(sizes), size, terms, preview)
    yield Result(finished(image), content_image.alpha, settings, time.perf_counter() - started, terms)


def run(content, styles, settings: StylizeSettings | None = None, *, start=None, **changes) -> Result:
    """stylize() to the end, returning only the Result."""
    for event in stylize(content, styles, settings, start=start, **changes):
        if isinstance(event, Result):
            return event
    raise AssertionError("stylize() ended without a result")


def _colour_inputs(content: torch.Tensor, styles: list[torch.Tensor], settings: StylizeSettings):
    """What the optimisation sees, for each colour-preservation mode (Gatys et al. 2017)."""
    if settings.preserve_colour == "luminance":
        return colour.luminance(content), [colour.match_luminance(s, content) for s in styles]
    if settings.preserve_colour == "histogram":
        return content, [colour.match_colour_histogram(s, content) for s in styles]
    return content, styles


def _perceptual_loss(settings: StylizeSettings, content: torch.Tensor, styles: list[torch.Tensor],
                     device: torch.device) -> PerceptualLoss:
    spec = backbone_spec(settings.backbone)
    extractor = load_backbone(settings.backbone, weights=settings.weights, pooling=settings.pooling, device=device)
    if settings.normalize_weights:
        calibration = [images.resize_long_side(x, NORMALISATION_SIZE).to(device) for x in [content, *styles]]
        extractor = normalize_weights(extractor, calibration)
    return PerceptualLoss(
        extractor,
        content_layers=settings.content_layers or dict.fromkeys(spec.content_layers, 1.0),
        style_layers=settings.style_layers or dict.fromkeys(spec.style_layers, 1.0),
        weights=LossWeights(settings.content_weight, settings.style_weight, settings.tv_weight),
        style_statistic=settings.style_statistic, content_norm=settings.content_norm,
        normalisation=settings.normalisation, scale_layer=spec.content_layers[0],
        backbone_dtype=pick_precision(settings.precision, device),
    )


def _initial_image(settings: StylizeSettings, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    if settings.init == "content":
        return content.clone()
    if settings.init == "style":
        return images.resize(style, (content.shape[-1], content.shape[-2]))
    if settings.init == "blank":
        return torch.full_like(content, 0.5)
    generator = torch.Generator().manual_seed(settings.seed)
    return torch.rand(content.shape, generator=generator).to(content)


def _drop_outward_gradient(image: torch.Tensor) -> None:
    """Zero the gradient of pixels held at 0 or 1 that the descent would push further out.

    Pixels are clamped to [0, 1] at every evaluation. Without this, L-BFGS keeps stepping along directions the clamp
    undoes, its line search sees no decrease and spends its 25 evaluations on every later step (measured: 20 per
    step from step 60 of 150 on a 256-px photo with a bright sky, the loss frozen).
    """
    with torch.no_grad():
        grad = image.grad
        grad[((image <= 0) & (grad > 0)) | ((image >= 1) & (grad < 0))] = 0


def _optimise(image: torch.Tensor, loss: PerceptualLoss, targets, steps: int, settings: StylizeSettings):
    """Yield (image, loss terms) after each optimiser step on the pixels of `image`, at most `steps` of them.

    Pixels are kept in [0, 1] (the image that is saved is the one optimised). L-BFGS takes one iteration per step
    with a strong-Wolfe line search, as in Gatys et al.'s own optimisation; the evaluation that ends a line search
    is cached, so the next step does not repeat it. A step that lowers nothing restarts L-BFGS from steepest
    descent; a second one in a row means the image has converged, and the optimisation ends early.
    """
    image = image.detach().clone().requires_grad_(True)
    last: dict[str, float] = {}
    cache: dict[str, torch.Tensor] = {}

    def closure():
        with torch.no_grad():
            image.clamp_(0, 1)
        if "image" in cache and torch.equal(cache["image"], image):
            image.grad = cache["grad"].clone()
            return cache["total"]
        optimiser.zero_grad()
        terms = loss(image, targets)
        terms["total"].backward()
        _drop_outward_gradient(image)
        last.update({k: v.item() for k, v in terms.items()})
        cache.update(image=image.detach().clone(), grad=image.grad.clone(), total=terms["total"].detach())
        return terms["total"]

    if settings.optimizer == "lbfgs":
        # The curvature history persists across calls of step(), which runs one iteration each; PyTorch gives
        # that iteration's line search max_eval - 1 evaluations.
        optimiser = torch.optim.LBFGS([image], lr=1.0, max_iter=1, max_eval=LINE_SEARCH_EVALUATIONS + 1,
                                      history_size=50, tolerance_grad=-1, tolerance_change=-1,
                                      line_search_fn="strong_wolfe")
    else:
        optimiser = torch.optim.Adam([image], lr=settings.learning_rate)
    best, stalled = math.inf, 0
    for _ in range(steps):
        before = optimiser.step(closure)  # the loss where this step started: where the last one ended
        if settings.optimizer == "adam":
            with torch.no_grad():
                image.clamp_(0, 1)
        yield image, dict(last)
        if settings.optimizer == "lbfgs":
            if before < best:
                best, stalled = before, 0
                continue
            stalled += 1
            optimiser.state.clear()
            if stalled == 2:
                return
