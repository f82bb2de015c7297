"""Each setting is declared once, as a field of its engine's settings dataclass: adding one is one edit, and the
command line, the Optimise tab's controls and its /stylize API all offer it."""
import dataclasses

import pytest

from stylehub import cli, optimize, train
from stylehub.errors import SettingsError
from stylehub.settings import App, given_values, setting

# The /stylize API's parameters, which clients may pass by position: a new setting comes after them. `start` (an
# image to begin from, for Refine) came after the settings of its time.
STYLIZE_API = ["content", "style_1", "style_2", "style_3", "weight_1", "weight_2", "weight_3", "preset", "size",
               "backbone", "optimizer", "init", "steps", "coarse_steps", "content_weight", "style_weight", "tv_weight",
               "preserve_colour", "style_scale", "style_statistic", "content_layers", "style_layers", "seed", "start"]


class Seen(Exception):
    """Raised in place of the engine, with the settings it was given."""


def _seen(*args, **kwargs):
    raise Seen(next(a for a in args if isinstance(a, (optimize.StylizeSettings, train.TrainSettings))))


@pytest.fixture
def sharpness(monkeypatch):
    """StylizeSettings with one more setting, declared the way a new field is."""
    field = setting(0.5, help="edge sharpness", minimum=0, app=App("Sharpness", row="weights"))
    extended = dataclasses.make_dataclass("StylizeSettings", [("sharpness", float, field)],
                                          bases=(optimize.StylizeSettings,))
    monkeypatch.setattr(optimize, "StylizeSettings", extended)


@pytest.fixture
def warmup(monkeypatch):
    """TrainSettings with one more setting."""
    field = setting(10, help="steps of learning-rate warm-up", minimum=0)
    extended = dataclasses.make_dataclass("TrainSettings", [("warmup", int, field)], bases=(train.TrainSettings,))
    monkeypatch.setattr(train, "TrainSettings", extended)


def _help(capsys, *command) -> str:
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args([*command, "--help"])
    return " ".join(capsys.readouterr().out.split())  # one line, whatever the terminal's width


def test_a_new_stylize_setting_is_an_option_of_stylize(sharpness, capsys, monkeypatch, tmp_path):
    assert "--sharpness SHARPNESS edge sharpness (default 0.5)" in _help(capsys, "stylize")
    monkeypatch.setattr(optimize, "stylize", _seen)
    with pytest.raises(Seen) as seen:
        cli.main(["stylize", "content.png", "style.png", "-o", str(tmp_path / "out.png"), "--sharpness", "0.8"])
    assert seen.value.args[0].sharpness == 0.8


def test_a_new_train_setting_is_an_option_of_every_train_kind(warmup, capsys, monkeypatch, tmp_path):
    for kind in ("fast", "multi", "texture"):
        assert "--warmup WARMUP steps of learning-rate warm-up (default 10)" in _help(capsys, "train", kind)
    monkeypatch.setattr(train, "train", _seen)
    with pytest.raises(Seen) as seen:
        cli.main(["train", "fast", "--style", "style.png", "--content-dir", str(tmp_path), "-o",
                  str(tmp_path / "model"), "--warmup", "3"])
    assert seen.value.args[0].warmup == 3


def test_a_new_stylize_setting_is_a_control_and_an_api_parameter(sharpness, tmp_path, content_image, style_image):
    gr = pytest.importorskip("gradio")
    from ui import optimise
    from ui.common import AppConfig

    config = AppConfig(backbone="vgg11", weights="random", device="cpu")
    with gr.Blocks() as demo:
        optimise.build_tab(config, "")
    control = next(b for b in demo.blocks.values() if getattr(b, "label", None) == "Sharpness")
    assert isinstance(control, gr.Number) and control.value == 0.5 and control.minimum == 0
    parameters = demo.get_api_info()["named_endpoints"]["/stylize"]["parameters"]
    assert [p["parameter_name"] for p in parameters] == [*STYLIZE_API, "sharpness"]
    assert parameters[-1]["parameter_default"] == 0.5  # optional, with the control's value

    content_image.save(tmp_path / "content.png")
    style_image.save(tmp_path / "style.png")
    stylize = next(f.fn for f in demo.fns.values() if f.api_name == "stylize")
    *_, (_, _, _, _, used, status) = stylize(content=str(tmp_path / "content.png"), style_1=str(tmp_path / "style.png"),
                                             weight_1=1.0, preset="fast", size=32, steps=2, backbone="vgg11",
                                             sharpness=0.8)
    assert used["sharpness"] == 0.8 and used["steps"] == 2 and status.startswith("Done")


def test_the_app_keeps_the_api_of_stylize():
    gr = pytest.importorskip("gradio")
    from ui import optimise
    from ui.common import AppConfig

    with gr.Blocks() as demo:
        optimise.build_tab(AppConfig(backbone="vgg11", weights="random", device="cpu"), "")
    parameters = demo.get_api_info()["named_endpoints"]["/stylize"]["parameters"]
    assert [p["parameter_name"] for p in parameters] == STYLIZE_API


def test_switches_aliases_and_layer_options_read_as_before():
    parser = cli.build_parser()
    args = parser.parse_args(["stylize", "c.png", "s.png", "-o", "o.png", "--preserve-color", "luminance",
                              "--normalize-weights", "--style-blend", "2", "1", "--content-layers", "relu4_2:2"])
    assert given_values(optimize.StylizeSettings, vars(args)) == {
        "preserve_colour": "luminance", "normalize_weights": True, "style_blend": [2.0, 1.0],
        "content_layers": {"relu4_2": 2.0}}
    args = parser.parse_args(["train", "texture", "--style", "s.png", "-o", "model", "--no-amp"])
    assert given_values(train.TrainSettings, vars(args)) == {"generator": "texture", "amp": False}
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "texture", "--style", "s.png", "-o", "model", "--net-size", "tiny"])


def test_choices_are_checked_from_the_declarations():
    with pytest.raises(SettingsError, match="pooling must be one of avg, max, not 'mean'"):
        optimize.StylizeSettings(pooling="mean").check()
    with pytest.raises(SettingsError, match="net_size must be one of paper, slim, tiny, not 'huge'"):
        train.TrainSettings(net_size="huge").check()
