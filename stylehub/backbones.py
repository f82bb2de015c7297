"""Frozen CNN feature extractors loaded through timm, with the papers' layer names.

BACKBONES is the one table: for each architecture the timm model, the name of every layer it exposes, and the
default content and style layers. Weights come from the Hugging Face Hub through timm by default, from a local
safetensors file (`weights=PATH` or the STYLEHUB_WEIGHTS environment variable) offline, or are random for tests.
"""
from __future__ import annotations

import copy
import functools
import os
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn

from .errors import SettingsError, WeightsUnavailableError

WEIGHTS_ENV = "STYLEHUB_WEIGHTS"
RANDOM = "random"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _vgg_layer_names(convs_per_block: tuple[int, ...]) -> tuple[str, ...]:
    names = []
    for block, convs in enumerate(convs_per_block, start=1):
        for i in range(1, convs + 1):
            names += [f"conv{block}_{i}", f"relu{block}_{i}"]
        names.append(f"pool{block}")
    return tuple(names)


def _resnet_layer_names(blocks_per_stage: tuple[int, ...]) -> tuple[str, ...]:
    """He et al.'s names: conv1/relu1/pool1 for the stem, then res2a, res2b, ... one per bottleneck block."""
    blocks = [f"res{stage}{chr(ord('a') + i)}" for stage, n in enumerate(blocks_per_stage, 2) for i in range(n)]
    return ("conv1", "bn1", "relu1", "pool1", *blocks)


@dataclass(frozen=True)
class BackboneSpec:
    timm_name: str
    layer_names: tuple[str, ...]
    content_layers: tuple[str, ...]
    style_layers: tuple[str, ...]


_VGG_STYLE = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")

BACKBONES: dict[str, BackboneSpec] = {
    "vgg19": BackboneSpec("vgg19.tv_in1k", _vgg_layer_names((2, 2, 4, 4, 4)), ("relu4_2",), _VGG_STYLE),
    "vgg16": BackboneSpec("vgg16.tv_in1k", _vgg_layer_names((2, 2, 3, 3, 3)), ("relu4_2",), _VGG_STYLE),
    "vgg13": BackboneSpec("vgg13.tv_in1k", _vgg_layer_names((2, 2, 2, 2, 2)), ("relu4_2",), _VGG_STYLE),
    "vgg11": BackboneSpec("vgg11.tv_in1k", _vgg_layer_names((1, 1, 2, 2, 2)), ("relu4_2",), _VGG_STYLE),
    # ResNet50: one content layer in the middle of stage 4 and eight style layers spread from the stem to stage 5,
    # the first and last block of each stage, so that both fine texture and larger motifs are matched.
    "resnet50": BackboneSpec(
        "resnet50.tv_in1k", _resnet_layer_names((3, 4, 6, 3)), ("res4c",),
        ("relu1", "res2a", "res2c", "res3a", "res3d", "res4a", "res4f", "res5a"),
    ),
}
DEFAULT_BACKBONE = "vgg19"
POOLINGS = ("avg", "max")  # Gatys et al.'s average pooling, or the network as trained


def backbone_spec(name: str) -> BackboneSpec:
    try:
        return BACKBONES[name]
    except KeyError:
        raise SettingsError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}") from None


class FeatureExtractor(nn.Module):
    """Runs an image through the named layers in order and returns the activations asked for.

    Input: RGB in [0, 1]; ImageNet normalisation happens inside. Parameters are frozen and the module stays
    in eval mode.
    """

    def __init__(self, name: str, layers: list[tuple[str, nn.Module]]):
        super().__init__()
        self.name = name
        self.layers = nn.ModuleDict(layers)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True):  # frozen: always eval
        return super().train(False)

    @property
    def layer_names(self) -> tuple[str, ...]:
        return tuple(self.layers.keys())

    def forward(self, image: torch.Tensor, names) -> dict[str, torch.Tensor]:
        wanted = set(names)
        unknown = wanted - set(self.layers.keys())
        if unknown:
            raise SettingsError(
                f"{self.name} has no layer {', '.join(sorted(unknown))}; its layers are {', '.join(self.layer_names)}"
            )
        x = (image - self.mean) / self.std
        features = {}
        for name, layer in self.layers.items():
            x = layer(x)
            if name in wanted:
                features[name] = x
                if len(features) == len(wanted):
                    break
        return features


