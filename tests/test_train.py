import json

import pytest
import torch
from conftest import gradient_image
from safetensors.torch import save_file

from stylehub import cards, checkpoints, colour, fast, images, train, training_log, training_state
from stylehub.cli import main
from stylehub.errors import SettingsError
from stylehub.nets import TextureConfig, TextureNet, TransformerConfig, TransformerNet


@pytest.fixture
def photo_dir(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(5):
        gradient_image(40, 36, seed=10 + i).save(folder / f"{i}.png")
    (folder / "notes.txt").write_text("ignored")
    return folder


@pytest.fixture
def tiny_train():
    return train.TrainSettings(image_size=32, style_size=32, batch_size=2, steps=12, learning_rate=1e-2,
                               backbone="vgg11", weights="random",
                               content_layers={"relu2_1": 1.0}, style_layers={"relu1_1": 1.0, "relu2_1": 1.0},
                               checkpoint_every=4, preview_every=6, device="cpu")


def _run(generator):
    events = list(generator)
    return events[:-1], events[-1]


def test_training_lowers_the_loss_and_writes_a_checkpoint(photo_dir, style_image, tiny_train, tmp_path):
    progress, result = _run(train.train(style_image, photo_dir, tmp_path / "model", tiny_train.replace(steps=40)))
    assert [p.step for p in progress] == list(range(1, 41))
    first, last = sum(p.losses["total"] for p in progress[:5]), sum(p.losses["total"] for p in progress[-5:])
    assert last < 0.8 * first
    assert progress[-1].eta == 0 and progress[5].preview.shape == (1, 3, 32, 32)
    net, config = checkpoints.load_model(result.folder)
    assert config["kind"] == "transformer" and config["training"]["steps_done"] == 40
    assert config["styles"][0]["name"] == "style 1"


def test_save_then_load_gives_identical_outputs(tmp_path):
    torch.manual_seed(0)
    net = TransformerNet(TransformerConfig(width=8, residual_blocks=1, num_styles=2)).eval()
    checkpoints.save_model(net, tmp_path / "m", styles=[{"name": "a"}, {"name": "b"}])
    loaded, config = checkpoints.load_model(tmp_path / "m")
    x = torch.rand(1, 3, 20, 24)
    with torch.no_grad():
        assert torch.equal(net(x, [0.3, 0.7]), loaded(x, [0.3, 0.7]))
    assert [s["name"] for s in config["styles"]] == ["a", "b"]
    texture = TextureNet(TextureConfig(scales=2, channels=4)).eval()
    checkpoints.save_model(texture, tmp_path / "t", styles=[{"name": "t"}])
    assert checkpoints.load_model(tmp_path / "t")[1]["kind"] == "texture"


def test_resume_continues_step_count_and_optimiser_state(photo_dir, style_image, tiny_train, tmp_path):
    straight, _ = _run(train.train(style_image, photo_dir, tmp_path / "a", tiny_train))
    stream = train.train(style_image, photo_dir, tmp_path / "b", tiny_train)
    for event in stream:
        if event.step == 6:
            break  # interrupted after step 6; the last checkpoint is at step 4
    stream.close()
    stale = tmp_path / "b" / ".model.safetensors.k1ll3d.tmp"  # what a run killed mid-write leaves
    stale.write_bytes(b"half a checkpoint")
    resumed, _ = _run(train.train(style_image, photo_dir, tmp_path / "b", tiny_train, resume=True))
    assert not stale.exists()
    assert [p.step for p in resumed] == list(range(5, 13))
    assert resumed[-1].losses["total"] == pytest.approx(straight[-1].losses["total"], rel=1e-4)
    a, _ = checkpoints.load_model(tmp_path / "a")
    b, _ = checkpoints.load_model(tmp_path / "b")
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.allclose(pa, pb, atol=1e-5), name


def test_time_limit_stops_with_a_checkpoint_that_resume_continues(photo_dir, style_image, tiny_train, tmp_path):
    limited = tiny_train.replace(max_minutes=1e-6)  # over after the first step
    progress, result = _run(train.train(style_image, photo_dir, tmp_path / "m", limited))
    assert [p.step for p in progress] == [1] and result.steps == 1
    record = checkpoints.read_config(tmp_path / "m")["training"]
    assert record["steps_done"] == 1 and record["hardware"].startswith("CPU")
    resumed, result = _run(train.train(style_image, photo_dir, tmp_path / "m", tiny_train, resume=True))
    assert [p.step for p in resumed] == list(range(2, 13)) and result.steps == 12
    with pytest.raises(SettingsError, match="max_minutes"):
        tiny_train.replace(max_minutes=-1).check()


def test_resume_refuses_other_settings_or_no_state(photo_dir, style_image, tiny_train, tmp_path):
    with pytest.raises(SettingsError, match="nothing to resume"):
        list(train.train(style_image, photo_dir, tmp_path / "none", tiny_train, resume=True))
    _run(train.train(style_image, photo_dir, tmp_path / "m", tiny_train.replace(steps=4)))
    with pytest.raises(SettingsError, match="learning_rate"):
        list(train.train(style_image, photo_dir, tmp_path / "m", tiny_train.replace(learning_rate=0.5), resume=True))


def test_multi_style_training_round_robin(photo_dir, style_image, content_image, tiny_train, tmp_path):
    _, result = _run(train.train([style_image, content_image], photo_dir, tmp_path / "multi",
                                 tiny_train.replace(steps=4), style_info=[{"name": "one"}, {"name": "two"}]))
    net, config = checkpoints.load_model(result.folder)
    assert net.config.num_styles == 2 and [s["name"] for s in config["styles"]] == ["one", "two"]


def test_training_input_errors(tmp_path, style_image, tiny_train):
    with pytest.raises(SettingsError, match="no such folder"):
        list(train.train(style_image, tmp_path / "missing", tmp_path / "m", tiny_train))
    (tmp_path / "empty").mkdir()
    with pytest.raises(SettingsError, match="no images"):
        list(train.train(style_image, tmp_path / "empty", tmp_path / "m", tiny_train))
    with pytest.raises(SettingsError, match="multiple of 4"):
        tiny_train.replace(image_size=30).check()


@pytest.mark.parametrize("damage, message", [
    (lambda d: (d / "config.json").unlink(), "no config.json"),
    (lambda d: (d / "config.json").write_text("{nope"), "not valid JSON"),
    (lambda d: (d / "config.json").write_text(json.dumps({"kind": "gan", "net": {}})), "not a StyleHub model"),
    (lambda d: (d / "model.safetensors").unlink(), "model.safetensors is missing"),
    (lambda d: (d / "model.safetensors").write_bytes(b"garbage"), "not a readable safetensors"),
    (lambda d: save_file({"x": torch.zeros(1)}, str(d / "model.safetensors")), "does not match its config"),
])
def test_bad_checkpoints_get_clear_errors(tmp_path, damage, message):
    folder = checkpoints.save_model(TransformerNet(TransformerConfig(width=8, residual_blocks=1)), tmp_path / "m",
                                    styles=[{"name": "x"}])
    damage(folder)
    with pytest.raises(checkpoints.CheckpointError, match=message):
        checkpoints.load_model(folder)


@pytest.fixture
def slim_net():
    torch.manual_seed(0)
    return TransformerNet(TransformerConfig(width=8, residual_blocks=1)).eval()


@pytest.mark.parametrize("size", [(1, 1), (5, 7), (33, 17), (64, 48)])
def test_any_image_size(slim_net, size):
    image = torch.rand(1, 3, size[1], size[0])
    assert fast.stylize_image(slim_net, image).shape == image.shape


def test_strength_zero_returns_the_photo_and_colour_preservation(slim_net):
    image = torch.rand(1, 3, 24, 24) * 0.5 + 0.25  # mid-tones: no clamping of the recombined colours
    assert torch.equal(fast.stylize_image(slim_net, image, strength=0.0), image)
    kept = fast.stylize_image(slim_net, image, preserve_colour=True)
    chroma_error = (colour.rgb_to_yiq(kept)[:, 1:] - colour.rgb_to_yiq(image)[:, 1:]).abs().mean()
    assert chroma_error < 0.01
    with pytest.raises(SettingsError, match="strength"):
        fast.stylize_image(slim_net, image, strength=1.5)


class Negative(torch.nn.Module):
    """A pointwise 'network': tiling must reproduce its whole-image output exactly."""

    stride = 4

    def __init__(self):
        super().__init__()
        self.unused = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x, styles=None):
        return 1 - x


