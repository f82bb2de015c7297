"""The Fast, Any painting and Blender tabs, served for real and driven through gradio_client, on tiny random networks
(and the shipped arbitrary-style network, 2.6 MB)."""
import shutil
from pathlib import Path

import pytest
import torch
from PIL import Image

gr = pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")

from conftest import gradient_image  # noqa: E402

import app  # noqa: E402
from stylehub import arbitrary, checkpoints, fast, images  # noqa: E402
from stylehub.model import Model  # noqa: E402
from stylehub.nets import TextureConfig, TextureNet, TransformerConfig, TransformerNet  # noqa: E402
from ui.common import MODELS  # noqa: E402

file = gradio_client.handle_file


def _net(num_styles: int, seed: int) -> TransformerNet:
    torch.manual_seed(seed)
    net = TransformerNet(TransformerConfig(width=4, residual_blocks=1, num_styles=num_styles))
    with torch.no_grad():  # random (gamma, beta) per style, so that styles differ
        for name, parameter in net.named_parameters():
            if "norm" in name:
                parameter.add_(torch.randn_like(parameter) * 0.5)
    return net.eval()


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    for name, seed in (("dots", 1), ("waves", 2)):
        checkpoints.save_model(_net(1, seed), folder / name, styles=[{"name": name.title()}])
    checkpoints.save_model(TextureNet(TextureConfig(scales=2, channels=4)).eval(), folder / "grain",
                           styles=[{"name": "Grain"}])
    checkpoints.save_model(_net(3, 3), folder / "trio", styles=[{"name": n} for n in ("Red", "Green", "Blue")])
    checkpoints.save_model(_net(2, 4), folder / "duo", styles=[{"name": n} for n in ("Cyan", "Magenta")])
    shutil.copytree(MODELS / "arbitrary", folder / "arbitrary")
    (folder / "broken").mkdir()
    (folder / "broken" / "config.json").write_text("{nope")  # listed models skip a broken folder
    return folder


@pytest.fixture(scope="module")
def client(models, tmp_path_factory):
    allowed = (tmp_path_factory.getbasetemp(),)  # the operator lets visitors name folders under the test's folders
    demo = app.build_demo(app.AppConfig(backbone="vgg11", weights="random", device="cpu", models=models,
                                        model_folders=allowed))
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, max_file_size="1mb")
    yield gradio_client.Client(url, verbose=False)
    demo.close()


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "photo.png"
    gradient_image(45, 30, seed=5).save(path)
    return str(path)


def test_fast_stylise_keeps_the_size_and_strength_zero_gives_the_photo(client, photo):
    result, (before, after), download, timing = client.predict(
        content=file(photo), style="Dots", strength=1.0, size=1024, api_name="/fast_stylize")
    assert Image.open(download).size == (45, 30) and Image.open(download).format == "PNG"
    assert " ms on cpu, onnxruntime" in timing  # the CPU path: the network exported to onnxruntime
    *_, plain, _ = client.predict(content=file(photo), style="Dots", strength=0.0, api_name="/fast_stylize")
    original = images.load_image(photo).rgb
    assert (images.load_image(plain).rgb - original).abs().max() < 1 / 255 + 1e-6
    *_, waves, _ = client.predict(content=file(photo), style="Waves", api_name="/fast_stylize")
    assert not torch.equal(images.load_image(waves).rgb, images.load_image(download).rgb)


def test_fast_size_limit_and_a_style_by_folder(client, photo, models):
    *_, small, _ = client.predict(content=file(photo), style=str(models / "grain"), size=128,
                                  api_name="/fast_stylize")
    assert Image.open(small).size == (45, 30)  # never enlarged
    big = gradient_image(400, 200, seed=6)
    big_path = str(models.parent / "big.png")
    big.save(big_path)
    *_, shrunk, _ = client.predict(content=file(big_path), style="Dots", size=128, api_name="/fast_stylize")
    assert Image.open(shrunk).size == (128, 64)


def test_every_style_gallery(client, photo):
    tiles = client.predict(content=file(photo), api_name="/fast_every_style")
    assert sorted(tile["caption"] for tile in tiles) == ["Dots", "Grain", "Waves"]  # not the 3-style network


def test_loading_a_style_from_a_folder(client, models):
    style, *_ = client.predict(reference=str(models / "dots"), api_name="/fast_load_style")
    assert style["value"] == "Dots"  # already listed: chosen, not duplicated
    with pytest.raises(Exception, match="Blender tab"):
        client.predict(reference=str(models / "trio"), api_name="/fast_load_style")
    with pytest.raises(Exception, match="not a Hub repo id"):  # the same words whether a server path exists or not
        client.predict(reference=str(models / "missing"), api_name="/fast_load_style")


