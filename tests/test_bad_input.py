"""What a user can get wrong: outputs that would destroy inputs or models, non-finite numbers, tiny, thin or
animated images, unwritable outputs, damaged training states and failed publishing. Each gets one clear line."""
import errno
import json
import warnings

import pytest
import torch
from conftest import gradient_image
from PIL import Image
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from test_cli import TINY, TINY_TRAIN
from test_hub import fake_hub, model_dir  # noqa: F401 (fixtures)

from stylehub import checkpoints, cli, files, images, optimize, train, training_state
from stylehub.cli.common import print_json
from stylehub.errors import ImageError, OutputError, SettingsError, StyleHubWarning
from stylehub.nets import TransformerConfig, TransformerNet
from stylehub.settings import parse_layer_weights

NAN, INF = float("nan"), float("inf")


def run_cli(args, capsys) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line_error(err: str, message: str) -> bool:
    return err.startswith("stylehub: error:") and message in err and err.count("\n") == 1


def snapshot(folder) -> dict:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def model(tmp_path):
    torch.manual_seed(0)
    return checkpoints.save_model(TransformerNet(TransformerConfig(width=4, residual_blocks=1, num_styles=4)),
                                  tmp_path / "model", styles=[{"name": n} for n in "abcd"])


@pytest.fixture
def pictures(tmp_path):
    gradient_image(48, 32, seed=1).save(tmp_path / "content.png")
    gradient_image(40, 40, seed=2).save(tmp_path / "style.jpg")
    return tmp_path / "content.png", tmp_path / "style.jpg"


# --- outputs that would destroy inputs (item 4) -------------------------------------------------------------------

def test_apply_refuses_an_output_that_is_its_input(model, pictures, capsys):
    photo = pictures[0]
    before = photo.read_bytes()
    code, _, err = run_cli(["apply", model, photo, "-o", photo.parent / "." / photo.name, "--style", "0"], capsys)
    assert code == cli.EXIT_ERROR and one_line_error(err, "is an input image")
    assert photo.read_bytes() == before


def test_apply_to_a_folder_never_overwrites_an_input_and_keeps_every_output(model, tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    gradient_image(48, 32, seed=3).save(folder / "a.jpg")
    gradient_image(48, 32, seed=4).save(folder / "a.png")
    inputs = snapshot(folder)
    code, out, _ = run_cli(["apply", model, folder, "-o", folder, "--style", "1", "--json"], capsys)
    assert code == 0 and all(snapshot(folder)[name] == data for name, data in inputs.items())
    assert [i["output"] for i in json.loads(out)["images"]] == [str(folder / "a.jpg.png"), str(folder / "a.png.png")]
    code, out, _ = run_cli(["apply", model, folder / "a.jpg", folder / "a.png", "-o", tmp_path / "out", "--style", "1"],
                           capsys)
    assert code == 0 and sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "a.png.png"]


# --- a model folder replaced only when asked (item 5) -------------------------------------------------------------

