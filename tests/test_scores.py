"""The benchmark's grid figure reaches scores.json and the model card."""
import importlib
import json
import sys
from pathlib import Path

import torch
from conftest import gradient_image

from stylehub import cards, checkpoints
from stylehub.nets import TransformerConfig, TransformerNet

BENCH = Path(__file__).resolve().parents[1] / "bench"


def _model(folder: Path) -> Path:
    torch.manual_seed(0)
    return checkpoints.save_model(TransformerNet(TransformerConfig(width=4, residual_blocks=1)), folder,
                                  styles=[{"name": "The Scream", "source": "Edvard Munch", "licence": "public domain"}])


def test_score_models_writes_the_worst_grid_beside_style_and_content(tmp_path, monkeypatch, capsys):
    folder = _model(tmp_path / "scream")
    paintings = tmp_path / "paintings"
    paintings.mkdir()
    gradient_image(40, 40, seed=1).save(paintings / "the_scream.jpg")
    photos = []
    for i in range(2):
        photos.append(tmp_path / f"photo{i}.jpg")
        gradient_image(48, 32, seed=2 + i).save(photos[-1])
    monkeypatch.syspath_prepend(str(BENCH))
    score_models = importlib.import_module("score_models")
    judged = iter([{"grid": 0.12, "style": 10.0, "content": 2.0, "colour": 0.1},
                   {"grid": 0.25, "style": 30.0, "content": 4.0, "colour": 0.3}])
    monkeypatch.setattr(score_models, "judge", lambda *args: next(judged))
    monkeypatch.setattr(sys, "argv", ["score_models.py", str(folder), "--photos", *map(str, photos),
                                      "--paintings", str(paintings), "--size", "32"])
    score_models.main()
    scores = json.loads((folder / "scores.json").read_text())
    assert scores["The Scream"] == {"grid": 0.25, "style": 20.0, "content": 3.0, "colour": 0.2}
    assert "grid (worst)" in capsys.readouterr().out


def test_the_card_shows_grid_and_says_what_it_is(tmp_path):
    folder = _model(tmp_path / "scream")
    scores = {"size (px)": 512, "The Scream": {"grid": 0.21, "style": 4000.0, "content": 30.0}}
    (folder / cards.SCORES_NAME).write_text(json.dumps(scores))
    cards.write_card(folder, examples=None)
    text = (folder / cards.CARD_NAME).read_text()
    assert "| The Scream.grid | 0.21 |" in text and cards.GRID_NOTE in text
    plain = cards.render_card(checkpoints.read_config(folder), folder, scores={"style": 1.0})
    assert cards.GRID_NOTE not in plain  # no grid measured, no note about it
