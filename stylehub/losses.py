"""Content, style and total-variation losses: the one loss module of every method.

Two ways to make the terms dimensionless, so that the same weights work for timm's VGG19 and for a backbone whose
activations are a hundred times larger, and at every image size:

- "layer": every term is a relative error, divided by the size of its own target. Simple and robust, but it
  changes the layers' relative weights: a layer whose target is small counts as much as one whose target is large.
- "network": Gatys et al.'s terms, unnormalised (MSE of activations; MSE of Gram matrices F F^T / (C H W), layers
  weighted as given), divided once by the network's feature scale (content by s, style by s^2 / PAPER_SCALE; s: the
  mean squared activation of the network's content layer on a fixed noise image). The layers keep the paper's
  relative weights, the balance of content and style does not depend on the images, and the weights mean what the
  paper's alpha and beta mean: on a Caffe-scale VGG (s = PAPER_SCALE) the objective is the paper's, divided by s.

Total variation is measured on the image itself, in [0, 1].
"""
from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass

import torch

from .backbones import FeatureExtractor
from .errors import SettingsError

EPS = 1e-8
STYLE_STATISTICS = ("gram", "w2")
CONTENT_NORMS = ("l2", "l1")
NORMALISATIONS = ("layer", "network")
PAPER_SCALE = 14.35  # feature scale s of the Caffe-trained VGGs on which Gatys et al. set alpha = 1, beta = 1e4


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """(N, C, C) Gram matrices of (N, C, H, W) features, averaged over positions."""
    n, c, h, w = features.shape
    return _Gram.apply(features.reshape(n, c, h * w)) / (h * w)


