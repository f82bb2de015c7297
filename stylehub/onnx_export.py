"""ONNX export of StyleHub's networks: transformer networks, and the arbitrary-style transfer network.

A transformer network's graph is written with the onnx package, layer by layer from the PyTorch modules, each node
named after its layer. (torch.onnx's TorchScript exporter is deprecated, and its torch.export one takes 15-25 s for
these small networks on a 2-core CPU and needs onnxscript; this writer takes milliseconds, and needs only onnx.)
Every exported model takes any image size: it pads to a multiple of the network's stride, mirroring the edge as
`fast.stylize_image` does, and crops. `Model.load` keeps each export in a cache (see stylehub/model.py), so a model
is exported on its first load only.

The arbitrary-style networks (stylehub/arbitrary_nets.py), with their int8 rounding on, round every intermediate
result to an int8 grid, as the originals do: some 180 QuantizeLinear/DequantizeLinear pairs that torch.onnx's
TorchScript exporter writes from the modules in under a second, so those are traced instead. The transfer network
is `export_onnx`'s file; the style predictor (painting -> style vector) is a file of its own, `export_predictor_onnx`
(onnxruntime runs it in 0.4x PyTorch's time at 512 px on a 2-core CPU).
"""
from __future__ import annotations

import io
import json
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import __version__, checkpoints
from .arbitrary_nets import ArbitraryStyleNet, TransferNet
from .files import write_atomically
from .nets import ConditionalInstanceNorm2d, ConvNormReLU, TransformerNet
from .onnx_runtime import OnnxError, onnx_package

OPSET = 17
EXPORTABLE = (TransformerNet, ArbitraryStyleNet)  # the networks that export (and onnxruntime runs)


def export_onnx(model, path) -> Path:
    """Write a transformer or arbitrary-style network (a model folder or the network) to an ONNX file; returns the
    path.

    Inputs: `image`, float32 (batch, 3, height, width), RGB in [0, 1], any height and width of 16 or more; for a
    network of several styles also `style_weights`, float32 (batch or 1, num_styles), non-negative, not all zero
    (normalised to sum 1 in the graph); for an arbitrary-style network `style_vector`, float32 (batch or 1,
    style_dim), a painting's style vector (stylehub/arbitrary.py). Output: `stylized`, float32, the shape of
    `image`, in [0, 1].
    """
    onnx = onnx_package("onnx")
    if isinstance(model, EXPORTABLE):
        net, names = model, []
    else:
        net, config = checkpoints.load_model(model)
        if not isinstance(net, EXPORTABLE):
            raise OnnxError(f"{model}: only transformer and arbitrary-style networks export to ONNX (a texture "
                            f"network draws noise)")
        names = [s.get("name") for s in config.get("styles", [])]
    if isinstance(net, ArbitraryStyleNet):
        proto = _traced_transfer(net.transfer)
    else:
        proto = onnx.helper.make_model(_GraphWriter(net).graph(), opset_imports=[onnx.helper.make_opsetid("", OPSET)])
    onnx.helper.set_model_props(proto, {"styles": json.dumps(names)})
    return _save(proto, path)


def export_predictor_onnx(net: ArbitraryStyleNet, path) -> Path:
    """Write an arbitrary-style network's style predictor to an ONNX file; returns the path.

    Input: `painting`, float32 (batch, 3, height, width), RGB in [0, 1], any size from 32 px. Output:
    `style_vector`, float32 (batch, style_dim), the input `style_vector` of the network's `export_onnx` file.
    """
    painting = torch.rand(1, 3, 61, 64)  # odd and even sides: the "SAME" paddings are traced as arithmetic
    return _save(_traced(net.predictor, (painting,), {"painting": {0: "batch", 2: "height", 3: "width"},
                                                      "style_vector": {0: "batch"}}), path)