def test_training_into_a_model_folder_needs_resume_or_overwrite(pictures, tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    gradient_image(40, 36, seed=5).save(photos / "p.png")
    command = ["train", "fast", "--style", pictures[1], "--content-dir", photos, "-o", tmp_path / "m", *TINY_TRAIN,
               "--steps", "2"]
    assert run_cli(command, capsys)[0] == 0
    folder = tmp_path / "m"
    for name in ("README.md", "preview.png", "loss_curve.png", "scores.json", "training_log_extra.csv"):
        (folder / name).write_bytes(b"about the old network")
    before = snapshot(folder)
    code, _, err = run_cli(command, capsys)
    assert code == cli.EXIT_ERROR and one_line_error(err, "already holds a model: continue its training with --resume")
    assert snapshot(folder) == before
    assert run_cli([*command, "--steps", "3", "--overwrite"], capsys)[0] == 0
    left = set(snapshot(folder))
    assert not {"README.md", "preview.png", "loss_curve.png", "scores.json", "training_log_extra.csv"} & left
    assert checkpoints.read_config(folder)["training"]["steps_done"] == 3
    code, _, err = run_cli([*command, "--overwrite", "--resume"], capsys)
    assert code == cli.EXIT_ERROR and one_line_error(err, "choose one")


# --- a failed push changes nothing (items 6, 11) ------------------------------------------------------------------

def test_a_failed_push_leaves_the_folder_as_it_was_and_says_so_in_one_line(fake_hub, model_dir, capsys):  # noqa: F811
    before = snapshot(model_dir)
    fake_hub.fail("POST", "/api/repos/create", 401, message="Invalid credentials in Authorization header",
                  headers={"X-Error-Message": "Invalid username or password."})  # a server message of two lines
    code, out, err = run_cli(["push", model_dir, "--repo", "alice/starry"], capsys)
    assert code == cli.EXIT_ERROR and one_line_error(err, "the Hub did not accept the token (401)")
    assert "Invalid username or password." in err and "Invalid credentials in Authorization header" in err
    assert snapshot(model_dir) == before
    assert run_cli(["push", model_dir, "--repo", "alice/starry"], capsys)[0] == 0
    published = fake_hub.repo("alice/starry").files
    assert all(published[name] == (model_dir / name).read_bytes() for name in ("README.md", "loss_curve.png"))


def test_push_refuses_a_style_image_outside_the_folder(fake_hub, model_dir, tmp_path, capsys):  # noqa: F811
    outside = tmp_path / "private.jpg"
    gradient_image(20, 20).save(outside)
    (model_dir / "styles" / "starry_night.jpg").unlink()
    (model_dir / "styles" / "starry_night.jpg").symlink_to(outside)
    code, _, err = run_cli(["push", model_dir, "--repo", "alice/starry"], capsys)
    assert code == cli.EXIT_ERROR and one_line_error(err, "leads outside the model folder")
    assert ("model", "alice/starry") not in fake_hub.repos or not fake_hub.repo("alice/starry").files


# --- NaN and infinity (item 7) ------------------------------------------------------------------------------------

@pytest.mark.parametrize("option", [["--style-weight", "nan"], ["--content-weight=-inf"], ["--tv-weight", "inf"],
                                    ["--style-blend", "nan", "1"], ["--style-blend", "1e308", "1e308"],
                                    ["--style-blend", "0", "0"], ["--learning-rate", "inf"], ["--style-scale", "nan"]])
def test_stylize_refuses_non_finite_numbers_before_any_work(pictures, tmp_path, capsys, monkeypatch, option):
    monkeypatch.setattr(optimize, "_perceptual_loss", lambda *a: pytest.fail("the optimisation started"))
    code, _, err = run_cli(["stylize", pictures[0], pictures[1], pictures[1], "-o", tmp_path / "o.png", *TINY,
                            *option], capsys)
    assert code == cli.EXIT_ERROR and one_line_error(err, "must")


def test_layer_weights_must_be_finite_and_not_negative(tiny):
    for text in ("relu1_1:nan", "relu1_1:inf", "relu1_1:-1"):
        with pytest.raises(SettingsError, match="the weight of layer relu1_1 must be a finite number >= 0"):
            parse_layer_weights(text)
    with pytest.raises(SettingsError, match="relu2_1"):
        tiny.replace(style_layers={"relu2_1": NAN}).check()
    with pytest.raises(SettingsError, match="relu2_1"):
        train.TrainSettings(content_layers={"relu2_1": INF}).check()


@pytest.mark.parametrize("changes", [dict(style_weight=NAN), dict(content_weight=INF), dict(tv_weight=-1.0),
                                     dict(learning_rate=NAN), dict(learning_rate=0.0), dict(max_minutes=INF)])
def test_training_settings_must_be_finite(changes):
    with pytest.raises(SettingsError, match="must be (a )?finite number"):
        train.TrainSettings(**changes).check()


def test_style_weights_are_finite_and_huge_ones_still_mix(model, pictures, tmp_path, capsys):
    net, _ = checkpoints.load_model(model)
    x = torch.zeros(1, 3, 8, 8)
    assert net.style_weights(x, [1e308, 1e308, 0, 0]).tolist() == [[0.5, 0.5, 0.0, 0.0]]
    for weights in ([NAN, 1, 0, 0], [INF, 1, 0, 0], [-1, 2, 0, 0], [0, 0, 0, 0]):
        with pytest.raises(SettingsError, match="style weights must be finite, non-negative and not all zero"):
            net.style_weights(x, weights)
    code, _, err = run_cli(["apply", model, pictures[0], "-o", tmp_path / "o.png", "--style", "nan", "1", "0", "0"],
                           capsys)
    assert code == cli.EXIT_ERROR and one_line_error(err, "style weights must be finite")
    assert run_cli(["apply", model, pictures[0], "-o", tmp_path / "o.png", "--style", "1e308", "1e308", "0", "0"],
                   capsys)[0] == 0
    assert run_cli(["apply", model, pictures[0], "-o", tmp_path / "p.png", "--style", "1", "1", "0", "0"],
                   capsys)[0] == 0
    assert (tmp_path / "o.png").read_bytes() == (tmp_path / "p.png").read_bytes()


def test_a_diverging_training_stops_without_saving_that_step(pictures, tmp_path, monkeypatch):
    photos = tmp_path / "photos"
    photos.mkdir()
    gradient_image(40, 36, seed=5).save(photos / "p.png")
    generate, calls = train._generate, []

    def diverging(*args):
        calls.append(1)
        output = generate(*args)
        return output * NAN if len(calls) == 3 else output

    monkeypatch.setattr(train, "_generate", diverging)
    settings = train.TrainSettings(image_size=32, style_size=32, batch_size=2, steps=6, checkpoint_every=1,
                                   preview_every=0, backbone="vgg11", weights="random", device="cpu",
                                   content_layers={"relu2_1": 1.0}, style_layers={"relu1_1": 1.0})
    with pytest.raises(SettingsError, match=r"training diverged at step 3: the loss \(.*\) is not finite"):
        list(train.train(pictures[1], photos, tmp_path / "m", settings))
    assert checkpoints.read_config(tmp_path / "m")["training"]["steps_done"] == 2
    checkpoints.load_model(tmp_path / "m")  # finite weights


def test_json_output_is_always_valid_json(capsys):
    print_json({"losses": {"total": NAN, "style": INF}, "sizes": [(1.5, -INF)]})
    assert json.loads(capsys.readouterr().out) == {"losses": {"total": None, "style": None}, "sizes": [[1.5, None]]}


# --- bounds that keep the engines from hanging or crashing (items 8, 9) -------------------------------------------

@pytest.mark.parametrize("changes, message", [
    (dict(min_size=0), "min_size must be at least 16"), (dict(min_size=-3), "min_size must be at least 16"),
    (dict(scale_factor=1.0001), "scale_factor must be a finite number >= 1.05"),
    (dict(scale_factor=NAN), "scale_factor"), (dict(seed=10 ** 23), "seed must be a whole number from 0 to"),
    (dict(seed=-1), "seed"), (dict(seed=1e23), "seed"), (dict(style_scale=0.05), "style image would be too small"),
])
def test_stylize_settings_bounds(tiny, changes, message):
    with pytest.raises(SettingsError, match=message):
        tiny.replace(**changes).check()


@pytest.mark.parametrize("seed", [2 ** 31, -1, 10 ** 23, 1.5])
def test_training_seeds_are_bounded(seed):
    with pytest.raises(SettingsError, match="seed must be a whole number from 0 to 2147483647"):
        train.TrainSettings(seed=seed).check()


def test_an_output_name_too_long_for_its_temporary_file_is_refused_before_work(pictures, tmp_path, capsys,
                                                                               monkeypatch):
    monkeypatch.setattr(optimize, "stylize", lambda *a, **k: pytest.fail("the optimisation started"))
    long_name = tmp_path / ("x" * 250 + ".png")  # legal, but not with write_atomically's prefix and suffix
    code, _, err = run_cli(["stylize", *pictures, "-o", long_name, *TINY], capsys)
    assert code == cli.EXIT_ERROR and one_line_error(err, "file name too long; use a shorter file name")
    code, _, err = run_cli(["stylize", *pictures, "-o", tmp_path / "missing" / "o.png", *TINY], capsys)
    assert code == cli.EXIT_ERROR and one_line_error(err, "does not exist")


def test_write_failures_name_the_file_and_leave_nothing_behind(tmp_path):
    def full_disk(tmp):
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OutputError, match=r"cannot write .*out.png: no space left on device; free some disk space"):
        files.write_atomically(tmp_path / "out.png", full_disk)
    with pytest.raises(OutputError, match="file name too long"):
        files.write_atomically(tmp_path / ("y" * 250), lambda tmp: None)
    assert list(tmp_path.iterdir()) == []


