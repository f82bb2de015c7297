"""The results of the network tabs: their look controls and result panel, running a network and timing it, and
the short memory of recent results."""
from __future__ import annotations

import collections
import threading
import time
from pathlib import Path

import gradio as gr

from stylehub import fast
from stylehub.model import Model

from .common import SCRATCH, shown_in_page


def look_controls(default_side: int, max_side: int = 2048) -> tuple[gr.Slider, gr.Checkbox, gr.Slider]:
    """Strength, keeping the photo's colours and the output size: the settings of every network tab."""
    strength = gr.Slider(0, 1, value=1.0, step=0.05, label="Strength", info="0: the photo, 1: full style")
    preserve_colour = gr.Checkbox(False, label="Keep the photo's colours")
    size = gr.Slider(128, max_side, value=default_side, step=32, label="Output size (long side, px)")
    return strength, preserve_colour, size


def result_panel(prefix: str, label: str = "Result") -> list:
    """[result, before/after, download, timing line]: the outputs of a network tab, in the order its handlers
    return them. The timing line also shows errors and progress, so inputs and results stay usable."""
    timing = gr.Markdown(elem_id=f"{prefix}-timing", elem_classes="status")
    result = gr.Image(label=label, type="pil", format="png", interactive=False, height=360,
                      elem_id=f"{prefix}-result")
    slider = gr.ImageSlider(label="Before / after", type="pil", interactive=False, max_height=360,
                            elem_id=f"{prefix}-compare")
    download = gr.File(label="Download (lossless PNG)", interactive=False, elem_id=f"{prefix}-download")
    return [result, slider, download, timing]


def run_network(model: Model, photo, styles, strength: float, preserve_colour: bool, size: int | None = None):
    """(result, (before, after), PNG path, timing line) for one stylisation with a trained network."""
    return timed_result(model, photo, lambda: stylize(model, photo, styles, strength, preserve_colour), size)


def timed_result(model: Model, photo, paint, size: int | None = None):
    """(result, (before, after), PNG path, timing line) for the picture paint() returns, and the time it took."""
    started = time.perf_counter()
    styled = paint()
    milliseconds = (time.perf_counter() - started) * 1000
    result = SCRATCH.png(styled)
    timing = f"{styled.shape[-1]}×{styled.shape[-2]} px in {milliseconds:.0f} ms on {model.runs_on}"
    return result, (SCRATCH.png(photo, "photo.png"), result), result, timing + not_enlarged(styled, size)


def not_enlarged(image, size: int | None) -> str:
    """The words that explain a result smaller than the size asked for: photos are never enlarged."""
    if size is None or max(image.shape[-2:]) >= int(size):
        return ""
    return f" (the photo's own size: photos are never enlarged, so {int(size)} px was not reached)"


def stylize(model: Model, photo, styles, strength: float, preserve_colour: bool):
    """The engine's stylisation, its errors shown in the page."""
    with shown_in_page():
        return fast.stylize_image(model.net, photo, styles=styles, strength=float(strength),
                                  preserve_colour=bool(preserve_colour), working_side=fast.WORKING_SIDE)


def if_ready(run):
    """For events fired by settings changes: re-run only when there is a photo and a model to run."""
    def maybe(content, model, *rest):
        if content is None or not model:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        return run(content, model, *rest)

    return maybe


class Recent:
    """The last few results of a tab, by everything that made them, for a short while: clicking an example again,
    or a setting that an example (or a thumbnail) changed and that asks for the same picture, is answered at once
    instead of being run again. Entries live shorter than SCRATCH's files, so the files they name still exist."""

    def __init__(self, size: int = 16, max_age: float = 300.0):
        self.size, self.max_age = size, min(max_age, SCRATCH.max_age / 2)
        self.items: collections.OrderedDict = collections.OrderedDict()
        self.lock = threading.Lock()

    def get(self, key, run):
        with self.lock:
            found = self.items.get(key)
            if found is not None and time.monotonic() - found[0] < self.max_age:
                self.items.move_to_end(key)
                return found[1]
        value = run()
        with self.lock:
            self.items[key] = (time.monotonic(), value)
            while len(self.items) > self.size:
                self.items.popitem(last=False)
        return value


def photo_key(path) -> tuple:
    """What identifies an uploaded photo for Recent: its file, size and modification time."""
    stat = Path(path).stat()
    return str(path), stat.st_size, stat.st_mtime_ns