def _save(proto, path) -> Path:
    onnx = onnx_package("onnx")
    proto.producer_name, proto.producer_version = "stylehub", __version__
    onnx.checker.check_model(proto, full_check=True)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_atomically(path, lambda tmp: onnx.save(proto, tmp))


class _PaddedTransfer(torch.nn.Module):
    """The transfer network on any image size: padded to a multiple of its stride (mirroring the edge), cropped."""

    def __init__(self, transfer: TransferNet):
        super().__init__()
        self.transfer = transfer

    def forward(self, image: torch.Tensor, style_vector: torch.Tensor) -> torch.Tensor:
        height, width = image.shape[-2:]
        stride = self.transfer.stride
        padded = F.pad(image, (0, (-width) % stride, 0, (-height) % stride), mode="reflect")
        return self.transfer(padded, style_vector)[..., :height, :width]


def _traced_transfer(transfer: TransferNet):
    example = (torch.rand(1, 3, 30, 41), torch.rand(1, transfer.style_dim))
    return _traced(_PaddedTransfer(transfer), example, {"image": {0: "batch", 2: "height", 3: "width"},
                                                        "style_vector": {0: "style_batch"},
                                                        "stylized": {0: "batch", 2: "height", 3: "width"}})


def _traced(module: torch.nn.Module, example: tuple, axes: dict):
    """The module traced by torch.onnx's TorchScript exporter; `axes`: the inputs', then the output's, names and
    dynamic axes."""
    onnx = onnx_package("onnx")
    names = list(axes)
    buffer = io.BytesIO()
    with warnings.catch_warnings():  # the exporter's deprecation notice and its tracer's notes on shapes
        warnings.simplefilter("ignore")
        torch.onnx.export(module.cpu().eval(), example, buffer, dynamo=False, opset_version=OPSET,
                          input_names=names[:-1], output_names=names[-1:], dynamic_axes=axes)
    return onnx.load_from_string(buffer.getvalue())


