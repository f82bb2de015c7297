"""Slow optimisation: a preset against the paper's method, on the same inputs, in one process tree.

The reference is ../shared/tools/reference_gatys.py, run as a child process with the same thread count: Gatys et
al.'s objective as published (unnormalised terms, equal layer weights, alpha 1, beta 1e4, average pooling), one
scale, L-BFGS from the content, 500 iterations; it optimises what ../shared/tools/judge.py measures. For every
content x style pair this prints wall time, loss evaluations (the cost that does not depend on the load), peak
memory and the judge's scores (grid, style, style_avg, content) of both, and their ratios (preset / reference; the
reference's time is its own optimisation time, start-up excluded). Target: style and content <= 1.25x the
reference's in <= 25 % of its time; grid < 0.3 at 512 px.

    python bench/bench_optimize.py [--content C.jpg ...] [--style S.jpg ...] [--size 512] [--preset balanced]
                                   [--precision auto] [--threads N]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import torch
from judging import SHARED, judge  # (bench/, the folder of this script) first: it puts the checkout on sys.path

from stylehub import images, losses, optimize
from stylehub.backbones import PRECISIONS, pick_device, pick_precision


class PeakMemory:
    """Peak resident memory of process `pid` (CPU, sampled) or peak allocated GPU memory while the block runs, MiB."""

    def __init__(self, device: torch.device, pid: int | None = None):  # None: this process
        self.device, self.pid, self.peak, self._running = device, pid, 0.0, False

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            self._running = True
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self):
        try:
            process = psutil.Process(self.pid)
            while self._running:
                self.peak = max(self.peak, process.memory_info().rss / 2**20)
                time.sleep(0.02)
        except psutil.NoSuchProcess:  # the process has ended
            pass

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            self.peak = torch.cuda.max_memory_allocated(self.device) / 2**20
        else:
            self._running = False
            self._thread.join()


class CountedEvaluations:
    """Counts the engine's loss evaluations while the block runs, in full-size equivalents (an evaluation at a
    coarser scale counts by its share of the pixels): a cost that, unlike seconds, does not depend on the load."""

    def __init__(self, full_size: tuple[int, int]):
        self.pixels, self.count = full_size[0] * full_size[1], 0.0

    def __enter__(self):
        self.evaluate = evaluate = losses.PerceptualLoss.__call__

        def counted(loss, image, targets):
            self.count += image.shape[-1] * image.shape[-2] / self.pixels
            return evaluate(loss, image, targets)
        losses.PerceptualLoss.__call__ = counted
        return self

    def __exit__(self, *exc):
        losses.PerceptualLoss.__call__ = self.evaluate


def run_preset(content: Path, style: Path, settings, out: Path) -> dict:
    device = pick_device(settings.device)
    full_size = optimize.scale_sizes(images.load_image(content).size, settings)[-1]
    with PeakMemory(device) as memory, CountedEvaluations(full_size) as evaluations:
        started = time.perf_counter()
        result = optimize.run(content, style, settings)
        seconds = time.perf_counter() - started
    result.save(out)
    return dict(seconds=seconds, evaluations=round(evaluations.count), peak_mib=memory.peak)


def run_reference(content: Path, style: Path, size: int, iters: int, weights: str, out: Path) -> dict:
    """reference_gatys.py in a child process; its peak memory is sampled (CPU only)."""
    command = [sys.executable, str(SHARED / "tools" / "reference_gatys.py"), str(content), str(style), "-o", str(out),
               "--size", str(size), "--iters", str(iters), "--weights", weights,
               "--threads", str(torch.get_num_threads())]
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())})
    with PeakMemory(torch.device("cpu"), child.pid) as memory:
        stdout, stderr = child.communicate()
    wall = time.perf_counter() - started
    if child.returncode:
        raise SystemExit(f"reference_gatys.py failed:\n{stderr}")
    found = re.match(r"([0-9.]+) s, ([0-9]+) evaluations", stdout)
    return dict(seconds=float(found[1]), evaluations=int(found[2]), wall_seconds=wall, peak_mib=memory.peak)


def pair_arguments(description: str) -> argparse.ArgumentParser:
    """The options of a benchmark of the slow path against the reference: photos, paintings, size, preset..."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--content", type=Path, nargs="+", default=[SHARED / "images" / "content" / "tubingen.jpg"])
    parser.add_argument("--style", type=Path, nargs="+", default=[SHARED / "images" / "style" / "starry_night.jpg"])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--preset", default=optimize.DEFAULT_PRESET, choices=list(optimize.PRESETS))
    parser.add_argument("--reference-iters", type=int, default=500)
    parser.add_argument("--weights", default=str(SHARED / "backbones" / "vgg16-hed.safetensors"))
    parser.add_argument("--threads", type=int, default=0, help="CPU threads of every run (default: torch's)")
    return parser


