"""Style vectors: made from paintings for the shipped arbitrary-style network, applied, published and pulled back."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import gradient_image
from fake_hub import FakeHub
from PIL import Image
from safetensors.torch import save_file
from test_hub import TOKEN, point_at

from stylehub import arbitrary, checkpoints, cli, hub, images, style_vectors, vector_files
from stylehub.model import Model
from stylehub.nets import TransformerConfig, TransformerNet

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "models" / "arbitrary"
STROKE = "0.05"  # the predictor sees the paintings at its smallest side, 64 px: quick
pytestmark = pytest.mark.skipif(not (SHIPPED / "model.safetensors").is_file(),
                                reason="models/arbitrary is absent from this checkout")


@pytest.fixture(scope="module")
def paintings(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("paintings")
    first, second = folder / "wave.png", folder / "night.jpg"
    gradient_image(600, 300, seed=2).save(first)  # larger than the copies kept: resized to 512 px
    gradient_image(40, 56, seed=3).save(second)
    return [first, second]


@pytest.fixture(scope="module")
def made_once(paintings, tmp_path_factory) -> Path:
    return style_vectors.make_style(SHIPPED, paintings, tmp_path_factory.mktemp("made") / "mystyle", weights=[2, 1],
                                    stroke=float(STROKE), name="Wave at night",
                                    sources=["https://example.org/wave", None], licences=["public domain", None],
                                    device="cpu")


@pytest.fixture
def made(made_once, tmp_path) -> Path:
    """A copy of the style, for a test to change."""
    return Path(shutil.copytree(made_once, tmp_path / "mystyle"))


@pytest.fixture
def photo(tmp_path) -> Path:
    path = tmp_path / "photo.png"
    gradient_image(48, 32, seed=5).save(path)
    return path


@pytest.fixture
def fake_hub(tmp_path, monkeypatch):
    with FakeHub(TOKEN) as server:
        point_at(monkeypatch, server.url, tmp_path)
        yield server


def run_cli(args, capsys) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def same_pixels(a: Path, b: Path) -> bool:
    return np.array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(b)))


def test_making_a_style_writes_the_vector_the_paintings_and_their_credits(made, paintings):
    assert sorted(str(p.relative_to(made)) for p in made.rglob("*")) == [
        "config.json", "style.safetensors", "styles", "styles/night.jpg", "styles/wave.jpg"]
    config = json.loads((made / "config.json").read_text())
    assert config["kind"] == "style-vector" and config["styles"][0]["name"] == "Wave at night"
    assert [(p["image"], p["weight"], p["source"], p["licence"]) for p in config["paintings"]] == [
        ("styles/wave.jpg", 2.0, "https://example.org/wave", "public domain"), ("styles/night.jpg", 1.0, "night.jpg",
                                                                               None)]
    assert config["network"] == {"sha256": style_vectors.weights_sha256(SHIPPED), "style_dim": 100, "repo": None}
    assert config["painting_side"] == 64 and config["stroke_size"] == 0.05
    assert Image.open(made / "styles" / "wave.jpg").size == (512, 256)
    assert Image.open(made / "styles" / "night.jpg").size == (40, 56)
    assert (made / "style.safetensors").stat().st_size < 1024

    net = Model.load(SHIPPED, "cpu", "torch").net  # as make-style loads it
    vectors = [arbitrary.style_vector(net, images.load_image(p).rgb, 64) for p in paintings]
    style = style_vectors.read_style(made)
    assert style.vector.shape == (1, 100) and style.vector.dtype == torch.float32
    assert torch.equal(style.vector, arbitrary.blend(vectors, [2, 1]))
    assert torch.allclose(style.vector, (2 * vectors[0] + vectors[1]) / 3)
    assert Model.read(made).kind == "style-vector" and Model.read(made).style_names == ["Wave at night"]


def test_apply_from_the_folder_paints_as_apply_with_the_paintings(made, paintings, photo, tmp_path, capsys,
                                                                  monkeypatch):
    options = ["--strength", "0.6", "--preserve-colour"]
    assert run_cli(["apply", SHIPPED, photo, "--style-image", *paintings, "--style-blend", "2", "1",
                    "--stroke-size", STROKE, *options,
                    "-o", tmp_path / "paintings.png"], capsys)[0] == 0
    assert run_cli(["apply", made, photo, *options, "--network", SHIPPED, "-o", tmp_path / "vector.png"],
                   capsys)[0] == 0
    assert same_pixels(tmp_path / "paintings.png", tmp_path / "vector.png")
    monkeypatch.chdir(ROOT)  # in a checkout, the shipped network is found without --network
    assert run_cli(["apply", made, photo, *options, "-o", tmp_path / "found.png"], capsys)[0] == 0
    assert same_pixels(tmp_path / "paintings.png", tmp_path / "found.png")


def test_make_style_from_the_command_line_sees_paintings_at_384_px(paintings, tmp_path, capsys):
    out = tmp_path / "cli-style"
    code, stdout, _ = run_cli(["make-style", SHIPPED, "--style-image", paintings[1], "--style-name", "Night",
                               "--style-licence", "CC0", "-o", out, "--json", "--device", "cpu"], capsys)
    assert code == 0 and json.loads(stdout)["output"] == str(out)
    style = style_vectors.read_style(out)
    assert style.name == "Night" and style.config["painting_side"] == 384 and style.config["stroke_size"] is None
    assert style.config["paintings"][0]["licence"] == "CC0"
    assert torch.equal(style.vector, arbitrary.style_vector(Model.load(SHIPPED, "cpu", "torch").net,
                                                            images.load_image(paintings[1]).rgb, 384))
    code, _, err = run_cli(["make-style", SHIPPED, "--style-image", *paintings, "-o", out], capsys)
    assert code == 1 and "not an empty folder" in err and err.count("\n") == 1


def test_a_pushed_style_pulls_back_and_paints_the_same_pixels(fake_hub, made, photo, tmp_path, capsys, monkeypatch):
    code, out, _ = run_cli(["push", made, "--repo", "alice/wave-at-night"], capsys)
    assert code == 0 and out.strip() == f"published {made} to {fake_hub.url}/alice/wave-at-night"
    files = fake_hub.repo("alice/wave-at-night").files
    assert set(files) == {".gitattributes", "config.json", "style.safetensors", "README.md", "styles/wave.jpg",
                          "styles/night.jpg"}
    card = files["README.md"].decode()
    for expected in ("library_name: stylehub", "stylehub apply alice/wave-at-night photo.jpg -o styled.png",
                     style_vectors.weights_sha256(SHIPPED), "![painting](styles/wave.jpg)", "public domain",
                     "[https://example.org/wave](https://example.org/wave)"):
        assert expected in card

    monkeypatch.chdir(ROOT)
    assert run_cli(["apply", made, photo, "-o", tmp_path / "local.png"], capsys)[0] == 0
    assert run_cli(["apply", "alice/wave-at-night", photo, "-o", tmp_path / "hub.png"], capsys)[0] == 0
    assert same_pixels(tmp_path / "local.png", tmp_path / "hub.png")
    pulled = Path(run_cli(["pull", "alice/wave-at-night"], capsys)[1].strip())
    assert torch.equal(style_vectors.read_style(pulled).vector, style_vectors.read_style(made).vector)


def test_a_style_made_from_a_hub_network_finds_it_there(fake_hub, paintings, photo, tmp_path, capsys, monkeypatch):
    fake_hub.add_repo("alice/arbitrary", {name: (SHIPPED / name).read_bytes() for name in checkpoints.model_files(
        {"kind": "arbitrary"})})
    folder = style_vectors.make_style("alice/arbitrary", paintings[:1], tmp_path / "s", stroke=float(STROKE),
                                      device="cpu")
    assert json.loads((folder / "config.json").read_text())["network"]["repo"] == "alice/arbitrary"
    monkeypatch.chdir(tmp_path)  # no models/arbitrary here: the network comes from the Hub
    assert run_cli(["apply", folder, photo, "-o", tmp_path / "hub.png"], capsys)[0] == 0
    assert run_cli(["apply", SHIPPED, photo, "--style-image", paintings[0], "--stroke-size", STROKE,
                    "-o", tmp_path / "local.png"], capsys)[0] == 0
    assert same_pixels(tmp_path / "hub.png", tmp_path / "local.png")


def _tamper_shape(folder: Path) -> None:
    save_file({vector_files.VECTOR_TENSOR: torch.zeros(1, 99)}, str(folder / checkpoints.VECTOR_NAME))


def _tamper_nan(folder: Path) -> None:
    save_file({vector_files.VECTOR_TENSOR: torch.full((1, 100), float("nan"))}, str(folder / checkpoints.VECTOR_NAME))


def _other_network(tmp_path: Path) -> Path:
    net, config = checkpoints.load_model(SHIPPED)
    with torch.no_grad():
        net.transfer.expand[-1].conv.bias[0] += 0.01
    return checkpoints.save_model(net, tmp_path / "other", styles=config["styles"])


def _transformer(tmp_path: Path) -> Path:
    return checkpoints.save_model(TransformerNet(TransformerConfig(width=4, residual_blocks=1)), tmp_path / "t",
                                  styles=[{}])


@pytest.mark.parametrize("tamper, network, message", [
    (_tamper_shape, None, "must hold one float32 tensor 'style_vector' of shape [1, 100], not 'style_vector' F32 "
                          "[1, 99]"),
    (_tamper_nan, None, "holds NaN or infinite numbers"),
    (None, lambda tmp: tmp / "nowhere", "nowhere cannot be opened"),
    (None, _other_network, "is another network (sha256"),
    (None, _transformer, "is a transformer model"),
])
def test_a_damaged_style_or_the_wrong_network_gets_one_clear_line(made, photo, tmp_path, capsys, tamper, network,
                                                                   message):
    if tamper:
        tamper(made)
    given = ["--network", network(tmp_path)] if network else ["--network", SHIPPED]
    out = tmp_path / "out.png"
    code, _, err = run_cli(["apply", made, photo, *given, "-o", out], capsys)
    assert code == 1 and message in err and err.count("\n") == 1, err
    assert not out.exists()


def test_without_its_network_the_style_says_how_to_give_it(made, photo, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # not a checkout: no models/arbitrary
    code, _, err = run_cli(["apply", made, photo, "-o", tmp_path / "out.png"], capsys)
    assert code == 1 and err.count("\n") == 1, err
    assert "paints with the arbitrary-style network it was made with" in err and "--network FOLDER_OR_REPO" in err
    with pytest.raises(checkpoints.CheckpointError, match="a style vector, not a network"):
        Model.load(made)


def test_a_style_without_its_vector_is_neither_pushed_nor_read(made):
    (made / checkpoints.VECTOR_NAME).unlink()
    for action in (style_vectors.read_style, lambda folder: hub.push(folder, "alice/wave")):
        with pytest.raises(checkpoints.CheckpointError, match="style.safetensors is missing"):
            action(made)
    config = json.loads((made / "config.json").read_text())
    config["network"]["sha256"] = "not a hash"
    (made / "config.json").write_text(json.dumps(config))
    with pytest.raises(checkpoints.CheckpointError, match="sha256"):
        Model.read(made)
