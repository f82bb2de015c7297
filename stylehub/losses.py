"""Content, style and total-variation losses: the one loss module of every method.

Content and style terms are relative errors (divided by the size of their target), so they are dimensionless:
the same weights work for timm's VGG19 and for a backbone whose activations are a hundred times larger, and at
every image size. Total variation is measured on the image itself, in [0, 1].
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .backbones import FeatureExtractor
from .errors import SettingsError

EPS = 1e-8
STYLE_STATISTICS = ("gram", "w2")
CONTENT_NORMS = ("l2", "l1")


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """(N, C, C) Gram matrices of (N, C, H, W) features, averaged over positions."""
    n, c, h, w = features.shape
    flat = features.reshape(n, c, h * w)
    return flat @ flat.transpose(1, 2) / (h * w)


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


def w2_loss(features: torch.Tensor, target_mean: torch.Tensor, target_cov: torch.Tensor,
            target_cov_sqrt: torch.Tensor) -> torch.Tensor:
    """Squared Wasserstein-2 distance between Gaussians fitted to the activations, relative to the target's size.

    W2^2 = |m - m_t|^2 + tr(C) + tr(C_t) - 2 tr((C_t^1/2 C C_t^1/2)^1/2); the last trace is the sum of the square
    roots of the eigenvalues, whose gradient is stable (no eigenvector gaps involved).
    """
    mean, cov = mean_covariance(features)
    inner = target_cov_sqrt @ cov @ target_cov_sqrt
    root_trace = torch.linalg.eigvalsh(inner.double()).clamp_min(EPS).sqrt().sum(dim=-1).to(features.dtype)
    distance = ((mean - target_mean) ** 2).sum(-1) + _trace(cov) + _trace(target_cov) - 2 * root_trace
    return distance.mean() / ((target_mean ** 2).sum() + _trace(target_cov).squeeze() + EPS)


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


@dataclass
class LossWeights:
    content: float = 1.0
    style: float = 1.0
    tv: float = 0.0


class PerceptualLoss:
    """Content + style + TV loss on one backbone, with style targets fixed and content targets per call.

    content_layers and style_layers map layer names to weights; style layer weights are normalised to sum 1.
    Several style images are blended by weight: their statistics are averaged (for Gram matrices this is the
    same minimiser as a weighted sum of per-style losses).
    """

    def __init__(self, extractor: FeatureExtractor, *, content_layers: dict[str, float],
                 style_layers: dict[str, float], weights: LossWeights, style_statistic: str = "gram",
                 content_norm: str = "l2"):
        if style_statistic not in STYLE_STATISTICS:
            raise SettingsError(f"style statistic must be one of {STYLE_STATISTICS}, not {style_statistic!r}")
        if content_norm not in CONTENT_NORMS:
            raise SettingsError(f"content loss must be one of {CONTENT_NORMS}, not {content_norm!r}")
        if not style_layers or sum(style_layers.values()) <= 0:
            raise SettingsError("at least one style layer with a positive weight is needed")
        self.extractor = extractor
        self.content_layers = dict(content_layers)
        total = sum(style_layers.values())
        self.style_layers = {name: w / total for name, w in style_layers.items()}
        self.weights = weights
        self.style_statistic = style_statistic
        self.content_norm = content_norm
        self.style_targets: dict[str, tuple[torch.Tensor, ...]] = {}
        self.layers = tuple(dict.fromkeys([*self.content_layers, *self.style_layers]))

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
        features = self.extractor(image, self.layers)
        zero = image.new_zeros(())
        content = zero
        if content_targets is not None:
            content = sum((w * content_loss(features[n], content_targets[n], self.content_norm)
                           for n, w in self.content_layers.items()), zero)
        style = sum((w * self._style_term(features[n], self.style_targets[n]) for n, w in self.style_layers.items()),
                    zero)
        tv = tv_loss(image) if self.weights.tv else zero
        terms = {"content": self.weights.content * content, "style": self.weights.style * style,
                 "tv": self.weights.tv * tv}
        terms["total"] = terms["content"] + terms["style"] + terms["tv"]
        return terms

    def _style_term(self, features: torch.Tensor, target: tuple[torch.Tensor, ...]) -> torch.Tensor:
        if self.style_statistic == "gram":
            return gram_loss(features, target[0])
        return w2_loss(features, *target)


def _normalised_blend(blend: list[float] | None, count: int) -> list[float]:
    if count == 0:
        raise SettingsError("at least one style image is needed")
    blend = [1.0] * count if blend is None else [float(b) for b in blend]
    if len(blend) != count:
        raise SettingsError(f"{count} style images but {len(blend)} style weights")
    if any(b < 0 for b in blend) or sum(blend) <= 0:
        raise SettingsError("style weights must be non-negative and not all zero")
    return [b / sum(blend) for b in blend]