def load_backbone(name: str = DEFAULT_BACKBONE, *, weights: str | os.PathLike | None = None, pooling: str = "avg",
                  device: str | torch.device = "cpu") -> FeatureExtractor:
    """A frozen feature extractor for `name` (see BACKBONES).

    weights: None (STYLEHUB_WEIGHTS if set, else timm's pretrained weights from the Hub), a local .safetensors
    path, or "random" (for tests). pooling: "avg" (Gatys et al.) or "max" (the network as trained).
    Extractors are cached; callers that modify one (normalise_weights) get a copy.
    """
    if pooling not in POOLINGS:
        raise SettingsError(f"pooling must be 'avg' or 'max', not {pooling!r}")
    backbone_spec(name)
    return _cached_backbone(name, _weights_source(weights), pooling, str(device))


def _weights_source(weights) -> str | None:
    """"random", an absolute file path, or None for the Hub."""
    source = weights if weights is not None else os.environ.get(WEIGHTS_ENV) or None
    if source is None or source == RANDOM:
        return source
    return str(Path(source).expanduser().resolve())


def weights_problem(name: str, weights: str | os.PathLike | None = None) -> str | None:
    """Why pretrained weights for `name` cannot be had right now, or None. Cheap: nothing is downloaded."""
    backbone_spec(name)
    source = _weights_source(weights)
    try:
        if source is None:
            _check_hub_reachable(name)
        elif source != RANDOM:
            _check_weights_file(name, Path(source))
    except WeightsUnavailableError as err:
        return str(err)
    return None


@functools.lru_cache(maxsize=4)
def _cached_backbone(name: str, source: str | None, pooling: str, device: str) -> FeatureExtractor:
    model = _create_timm_model(name, source)
    extractor = FeatureExtractor(name, _named_layers(name, model, pooling))
    return extractor.to(device)


def _create_timm_model(name: str, source: str | None) -> nn.Module:
    import timm

    spec = BACKBONES[name]
    if source == RANDOM:
        with torch.random.fork_rng(devices=[]):  # the same random network in every process and every run
            torch.manual_seed(0)
            return timm.create_model(spec.timm_name, pretrained=False)
    if source is not None:
        _check_weights_file(name, Path(source))
        return timm.create_model(spec.timm_name, pretrained=True, pretrained_strict=False,
                                 pretrained_cfg_overlay=dict(file=source))
    _check_hub_reachable(name)
    try:
        return timm.create_model(spec.timm_name, pretrained=True)
    except Exception as err:  # timm and huggingface_hub raise many types here; all mean "no weights"
        raise WeightsUnavailableError(_no_weights_message(name, f"the download failed ({type(err).__name__})")) from err


def _no_weights_message(name: str, reason: str) -> str:
    return (
        f"no pretrained weights for {name}: {reason}. Connect to the internet so timm can download "
        f"{BACKBONES[name].timm_name} from the Hugging Face Hub, or supply a local safetensors file with "
        f"--weights PATH or {WEIGHTS_ENV}=PATH"
    )


