"""A hostile visitor and a hostile model: traversal, size bombs, uploads used as model folders, non-finite weights,
kill during write, and a burst of concurrent clients. Security cases go through the real app and gradio_client.

Every case must answer in seconds with a clear error, read no file outside where it belongs and allocate nothing
a config asks for before the config is checked.
"""
import json
import math
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import torch
from safetensors.torch import save_file

gr = pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")

from conftest import gradient_image  # noqa: E402
from test_hub import TOKEN, fake_hub  # noqa: E402,F401  (the local Hub server fixture)

import app  # noqa: E402
from stylehub import checkpoints, fast, hub, images  # noqa: E402
from stylehub.checkpoints import CheckpointError  # noqa: E402
from stylehub.nets import TransformerConfig, TransformerNet  # noqa: E402
from ui.common import Scratch  # noqa: E402

file = gradio_client.handle_file
SECRET = "s3cret-contents-of-a-server-file"
ROOT = Path(__file__).resolve().parents[1]


def _net(seed: int = 0, num_styles: int = 1) -> TransformerNet:
    torch.manual_seed(seed)
    return TransformerNet(TransformerConfig(width=4, residual_blocks=1, num_styles=num_styles)).eval()


def _model(folder: Path, *, net_changes: dict | None = None, styles: list[dict] | None = None) -> Path:
    """A tiny model folder whose config.json is then edited as an attacker would."""
    checkpoints.save_model(_net(), folder, styles=styles or [{"name": "Dots"}])
    if net_changes is not None:
        config = json.loads((folder / "config.json").read_text())
        config["net"].update(net_changes)
        (folder / "config.json").write_text(json.dumps(config))
    return folder


