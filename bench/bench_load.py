"""Many visitors at once: concurrent clients on the Fast tab of a real app server, each answer checked.

Starts `python app.py` on a free port (the shipped styles, onnxruntime on the CPU), warms it up with one request,
then sends --clients requests at once, each from its own gradio_client, cycling through the shipped styles on the
example photo. Every answer is compared with the network run here (within 2/255); prints failures, latencies, the
server's peak resident memory after the warm-up and after the burst, and the files the app left in its scratch
folder. The peaks are the kernel's own count (getrusage's ru_maxrss, exact where sampling would miss short spikes),
which it gives once the server has stopped: a first server answers the warm-up request only, a second one the
warm-up and the bursts.

    python bench/bench_load.py [--clients 32] [--size 1024] [--rounds 1]

With --model-load, measures instead how long loading a model takes as the app loads it (`Model.load`, onnxruntime
on the CPU): twice per model, each time in a fresh process (nothing kept in memory), the first with an empty
ONNX cache (the export is written), the second with the export the first left there.

    python bench/bench_load.py --model-load [MODEL_DIR ...] [--repeat 3]
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch
from gradio_client import Client, handle_file
from judging import ROOT  # (bench/, this script's folder) first: it puts the checkout on sys.path

from stylehub import checkpoints, fast, images

PHOTO = ROOT / "examples" / "content" / "tubingen.jpg"
STYLES = {"The Starry Night": "starry-night", "The Scream": "the-scream", "The Great Wave": "great-wave",
          "Composition VII": "composition-vii"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peak_rss_of_stopped_children_mib() -> float:
    """The largest peak resident memory of the child processes that have ended so far, in MiB."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux


@contextlib.contextmanager
def running_app():
    """The app served on a free port while the block runs (its URL), then stopped as Ctrl-C stops it."""
    port = free_port()
    server = start_server(port)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)


def warm_up(url: str, size: int) -> None:
    Client(url, verbose=False).predict(content=handle_file(str(PHOTO)), style="The Starry Night", size=size,
                                       api_name="/fast_stylize")


def start_server(port: int) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    server = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port)], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return server
        except OSError:
            time.sleep(0.5)
    server.kill()
    raise SystemExit("the app did not start: " + server.stderr.read()[-2000:])


def expected_results(size: int) -> dict[str, torch.Tensor]:
    photo = images.load_image(PHOTO).rgb
    if max(photo.shape[-2:]) > size:  # the app never enlarges a photo
        photo = images.resize_long_side(photo, size)
    return {name: fast.stylize_image(checkpoints.load_model(ROOT / "models" / folder)[0], photo)
            for name, folder in STYLES.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--size", type=int, default=1024)
    p.add_argument("--rounds", type=int, default=1, help="bursts, one after the other")
    p.add_argument("--model-load", nargs="*", type=Path, metavar="MODEL_DIR",
                   help="time first and second loads of these models instead (default: the shipped styles)")
    p.add_argument("--repeat", type=int, default=3, help="--model-load: pairs of loads per model (median)")
    p.add_argument("--one-load", type=Path, help=argparse.SUPPRESS)  # the child process of --model-load
    args = p.parse_args()
    if args.one_load:
        return one_load(args.one_load)
    if args.model_load is not None:
        return print_load_times(args.model_load or [ROOT / "models" / f for f in STYLES.values()], args.repeat)
    expected = expected_results(args.size)
    before = set(scratch_folders())
    with running_app() as url:
        warm_up(url, args.size)
    warm_rss = peak_rss_of_stopped_children_mib()
    with running_app() as url:
        warm_up(url, args.size)
        names = list(expected)
        for round_ in range(args.rounds):
            latencies, failures = burst(url, args.clients, args.size, names, expected)
            print(f"round {round_ + 1}: {args.clients - len(failures)}/{args.clients} answered correctly, "
                  f"latency median {statistics.median(latencies):.2f} s, max {max(latencies):.2f} s")
            for failure in failures:
                print("  failed:", failure)
    peak = peak_rss_of_stopped_children_mib()
    print(f"server peak RSS: {warm_rss:.0f} MiB after one request, {peak:.0f} MiB after "
          f"{args.rounds} x {args.clients} concurrent clients ({peak / warm_rss:.2f}x)")
    left = set(scratch_folders()) - before
    print(f"scratch folders left after the servers stopped: {len(left)}")


def scratch_folders() -> list[Path]:
    return list(Path(tempfile.gettempdir()).glob("stylehub-app-*"))


def burst(url: str, clients: int, size: int, names: list[str], expected: dict) -> tuple[list[float], list[str]]:
    latencies, failures = [0.0] * clients, []

    def one(i: int) -> None:
        name = names[i % len(names)]
        started = time.perf_counter()
        try:
            result = Client(url, verbose=False).predict(content=handle_file(str(PHOTO)), style=name, size=size,
                                                        api_name="/fast_stylize")
            got = images.load_image(result[2]).rgb
            difference = (got - expected[name]).abs().max().item()
            if got.shape != expected[name].shape or difference > 2 / 255:
                failures.append(f"client {i} ({name}): wrong image (max difference {difference:.4f})")
        except Exception as err:  # noqa: BLE001  (every failure is reported)
            failures.append(f"client {i} ({name}): {type(err).__name__}: {err}")
        latencies[i] = time.perf_counter() - started

    threads = [threading.Thread(target=one, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, failures


def one_load(folder: Path) -> None:
    """Load a model as the app does and print {seconds, runtime, exported} as JSON (run in a fresh process)."""
    from stylehub.model import Model, cache_folder

    before = set((cache_folder() / "onnx").glob("*.onnx"))
    started = time.perf_counter()
    model = Model.load(folder, "cpu")
    seconds = time.perf_counter() - started
    exported = bool(set((cache_folder() / "onnx").glob("*.onnx")) - before)
    print(json.dumps({"seconds": seconds, "runtime": model.runtime, "exported": exported}))


def print_load_times(folders: list[Path], repeat: int) -> None:
    print("| model | first load, empty cache (ms) | second load, cached export (ms) | runtime |")
    print("| --- | ---: | ---: | --- |")
    for folder in folders:
        first, second = [], []
        for _ in range(repeat):
            with tempfile.TemporaryDirectory(prefix="stylehub-cache-") as cache:
                loads = [timed_load(folder, cache) for _ in range(2)]
            assert loads[0]["exported"] and not loads[1]["exported"], loads
            first.append(loads[0]["seconds"])
            second.append(loads[1]["seconds"])
        print(f"| {folder.name} | {statistics.median(first) * 1000:.0f} | {statistics.median(second) * 1000:.0f} | "
              f"{loads[1]['runtime']} |")


def timed_load(folder: Path, cache: str) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "STYLEHUB_CACHE": cache}
    done = subprocess.run([sys.executable, __file__, "--one-load", str(folder)], env=env, capture_output=True,
                          text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