def test_fast_errors_are_clear(client, photo, tmp_path, models):
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    with pytest.raises(Exception, match="content photo: not an image file"):
        client.predict(content=file(str(text)), style="Dots", api_name="/fast_stylize")
    with pytest.raises(Exception, match="Add a content photo"):
        client.predict(content=None, style="Dots", api_name="/fast_stylize")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "config.json").write_text((models / "dots" / "config.json").read_text())
    with pytest.raises(Exception, match="model.safetensors is missing"):
        client.predict(content=file(photo), style=str(tmp_path / "empty"), api_name="/fast_stylize")


def test_blend_follows_the_weights(client, photo, models):
    def blend(**weights):
        args = {**dict(style_1="Red", weight_1=0.0, style_2="Green", weight_2=0.0, style_3="Blue", weight_3=0.0),
                **weights}
        *_, download, _ = client.predict(content=file(photo), model="trio (3 styles)", **args, api_name="/blend")
        return images.load_image(download).rgb

    red, green, half = blend(weight_1=1.0), blend(weight_2=1.0), blend(weight_1=0.3, weight_2=0.3)
    assert not torch.equal(red, green)
    assert torch.equal(red, blend(weight_1=0.2))  # weights are normalised
    net, _ = checkpoints.load_model(models / "trio")
    expected = fast.stylize_image(net, images.load_image(photo).rgb, styles=[0.5, 0.5, 0.0])
    assert (half - expected).abs().max() < 1.5 / 255  # the mix is the network's own, up to PNG rounding
    with pytest.raises(Exception, match="at least one style a weight above zero"):
        blend()


def test_blend_takes_the_style_names_of_any_network(client, photo):
    """Over the API the style slots take the chosen network's names, not only the first network's."""
    *_, timing = client.predict(content=file(photo), model="duo (2 styles)", style_1="Magenta", weight_1=1.0,
                                api_name="/blend")
    assert " ms on cpu" in timing
    with pytest.raises(Exception, match="no style named 'Red'"):
        client.predict(content=file(photo), model="duo (2 styles)", style_1="Red", weight_1=1.0, api_name="/blend")


def test_contact_sheet_has_every_style(client, photo):
    tiles = client.predict(content=file(photo), model="trio (3 styles)", api_name="/contact_sheet")
    assert [tile["caption"] for tile in tiles] == ["Red", "Green", "Blue"]


def test_the_style_tiles_and_thumbnails_picture_and_name_every_shipped_style():
    from stylehub.model import Model
    from ui import blender as blender_tab

    demo = app.build_demo(app.AppConfig(device="cpu", models=MODELS))
    shown = {block.elem_id: block.value for block in demo.blocks.values()
             if getattr(block, "elem_id", None) in ("fast-styles", "blend-thumbnails")}
    single = [Model.read(p.parent) for p in sorted(MODELS.glob("*/config.json"))]
    single = sorted(name for model in single if model.is_single_style for name in model.style_names)
    assert sorted(tile["caption"] for tile in shown["fast-styles"]) == single and len(single) >= 4
    first = Model.read(MODELS / "blender")
    assert [tile["caption"] for tile in shown["blend-thumbnails"]] == first.style_names
    assert [Path(tile["image"]["path"]).name for tile in shown["blend-thumbnails"]] == [
        Path(style.image).name for style in first.styles]
    thumbnails = blender_tab._thumbnails(MODELS / "multistyle26")  # shown when that network is chosen
    assert [name for _, name in thumbnails] == Model.read(MODELS / "multistyle26").style_names
    assert len(thumbnails) == 26 and all(Path(picture).is_file() for picture, _ in thumbnails)


def test_the_fast_tab_offers_only_networks_that_paint_without_a_painting():
    from ui import fast as fast_tab

    assert fast_tab.is_single_style({"kind": "transformer", "net": {}})
    assert not fast_tab.is_single_style({"kind": "transformer", "net": {"num_styles": 3}})  # the Blender's
    assert not fast_tab.is_single_style({"kind": "arbitrary", "net": {"style_dim": 100}})  # needs a style image


