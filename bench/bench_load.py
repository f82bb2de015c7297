"""Many visitors at once: concurrent clients on the Fast tab of a real app server, each answer checked.

Starts `python app.py` on a free port (the shipped styles, onnxruntime on the CPU), warms it up with one request,
then sends --clients requests at once, each from its own gradio_client, cycling through the shipped styles on the
example photo. Every answer is compared with the network run here (within 2/255); prints failures, latencies, the
server's peak resident memory (the kernel's VmHWM) after the warm-up and after the burst, and the files the app
left in its scratch folder.

    python bench/bench_load.py [--clients 32] [--size 1024] [--rounds 1]
"""
from __future__ import annotations

import argparse
import os
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stylehub import checkpoints, fast, images  # noqa: E402

PHOTO = ROOT / "examples" / "content" / "tubingen.jpg"
STYLES = {"The Starry Night": "starry-night", "The Scream": "the-scream", "The Great Wave": "great-wave",
          "Composition VII": "composition-vii"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


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
    args = p.parse_args()
    expected = expected_results(args.size)
    port, before = free_port(), set(scratch_folders())
    server = start_server(port)
    url = f"http://127.0.0.1:{port}/"
    try:
        Client(url, verbose=False).predict(content=handle_file(str(PHOTO)), style="The Starry Night", size=args.size,
                                           api_name="/fast_stylize")
        warm_rss = peak_rss_mib(server.pid)
        names = list(expected)
        for round_ in range(args.rounds):
            latencies, failures = burst(url, args.clients, args.size, names, expected)
            print(f"round {round_ + 1}: {args.clients - len(failures)}/{args.clients} answered correctly, "
                  f"latency median {statistics.median(latencies):.2f} s, max {max(latencies):.2f} s")
            for failure in failures:
                print("  failed:", failure)
        peak = peak_rss_mib(server.pid)
        print(f"server peak RSS: {warm_rss:.0f} MiB after one request, {peak:.0f} MiB after "
              f"{args.rounds} x {args.clients} concurrent clients ({peak / warm_rss:.2f}x)")
    finally:
        server.send_signal(signal.SIGINT)  # as Ctrl-C stops it
        server.wait(timeout=30)
    left = set(scratch_folders()) - before
    print(f"scratch folders left after the server stopped: {len(left)}")


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


if __name__ == "__main__":
    main()