@pytest.fixture
def secret(tmp_path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text(SECRET)
    return path


# --- model folders: configs are checked before anything is built or read --------------------------------------------

BOMBS = [{"residual_blocks": 1_000_000}, {"width": 100_000}, {"channels": [100_000] * 5}, {"num_styles": 10 ** 9},
         {"residual_blocks": -1}, {"width": 3.5}, {"width": True}, {"width": "16"}, {"output_norm": "yes"},
         {"channels": "abcde"}, {"channels": [16, 32]}, {"unknown": 1}, {"output": "relu"},
         {"width": 512, "residual_blocks": 64, "num_styles": 4096}]  # within each limit, far above the total


@pytest.mark.parametrize("changes", BOMBS, ids=lambda c: ",".join(c))
def test_config_bombs_are_refused_before_anything_is_built(tmp_path, changes):
    folder = _model(tmp_path / "m", net_changes=changes)
    started = time.perf_counter()
    with pytest.raises(CheckpointError, match="network setting|bad network settings|parameters, above the limit|"
                                              "unknown network setting"):
        checkpoints.load_model(folder)
    assert time.perf_counter() - started < 2


def test_a_config_that_does_not_match_its_weights_is_refused_before_it_is_built(tmp_path, monkeypatch):
    folder = _model(tmp_path / "m", net_changes={"residual_blocks": 60, "num_styles": 2000})
    built, real_init = [], TransformerNet.__init__

    def counting_init(self, *args):
        real_init(self, *args)
        built.append(next(self.parameters()).device.type)

    monkeypatch.setattr(TransformerNet, "__init__", counting_init)
    with pytest.raises(CheckpointError, match="does not match its config.json"):
        checkpoints.load_model(folder)
    assert built == ["meta"]  # only the shape-only skeleton was built


def test_non_finite_weights_are_refused(tmp_path):
    folder = _model(tmp_path / "m")
    state = {k: v.clone() for k, v in _net().state_dict().items()}
    state["conv_out.weight"][0, 0, 0, 0] = math.nan
    save_file(state, folder / "model.safetensors")
    with pytest.raises(CheckpointError, match="NaN or infinite weights"):
        checkpoints.load_model(folder)


@pytest.mark.parametrize("image", ["../secret.txt", "/etc/hostname", "styles/../../secret.txt", "C:\\secret.txt",
                                   "~/secret.txt", "styles\\..\\..\\secret.txt", ""])
def test_configs_cannot_name_files_outside_their_folder(tmp_path, image):
    folder = _model(tmp_path / "m", styles=[{"name": "Dots", "image": image}])
    with pytest.raises(CheckpointError, match="not a path inside the model folder"):
        checkpoints.read_config(folder)


def test_symlinks_out_of_a_model_folder_are_refused(tmp_path, secret):
    folder = _model(tmp_path / "m", styles=[{"name": "Dots", "image": "styles/dots.jpg"}])
    (folder / "styles").mkdir()
    (folder / "styles" / "dots.jpg").symlink_to(secret)
    with pytest.raises(CheckpointError, match="leads outside the model folder"):
        checkpoints.model_file(folder, "styles/dots.jpg")
    (folder / "styles" / "dots.jpg").unlink()
    (folder / "styles").rmdir()
    (folder / "styles").symlink_to(tmp_path)  # a linked folder leads out just the same
    with pytest.raises(CheckpointError, match="leads outside the model folder"):
        checkpoints.model_file(folder, "styles/secret.txt")


def test_the_hub_cache_layout_is_inside(tmp_path):
    """Files of a downloaded repo are links into the repo's own blobs/: those are the model's files."""
    repo = tmp_path / "models--alice--dots"
    (repo / "blobs").mkdir(parents=True)
    (repo / "blobs" / "abc123").write_bytes(b"jpeg")
    snapshot = _model(repo / "snapshots" / "0123", styles=[{"name": "Dots", "image": "styles/dots.jpg"}])
    (snapshot / "styles").mkdir()
    (snapshot / "styles" / "dots.jpg").symlink_to(repo / "blobs" / "abc123")
    assert checkpoints.model_file(snapshot, "styles/dots.jpg") == snapshot / "styles" / "dots.jpg"


def test_a_hub_repo_cannot_point_outside_its_folder(fake_hub, secret):  # noqa: F811
    weights = _model(secret.parent / "local")
    config = json.loads((weights / "config.json").read_text())
    config["styles"][0]["image"] = "../../../../secret.txt"
    fake_hub.add_repo("mallory/evil", {"config.json": json.dumps(config).encode(),
                                       "model.safetensors": (weights / "model.safetensors").read_bytes()})
    with pytest.raises(CheckpointError, match="mallory/evil on the Hugging Face Hub is not a StyleHub model .*not "
                                              "a path inside the model folder"):
        hub.download_model("mallory/evil")


def test_a_kill_during_a_checkpoint_write_never_leaves_a_broken_model(tmp_path):
    folder = _model(tmp_path / "m")
    writer = subprocess.Popen([sys.executable, "-c", (
        "import sys, torch; sys.path.insert(0, sys.argv[1]); from stylehub import checkpoints\n"
        "from stylehub.nets import TransformerConfig, TransformerNet\n"
        "net = TransformerNet(TransformerConfig(width=32, residual_blocks=5))\n"
        "print('ready', flush=True)\n"
        "while True: checkpoints.save_model(net, sys.argv[2], styles=[{'name': 'Big'}])"),
        str(ROOT), str(folder)], stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline().strip() == "ready"
    time.sleep(1.5)
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    net, config = checkpoints.load_model(folder)  # the small model or the big one, whole either way
    assert config["styles"][0]["name"] in ("Dots", "Big")


# --- the app: visitors choose shipped styles and Hub repo ids, never server paths -------------------------------------

@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The app with one shipped style, as a public Space runs it: no --model-folder."""
    models = tmp_path_factory.mktemp("models")
    checkpoints.save_model(_net(1), models / "dots", styles=[{"name": "Dots"}])
    demo = app.build_demo(app.AppConfig(backbone="vgg11", weights="random", device="cpu", models=models))
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, max_file_size="1mb")
    yield url, gradio_client.Client(url, verbose=False), models
    demo.close()


@pytest.fixture
def photo(tmp_path) -> str:
    path = tmp_path / "photo.png"
    gradient_image(45, 30, seed=5).save(path)
    return str(path)


def _upload(url: str, name: str, data: bytes) -> str:
    """A file sent through Gradio's public upload route, as anyone can; its path on the server."""
    response = httpx.post(url.rstrip("/") + "/gradio_api/upload", files={"files": (name, data)}, timeout=10)
    response.raise_for_status()
    return response.json()[0]


def _error(client, **kwargs) -> str:
    with pytest.raises(Exception) as raised:
        client.predict(**kwargs)
    return str(raised.value)


def test_an_upload_cannot_be_used_as_a_model_folder(served, tmp_path, secret, photo):
    url, client, _ = served
    weights = _model(tmp_path / "local")
    config = json.loads((weights / "config.json").read_text())
    config["styles"][0]["image"] = f"../../../..{secret}"
    uploaded = Path(_upload(url, "config.json", json.dumps(config).encode()))
    started = time.perf_counter()
    refused = _error(client, reference=str(uploaded.parent), api_name="/fast_load_style")
    missing = _error(client, reference=str(uploaded.parent / "nothing-here"), api_name="/fast_load_style")
    assert "not a Hub repo id" in refused
    assert refused.replace(str(uploaded.parent), "X") == missing.replace(str(uploaded.parent / "nothing-here"), "X")
    for reference in (str(uploaded.parent), str(secret.parent), "../" * 8 + "etc", "/etc", str(ROOT)):
        message = _error(client, content=file(photo), style=reference, api_name="/fast_stylize")
        assert "not a Hub repo id" in message and SECRET not in message
    assert time.perf_counter() - started < 20


def test_a_server_path_given_as_an_upload_is_not_read(served, secret):
    _, client, _ = served
    forged = {"path": str(secret), "meta": {"_type": "gradio.FileData"}}
    with pytest.raises(Exception) as raised:
        client.predict(content=forged, style="Dots", api_name="/fast_stylize")
    assert SECRET not in str(raised.value)


def test_errors_do_not_tell_which_server_paths_exist(served):
    _, client, _ = served
    existing = _error(client, reference="/etc", api_name="/fast_load_style")
    absent = _error(client, reference="/etc-not-here", api_name="/fast_load_style")
    assert existing.replace("/etc", "X") == absent.replace("/etc-not-here", "X")
    assert "no such model folder" not in existing + absent


def test_operator_folders_confine_model_files_and_bound_configs(tmp_path, secret, photo):
    """With --model-folder, a folder's config still cannot reach outside it nor build a huge network."""
    allowed = tmp_path / "allowed"
    _model(allowed / "peek", styles=[{"name": "Peek", "image": f"../../{secret.name}"}])
    _model(allowed / "bomb", net_changes={"residual_blocks": 1_000_000})
    _model(allowed / "fine")
    (allowed / "link").mkdir()
    demo = app.build_demo(app.AppConfig(backbone="vgg11", weights="random", device="cpu", models=tmp_path / "none",
                                        model_folders=(allowed,)))
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    try:
        client = gradio_client.Client(url, verbose=False)
        peek = _error(client, reference=str(allowed / "peek"), api_name="/fast_load_style")
        assert "not a path inside the model folder" in peek and SECRET not in peek
        started = time.perf_counter()
        bomb = _error(client, content=file(photo), style=str(allowed / "bomb"), api_name="/fast_stylize")
        assert "network setting 'residual_blocks'" in bomb and time.perf_counter() - started < 10
        outside = _error(client, reference=str(secret.parent), api_name="/fast_load_style")
        assert "not a Hub repo id" in outside
        *_, timing = client.predict(content=file(photo), style=str(allowed / "fine"), api_name="/fast_stylize")
        assert " ms on cpu" in timing  # the queue still answers after the bomb
    finally:
        demo.close()


def test_non_finite_mix_weights_are_refused(tmp_path, photo):
    models = tmp_path / "models"
    checkpoints.save_model(_net(2, num_styles=2), models / "duo", styles=[{"name": "A"}, {"name": "B"}])
    demo = app.build_demo(app.AppConfig(backbone="vgg11", weights="random", device="cpu", models=models))
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    try:
        client = gradio_client.Client(url, verbose=False)
        for weights in ((1e308, 1e308), (1e308, 0.0), (-1.0, 1.0)):  # NaN cannot even be sent as JSON
            try:
                *_, download, _ = client.predict(content=file(photo), model="duo (2 styles)", style_1="A",
                                                 weight_1=weights[0], style_2="B", weight_2=weights[1],
                                                 api_name="/blend")
            except Exception as err:  # refused: fine, as long as it says why
                assert re.search("(greater|less) than (maximum|minimum) value|weight", str(err))
                continue
            assert images.load_image(download).rgb.isfinite().all()  # or a real mix, never a black image
            assert images.load_image(download).rgb.max() > 0.05
    finally:
        demo.close()


def test_concurrent_clients_each_get_their_own_result(served, tmp_path):
    """32 clients at once, some with the same photo: each answer is right for its photo, none fails."""
    url, _, models = served
    net, _ = checkpoints.load_model(models / "dots")
    photos = []
    for i in range(32):
        path = tmp_path / f"p{i}.png"
        gradient_image(40, 28, seed=i % 8).save(path)  # 8 distinct photos, each sent by 4 clients
        photos.append(path)
    results, errors = [None] * 32, []

    def one(i: int) -> None:
        try:
            client = gradio_client.Client(url, verbose=False)
            results[i] = client.predict(content=file(str(photos[i])), style="Dots", api_name="/fast_stylize")
        except Exception as err:  # noqa: BLE001  (collected and reported below)
            errors.append(f"{i}: {err}")

    threads = [threading.Thread(target=one, args=(i,)) for i in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    for i, (_, (before, _), download, _) in enumerate(results):
        photo = images.load_image(photos[i]).rgb
        expected = fast.stylize_image(net, photo)
        assert (images.load_image(download).rgb - expected).abs().max() < 1.5 / 255
        assert (images.load_image(before).rgb - photo).abs().max() < 1 / 255


def test_scratch_files_are_removed_once_old(tmp_path):
    scratch = Scratch(max_age=0.0)
    first = Path(scratch.png(torch.rand(1, 3, 8, 8)))
    time.sleep(0.01)
    second = Path(scratch.png(torch.rand(1, 3, 8, 8)))
    assert not first.exists() and second.exists()
    assert len(list(scratch.root.iterdir())) == 1


def test_the_cli_refuses_a_bomb_in_one_line(tmp_path, capsys, photo):
    from stylehub import cli

    folder = _model(tmp_path / "bomb", net_changes={"residual_blocks": 1_000_000})
    started = time.perf_counter()
    assert cli.main(["apply", str(folder), photo, "-o", str(tmp_path / "out.png")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "network setting 'residual_blocks' must be an integer between 0 and 64" in err
    assert time.perf_counter() - started < 5 and not (tmp_path / "out.png").exists()