def test_tiny_and_thin_images(pictures, tiny, model, tmp_path, capsys):
    Image.new("RGB", (1, 1), (200, 40, 40)).save(tmp_path / "dot.png")
    Image.new("RGB", (10000, 1)).save(tmp_path / "line.png")
    assert optimize.run(tmp_path / "dot.png", pictures[1], tiny).image.shape == (1, 3, 32, 32)
    with pytest.raises(ImageError, match="10000x1 image is too thin"):
        optimize.run(pictures[0], tmp_path / "line.png", tiny)
    code, _, err = run_cli(["stylize", pictures[0], tmp_path / "line.png", "-o", tmp_path / "o.png", *TINY], capsys)
    assert code == cli.EXIT_ERROR and one_line_error(err, "too thin")
    assert run_cli(["apply", model, tmp_path / "dot.png", "-o", tmp_path / "d.png", "--style", "0"], capsys)[0] == 0


# --- resuming from a damaged state (item 9) -----------------------------------------------------------------------

def test_resume_checks_the_training_state(pictures, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    gradient_image(40, 36, seed=5).save(photos / "p.png")
    settings = train.TrainSettings(image_size=32, style_size=32, batch_size=1, steps=1, backbone="vgg11",
                                   weights="random", device="cpu", content_layers={"relu2_1": 1.0},
                                   style_layers={"relu1_1": 1.0})
    list(train.train(pictures[1], photos, tmp_path / "m", settings))
    state = tmp_path / "m" / training_state.STATE_NAME
    tensors = load_file(str(state))
    bigger = {k: torch.zeros(2, *v.shape) if k.startswith("net.") else v for k, v in tensors.items()}
    with safe_open(str(state), framework="pt") as f:
        header = f.metadata()
    for damaged, metadata, message in [
        (tensors, None, "not a StyleHub training state"),
        (tensors, {"stylehub": "{broken"}, "unreadable training state"),
        (bigger, header, "does not match this network"),
        ({k: v for k, v in tensors.items() if not k.startswith("net.conv1")}, header,
         "net.conv1.conv.weight is missing"),
    ]:
        save_file(damaged, str(state), metadata=metadata)
        with pytest.raises(SettingsError, match=message):
            list(train.train(pictures[1], photos, tmp_path / "m", settings.replace(steps=2), resume=True))


# --- decoding quietly and saying what was done (item 11) ----------------------------------------------------------

def test_animations_use_their_first_frame_and_say_so(pictures, model, tmp_path, capsys):
    first, second = gradient_image(32, 32, seed=1), gradient_image(32, 32, seed=2)
    first.save(tmp_path / "anim.gif", save_all=True, append_images=[second])
    first.save(tmp_path / "pages.tif", save_all=True, append_images=[second])
    for name in ("anim.gif", "pages.tif"):
        with pytest.warns(StyleHubWarning, match=f"{name}: has 2 frames .* using the first"):
            loaded = images.load_image(tmp_path / name)
        assert torch.equal(loaded.rgb, images.load_image(Image.open(tmp_path / name).convert("RGB")).rgb)
    code, _, err = run_cli(["apply", model, tmp_path / "anim.gif", "-o", tmp_path / "o.png", "--style", "0"], capsys)
    assert code == 0 and err == f"stylehub: warning: {tmp_path / 'anim.gif'}: has 2 frames (an animation or a " \
                                f"multi-page file); using the first\n"


def test_too_many_pixels_gives_our_error_without_pillows_warning(tmp_path):
    Image.new("1", (10_000, 9_500)).save(tmp_path / "huge.png")  # above Pillow's warning threshold, a small file
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ImageError, match="95.0 megapixels, above the limit"):
            images.load_image(tmp_path / "huge.png")
    assert not [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)]