def test_tiles_cover_large_images_exactly():
    image = torch.rand(1, 3, 70, 90)
    tiled = fast.stylize_image(Negative(), image, max_tile=40, overlap=8)
    assert torch.allclose(tiled, 1 - image, atol=1e-6)


def test_working_side_paints_larger_photos_small_and_resizes_back(slim_net):
    image, small = torch.rand(1, 3, 90, 120), torch.rand(1, 3, 48, 64)
    shrunk = images.resize_long_side(image, 64, filter="fast")  # as the networks shrink a photo
    expected = images.resize(fast.stylize_image(slim_net, shrunk), (120, 90))
    got = fast.stylize_image(slim_net, image, working_side=64)
    assert got.shape == image.shape and torch.allclose(got, expected, atol=1e-6)
    kept = fast.stylize_image(slim_net, image, working_side=64, preserve_colour=True, strength=0.5)
    assert torch.allclose(kept, (0.5 * colour.combine_luminance(expected, image) + 0.5 * image).clamp(0, 1),
                          atol=1e-6)  # colours and strength at the photo's own resolution
    assert torch.equal(fast.stylize_image(slim_net, small, working_side=64), fast.stylize_image(slim_net, small))
    with pytest.raises(SettingsError, match="working side"):
        fast.stylize_image(slim_net, image, working_side=8)


