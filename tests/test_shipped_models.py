"""Every network StyleHub trained and ships paints a real photo without a grid, in every style (judge.py's grid)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import HED_VGG16, SHARED, requires_shared

from stylehub import fast, images
from stylehub.model import Model

MODELS = Path(__file__).resolve().parents[1] / "models"
JUDGE = SHARED / "tools" / "judge.py"
PHOTO = SHARED / "images" / "content" / "tubingen.jpg"
PAINTING = SHARED / "images" / "style" / "starry_night.jpg"  # grid does not depend on it; judge.py wants one
CLEAN = 0.3  # judge.py: clean stylised images under 0.3, a visible weave 1-8
pytestmark = [pytest.mark.slow, pytest.mark.ci, requires_shared(JUDGE), requires_shared(HED_VGG16)]


def _trained_here() -> list[tuple[str, int]]:
    """(model, style index) for every style of every transformer network StyleHub trained (not imported)."""
    found = []
    for folder in sorted(p for p in MODELS.iterdir() if (p / "config.json").is_file()):
        model = Model.read(folder)
        if model.kind == "transformer" and "provenance" not in model.config:
            found += [(folder.name, i) for i in range(model.num_styles)]
    return found


@pytest.mark.parametrize("name, style", _trained_here())
def test_shipped_network_paints_without_a_grid(name, style, tmp_path):
    net = Model.load(MODELS / name, "cpu", "torch").net
    photo = images.resize_long_side(images.load_image(PHOTO).rgb, 512)
    with torch.inference_mode():
        out = images.save_image(fast.stylize_image(net, photo, styles=style), tmp_path / "out.png")
    judged = subprocess.run([sys.executable, str(JUDGE), str(out), str(PHOTO), str(PAINTING), "--size", "512"],
                            check=True, capture_output=True, text=True)
    assert json.loads(judged.stdout)["grid"] <= CLEAN
