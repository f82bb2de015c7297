"""A published style vector in the Any painting tab: loaded by repo id from a local Hub server, painted, refined."""
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

gr = pytest.importorskip("gradio")

from conftest import gradient_image  # noqa: E402
from fake_hub import FakeHub  # noqa: E402
from test_hub import TOKEN, point_at  # noqa: E402

import app  # noqa: E402
from stylehub import arbitrary, checkpoints, hub, images, style_vectors  # noqa: E402
from stylehub.model import Model  # noqa: E402
from stylehub.nets import TransformerConfig, TransformerNet  # noqa: E402
from ui.common import MODELS  # noqa: E402

SHIPPED = MODELS / "arbitrary"
pytestmark = pytest.mark.skipif(not (SHIPPED / "model.safetensors").is_file(),
                                reason="models/arbitrary is absent from this checkout")
NO_PAINTINGS = (None, 1.0, None, 1.0, None, 1.0)  # the tab's three painting slots, empty


@pytest.fixture
def published(tmp_path, monkeypatch):
    """A local Hub with alice/wave (a style vector from two paintings) and alice/dots (a fast network), and the
    app's handlers over a models folder that holds the shipped arbitrary-style network."""
    paintings = [tmp_path / "wave.png", tmp_path / "night.png"]
    gradient_image(64, 48, seed=2).save(paintings[0])
    gradient_image(40, 56, seed=3).save(paintings[1])
    style = style_vectors.make_style(SHIPPED, paintings, tmp_path / "wave", weights=[2, 1], stroke=0.05,
                                     name="Wave at night", device="cpu")  # stroke 0.05: the predictor sees 64 px
    dots = checkpoints.save_model(TransformerNet(TransformerConfig(width=4, residual_blocks=1)), tmp_path / "dots",
                                  styles=[{"name": "Dots"}])
    models = tmp_path / "models"
    shutil.copytree(SHIPPED, models / "arbitrary")
    with FakeHub(TOKEN) as server:
        point_at(monkeypatch, server.url, tmp_path)
        hub.push(style, "alice/wave")
        hub.push(dots, "alice/dots")
        demo = app.build_demo(app.AppConfig(device="cpu", models=models))
        yield style, demo


def handlers(demo) -> dict:
    return {fn.api_name: fn for fn in demo.fns.values() if fn.api_name}


def pixels(path) -> np.ndarray:
    return images.load_image(path).rgb.numpy()


def test_a_published_style_paints_as_the_engine_does(published, tmp_path):
    folder, demo = published
    api = handlers(demo)
    photo = tmp_path / "photo.png"
    gradient_image(48, 32, seed=5).save(photo)

    style, shown, pictures, *_ = api["any_load_style"].fn(" alice/wave ")
    assert shown == "Painting with: **Wave at night** (from alice/wave)"
    assert [caption for _, caption in pictures] == ["Wave at night (2)", "Wave at night (1)"]
    assert Path(pictures[0][0]).read_bytes() == (folder / "styles" / "wave.jpg").read_bytes()

    *_, painted, timing = api["any_painting"].fn(str(photo), *NO_PAINTINGS, 0.7, True, 128, style)
    net = Model.load(SHIPPED, "cpu").net  # as the app loads it: with onnxruntime where installed
    expected = style_vectors.stylize(net, images.load_image(photo).rgb, style_vectors.read_style(folder),
                                     strength=0.7, preserve_colour=True, working_side=arbitrary.WORKING_SIDE)
    engine = images.save_image(expected, tmp_path / "engine.png")
    assert np.array_equal(pixels(painted), pixels(engine)) and timing.startswith("48×32 px in ")
    *_, by_api, _ = api["any_painting_style"].fn(str(photo), "alice/wave", 0.7, True, 128)
    assert np.array_equal(pixels(by_api), pixels(engine))
    *_, with_paintings, _ = api["any_painting"].fn(str(photo), str(folder / "styles" / "wave.jpg"), 1.0,
                                                   *NO_PAINTINGS[2:], 0.7, True, 128, None)  # unloaded: paintings
    assert not torch.equal(images.load_image(with_paintings).rgb, images.load_image(painted).rgb)

    block = {b.elem_id: b for b in demo.blocks.values() if getattr(b, "elem_id", None)}
    clicked = [fn for fn in demo.fns.values() if (block["any-refine"]._id, "click") in fn.targets]
    fill = next(fn for fn in clicked if block["start"] in fn.outputs)
    content, *styles_and_weights, start, _, _ = fill.fn(str(photo), *NO_PAINTINGS, painted, style)
    assert (content, start) == (str(photo), painted)
    assert styles_and_weights[3:] == [2.0, 1.0, 1.0]  # the paintings it was made from, with their weights
    assert [Path(p).read_bytes() for p in styles_and_weights[:2]] == [
        (folder / "styles" / name).read_bytes() for name in ("wave.jpg", "night.jpg")]


def test_loading_something_else_or_a_server_path_says_so(published):
    folder, demo = published
    api = handlers(demo)
    with pytest.raises(gr.Error, match="alice/dots is not a style vector: load it in the Fast or Blender tab"):
        api["any_load_style"].fn("alice/dots")
    for refused in (lambda: api["any_load_style"].fn(str(folder)),
                    lambda: api["any_painting_style"].fn(None, str(folder))):
        with pytest.raises(gr.Error, match="is not a Hub repo id: type user/name"):  # the words of the other tabs
            refused()