class _Gram(torch.autograd.Function):
    """flat @ flat^T with a one-product backward.

    Autograd's own backward of that product makes two (C, HW) gradients, one of them transposed, and adds them:
    measured, the add alone took 10 % of a VGG16 loss evaluation at 512 px on a CPU.
    """

    @staticmethod
    def forward(ctx, flat: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(flat)
        return flat @ flat.transpose(1, 2)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (flat,) = ctx.saved_tensors
        return (grad + grad.transpose(1, 2)).to(flat.dtype) @ flat  # grad is bfloat16 under autocast


def mean_covariance(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image channel means (N, C) and covariance matrices (N, C, C) over positions."""
    n, c, h, w = features.shape
    flat = features.reshape(n, c, h * w)
    mean = flat.mean(dim=2)
    centred = flat - mean.unsqueeze(2)
    return mean, centred @ centred.transpose(1, 2) / (h * w)


def content_loss(features: torch.Tensor, target: torch.Tensor, norm: str = "l2") -> torch.Tensor:
    """Relative L2 (Gatys) or L1 distance between activations, per image, averaged over the batch.

    Per image, so that an image's loss does not depend on which other images share its batch.
    """
    dims = tuple(range(1, features.dim()))
    if norm == "l2":
        return (((features - target) ** 2).mean(dims) / ((target ** 2).mean(dims) + EPS)).mean()
    return ((features - target).abs().mean(dims) / (target.abs().mean(dims) + EPS)).mean()


def gram_loss(features: torch.Tensor, target_gram: torch.Tensor) -> torch.Tensor:
    """Relative squared Frobenius error of the Gram matrix (Gatys et al.)."""
    gram = gram_matrix(features)
    return ((gram - target_gram) ** 2).sum(dim=(1, 2)).mean() / ((target_gram ** 2).sum() + EPS)


def paper_content_loss(features: torch.Tensor, target: torch.Tensor, norm: str = "l2") -> torch.Tensor:
    """Gatys et al.'s content term, unnormalised: mean squared (or absolute) difference of activations."""
    return ((features - target) ** 2).mean() if norm == "l2" else (features - target).abs().mean()


def paper_gram_loss(features: torch.Tensor, target_gram: torch.Tensor) -> torch.Tensor:
    """Gatys et al.'s style term, unnormalised: MSE between Gram matrices F F^T / (C H W).

    target_gram is gram_matrix()'s (divided by H W only), so both are divided by C here: MSE over C^2 entries.
    """
    channels = features.shape[1]
    return ((gram_matrix(features) - target_gram) ** 2).mean(dim=(1, 2)).mean() / channels ** 2


def pink_noise(size: int = 256, seed: int = 0) -> torch.Tensor:
    """A fixed (1, 3, size, size) image of 1/f noise (the spectrum of natural photographs), mean 0.5, std 0.2."""
    generator = torch.Generator().manual_seed(seed)
    spectrum = torch.fft.rfft2(torch.randn(1, 3, size, size, generator=generator))
    frequency = (torch.fft.fftfreq(size).view(-1, 1) ** 2 + torch.fft.rfftfreq(size).view(1, -1) ** 2).sqrt()
    noise = torch.fft.irfft2(spectrum / frequency.clamp_min(1 / size), s=(size, size))
    return ((noise - noise.mean(dim=(2, 3), keepdim=True)) / noise.std() * 0.2 + 0.5).clamp(0, 1)


@torch.no_grad()
def feature_scale(extractor: FeatureExtractor, layer: str) -> float:
    """The network's feature scale: mean squared activation of `layer` on pink_noise(). One number per network."""
    image = pink_noise().to(extractor.mean.device)
    return max((extractor(image, [layer])[layer].float() ** 2).mean().item(), EPS)


def w2_loss(features: torch.Tensor, target_mean: torch.Tensor, target_cov: torch.Tensor,
            target_cov_sqrt: torch.Tensor) -> torch.Tensor:
    """Squared Wasserstein-2 distance between Gaussians fitted to the activations, relative to the target's size.

    W2^2 = |m - m_t|^2 + tr(C) + tr(C_t) - 2 tr((C_t^1/2 C C_t^1/2)^1/2); the last trace is the sum of the square
    roots of the eigenvalues, whose gradient is stable (no eigenvector gaps involved).
    """
    distance = w2_distance(features, target_mean, target_cov, target_cov_sqrt)
    return distance / ((target_mean ** 2).sum() + _trace(target_cov).squeeze() + EPS)


def w2_distance(features: torch.Tensor, target_mean: torch.Tensor, target_cov: torch.Tensor,
                target_cov_sqrt: torch.Tensor) -> torch.Tensor:
    """Squared Wasserstein-2 distance between Gaussians fitted to the activations and the target, batch mean."""
    mean, cov = mean_covariance(features)
    inner = target_cov_sqrt @ cov @ target_cov_sqrt
    root_trace = torch.linalg.eigvalsh(inner.double()).clamp_min(EPS).sqrt().sum(dim=-1).to(features.dtype)
    return (((mean - target_mean) ** 2).sum(-1) + _trace(cov) + _trace(target_cov) - 2 * root_trace).mean()


def _trace(matrix: torch.Tensor) -> torch.Tensor:
    return matrix.diagonal(dim1=-2, dim2=-1).sum(-1)


def sqrtm_psd(matrix: torch.Tensor) -> torch.Tensor:
    """Square root of symmetric positive semi-definite matrices (batched), in float64."""
    values, vectors = torch.linalg.eigh(matrix.double())
    return (vectors * values.clamp_min(0).sqrt().unsqueeze(-2)) @ vectors.transpose(-1, -2)


def tv_loss(image: torch.Tensor) -> torch.Tensor:
    """Mean squared difference between neighbouring pixels (total variation, squared form)."""
    dx = image[..., :, 1:] - image[..., :, :-1]
    dy = image[..., 1:, :] - image[..., :-1, :]
    return (dx ** 2).mean() + (dy ** 2).mean()


def fine_detail(image: torch.Tensor, kernel: int = 5) -> torch.Tensor:
    """The image minus its local mean (a kernel x kernel box, edges mirrored): its fine detail."""
    padded = torch.nn.functional.pad(image, (kernel // 2,) * 4, mode="reflect")
    return image - torch.nn.functional.avg_pool2d(padded, kernel, 1)


GRID_PERIOD = 8  # px; a pattern repeating every 2 or 4 px repeats every 8 px too


def with_grid_term(terms: dict, output: torch.Tensor, weight: float) -> dict:
    """The loss terms plus one against a pattern locked to a transformer network's own pixel grid ('grid').

    A transformer network (stride 4) can paint the same small pattern on every photo, every 2, 4 or 8 px: no loss
    on one crop sees it as anything but texture. The term is the variance of the fine detail's mean at each of the
    8 x 8 pixel phases, relative to the fine detail's variance, per image (a pattern repeating every 2, 4 or 8 px
    has phase means that differ; a photo's do not). Networks trained against the 4 x 4 phases alone kept an 8-px
    pattern.
    """
    detail = fine_detail(output)
    energy = detail.pow(2).mean(dim=(1, 2, 3)).detach() + EPS
    p = GRID_PERIOD
    n, c, h, w = detail.shape
    detail = detail[..., :h // p * p, :w // p * p]
    phases = detail.reshape(n, c, h // p, p, w // p, p).mean(dim=(2, 4))  # (n, c, p, p)
    grid = weight * (phases.var(dim=(2, 3), unbiased=False).mean(1) / energy).mean()
    return {**terms, "grid": grid, "total": terms["total"] + grid}


@dataclass
class LossWeights:
    content: float = 1.0
    style: float = 1.0
    tv: float = 0.0


class PerceptualLoss:
    """Content + style + TV loss on one backbone, with style targets fixed and content targets per call.

    content_layers and style_layers map layer names to weights; style layer weights are normalised to sum 1.
    Several style images are blended by weight: their statistics are averaged (for Gram matrices this is the
    same minimiser as a weighted sum of per-style losses). normalisation: "layer" or "network" (module docstring);
    scale_layer: the layer whose scale on a fixed image sets the network's scale ("network" only). backbone_dtype:
    run the backbone in this dtype under autocast on each call (the targets and the terms stay float32).
    """

    def __init__(self, extractor: FeatureExtractor, *, content_layers: dict[str, float],
                 style_layers: dict[str, float], weights: LossWeights, style_statistic: str = "gram",
                 content_norm: str = "l2", normalisation: str = "layer", scale_layer: str = "relu4_2",
                 backbone_dtype: torch.dtype | None = None):
        if style_statistic not in STYLE_STATISTICS:
            raise SettingsError(f"style statistic must be one of {STYLE_STATISTICS}, not {style_statistic!r}")
        if content_norm not in CONTENT_NORMS:
            raise SettingsError(f"content loss must be one of {CONTENT_NORMS}, not {content_norm!r}")
        if normalisation not in NORMALISATIONS:
            raise SettingsError(f"normalisation must be one of {NORMALISATIONS}, not {normalisation!r}")
        if not style_layers or sum(style_layers.values()) <= 0:
            raise SettingsError("at least one style layer with a positive weight is needed")
        self.extractor = extractor
        self.content_layers = dict(content_layers)
        total = sum(style_layers.values())
        self.style_layers = {name: w / total for name, w in style_layers.items()}
        self.weights = weights
        self.style_statistic = style_statistic
        self.content_norm = content_norm
        self.normalisation = normalisation
        self.scale = feature_scale(extractor, scale_layer) if normalisation == "network" else 1.0
        self.style_targets: dict[str, tuple[torch.Tensor, ...]] = {}
        self.layers = tuple(dict.fromkeys([*self.content_layers, *self.style_layers]))
        self.backbone_dtype = backbone_dtype

    @torch.no_grad()
    def set_styles(self, images: list[torch.Tensor], blend: list[float] | None = None) -> None:
        """Compute the style targets from one or more style images, blended by `blend` (normalised)."""
        blend = _normalised_blend(blend, len(images))
        targets: dict[str, list[torch.Tensor]] = {}
        for image, weight in zip(images, blend):
            features = self.extractor(image, self.style_layers)
            for name, f in features.items():
                stats = (gram_matrix(f),) if self.style_statistic == "gram" else mean_covariance(f)
                summed = targets.setdefault(name, [torch.zeros_like(s[0]) for s in stats])
                for total, s in zip(summed, stats):
                    total += weight * s.mean(0)
        self.style_targets = {
            name: (stats[0],) if self.style_statistic == "gram" else (stats[0], stats[1], sqrtm_psd(stats[1]).float())
            for name, stats in targets.items()
        }

    @torch.no_grad()
    def content_targets(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.extractor(image, self.content_layers)

    def __call__(self, image: torch.Tensor, content_targets: dict[str, torch.Tensor] | None) -> dict[str, torch.Tensor]:
        """The weighted terms and their sum ('total'); content is skipped when content_targets is None."""
        if not self.style_targets:
            raise RuntimeError("set_styles() must be called before the loss is evaluated")
        # (no autocast context at all without a dtype: a disabled one would switch off a caller's autocast)
        lowered = torch.autocast(image.device.type, dtype=self.backbone_dtype) if self.backbone_dtype else nullcontext()
        with lowered:
            features = self.extractor(image, self.layers)
        features = {name: f.float() for name, f in features.items()}
        zero = image.new_zeros(())
        content = zero
        if content_targets is not None:
            content = sum((w * self._content_term(features[n], content_targets[n])
                           for n, w in self.content_layers.items()), zero)
        style = sum((w * self._style_term(features[n], self.style_targets[n]) for n, w in self.style_layers.items()),
                    zero)
        tv = tv_loss(image) if self.weights.tv else zero
        terms = {"content": self.weights.content * content, "style": self.weights.style * style,
                 "tv": self.weights.tv * tv}
        terms["total"] = terms["content"] + terms["style"] + terms["tv"]
        return terms

    def _content_term(self, features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.normalisation == "layer":
            return content_loss(features, target, self.content_norm)
        scale = self.scale if self.content_norm == "l2" else self.scale ** 0.5
        return paper_content_loss(features, target, self.content_norm) / scale

    def _style_term(self, features: torch.Tensor, target: tuple[torch.Tensor, ...]) -> torch.Tensor:
        if self.normalisation == "layer":
            return gram_loss(features, target[0]) if self.style_statistic == "gram" else w2_loss(features, *target)
        if self.style_statistic == "gram":
            return paper_gram_loss(features, target[0]) * PAPER_SCALE / self.scale ** 2
        return w2_distance(features, *target) / self.scale


def _normalised_blend(blend: list[float] | None, count: int) -> list[float]:
    if count == 0:
        raise SettingsError("at least one style image is needed")
    blend = [1.0] * count if blend is None else [float(b) for b in blend]
    if len(blend) != count:
        raise SettingsError(f"{count} style images but {len(blend)} style weights")
    if any(b < 0 for b in blend) or sum(blend) <= 0:
        raise SettingsError("style weights must be non-negative and not all zero")
    return [b / sum(blend) for b in blend]