def main() -> None:
    parser = pair_arguments(__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="vgg16")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="auto", choices=PRECISIONS)
    parser.add_argument("--out", type=Path, default=Path(tempfile.mkdtemp(prefix="stylehub-bench-")))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.threads:
        torch.set_num_threads(args.threads)

    settings = optimize.preset(args.preset, size=args.size, backbone=args.backbone, weights=args.weights,
                               device=args.device, precision=args.precision, preview_every=0)
    first_content, first_style = args.content[0], args.style[0]
    optimize.run(first_content, first_style, settings.replace(size=64, min_size=64, steps=1))  # warm-up
    device = pick_device(args.device)
    dtype = pick_precision(args.precision, device) or "float32"
    print(f"{torch.get_num_threads()} threads, {device}, backbone in {dtype}, {args.size} px, preset {args.preset} "
          f"against reference_gatys.py --iters {args.reference_iters}", flush=True)
    pairs, all_met = [], True
    for content in args.content:
        for style in args.style:
            name = f"{content.stem}-{style.stem}"
            runs = {"preset": run_preset(content, style, settings, args.out / f"{name}-{args.preset}.png"),
                    "reference": run_reference(content, style, args.size, args.reference_iters, args.weights,
                                               args.out / f"{name}-reference.png")}
            for run, row in runs.items():
                row.update(judge(args.out / f"{name}-{args.preset if run == 'preset' else run}.png", content, style,
                                 args.size))
                print(f"{name:28s} {run:9s} {row['seconds']:7.1f} s  {row['evaluations']:4d} evaluations  "
                      f"peak {row['peak_mib']:6.0f} MiB  grid "
                      f"{row['grid']:5.2f}  style {row['style']:9.1f}  style_avg {row['style_avg']:8.1f}  "
                      f"content {row['content']:6.2f}", flush=True)
            mine, theirs = runs["preset"], runs["reference"]
            ratios = {k: mine[k] / theirs[k]
                      for k in ("seconds", "evaluations", "peak_mib", "style", "style_avg", "content")}
            met = (ratios["seconds"] <= 0.25 and ratios["style"] <= 1.25 and ratios["content"] <= 1.25
                   and (args.size < 512 or mine["grid"] < 0.3))
            all_met &= met
            print(f"{name:28s} ratios    " + "  ".join(f"{k} {v:.3f}" for k, v in ratios.items())
                  + f"  target {'met' if met else 'NOT met'}", flush=True)
            pairs.append(dict(content=str(content), style=str(style), runs=runs, ratios=ratios, met=met))
    print(f"target (time <= 0.25x, style and content <= 1.25x, grid < 0.3 at 512 px) on all {len(pairs)} pairs: "
          f"{'met' if all_met else 'NOT met'}")
    print(json.dumps({"device": str(device), "precision": str(dtype), "threads": torch.get_num_threads(),
                      "size": args.size, "preset": args.preset, "reference_iters": args.reference_iters,
                      "pairs": pairs}))


if __name__ == "__main__":
    main()