class _GraphWriter:
    """The ONNX graph of a TransformerNet, written from its modules; every node is named after its layer."""

    def __init__(self, net: TransformerNet):
        self.net, self.nodes, self.initializers = net, [], []
        self.onnx = onnx_package("onnx")
        self.mix = None  # the normalised style weights, for a network of several styles

    def graph(self):
        net, helper, FLOAT = self.net, self.onnx.helper, self.onnx.TensorProto.FLOAT
        inputs = [helper.make_tensor_value_info("image", FLOAT, ["batch", 3, "height", "width"])]
        if net.config.num_styles > 1:
            inputs.append(helper.make_tensor_value_info("style_weights", FLOAT, ["style_batch", net.config.num_styles]))
            total = self.op("ReduceSum", "style_weights", self.const("style/axes", [-1]), name="style/sum", keepdims=1)
            self.mix = self.op("Div", "style_weights", total, name="style/mix")
        size = self.op("Slice", self.op("Shape", "image", name="size/shape"), self.const("size/from", [2]),
                       self.const("size/to", [4]), name="size")
        extra = self.op("Mod", self.op("Neg", size, name="size/neg"), self.const("stride", [net.stride] * 2),
                        name="pad/extra")  # (-size) mod stride, the padding to the next multiple
        pads = self.op("Concat", self.const("pad/zeros", [0] * 6), extra, name="pad/pads", axis=0)
        y = self.op("Pad", "image", pads, name="pad", mode="reflect")
        y = self.layer(self.layer(self.layer(y, net.conv1, "conv1"), net.down1, "down1"), net.down2, "down2")
        for i, block in enumerate(net.residuals):
            inner = self.layer(self.layer(y, block.conv1, f"residuals.{i}.conv1"), block.conv2, f"residuals.{i}.conv2")
            y = self.op("Add", y, inner, name=f"residuals.{i}")
        y = self.layer(self.layer(y, net.up1, "up1"), net.up2, "up2")
        y = self.conv(self.pad(y, net.pad_out.padding, "pad_out"), net.conv_out, "conv_out")
        if net.config.output_norm:
            y = self.norm(y, net.norm_out, "norm_out")
        if net.config.output == "sigmoid":
            y = self.op("Sigmoid", y, name="output")
        else:  # (tanh + 1) / 2
            y = self.op("Mul", self.op("Add", self.op("Tanh", y, name="output/tanh"), self.const("output/one", 1.0),
                                       name="output/shift"), self.const("output/half", 0.5), name="output")
        self.op("Slice", y, self.const("crop/from", [0, 0]), size, self.const("crop/axes", [2, 3]), name="stylized")
        output = helper.make_tensor_value_info("stylized", FLOAT, ["batch", 3, "height", "width"])
        return helper.make_graph(self.nodes, "stylehub_transformer", inputs, [output], self.initializers)

    def layer(self, x: str, module: ConvNormReLU, name: str) -> str:
        if module.upsample > 1:
            u = float(module.upsample)
            scales = self.const(f"{name}/scales", [1.0, 1.0, u, u])
            if module.upsample_mode == "nearest":
                x = self.op("Resize", x, "", scales, name=f"{name}/upsample", mode="nearest",
                            coordinate_transformation_mode="asymmetric", nearest_mode="floor")
            else:  # PyTorch's bilinear with align_corners=False is ONNX's linear with half_pixel coordinates
                x = self.op("Resize", x, "", scales, name=f"{name}/upsample", mode="linear",
                            coordinate_transformation_mode="half_pixel")
        x = self.norm(self.conv(self.pad(x, module.pad.padding, f"{name}/pad"), module.conv, f"{name}/conv"),
                      module.norm, f"{name}/norm")
        return self.op("Relu", x, name=f"{name}/relu") if module.relu else x

    def pad(self, x: str, padding: tuple[int, int, int, int], name: str) -> str:
        left, right, top, bottom = padding
        return self.op("Pad", x, self.const(f"{name}/pads", [0, 0, top, left, 0, 0, bottom, right]), name=name,
                       mode="reflect")

    def conv(self, x: str, conv: torch.nn.Conv2d, name: str) -> str:
        inputs = [x, self.const(f"{name}.weight", conv.weight)]
        if conv.bias is not None:
            inputs.append(self.const(f"{name}.bias", conv.bias))
        return self.op("Conv", *inputs, name=name, strides=list(conv.stride))

    def norm(self, x: str, norm: ConditionalInstanceNorm2d, name: str) -> str:
        if self.mix is None:  # one style: a plain instance norm with that style's (gamma, beta)
            return self.op("InstanceNormalization", x, self.const(f"{name}.weight", norm.weight[0]),
                           self.const(f"{name}.bias", norm.bias[0]), name=name, epsilon=norm.eps)
        channels = norm.weight.shape[1]
        x = self.op("InstanceNormalization", x, self.const(f"{name}/ones", np.ones(channels, np.float32)),
                    self.const(f"{name}/zeros", np.zeros(channels, np.float32)), name=f"{name}/normalise",
                    epsilon=norm.eps)
        axes = self.const(f"{name}/axes", [2, 3])
        gamma, beta = (self.op("Unsqueeze", self.op("MatMul", self.mix, self.const(f"{name}.{p}", getattr(norm, p)),
                                                    name=f"{name}/{p}_mix"), axes, name=f"{name}/{p}")
                       for p in ("weight", "bias"))
        return self.op("Add", self.op("Mul", x, gamma, name=f"{name}/scale"), beta, name=name)

    def const(self, name: str, value) -> str:
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().float().numpy()
        array = np.asarray(value)
        array = array.astype(np.int64 if array.dtype.kind == "i" else np.float32)
        self.initializers.append(self.onnx.numpy_helper.from_array(array, name))
        return name

    def op(self, op_type: str, *inputs: str, name: str, **attributes) -> str:
        self.nodes.append(self.onnx.helper.make_node(op_type, list(inputs), [name], name=name, **attributes))
        return name