def _check_hub_reachable(name: str, timeout: float = 3.0) -> None:
    """Fail within seconds when the Hub cannot be reached and the weights are not cached yet."""
    from huggingface_hub import constants, try_to_load_from_cache

    repo = f"timm/{BACKBONES[name].timm_name}"
    cached = any(isinstance(try_to_load_from_cache(repo, f), str) for f in ("model.safetensors", "config.json"))
    if cached:
        return
    if constants.HF_HUB_OFFLINE:
        raise WeightsUnavailableError(_no_weights_message(name, "HF_HUB_OFFLINE is set and they are not cached"))
    if not hub_reachable(timeout):
        raise WeightsUnavailableError(_no_weights_message(name, "the Hugging Face Hub cannot be reached"))


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether a TCP connection to the Hub endpoint opens within `timeout` seconds (DNS included)."""
    from huggingface_hub import constants

    url = urlparse(constants.ENDPOINT)
    port = url.port or (443 if url.scheme == "https" else 80)
    result = []

    def connect():
        try:
            socket.create_connection((url.hostname, port), timeout=timeout).close()
            result.append(True)
        except OSError:
            pass

    thread = threading.Thread(target=connect, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(result)


def _check_weights_file(name: str, path: Path) -> None:
    """Refuse anything but a safetensors file that holds the layers this backbone needs."""
    from safetensors import SafetensorError, safe_open

    if not path.is_file():
        raise WeightsUnavailableError(f"weights file {path} does not exist")
    if path.suffix != ".safetensors":
        raise WeightsUnavailableError(f"weights file {path}: only .safetensors files are loaded (never pickles)")
    try:
        with safe_open(str(path), framework="pt") as f:
            keys = set(f.keys())
    except (SafetensorError, OSError, ValueError) as err:
        raise WeightsUnavailableError(f"weights file {path} is not a readable safetensors file ({err})") from None
    import timm

    expected = {k for k in timm.create_model(BACKBONES[name].timm_name, pretrained=False).state_dict()
                if k.startswith(("features.", "conv1.", "bn1.", "layer"))}
    missing = expected - keys
    if missing:
        raise WeightsUnavailableError(
            f"weights file {path} does not hold {name}'s layers ({len(missing)} tensors missing, e.g. "
            f"{sorted(missing)[0]}); is it for another backbone?"
        )


def _named_layers(name: str, model: nn.Module, pooling: str) -> list[tuple[str, nn.Module]]:
    for module in model.modules():
        if isinstance(module, nn.ReLU):
            module.inplace = False  # keep conv outputs intact when a pre-ReLU layer is asked for
    if name.startswith("vgg"):
        modules = list(model.features)
    else:
        modules = [model.conv1, model.bn1, model.act1, model.maxpool]
        modules += [block for stage in (model.layer1, model.layer2, model.layer3, model.layer4) for block in stage]
    if pooling == "avg":
        modules = [_average_pool(m) if isinstance(m, nn.MaxPool2d) else m for m in modules]
    names = BACKBONES[name].layer_names
    assert len(names) == len(modules), f"layer table of {name} does not match timm's model"
    return list(zip(names, modules))


def _average_pool(pool: nn.MaxPool2d) -> nn.AvgPool2d:
    return nn.AvgPool2d(pool.kernel_size, pool.stride, pool.padding, ceil_mode=pool.ceil_mode,
                        count_include_pad=False)


@torch.no_grad()
def normalize_weights(extractor: FeatureExtractor, images: list[torch.Tensor]) -> FeatureExtractor:
    """Gatys et al.'s normalisation: a copy whose every conv filter has mean activation 1 over `images`.

    Each filter (and bias) is divided by its mean post-ReLU activation over the images and positions, and the
    next conv's input weights are multiplied back, so every layer computes the original features divided by a
    per-channel constant (ReLU and pooling are positively homogeneous). Plain conv/ReLU networks (VGG) only.
    """
    if not extractor.name.startswith("vgg"):
        raise SettingsError("weight normalisation is defined for the VGG backbones only")
    extractor = copy.deepcopy(extractor)
    layers = list(extractor.layers.values())
    last_conv = max(i for i, layer in enumerate(layers) if isinstance(layer, nn.Conv2d))
    activations = [(img - extractor.mean) / extractor.std for img in images]
    input_scale = None  # how much smaller than the original the current activations are, per channel
    for layer in layers[:last_conv + 1]:
        if isinstance(layer, nn.Conv2d):
            if input_scale is not None:
                layer.weight.mul_(input_scale.view(1, -1, 1, 1))
            outputs = [torch.relu(layer(x)) for x in activations]
            total = sum(x.sum(dim=(0, 2, 3)) for x in outputs)
            mean = total / sum(x.shape[0] * x.shape[2] * x.shape[3] for x in outputs)
            alive = mean > 1e-6 * mean.max()
            input_scale = torch.where(alive, mean, torch.ones_like(mean))  # (nearly) dead filters stay as they are
            layer.weight.div_(input_scale.view(-1, 1, 1, 1))
            layer.bias.div_(input_scale)
        activations = [layer(x) for x in activations]
    return extractor


PRECISIONS = ("auto", "float32", "bfloat16")


def pick_precision(precision: str, device: torch.device) -> torch.dtype | None:
    """The dtype to run the backbone in under autocast (None: float32 throughout).

    'auto' takes bfloat16 where the hardware computes it natively: CUDA GPUs that support it, and CPUs with AMX
    tiles or AVX-512 BF16 instructions. A VGG16 loss evaluation at 512 px, one thread, went from 1.68 s to 1.12 s
    on an AMX CPU and from 2.75 s to 1.55 s on an AVX-512 BF16 one; elsewhere the arithmetic would be emulated.
    """
    if precision == "float32":
        return None
    if precision == "bfloat16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    if device.type == "cpu":
        return torch.bfloat16 if _cpu_computes_bfloat16() else None
    return None


def _cpu_computes_bfloat16() -> bool:
    """Whether this CPU has AMX tiles or AVX-512 BF16 (torch's own checks, not public API)."""
    checks = (getattr(torch.cpu, name, None) for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"))
    return any(check is not None and check() for check in checks)


def pick_device(device: str = "auto") -> torch.device:
    """'auto' picks CUDA, then Apple's MPS, then the CPU."""
    if device != "auto":
        try:
            chosen = torch.device(device)
        except RuntimeError:
            raise SettingsError(f"unknown device {device!r}; use auto, cpu, cuda, cuda:N or mps") from None
        if chosen.type == "cuda" and not torch.cuda.is_available():
            raise SettingsError(f"device {device!r} asked for, but CUDA is not available here; use cpu or auto")
        return chosen
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")
