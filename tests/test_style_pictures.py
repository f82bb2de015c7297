"""Every style of every shipped network can be told apart: a name and a picture kept in its model folder, both
listed in its card."""
from pathlib import Path

import pytest
import torch
from PIL import Image

from stylehub import cards, checkpoints, multistyle_onnx
from stylehub.model import Model
from stylehub.nets import TransformerConfig, TransformerNet

MODELS = Path(__file__).resolve().parents[1] / "models"
# the arbitrary-style network paints with any painting given to it: it has no styles of its own to picture
NETWORKS = sorted(p.parent for p in MODELS.glob("*/config.json") if Model.read(p.parent).kind != "arbitrary")


def test_the_shipped_networks_are_found():
    assert {"blender", "multistyle26", "starry-night"} <= {folder.name for folder in NETWORKS}


@pytest.mark.parametrize("folder", NETWORKS, ids=lambda folder: folder.name)
def test_every_shipped_style_has_a_name_a_picture_and_credits(folder):
    model = Model.read(folder)
    assert len(model.styles) == model.num_styles
    names = [style.name for style in model.styles]
    assert all(names) and len(set(names)) == len(names)
    for style in model.styles:
        picture = checkpoints.model_file(folder, style.image)
        assert picture is not None and picture.is_file(), style
        assert picture.stat().st_size < 200 * 2 ** 10
        with Image.open(picture) as image:
            image.verify()
        assert style.source and style.licence, style
    assert [(path, name) for path, name in model.pictures()] == [
        (checkpoints.model_file(folder, style.image), style.name) for style in model.styles]


def test_multistyle26_names_keep_the_index_and_describe_the_look():
    model = Model.read(MODELS / "multistyle26")
    assert model.style_names == [f"style {i} — {look}" for i, look in enumerate(multistyle_onnx.STYLE_LOOKS)]
    pictures = [checkpoints.model_file(model.folder, style.image) for style in model.styles]
    assert sum(path.stat().st_size for path in pictures) < 2 ** 20
    with Image.open(pictures[0]) as first:
        assert max(first.size) == multistyle_onnx.THUMBNAIL_SIDE


@pytest.mark.parametrize("folder", NETWORKS, ids=lambda folder: folder.name)
def test_every_shipped_card_lists_each_style_with_its_picture(folder):
    text = (folder / cards.CARD_NAME).read_text(encoding="utf-8")
    for i, style in enumerate(Model.read(folder).styles):
        assert f"| {i} | ![{style.name}]({style.image}) {style.name} |" in text
        assert f"| {style.licence} |" in text


def test_a_card_lists_each_style_and_counts_many(tmp_path):
    names = [f"look {i}" for i in range(cards.MAX_STYLE_COLUMNS + 2)]
    net = TransformerNet(TransformerConfig(width=4, residual_blocks=1, num_styles=len(names)))
    styles = [{"name": name, "image": f"styles/{i}.jpg", "source": "a test", "licence": "CC0"}
              for i, name in enumerate(names)]
    folder = checkpoints.save_model(net, tmp_path / "many", styles=styles)
    (folder / "styles").mkdir()
    for i in range(len(names) - 1):  # the last picture is missing: its name is listed without one
        Image.fromarray(torch.zeros(8, 8, 3, dtype=torch.uint8).numpy()).save(folder / "styles" / f"{i}.jpg")
    text = cards.render_card(checkpoints.read_config(folder), folder)
    assert f"paints photos in {len(names)} styles, pictured under Styles." in text
    for i, name in enumerate(names[:-1]):
        assert f"| {i} | ![{name}](styles/{i}.jpg) {name} | a test | CC0 |" in text
    assert f"| {len(names) - 1} | {names[-1]} | a test | CC0 |" in text
