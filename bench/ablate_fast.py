"""Ablations of the fast-network training recipe: which setting makes the network paint a periodic grid.

Each variant is the base recipe with a few settings changed. Every variant trains a fresh network with
`stylehub.train.train` for --steps steps on --image-size crops of a few training photos, then stylises one photo
(default Tübingen) at --size px and scores it with ../shared/tools/judge.py: grid (periodic 2/4/8-px pattern, %),
style and content (lower is better). Prints a markdown table and writes results.json and the stylised images into
--out.

    python bench/ablate_fast.py --style ../shared/images/style/starry_night.jpg --out /tmp/ablate \
        --steps 300 --image-size 128 base avg-pool no-relu1

Variants (see VARIANTS): TrainSettings fields, plus "net" for TransformerConfig fields (the widths, the
upsampling) of the network trained.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import torch
from judging import SHARED, judge  # (bench/, the folder of this script) first: it puts the checkout on sys.path

from stylehub import checkpoints, fast, images, nets, train

RELU_1 = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
# The shipped single-style networks' recipe (models/*/config.json "training"), at ablation scale.
BASE = dict(net_size="tiny", pooling="max", learning_rate=1e-3, content_weight=1.0, style_weight=10.0,
            tv_weight=1.0, grid_weight=0.0, content_layers={"relu2_2": 1.0}, style_layers=dict.fromkeys(RELU_1, 1.0))
VARIANTS: dict[str, dict] = {
    "base": {},
    "avg-pool": {"pooling": "avg"},
    "no-relu1": {"style_layers": dict.fromkeys(RELU_1[1:], 1.0)},
    "style-1x": {"style_ratio": 1.0},  # style image long side = crop size (base: 2x the crop)
    "tv-0": {"tv_weight": 0.0},
    "tv-10": {"tv_weight": 10.0},
    "slim": {"net_size": "slim"},  # wider network: 16, 32, 64, 32, 16 channels
    "up16": {"net": {"channels": (16, 32, 32, 16, 16)}},  # the last upsampling layer 16 channels, not 8
    "bilinear": {"net": {"upsample": "bilinear"}},
    "avg+bilinear": {"pooling": "avg", "net": {"upsample": "bilinear"}},
    "avg+no-relu1": {"pooling": "avg", "style_layers": dict.fromkeys(RELU_1[1:], 1.0)},
    "grid-100": {"grid_weight": 100.0},  # penalise a fine pattern repeating every 4 px
}


def settings_for(name: str, args) -> tuple[train.TrainSettings, dict]:
    """The variant's TrainSettings and its TransformerConfig changes."""
    changes = {**BASE, **VARIANTS[name]}
    net_changes = changes.pop("net", {})
    ratio = changes.pop("style_ratio", args.style_ratio)
    if net_changes:  # a one-off network size for this variant
        base = nets.TRANSFORMER_SIZES[changes["net_size"]]
        nets.TRANSFORMER_SIZES[f"ablation-{name}"] = dataclasses.replace(base, **net_changes)
        changes["net_size"] = f"ablation-{name}"
    settings = train.TrainSettings().replace(
        **changes, image_size=args.image_size, style_size=round(args.image_size * ratio), batch_size=args.batch_size,
        steps=args.steps, checkpoint_every=args.steps, preview_every=0, seed=args.seed, device="cpu",
        weights=str(args.weights))
    return settings.check(), net_changes


def run(name: str, args) -> dict:
    settings, net_changes = settings_for(name, args)
    folder = args.out / name
    started = time.perf_counter()
    for event in train.train(args.style, args.photos, folder, settings, overwrite=True):
        if isinstance(event, train.TrainProgress) and event.step % 50 == 0:
            print(f"  {name}: step {event.step}/{settings.steps} {event.seconds / 60:.1f} min "
                  f"style {event.losses['style']:.3f} content {event.losses['content']:.3f}", file=sys.stderr)
    minutes = (time.perf_counter() - started) / 60
    net, _ = checkpoints.load_model(folder)
    photo = images.resize_long_side(images.load_image(args.content).rgb, args.size)
    with torch.inference_mode():
        out = images.save_image(fast.stylize_image(net, photo), args.out / f"{name}-{args.content.stem}.png")
    scores = judge(out, args.content, args.style, args.size)
    return {"variant": name, "changes": {**VARIANTS[name]}, "steps": settings.steps, "crop": settings.image_size,
            "style_size": settings.style_size, "batch": settings.batch_size, "minutes": round(minutes, 1),
            **{k: scores[k] for k in ("grid", "style", "style_avg", "content")}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS), metavar="VARIANT")
    p.add_argument("--style", type=Path, default=SHARED / "images" / "style" / "starry_night.jpg")
    p.add_argument("--photos", type=Path, default=SHARED / "datasets" / "bsds-trainval",
                   help="folder of training photos")
    p.add_argument("--content", type=Path, default=SHARED / "images" / "content" / "tubingen.jpg")
    p.add_argument("--weights", type=Path, default=SHARED / "backbones" / "vgg16-hed.safetensors")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--image-size", type=int, default=128)
    p.add_argument("--style-ratio", type=float, default=2.0, help="style image long side / crop size (shipped: 2)")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--size", type=int, default=512, help="long side of the judged photo")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results_file = args.out / "results.json"
    results = json.loads(results_file.read_text()) if results_file.is_file() else []
    for name in args.variants:
        row = run(name, args)
        results = [r for r in results if r["variant"] != name] + [row]
        results_file.write_text(json.dumps(results, indent=2) + "\n")
        print(json.dumps(row), flush=True)
    print(f"\n| variant | steps | crop (px) | minutes | grid | style | style_avg | content |  (judged on "
          f"{args.content.name} at {args.size} px)")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        print(f"| {r['variant']} | {r['steps']} | {r['crop']} | {r['minutes']} | {r['grid']:.2f} | "
              f"{r['style']:,.0f} | {r['style_avg']:,.0f} | {r['content']:.1f} |")


if __name__ == "__main__":
    main()