def test_any_painting_mixes_paintings_and_names_a_bad_one(client, photo, tmp_path):
    paintings = [tmp_path / "a.png", tmp_path / "b.png"]
    for path, seed in zip(paintings, (7, 8)):
        gradient_image(64, 64, seed=seed).save(path)
    result, (before, after), download, timing = client.predict(
        content=file(photo), painting_1=file(str(paintings[0])), size=128, api_name="/any_painting")
    assert Image.open(download).size == (45, 30) and " ms on cpu" in timing
    net = Model.load(MODELS / "arbitrary", "cpu").net  # as the app loads it: onnxruntime on a CPU
    one = [images.load_image(str(p)).rgb for p in paintings]
    expected = arbitrary.stylize(net, images.load_image(photo).rgb, one[:1], working_side=arbitrary.WORKING_SIDE)
    assert (images.load_image(download).rgb - expected).abs().max() < 1.5 / 255  # the engine's result, as a PNG
    *_, mixed, _ = client.predict(content=file(photo), painting_1=file(str(paintings[0])), weight_1=0.6,
                                  painting_3=file(str(paintings[1])), weight_3=0.3, api_name="/any_painting")
    expected = arbitrary.stylize(net, images.load_image(photo).rgb, one, weights=[2, 1],
                                 working_side=arbitrary.WORKING_SIDE)
    assert (images.load_image(mixed).rgb - expected).abs().max() < 1.5 / 255
    text = tmp_path / "notes.png"
    text.write_text("not a painting")
    with pytest.raises(Exception, match="painting 2: not an image file"):
        client.predict(content=file(photo), painting_1=file(str(paintings[0])), painting_2=file(str(text)),
                       api_name="/any_painting")
    with pytest.raises(Exception, match="Add a painting first"):
        client.predict(content=file(photo), painting_1=None, api_name="/any_painting")
    with pytest.raises(Exception, match="at least one painting a weight above zero"):
        client.predict(content=file(photo), painting_1=file(str(paintings[0])), weight_1=0.0,
                       api_name="/any_painting")


def test_any_painting_says_so_when_the_network_is_missing(tmp_path):
    demo = app.build_demo(app.AppConfig(device="cpu", models=tmp_path))
    shown = [block.value for block in demo.blocks.values() if getattr(block, "elem_id", None) == "any-missing"]
    assert shown and "models/arbitrary" in shown[0]
    assert "any_painting" not in [fn.api_name for fn in demo.fns.values()]


def test_refine_runs_the_optimise_tab_from_the_any_painting_result(models, photo, tmp_path):
    demo = app.build_demo(app.AppConfig(backbone="vgg11", weights="random", device="cpu", models=models))
    api = {fn.api_name: fn for fn in demo.fns.values() if fn.api_name}
    block = {b.elem_id: b for b in demo.blocks.values() if getattr(b, "elem_id", None)}
    paintings = [str(tmp_path / "a.png"), str(tmp_path / "b.png")]
    for path, seed in zip(paintings, (7, 8)):
        gradient_image(64, 64, seed=seed).save(path)
    mix = [paintings[0], 0.6, None, 1.0, paintings[1], 0.3]
    *_, painted, _ = api["any_painting"].fn(photo, *mix, size=128)

    clicked = [fn for fn in demo.fns.values() if (block["any-refine"]._id, "click") in fn.targets]
    fill = next(fn for fn in clicked if block["start"] in fn.outputs)
    assert next(fn for fn in clicked if fn is not fill).fn().selected == "optimise"  # the Optimise tab shows
    content, *styles_and_weights, start, _, _ = fill.fn(photo, *mix, painted)
    assert (content, start) == (photo, painted)
    assert styles_and_weights == [paintings[0], paintings[1], None, 0.6, 0.3, 1.0]  # the weights blend the styles
    run = next(fn for fn in demo.fns.values() if fn.trigger_after == fill._id)
    assert run.fn is api["stylize"].fn and run.inputs == api["stylize"].inputs  # then it runs as Stylise does

    tiny = dict(preset="fast", size=32, backbone="vgg11", optimizer="adam", steps=3, coarse_steps=1)
    *_, (_, _, _, result, used, status) = run.fn(content=photo, style_1=paintings[0], style_2=paintings[1],
                                                 weight_1=0.6, weight_2=0.3, start=start, **tiny)
    assert status.startswith("Done") and used["start"] == Path(painted).name
    refined = images.load_image(result).rgb
    size = refined.shape[-1], refined.shape[-2]
    from_start = (refined - images.resize(images.load_image(painted).rgb, size)).abs().mean()
    from_photo = (refined - images.resize(images.load_image(photo).rgb, size)).abs().mean()
    assert from_start < from_photo / 2  # a few small steps from the Any painting result, not from the photo

    broken = tmp_path / "broken.png"
    broken.write_text("not an image")
    with pytest.raises(gr.Error, match="starting image"):
        list(run.fn(content=photo, style_1=paintings[0], weight_1=1.0, start=str(broken), **tiny))
    _, *styles_and_weights, _, _, _ = fill.fn(photo, None, 1.0, None, 1.0, None, 1.0, painted)  # paintings removed
    with pytest.raises(gr.Error, match="Add at least one style image"):
        list(run.fn(content=photo, style_1=styles_and_weights[0], weight_1=1.0, start=painted, **tiny))
