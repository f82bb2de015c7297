"""Feed-forward stylisation networks.

TransformerNet is Johnson et al.'s image transformation network (2016) with instance normalisation (Ulyanov et
al.) and nearest-neighbour upsampling + convolution instead of transposed convolutions (no checkerboard). With
`num_styles > 1` every normalisation layer is conditional (Dumoulin et al. 2017): one (gamma, beta) per style, the
rest shared, and any convex mix of styles is a mix of their (gamma, beta). The channel widths, the output
activation and a normalised last layer are configurable, so networks trained elsewhere in this family (Magenta's
multi-style network, Dumoulin et al.) load into the same class.

TextureNet is Ulyanov et al.'s multi-scale texture network: noise at several resolutions (optionally joined by
the content image at each resolution) processed coarse to fine and merged by upsampling and concatenation.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .errors import SettingsError

OUTPUTS = ("tanh", "sigmoid")
UPSAMPLES = ("nearest", "bilinear")


@dataclass(frozen=True)
class TransformerConfig:
    width: int = 32  # channels after the first convolution (Johnson et al.: 32); doubled at each downsampling
    residual_blocks: int = 5
    num_styles: int = 1  # > 1: conditional instance normalisation
    channels: tuple[int, ...] | None = None  # after conv1, down1, down2, up1, up2; None: width x (1, 2, 4, 2, 1)
    output: str = "tanh"  # "tanh": (tanh(y) + 1) / 2 (Johnson et al.); "sigmoid": sigmoid(y) (Dumoulin et al.)
    output_norm: bool = False  # (conditional) instance norm after the last convolution, which then has no bias
    upsample: str = "nearest"  # how up1 and up2 double the resolution before their convolution

    def __post_init__(self):
        if self.channels is not None:
            object.__setattr__(self, "channels", tuple(self.channels))  # JSON gives a list
            if len(self.channels) != 5:
                raise SettingsError(f"channels needs 5 widths (conv1, down1, down2, up1, up2), not {self.channels}")
        if self.output not in OUTPUTS:
            raise SettingsError(f"output must be one of {', '.join(OUTPUTS)}, not {self.output!r}")
        if self.upsample not in UPSAMPLES:
            raise SettingsError(f"upsample must be one of {', '.join(UPSAMPLES)}, not {self.upsample!r}")

    @property
    def widths(self) -> tuple[int, ...]:
        """Channels after conv1, down1, down2 (= the residual blocks), up1 and up2."""
        w = self.width
        return self.channels or (w, 2 * w, 4 * w, 2 * w, w)

    def to_dict(self) -> dict:
        settings = asdict(self)
        if settings["upsample"] == "nearest":  # the original network: its config.json stays as it always was
            del settings["upsample"]
        return settings


TRANSFORMER_SIZES = {
    "paper": TransformerConfig(width=32, residual_blocks=5),
    "slim": TransformerConfig(width=16, residual_blocks=3),
    "tiny": TransformerConfig(width=16, residual_blocks=3, channels=(16, 32, 32, 16, 8)),  # 0.4x slim's FLOPs
}


class ConditionalInstanceNorm2d(nn.Module):
    """Instance normalisation with one learnt (gamma, beta) per style, mixed by the given style weights."""

    eps = 1e-5  # F.instance_norm's default, spelt out for exporters

    def __init__(self, channels: int, num_styles: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(num_styles, channels))
        self.bias = nn.Parameter(torch.zeros(num_styles, channels))

    def forward(self, x: torch.Tensor, style_weights: torch.Tensor) -> torch.Tensor:
        gamma, beta = style_weights @ self.weight, style_weights @ self.bias
        if style_weights.shape[0] == 1 or bool((style_weights == style_weights[:1]).all()):
            # one style mix for the whole batch: the norm applies it itself, without two more passes over x
            return F.instance_norm(x, weight=gamma[0], bias=beta[0], eps=self.eps)
        return F.instance_norm(x, eps=self.eps) * gamma[:, :, None, None] + beta[:, :, None, None]


class ConvNormReLU(nn.Module):
    """Reflection-padded convolution, (conditional) instance norm, optional ReLU; upsample first if asked."""

    def __init__(self, cin: int, cout: int, kernel: int, num_styles: int, *, stride: int = 1, upsample: int = 1,
                 relu: bool = True, upsample_mode: str = "nearest"):
        super().__init__()
        self.upsample, self.upsample_mode = upsample, upsample_mode
        self.pad = nn.ReflectionPad2d(kernel // 2)
        self.conv = nn.Conv2d(cin, cout, kernel, stride, bias=False)  # a bias would be removed by the norm
        self.norm = ConditionalInstanceNorm2d(cout, num_styles)
        self.relu = relu

    def forward(self, x: torch.Tensor, style_weights: torch.Tensor) -> torch.Tensor:
        if self.upsample > 1:
            if self.upsample_mode == "nearest":
                x = F.interpolate(x, scale_factor=self.upsample, mode="nearest")
            else:
                x = F.interpolate(x, scale_factor=self.upsample, mode=self.upsample_mode, align_corners=False)
        x = self.norm(self.conv(self.pad(x)), style_weights)
        return F.relu(x) if self.relu else x


class ResidualBlock(nn.Module):
    def __init__(self, channels: int, num_styles: int):
        super().__init__()
        self.conv1 = ConvNormReLU(channels, channels, 3, num_styles)
        self.conv2 = ConvNormReLU(channels, channels, 3, num_styles, relu=False)

    def forward(self, x: torch.Tensor, style_weights: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.conv1(x, style_weights), style_weights)


class TransformerNet(nn.Module):
    """Johnson et al.'s network: 9x9 conv, two stride-2 convs, residual blocks, two upsampling convs, 9x9 conv.

    Input and output are RGB in [0, 1]; height and width must be multiples of `stride` (apply() pads).
    """

    stride = 4

    def __init__(self, config: TransformerConfig = TransformerConfig()):
        super().__init__()
        self.config = config
        (c1, d1, d2, u1, u2), n = config.widths, config.num_styles
        self.conv1 = ConvNormReLU(3, c1, 9, n)
        self.down1 = ConvNormReLU(c1, d1, 3, n, stride=2)
        self.down2 = ConvNormReLU(d1, d2, 3, n, stride=2)
        self.residuals = nn.ModuleList(ResidualBlock(d2, n) for _ in range(config.residual_blocks))
        self.up1 = ConvNormReLU(d2, u1, 3, n, upsample=2, upsample_mode=config.upsample)
        self.up2 = ConvNormReLU(u1, u2, 3, n, upsample=2, upsample_mode=config.upsample)
        self.pad_out = nn.ReflectionPad2d(4)
        self.conv_out = nn.Conv2d(u2, 3, 9, bias=not config.output_norm)
        if config.output_norm:
            self.norm_out = ConditionalInstanceNorm2d(3, n)

    def style_weights(self, x: torch.Tensor, styles: torch.Tensor | list[float] | int | None) -> torch.Tensor:
        """(N, num_styles) convex weights from a style index, a weight vector or a batch of vectors."""
        n = self.config.num_styles
        if styles is None:
            if n != 1:
                raise SettingsError(f"this network holds {n} styles: say which (an index or one weight per style)")
            styles = [1.0]
        if isinstance(styles, int):
            if not 0 <= styles < n:
                raise SettingsError(f"style index {styles} is out of range: this network holds {n} styles")
            styles = F.one_hot(torch.tensor(styles), n).float()
        if isinstance(styles, torch.Tensor):
            styles = styles.detach().cpu()
        weights = torch.as_tensor(styles, dtype=torch.float64)  # checked and normalised on the CPU, in double
        if weights.dim() == 1:
            weights = weights.unsqueeze(0)
        if weights.shape[-1] != n:
            raise SettingsError(f"{weights.shape[-1]} style weights given for a network of {n} styles")
        if not torch.isfinite(weights).all() or (weights < 0).any() or (weights.amax(-1) <= 0).any():
            raise SettingsError("style weights must be finite, non-negative and not all zero")
        weights = weights / weights.amax(-1, keepdim=True)  # by the largest first: a sum of huge weights is inf
        weights = (weights / weights.sum(-1, keepdim=True)).to(x.device, x.dtype)
        return weights.expand(x.shape[0], -1) if weights.shape[0] == 1 else weights

    def forward(self, x: torch.Tensor, styles=None) -> torch.Tensor:
        s = self.style_weights(x, styles)
        y = self.down2(self.down1(self.conv1(x, s), s), s)
        for block in self.residuals:
            y = block(y, s)
        y = self.conv_out(self.pad_out(self.up2(self.up1(y, s), s)))
        if self.config.output_norm:
            y = self.norm_out(y, s)
        return torch.sigmoid(y) if self.config.output == "sigmoid" else (torch.tanh(y) + 1) / 2


@dataclass(frozen=True)
class TextureConfig:
    scales: int = 5  # noise inputs at 1, 1/2, ... 1/2^(scales-1) of the output size
    channels: int = 8  # channels per scale (Ulyanov et al.: 8), grown by `channels` at each join
    noise_channels: int = 3
    with_content: bool = True  # False: texture synthesis from noise alone

    def to_dict(self) -> dict:
        return asdict(self)


def _block(cin: int, cout: int) -> nn.Sequential:
    """Ulyanov et al.'s conv block: 3x3, 3x3, 1x1 convolutions, each with batch norm and leaky ReLU."""
    layers = []
    for i, kernel in enumerate((3, 3, 1)):
        layers += [nn.Conv2d(cin if i == 0 else cout, cout, kernel, padding=kernel // 2, padding_mode="reflect"),
                   nn.BatchNorm2d(cout), nn.LeakyReLU(0.01, inplace=True)]
    return nn.Sequential(*layers)


class TextureNet(nn.Module):
    """Ulyanov et al.'s multi-scale generator. forward(content or None, size) -> RGB in [0, 1].

    Output height and width must be multiples of `stride`. The noise comes from `generator` when given, so a
    seeded call is repeatable.
    """

    def __init__(self, config: TextureConfig = TextureConfig()):
        super().__init__()
        self.config = config
        self.stride = 2 ** (config.scales - 1)
        c, inputs = config.channels, config.noise_channels + (3 if config.with_content else 0)
        self.inputs = nn.ModuleList(_block(inputs, c) for _ in range(config.scales))
        self.joins = nn.ModuleList(_block(c * (i + 1) + c, c * (i + 2)) for i in range(config.scales - 1))
        self.out = nn.Conv2d(c * config.scales, 3, 1)

    def forward(self, content: torch.Tensor | None = None, size: tuple[int, int] | None = None, *,
                batch: int = 1, generator: torch.Generator | None = None) -> torch.Tensor:
        if self.config.with_content and content is None:
            raise SettingsError("this texture network stylises a content image: pass one")
        if content is not None:
            batch, size = content.shape[0], (content.shape[-1], content.shape[-2])
        width, height = size
        if width % self.stride or height % self.stride:
            raise SettingsError(f"{width}x{height} is not a multiple of {self.stride}; pad the input first")
        device = self.out.weight.device
        y = None
        for i in reversed(range(self.config.scales)):  # coarse to fine
            h, w = height >> i, width >> i
            x = torch.rand(batch, self.config.noise_channels, h, w, generator=generator, device="cpu").to(device)
            if content is not None:
                x = torch.cat([x, F.interpolate(content, size=(h, w), mode="area")], dim=1)
            x = self.inputs[i](x)
            if y is not None:
                y = F.interpolate(y, scale_factor=2, mode="nearest")
                x = self.joins[self.config.scales - 2 - i](torch.cat([y, x], dim=1))
            y = x
        return torch.sigmoid(self.out(y))
