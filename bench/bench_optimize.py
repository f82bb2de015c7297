"""Slow optimisation: the default preset against a plain reference, in one process, on the same inputs.

The reference is Gatys et al.'s plain recipe: one scale, L-BFGS, 500 iterations, initialised from the content.
Both use the same backbone, layers and loss weights; only the schedule differs. Prints wall time, peak memory and
the judge's scores (../shared/tools/judge.py) of each, and their ratios.

    python bench/bench_optimize.py [--size 512] [--weights ../shared/backbones/vgg16-hed.safetensors]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from judging import SHARED, judge  # noqa: E402  (bench/, the folder of this script)
from stylehub import optimize  # noqa: E402
from stylehub.backbones import pick_device  # noqa: E402


class PeakMemory:
    """Peak resident memory (CPU, sampled) or peak allocated GPU memory while the block runs, in MiB."""

    def __init__(self, device: torch.device):
        self.device, self.peak, self._running = device, 0.0, False

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            self._running = True
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self):
        while self._running:
            self.peak = max(self.peak, _rss_mib())
            time.sleep(0.02)

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            self.peak = torch.cuda.max_memory_allocated(self.device) / 2**20
        else:
            self._running = False
            self._thread.join()


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--content", type=Path, default=SHARED / "images" / "content" / "tubingen.jpg")
    parser.add_argument("--style", type=Path, default=SHARED / "images" / "style" / "starry_night.jpg")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--reference-steps", type=int, default=500)
    parser.add_argument("--weights", default=str(SHARED / "backbones" / "vgg16-hed.safetensors"))
    parser.add_argument("--backbone", default="vgg16")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", type=Path, default=Path(tempfile.mkdtemp(prefix="stylehub-bench-")))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    common = dict(size=args.size, backbone=args.backbone, weights=args.weights, device=args.device, preview_every=0)
    runs = {
        "default": optimize.preset(**common),
        "reference": optimize.preset(**common, min_size=args.size, steps=args.reference_steps, init="content",
                                     optimizer="lbfgs"),
    }
    device = pick_device(args.device)
    optimize.run(args.content, args.style, runs["default"].replace(size=64, min_size=64, steps=1))  # warm-up
    rows = {}
    for name, settings in runs.items():
        with PeakMemory(device) as memory:
            started = time.perf_counter()
            result = optimize.run(args.content, args.style, settings)
            seconds = time.perf_counter() - started
        path = result.save(args.out / f"{name}.png")
        rows[name] = dict(seconds=seconds, peak_mib=memory.peak, **judge(path, args.content, args.style, args.size))
        print(f"{name:9s} {seconds:8.1f} s  peak {memory.peak:7.0f} MiB  style {rows[name]['style']:10.1f}  "
              f"content {rows[name]['content']:8.2f}  ({path})", flush=True)
    d, r = rows["default"], rows["reference"]
    ratios = {key: d[key] / r[key] for key in ("seconds", "peak_mib", "style", "style_avg", "content")}
    print("ratios default/reference: " + "  ".join(f"{k} {v:.3f}" for k, v in ratios.items()))
    met = ratios["seconds"] <= 0.25 and ratios["style"] <= 1.25 and ratios["content"] <= 1.25
    print(f"target (time <= 0.25x, style and content <= 1.25x): {'met' if met else 'NOT met'}")
    print(json.dumps({"device": str(device), "size": args.size, "runs": rows, "ratios": ratios}))


if __name__ == "__main__":
    main()