def test_tiled_network_output(slim_net):
    image = torch.rand(1, 3, 70, 90)
    tiled = fast.stylize_image(slim_net, image, max_tile=40, overlap=8)
    assert tiled.shape == image.shape and torch.isfinite(tiled).all()


def test_two_process_gloo_run_equals_one_process_with_the_whole_batch(photo_dir, style_image, tmp_path):
    """torchrun + DistributedDataParallel on the CPU: each process takes half of every step's photos."""
    import os
    import subprocess
    import sys

    from stylehub import cli

    style_image.save(tmp_path / "style.png")
    common = ["train", "fast", "--style", str(tmp_path / "style.png"), "--content-dir", str(photo_dir),
              "--image-size", "32", "--style-size", "32", "--steps", "3", "--learning-rate", "0.01",
              "--weights", "random", "--backbone", "vgg11", "--device", "cpu", "--content-layers", "relu2_1",
              "--style-layers", "relu1_1,relu2_1", "--json"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
              "-m", "stylehub.cli", *common, "--batch-size", "1", "-o", str(tmp_path / "ddp")]
    done = subprocess.run(launch, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert len([line for line in done.stdout.splitlines() if line.startswith("{")]) == 1  # only rank 0 reports
    assert cli.main([*common, "--batch-size", "2", "-o", str(tmp_path / "single")]) == 0
    assert cli.main([*common, "--batch-size", "1", "-o", str(tmp_path / "half")]) == 0  # one process's share only
    ddp, config = checkpoints.load_model(tmp_path / "ddp")
    assert config["training"]["processes"] == 2
    single, half = (checkpoints.load_model(tmp_path / name)[0] for name in ("single", "half"))
    # Adam moves every weight by about the learning rate whatever its gradient's size, so where a gradient is
    # nearly zero (the residual blocks' last norm biases, which the next instance norms cancel) float
    # reduction-order differences flip its step. Counted over all weights, the two-process run parts from the
    # whole-batch run far less than a run that saw only one process's photos.
    def parted(net, other) -> float:
        ours, theirs = (torch.cat([p.detach().flatten() for p in n.parameters()]) for n in (net, other))
        return ((ours - theirs).abs() > 0.005).float().mean().item()  # half the learning rate
    assert parted(ddp, single) < 0.1 * parted(half, single)


def test_training_keeps_a_loss_log_and_the_style_image(photo_dir, style_image, tiny_train, tmp_path):
    out = tmp_path / "model"
    stream = train.train(style_image, photo_dir, out, tiny_train, style_info=[{"name": "Dots", "licence": "CC0"}])
    for event in stream:
        if event.step == 6:
            break  # interrupted after the checkpoint at step 4
    stream.close()
    _run(train.train(style_image, photo_dir, out, tiny_train, resume=True))
    rows = (out / training_log.LOG_NAME).read_text().splitlines()
    assert rows[0] == "step,content,style,tv,total"
    assert [int(r.split(",")[0]) for r in rows[1:]] == list(range(1, 13))  # steps 5-6 of the first run dropped
    entry = checkpoints.read_config(out)["styles"][0]
    assert entry["name"] == "Dots" and entry["licence"] == "CC0" and entry["image"] == "styles/dots.jpg"
    assert images.load_image(out / entry["image"]).rgb.shape[-2:] == (32, 32)


def test_add_style_trains_only_the_new_style(photo_dir, style_image, content_image, tiny_train, tmp_path):
    _run(train.train([style_image, content_image], photo_dir, tmp_path / "two", tiny_train.replace(steps=4)))
    before, _ = checkpoints.load_model(tmp_path / "two")
    progress, _ = _run(train.add_style(tmp_path / "two", style_image.rotate(90), photo_dir, tmp_path / "three",
                                       steps=8, style_info=[{"name": "turned"}], device="cpu"))
    assert progress[-1].step == 8
    after, config = checkpoints.load_model(tmp_path / "three")
    assert [s["name"] for s in config["styles"]] == ["style 1", "style 2", "turned"]
    photo = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        for index in (0, 1):  # the existing styles are untouched, bit for bit
            assert torch.equal(before(photo, index), after(photo, index))
        assert not torch.equal(after(photo, 2), after(photo, [1.0, 1.0, 0.0]))  # the new one learnt something
    assert sorted(p.name for p in (tmp_path / "three" / "styles").iterdir()) == ["style_1.jpg", "style_2.jpg",
                                                                                  "turned.jpg"]
    assert config["training"]["steps_done"] == 4  # the joint training's record, plus the added style's
    assert [(a["name"], a["steps_done"]) for a in config["training"]["added_styles"]] == [("turned", 8)]
    assert sorted(p.name for p in (tmp_path / "three").glob("*.csv")) == ["training_log.csv",
                                                                         "training_log_turned.csv"]
    assert not (tmp_path / "three" / training_state.STATE_NAME).exists()
    state = (tmp_path / "two" / training_state.STATE_NAME).read_bytes()
    _run(train.add_style(tmp_path / "two", style_image, photo_dir, steps=2, device="cpu"))  # in place
    assert (tmp_path / "two" / training_state.STATE_NAME).read_bytes() == state  # the base can still be resumed
    assert checkpoints.read_config(tmp_path / "two")["net"]["num_styles"] == 3


def test_finetune_trains_on_its_own_styles_with_its_settings_and_todays_grid_term(photo_dir, style_image, tiny_train,
                                                                                 tmp_path, capsys):
    _run(train.train(style_image, photo_dir, tmp_path / "base", tiny_train.replace(steps=4),
                     style_info=[{"name": "Stripes", "licence": "CC0"}]))
    config_file = tmp_path / "base" / checkpoints.CONFIG_NAME
    config = json.loads(config_file.read_text())
    del config["training"]["grid_weight"]  # as recorded before the grid term existed
    config_file.write_text(json.dumps(config))
    base, _ = checkpoints.load_model(tmp_path / "base")
    assert main(["train", "finetune", str(tmp_path / "base"), "--content-dir", str(photo_dir), "-o",
                 str(tmp_path / "tuned"), "--steps", "3", "--weights", "random", "--device", "cpu", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["steps"] == 3
    tuned, tuned_config = checkpoints.load_model(tmp_path / "tuned")
    record = tuned_config["training"]
    assert record["fine_tuned_from"] == config["training"] and record["steps_done"] == 3
    assert record["grid_weight"] == train.TrainSettings().grid_weight  # today's default, the base had none
    assert (record["image_size"], record["style_layers"]) == (32, tiny_train.style_layers)  # the base's own
    assert tuned_config["styles"] == config["styles"]
    picture = config["styles"][0]["image"]  # copied as it is, not saved again as a JPEG
    assert (tmp_path / "tuned" / picture).read_bytes() == (tmp_path / "base" / picture).read_bytes()
    card = cards.render_card(tuned_config, tmp_path / "tuned")
    assert "| steps_done | 3 |" in card.split("Fine-tuned")[0] and "| steps_done | 4 |" in card.split("Fine-tuned")[1]
    assert main(["train", "finetune", str(tmp_path / "tuned"), "--content-dir", str(photo_dir), "-o",
                 str(tmp_path / "tuned-again"), "--steps", "2", "--weights", "random", "--device", "cpu"]) == 0
    chain = cards.render_card(checkpoints.read_config(tmp_path / "tuned-again"), tmp_path / "tuned-again")
    sections = chain.split("Fine-tuned")  # each base in its own table, the newest first
    assert [s.count("| steps_done |") for s in sections] == [1, 1, 1] and "fine_tuned_from" not in chain
    assert [f"| steps_done | {n} |" in s for n, s in zip((2, 3, 4), sections)] == [True] * 3
    photo = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert not torch.equal(base(photo), tuned(photo))
    with pytest.raises(SettingsError, match="new folder"):
        list(train.finetune(tmp_path / "base", photo_dir, tmp_path / "base"))
    with pytest.raises(SettingsError, match="2 style image"):
        list(train.finetune(tmp_path / "base", photo_dir, tmp_path / "two", styles=[photo_dir / "0.png"] * 2))
    texture = checkpoints.save_model(TextureNet(TextureConfig(scales=2, channels=2)), tmp_path / "t", styles=[{}])
    with pytest.raises(SettingsError, match="only transformer networks"):
        list(train.finetune(texture, photo_dir, tmp_path / "t2"))


def test_finetune_of_one_style_leaves_the_others_bit_identical(photo_dir, style_image, content_image, tiny_train,
                                                                tmp_path):
    _run(train.train([style_image, content_image], photo_dir, tmp_path / "two", tiny_train.replace(steps=4)))
    before, base_config = checkpoints.load_model(tmp_path / "two")
    assert main(["train", "finetune", str(tmp_path / "two"), "--only-style", "1", "--content-weight", "2.5",
                 "--content-dir", str(photo_dir), "-o", str(tmp_path / "tuned"), "--steps", "3", "--weights",
                 "random", "--device", "cpu", "--json"]) == 0
    after, config = checkpoints.load_model(tmp_path / "tuned")
    photo = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(before(photo, 0), after(photo, 0))
        assert not torch.equal(before(photo, 1), after(photo, 1))
    record = config["training"]
    assert {k: v for k, v in record.items() if k != "tuned_styles"} == base_config["training"]
    [run] = record["tuned_styles"]
    assert (run["name"], run["content_weight"], run["steps_done"]) == ("style 2", 2.5, 3)
    for picture in ("style_1.jpg", "style_2.jpg"):  # the base's, byte for byte
        assert (tmp_path / "tuned" / "styles" / picture).read_bytes() == \
            (tmp_path / "two" / "styles" / picture).read_bytes()
    assert (tmp_path / "tuned" / "training_log_style_2.csv").is_file()
    card = cards.render_card(config, tmp_path / "tuned")
    assert "Then style 2 fine-tuned alone (its gamma and beta only)" in card and "tuned_styles" not in card
    for index in (2, -1):
        with pytest.raises(SettingsError, match="style index must be 0-1"):
            list(train.finetune(tmp_path / "two", photo_dir, tmp_path / "bad", only_style=index))
    _run(train.train(style_image, photo_dir, tmp_path / "one", tiny_train.replace(steps=1)))
    with pytest.raises(SettingsError, match="one style"):
        list(train.finetune(tmp_path / "one", photo_dir, tmp_path / "bad", only_style=0))
    assert not (tmp_path / "bad").exists()


@pytest.mark.parametrize("with_photos", [True, False])
def test_texture_network_training_lowers_the_loss(photo_dir, style_image, tiny_train, tmp_path, with_photos):
    settings = tiny_train.replace(generator="texture", steps=30, batch_size=2)
    progress, result = _run(train.train(style_image, photo_dir if with_photos else None, tmp_path / "texture",
                                        settings))
    first, last = sum(p.losses["style"] for p in progress[:5]), sum(p.losses["style"] for p in progress[-5:])
    assert last < 0.8 * first
    net, config = checkpoints.load_model(result.folder)
    assert config["kind"] == "texture" and config["net"]["with_content"] is with_photos
    assert (progress[-1].preview.shape == (1, 3, 32, 32))

