"""Refine: the slow optimisation started from the Any painting result, against started from the photo.

For each photo x painting the arbitrary-style model paints the photo as the app's Any painting tab does; then the
preset runs twice, from that result (Refine) and from the photo (the default), keeping a preview every --every
steps; each preview is judged afterwards (../shared/tools/judge.py, at --size). The bar is the reference's own
scores (../shared/tools/reference_gatys.py, the paper's method; run here, or read from --reference-dir, which holds
its outputs as PHOTO-PAINTING-reference.png at the same size, as bench_optimize.py --out leaves them): judge style
and content both within --bound times the reference's. Printed for each run: the first kept step that meets the bar,
its seconds (Refine's include painting the start) and the ratio Refine / photo. The goal is <= 0.5x.

    python bench/bench_refine.py [--content C.jpg ...] [--style S.jpg ...] [--size 512] [--every 10]
                                 [--reference-dir DIR] [--threads N] [--out DIR]
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch
from bench_optimize import pair_arguments, run_reference  # (bench/, the folder of this script)
from judging import ROOT, judge  # first: it puts the checkout on sys.path

from stylehub import arbitrary, images, optimize
from stylehub.model import Model


def painted_start(model: Model, content: Path, style: Path, size: int) -> tuple[torch.Tensor, float]:
    """The Any painting result at the output's size, and the seconds it took."""
    started = time.perf_counter()
    photo = images.resize_long_side(images.load_image(content).rgb, size)
    painting = images.load_image(style).rgb
    with torch.inference_mode():
        result = arbitrary.stylize(model.net, photo, [painting], working_side=arbitrary.WORKING_SIDE)
    return result, time.perf_counter() - started


def kept_previews(content: Path, style: Path, settings, start) -> list[tuple[int, float, torch.Tensor]]:
    """(step, seconds since the start, preview) every settings.preview_every steps and at the end."""
    kept, started = [], time.perf_counter()
    for event in optimize.stylize(content, [style], settings, start=start):
        if isinstance(event, optimize.Progress) and event.preview is not None:
            kept.append((event.step, time.perf_counter() - started, event.preview))
    return kept


def first_meeting(rows: list[dict], bar: dict) -> dict | None:
    return next((r for r in rows if r["style"] <= bar["style"] and r["content"] <= bar["content"]), None)


def main() -> None:
    parser = pair_arguments(__doc__.splitlines()[0])
    parser.add_argument("--every", type=int, default=10, help="steps between judged previews")
    parser.add_argument("--bound", type=float, default=1.25, help="the bar: this times the reference's scores")
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "arbitrary")
    parser.add_argument("--reference-dir", type=Path, help="reference_gatys.py's outputs, not run again")
    parser.add_argument("--out", type=Path, default=Path(tempfile.mkdtemp(prefix="stylehub-bench-")))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.threads:
        torch.set_num_threads(args.threads)
    model = Model.load(args.model, "cpu", "auto")
    settings = optimize.preset(args.preset, size=args.size, backbone="vgg16", weights=args.weights, device="cpu",
                               preview_every=args.every)
    print(f"{torch.get_num_threads()} threads, {args.size} px, preset {args.preset}, Any painting on "
          f"{model.runs_on}; bar: style and content <= {args.bound}x reference_gatys.py's", flush=True)
    for content in args.content:
        for style in args.style:
            name = f"{content.stem}-{style.stem}"
            reference = (args.reference_dir or args.out) / f"{name}-reference.png"
            if not args.reference_dir:
                run_reference(content, style, args.size, args.reference_iters, args.weights, reference)
            scores = judge(reference, content, style, args.size)
            bar = {k: args.bound * scores[k] for k in ("style", "content")}
            start, painting_seconds = painted_start(model, content, style, args.size)
            met = {}
            for run, begin, offset in (("refine", start, painting_seconds), ("photo", None, 0.0)):
                rows = []
                for step, seconds, preview in kept_previews(content, style, settings, begin):
                    path = images.save_image(preview, args.out / f"{name}-{run}-{step:03d}.png")
                    rows.append(dict(step=step, seconds=seconds + offset, **judge(path, content, style, args.size)))
                met[run] = first_meeting(rows, bar)
                last = rows[-1]
                print(f"{name:28s} {run:6s} end: step {last['step']} {last['seconds']:6.1f} s  style "
                      f"{last['style']:9.1f}  content {last['content']:6.2f}  grid {last['grid']:.2f};  bar met at "
                      + (f"step {met[run]['step']}, {met[run]['seconds']:.1f} s" if met[run] else "no step"),
                      flush=True)
            ratio = (f"{met['refine']['seconds'] / met['photo']['seconds']:.2f}x" if all(met.values())
                     else "n/a (a run never met the bar)")
            print(f"{name:28s} reference style {scores['style']:.1f} content {scores['content']:.2f};  "
                  f"Refine / photo, seconds to the bar: {ratio}", flush=True)


if __name__ == "__main__":
    main()
