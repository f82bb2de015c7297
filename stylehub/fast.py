"""Applying a trained generator to photos of any size: padding, tiling, strength and colour preservation."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from . import colour, images
from .errors import SettingsError
from .nets import TextureNet

MIN_INPUT = 16  # smaller images are padded up to this: the networks' reflection padding needs room
# The app and `stylehub apply` paint larger photos at this long side, then resize the result back. A network paints
# strokes of a fixed size in pixels, learnt from the painting at 512 px: at 1024 px they read as a fine texture
# rather than the painting's strokes (judge style 1.5-2.2x that of a 768-px working side for the shipped single
# styles), and at 768 px still finer than the painting's (a 1024-px result painted at 576 px: style 0.47-0.97x that
# of 768 px for eight of the nine shipped styles, content a little higher; bench/score_models.py). The
# arbitrary-style network paints every photo at its own side (arbitrary.WORKING_SIDE).
WORKING_SIDE = 576
MIN_WORKING_SIDE = 64


def stylize_image(net: torch.nn.Module, image: torch.Tensor, *, styles=None, strength: float = 1.0,
                  preserve_colour: bool = False, max_tile: int = 1024, overlap: int = 64,
                  seed: int = 0, working_side: int | None = None, enlarge: bool = False) -> torch.Tensor:
    """Stylise (N, 3, H, W) images in [0, 1] with a trained network; any H and W.

    strength blends with the photo (0: the photo, 1: full style); preserve_colour keeps the photo's colours
    (the stylised luminance with the photo's chroma). working_side: images larger than that (long side) are
    painted at that size and resized back (see WORKING_SIDE), and with `enlarge` smaller ones too; None paints at
    full size. Images painted larger than max_tile are processed in overlapping tiles, blended linearly across the
    overlap, so memory stays bounded.
    """
    if not 0.0 <= strength <= 1.0:
        raise SettingsError(f"strength must be between 0 and 1, not {strength}")
    if overlap * 2 >= max_tile:
        raise SettingsError("overlap must be less than half of max_tile")
    if working_side is not None and working_side < MIN_WORKING_SIDE:
        raise SettingsError(f"working side must be at least {MIN_WORKING_SIDE} px, not {working_side}")
    device = next(net.parameters()).device
    image = image.to(device)
    with torch.inference_mode():
        styled = _paint(net, image, styles, seed, max_tile, overlap, working_side, enlarge)
        if preserve_colour:
            styled = colour.combine_luminance(styled, image)
        return (strength * styled + (1 - strength) * image).clamp(0, 1)


def _paint(net, image: torch.Tensor, styles, seed: int, max_tile: int, overlap: int,
           working_side: int | None, enlarge: bool = False) -> torch.Tensor:
    height, width = image.shape[-2:]
    long_side = max(height, width)
    if working_side is not None and (long_side > working_side or enlarge and long_side < working_side):
        resized = images.resize_long_side(image, working_side, filter="fast")
        return images.resize(_paint(net, resized, styles, seed, max_tile, overlap, None), (width, height))
    if max(height, width) <= max_tile:
        return _run_padded(net, image, styles, seed)
    return _run_tiled(net, image, styles, seed, max_tile, overlap)


def _run_padded(net, image: torch.Tensor, styles, seed: int) -> torch.Tensor:
    """Pad to a multiple of the network's stride (mirroring the edge), run, crop back."""
    height, width = image.shape[-2:]
    stride = net.stride
    pad_h = max(-height % stride, _round_up(MIN_INPUT, stride) - height)
    pad_w = max(-width % stride, _round_up(MIN_INPUT, stride) - width)
    mode = "reflect" if pad_h < height and pad_w < width else "replicate"
    padded = F.pad(image, (0, pad_w, 0, pad_h), mode=mode) if pad_h or pad_w else image
    if isinstance(net, TextureNet):
        out = net(padded, generator=torch.Generator().manual_seed(seed))
    else:
        out = net(padded, styles)
    return out[..., :height, :width].float()


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def _run_tiled(net, image: torch.Tensor, styles, seed: int, tile: int, overlap: int) -> torch.Tensor:
    height, width = image.shape[-2:]
    out = torch.zeros_like(image)
    total = torch.zeros_like(image[:, :1])
    step = tile - overlap
    for top in _starts(height, tile, step):
        for left in _starts(width, tile, step):
            patch = image[..., top:top + tile, left:left + tile]
            mask = _feather(patch.shape[-2], patch.shape[-1], overlap, top > 0, left > 0,
                            top + tile < height, left + tile < width).to(image)
            out[..., top:top + tile, left:left + tile] += _run_padded(net, patch, styles, seed) * mask
            total[..., top:top + tile, left:left + tile] += mask
    return out / total


def _starts(length: int, tile: int, step: int) -> list[int]:
    starts = list(range(0, max(length - tile, 0) + 1, step))
    if starts[-1] + tile < length:
        starts.append(length - tile)
    return starts


def _feather(height: int, width: int, overlap: int, top: bool, left: bool, bottom: bool, right: bool):
    """A weight mask rising linearly from near 0 to 1 across the overlapping borders of a tile."""
    def ramp(n: int, rise: bool, fall: bool) -> torch.Tensor:
        w = torch.ones(n)
        edge = torch.linspace(0, 1, overlap + 2)[1:-1]
        if rise:
            w[:overlap] = edge
        if fall:
            w[-overlap:] = edge.flip(0)
        return w
    return (ramp(height, top, bottom)[:, None] * ramp(width, left, right)[None, :]).view(1, 1, height, width)


def stylize_every_style(net: torch.nn.Module, image: torch.Tensor, **options) -> torch.Tensor:
    """One photo in every style of a multi-style network, in one batched pass: (num_styles, 3, H, W)."""
    count = net.config.num_styles
    every = torch.eye(count)
    return stylize_image(net, image[:1].expand(count, -1, -1, -1), styles=every, **options)

