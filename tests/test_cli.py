import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from stylehub import cli

TINY = ["--weights", "random", "--backbone", "vgg11", "--size", "32", "--min-size", "16", "--steps", "2",
        "--coarse-steps", "1", "--device", "cpu"]


@pytest.fixture
def inputs(tmp_path, content_image, style_image):
    content_image.save(tmp_path / "content.png")
    style_image.save(tmp_path / "style.jpg")
    return tmp_path / "content.png", tmp_path / "style.jpg"


def test_stylize_writes_the_image_and_json(inputs, tmp_path, capsys):
    out = tmp_path / "out.png"
    assert cli.main(["stylize", *map(str, inputs), "-o", str(out), *TINY, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["output"] == str(out) and summary["size"] == [32, 21]
    assert summary["settings"]["steps"] == 2 and summary["settings"]["backbone"] == "vgg11"
    assert Image.open(out).size == (32, 21)


def test_several_styles_and_layer_options(inputs, tmp_path, capsys):
    out = tmp_path / "out.tif"
    code = cli.main(["stylize", str(inputs[0]), str(inputs[1]), str(inputs[1]), "--style-blend", "2", "1", "-o",
                     str(out), *TINY, "--style-layers", "relu1_1,relu2_1:0.5", "--preserve-colour", "luminance",
                     "--bits", "16"])
    assert code == 0 and out.exists()
    assert "wrote" in capsys.readouterr().out


def test_stylize_starts_from_a_given_image(inputs, tmp_path):
    out = tmp_path / "out.png"
    assert cli.main(["stylize", *map(str, inputs), "-o", str(out), *TINY, "--start", str(inputs[1])]) == 0
    assert Image.open(out).size == (32, 21)


@pytest.mark.parametrize("args, message", [
    (["missing.png", "style.jpg", "-o", "out.png"], "content image: no such file"),
    (["content.png", "style.jpg", "-o", "out.gif"], "unsupported output type"),
    (["content.png", "style.jpg", "-o", "out.png", "--size", "9000"], "size must be between"),
    (["content.png", "notes.txt", "-o", "out.png"], "style image 1: not an image"),
    (["content.png", "style.jpg", "-o", "out.png", "--start", "notes.txt"], "starting image: not an image"),
])
def test_errors_are_one_line_with_exit_1(inputs, tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("hello")
    assert cli.main(["stylize", *TINY, *args]) == cli.EXIT_ERROR
    err = capsys.readouterr().err.strip()
    assert err.startswith("stylehub: error:") and message in err and "\n" not in err
    assert not (tmp_path / "out.png").exists()


def test_offline_without_weights(inputs, tmp_path, capsys):
    code = cli.main(["stylize", *map(str, inputs), "-o", str(tmp_path / "o.png"), "--size", "32"])
    assert code == cli.EXIT_ERROR
    assert "--weights PATH" in capsys.readouterr().err


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["stylize", "only-content.png"])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        cli.main(["stylize", "a", "b", "-o", "x.png", "--style-layers", "relu1_1:heavy"])
    assert info.value.code == 2


def test_layers_command(capsys):
    assert cli.main(["layers", "resnet50", "--json"]) == 0
    table = json.loads(capsys.readouterr().out)
    assert table["content_layers"] == ["res4c"] and len(table["style_layers"]) == 8


def test_console_script_runs_as_a_process(inputs, tmp_path):
    result = subprocess.run([sys.executable, "-m", "stylehub.cli", "stylize", "nope.png", str(inputs[1]), "-o",
                             str(tmp_path / "o.png")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and result.stderr.startswith("stylehub: error:")


TINY_TRAIN = ["--weights", "random", "--backbone", "vgg11", "--image-size", "32", "--style-size", "32",
              "--batch-size", "2", "--steps", "4", "--checkpoint-every", "2", "--device", "cpu",
              "--content-layers", "relu2_1", "--style-layers", "relu1_1,relu2_1"]


@pytest.fixture
def photo_dir(tmp_path, content_image, style_image):
    folder = tmp_path / "photos"
    folder.mkdir()
    content_image.save(folder / "a.png")
    style_image.save(folder / "b.jpg")
    return folder


def test_train_then_apply_to_a_file_and_a_folder(inputs, photo_dir, tmp_path, capsys):
    model = tmp_path / "model"
    assert cli.main(["train", "fast", "--style", str(inputs[1]), "--content-dir", str(photo_dir), "-o", str(model),
                     *TINY_TRAIN, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["steps"] == 4
    assert cli.main(["train", "fast", "--style", str(inputs[1]), "--content-dir", str(photo_dir), "-o", str(model),
                     *TINY_TRAIN, "--steps", "6", "--resume", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["steps"] == 6
    out = tmp_path / "styled.png"
    assert cli.main(["apply", str(model), str(inputs[0]), "-o", str(out), "--strength", "0.5"]) == 0
    assert Image.open(out).size == (48, 32)
    assert cli.main(["apply", str(model), str(photo_dir), "-o", str(tmp_path / "many"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert sorted(Path(i["output"]).name for i in summary["images"]) == ["a.png", "b.png"]


def test_train_multi_and_apply_a_mix(inputs, photo_dir, tmp_path, capsys):
    model = tmp_path / "multi"
    assert cli.main(["train", "multi", "--styles", str(inputs[0]), str(inputs[1]), "--content-dir", str(photo_dir),
                     "-o", str(model), *TINY_TRAIN]) == 0
    assert cli.main(["apply", str(model), str(inputs[0]), "-o", str(tmp_path / "mix.png"), "--style", "0.3",
                     "0.7"]) == 0
    assert cli.main(["apply", str(model), str(inputs[0]), "-o", str(tmp_path / "one.png"), "--style", "1"]) == 0
    assert cli.main(["apply", str(model), str(inputs[0]), "-o", str(tmp_path / "x.png"), "--style", "5"]) == 1
    assert "out of range" in capsys.readouterr().err


def test_add_style_texture_and_style_credits(inputs, photo_dir, tmp_path, capsys):
    model = tmp_path / "multi"
    assert cli.main(["train", "multi", "--styles", str(inputs[0]), str(inputs[1]), "--content-dir", str(photo_dir),
                     "-o", str(model), *TINY_TRAIN, "--style-name", "A", "--style-name", "B",
                     "--style-licence", "CC0", "--style-licence", "public domain"]) == 0
    assert cli.main(["train", "add-style", str(model), "--style", str(inputs[1]), "--content-dir", str(photo_dir),
                     "--steps", "2", "--style-name", "C", "--device", "cpu", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["steps"] == 2
    styles = json.loads((model / "config.json").read_text())["styles"]
    assert [(s["name"], s.get("licence")) for s in styles] == [("A", "CC0"), ("B", "public domain"), ("C", None)]
    assert cli.main(["train", "fast", "--style", str(inputs[1]), "--content-dir", str(photo_dir), "-o",
                     str(tmp_path / "x"), *TINY_TRAIN, "--style-name", "A", "--style-name", "B"]) == 1
    assert "2 --style-name for 1 style image(s)" in capsys.readouterr().err
    assert cli.main(["train", "texture", "--style", str(inputs[1]), "-o", str(tmp_path / "grain"), *TINY_TRAIN,
                     "--json"]) == 0  # no --content-dir: texture synthesis from noise
    assert json.loads((tmp_path / "grain" / "config.json").read_text())["net"]["with_content"] is False


def test_apply_with_a_bad_model_folder(inputs, tmp_path, capsys):
    assert cli.main(["apply", str(tmp_path), str(inputs[0]), "-o", str(tmp_path / "o.png")]) == cli.EXIT_ERROR
    assert "not a StyleHub model" in capsys.readouterr().err
