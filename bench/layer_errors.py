"""Where a stylised image misses the painting: the judge's Gram error, layer by layer.

The same objective as ../shared/tools/judge.py (offline VGG16, Gram = F F^T / (C H W), MSE x 1e4, both images
resized to --size on their long side), but printed per style layer, with max pooling (the judge's 'style') and
average pooling ('style_avg'), plus the content distance at relu4_2.

    python bench/layer_errors.py OUTPUT.png [OUTPUT2.png ...] --content C.jpg --style S.jpg [--size 256] [--json]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision
from PIL import Image, ImageOps
from safetensors.torch import load_file

SHARED = Path(__file__).resolve().parents[2] / "shared"
STYLE_LAYERS = {"relu1_1": 1, "relu2_1": 6, "relu3_1": 11, "relu4_1": 18, "relu5_1": 25}
CONTENT_LAYER = 20  # relu4_2
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def vgg16(weights: Path, pooling: str) -> torch.nn.Sequential:
    net = torchvision.models.vgg16().features[:26].eval()
    state = {k.replace("features.", ""): v for k, v in load_file(str(weights)).items()}
    net.load_state_dict({k: v for k, v in state.items() if int(k.split(".")[0]) < 26})
    if pooling == "avg":
        for i, m in enumerate(net):
            if isinstance(m, torch.nn.MaxPool2d):
                net[i] = torch.nn.AvgPool2d(2, 2)
    return net


def load(path: Path, size: int | None = None, like: tuple[int, int] | None = None) -> torch.Tensor:
    image = ImageOps.exif_transpose(Image.open(path)).convert("RGB")
    if like is None:
        s = size / max(image.size)
        like = (max(1, round(image.width * s)), max(1, round(image.height * s)))
    return torchvision.transforms.functional.to_tensor(image.resize(like, Image.LANCZOS)).unsqueeze(0)


def features(net: torch.nn.Sequential, x: torch.Tensor) -> dict[int, torch.Tensor]:
    out, x = {}, (x - MEAN) / STD
    for i, m in enumerate(net):
        x = m(x)
        out[i] = x
    return out


def gram(f: torch.Tensor) -> torch.Tensor:
    _, c, h, w = f.shape
    f = f.reshape(c, h * w).double()
    return f @ f.t() / (c * h * w)


@torch.no_grad()
def layer_errors(output: Path, content: Path, style: Path, size: int, weights: Path) -> dict:
    out = load(output, size)
    like = (out.shape[-1], out.shape[-2])
    row = {}
    for pooling in ("max", "avg"):
        net = vgg16(weights, pooling)
        fo, fs = features(net, out), features(net, load(style, size))
        for name, i in STYLE_LAYERS.items():
            row[f"{pooling}:{name}"] = 1e4 * F.mse_loss(gram(fo[i]), gram(fs[i])).item()
        row[f"{pooling}:style"] = sum(row[f"{pooling}:{n}"] for n in STYLE_LAYERS) / len(STYLE_LAYERS)
        if pooling == "max":
            target = features(net, load(content, like=like))[CONTENT_LAYER]
            row["content"] = F.mse_loss(fo[CONTENT_LAYER], target).item()
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outputs", nargs="+", type=Path)
    parser.add_argument("--content", type=Path, required=True)
    parser.add_argument("--style", type=Path, required=True)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--weights", type=Path, default=SHARED / "backbones" / "vgg16-hed.safetensors")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = {str(p): layer_errors(p, args.content, args.style, args.size, args.weights) for p in args.outputs}
    if args.json:
        print(json.dumps(rows))
        return
    columns = [*(f"max:{n}" for n in STYLE_LAYERS), "max:style", "avg:style", "content"]
    print(f"{'output':32s}" + "".join(f"{c.split(':')[-1] if c != 'avg:style' else 'style_avg':>11s}" for c in columns))
    for path, row in rows.items():
        print(f"{Path(path).name[:32]:32s}" + "".join(f"{row[c]:11.1f}" for c in columns))


if __name__ == "__main__":
    main()
