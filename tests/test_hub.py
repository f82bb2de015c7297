"""Hub integration against tests/fake_hub.py: the real huggingface_hub client talks HTTP to an in-process server.

The conftest sets HF_HUB_OFFLINE=1 before huggingface_hub is imported, so huggingface_hub.constants already hold
the real endpoint and offline mode: the `fake_hub` fixture points them (and the cache and token paths) elsewhere.
"""
import json
import logging
import re
import socket
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import gradient_image
from fake_hub import FakeHub
from huggingface_hub import ModelCard, constants
from PIL import Image

import deploy
from stylehub import cards, checkpoints, cli, hub, hub_errors
from stylehub.errors import (
    HubAuthError,
    HubConflictError,
    HubNotFoundError,
    HubOfflineError,
    HubRateLimitError,
    SettingsError,
)
from stylehub.nets import TransformerConfig, TransformerNet

TOKEN = "hf_testtokenNeverPrintMe7f3c9a1b"
PUBLISHED = {".gitattributes", "model.safetensors", "config.json", "README.md", "preview.png", "loss_curve.png",
             "styles/starry_night.jpg", "scores.json", "training_log.csv"}
STYLE = {"name": "starry_night", "source": "https://example.org/starry_night.jpg", "licence": "public domain",
         "image": "styles/starry_night.jpg"}


def point_at(monkeypatch, endpoint: str, tmp_path) -> None:
    """What HF_ENDPOINT, HF_HUB_OFFLINE=0, HF_HOME and HF_TOKEN would set, had they been set before the import."""
    monkeypatch.setattr(constants, "ENDPOINT", endpoint)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", endpoint + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "hf-token"))
    monkeypatch.setattr(constants, "HF_STORED_TOKENS_PATH", str(tmp_path / "hf-stored-tokens"))
    monkeypatch.delenv("HF_OIDC_RESOURCE", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    monkeypatch.setenv("HF_TOKEN", TOKEN)


@pytest.fixture
def fake_hub(tmp_path, monkeypatch):
    with FakeHub(TOKEN) as server:
        point_at(monkeypatch, server.url, tmp_path)
        yield server


@pytest.fixture
def model_dir(tmp_path):
    """A tiny random transformer saved the way training leaves it: log, scores and style image included."""
    torch.manual_seed(0)
    net = TransformerNet(TransformerConfig(width=4, residual_blocks=1))
    folder = checkpoints.save_model(net, tmp_path / "starry", styles=[dict(STYLE)],
                                    training={"steps": 3, "learning_rate": 0.001, "style_layers": {"relu1_2": 1.0}})
    (folder / "styles").mkdir()
    gradient_image(40, 40, seed=3).save(folder / "styles" / "starry_night.jpg")
    (folder / "training_log.csv").write_text("step,content,style,tv,total\n1,2.0,30,0.1,32.1\n2,1.5,20,0.1,21.6\n"
                                             "3,1.2,10,0.1,11.3\n")
    (folder / "scores.json").write_text(json.dumps({"style": 43414.2, "content": {"mean": 40.1}}))
    (folder / "training_state.safetensors").write_bytes(b"resume state, never published")
    return folder


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "photo.png"
    gradient_image(48, 32, seed=5).save(path)
    return path


def run_cli(args, capsys) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_push_then_pull_gives_the_same_stylised_output(fake_hub, model_dir, photo, tmp_path, capsys):
    code, out, _ = run_cli(["push", model_dir, "--repo", "alice/starry"], capsys)
    assert code == 0 and out.strip() == f"published {model_dir} to {fake_hub.url}/alice/starry"
    repo = fake_hub.repo("alice/starry")
    assert set(repo.files) == PUBLISHED and len(repo.commits) == 2  # the empty repo, then one commit with it all
    assert repo.files["model.safetensors"] == (model_dir / "model.safetensors").read_bytes()

    assert run_cli(["apply", model_dir, photo, "-o", tmp_path / "local.png"], capsys)[0] == 0
    assert run_cli(["apply", "alice/starry", photo, "-o", tmp_path / "hub.png"], capsys)[0] == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "local.png")), np.asarray(Image.open(tmp_path / "hub.png")))

    resolved = hub.resolve_model("alice/starry")
    assert sorted(p.name for p in resolved.iterdir()) == ["config.json", "model.safetensors", "preview.png", "styles"]
    code, out, _ = run_cli(["pull", "alice/starry"], capsys)
    assert code == 0 and {"README.md", "preview.png", "model.safetensors"} <= {p.name for p in
                                                                                 Path(out.strip()).iterdir()}


def test_a_second_push_updates_the_card_and_keeps_what_people_wrote(fake_hub, model_dir, capsys):
    hub.push(model_dir, "alice/starry")
    card = model_dir / "README.md"
    text = card.read_text().replace("tags:\n", "tags:\n- van-gogh\n", 1)
    text = text.replace(cards.BEGIN, "Trained on my holiday photos.\n\n" + cards.BEGIN)
    card.write_text(text)
    hub.push(model_dir, "alice/starry", license="cc-by-4.0")
    published = fake_hub.repo("alice/starry").files["README.md"].decode()
    assert published.count("Trained on my holiday photos.") == 1 and published.count(cards.BEGIN) == 1
    data = ModelCard(published).data
    assert {"van-gogh", "stylehub", "style-transfer", "image-to-image"} <= set(data.tags)
    assert data.license == "cc-by-4.0" and data.library_name == "stylehub"
    assert len(fake_hub.repo("alice/starry").commits) == 3


def test_the_card_shows_samples_settings_curve_scores_and_sources(model_dir, tmp_path):
    examples = tmp_path / "examples"
    examples.mkdir()
    gradient_image(60, 40, seed=7).save(examples / "a.jpg")
    written = cards.write_card(model_dir, repo_id="alice/starry", examples=examples)
    assert {p.name for p in written} == {"README.md", "preview.png", "loss_curve.png"}
    text = (model_dir / "README.md").read_text()
    card = ModelCard(text)
    assert card.data.library_name == "stylehub" and card.data.license == "mit"
    assert set(cards.TAGS) <= set(card.data.tags)
    for expected in ("![Example photos and their stylised versions](preview.png)", "stylehub apply alice/starry",
                     "| 0 | ![starry_night](styles/starry_night.jpg) starry_night | "
                     "[https://example.org/starry_night.jpg](https://example.org/starry_night.jpg) | public domain |",
                     "| learning_rate | 0.001 |", '| style_layers | {"relu1_2": 1.0} |', "(loss_curve.png)",
                     "| style | 4.341e+04 |", "| content.mean | 40.1 |"):
        assert expected in text
    grid = Image.open(model_dir / "preview.png")
    assert grid.size == (2 * cards.SAMPLE_SIZE, 2 * cards.SAMPLE_SIZE)  # style image on top; photo, stylised

    for name in ("training_log.csv", "scores.json", "loss_curve.png"):
        (model_dir / name).unlink()
    config = checkpoints.read_config(model_dir)
    config["styles"][0]["source"] = "/home/someone/private/paintings/starry.jpg"
    text = cards.render_card(config, model_dir)
    assert "## Scores" not in text and "loss_curve.png" not in text and "preview.png" not in text
    assert "| starry.jpg |" in text and "/home/someone" not in text


def test_a_multi_style_grid_has_a_column_per_style(tmp_path):
    net = TransformerNet(TransformerConfig(width=4, residual_blocks=1, num_styles=3))
    folder = checkpoints.save_model(net, tmp_path / "abc", styles=[{"name": n} for n in "abc"])
    gradient_image(30, 20).save(tmp_path / "p.jpg")
    grid = cards.sample_grid(net, checkpoints.read_config(folder), [tmp_path / "p.jpg"], folder)
    assert grid.size == (4 * cards.SAMPLE_SIZE, cards.SAMPLE_SIZE)


PUSH_FAILURES = [
    ("/api/repos/create", 401, {}, HubAuthError, "the Hub did not accept the token (401)"),
    ("/api/repos/create", 403, {}, HubAuthError, "the token lacks the access this needs (403)"),
    ("/commit/main", 409, {}, HubConflictError, "conflict (409)"),
    ("/api/repos/create", 429, {"Retry-After": "30"}, HubRateLimitError, "wait 30 s and try again"),
]


@pytest.mark.parametrize("path, status, headers, error, message", PUSH_FAILURES)
def test_push_failures_say_what_to_do_publish_nothing_and_hide_the_token(fake_hub, model_dir, capsys, caplog,
                                                                        path, status, headers, error, message):
    caplog.set_level(logging.DEBUG, logger="huggingface_hub")  # (httpcore's own debug trace shows the echo below)
    echo = f"the token {TOKEN} may not do this"  # a server echoing the token must not make us print it
    fake_hub.fail("POST", path, status, times=2, message=echo, headers=headers)
    with pytest.raises(error, match=re.escape(message)) as raised:
        hub.push(model_dir, "alice/starry")
    code, out, err = run_cli(["push", model_dir, "--repo", "alice/starry"], capsys)
    assert code == cli.EXIT_ERROR and err.startswith("stylehub: error: cannot publish to alice/starry")
    assert message in err and err.count("\n") == 1 and out == ""
    for text in (str(raised.value), out, err, caplog.text):
        assert TOKEN not in text
    repo = fake_hub.repos.get(("model", "alice/starry"))
    assert repo is None or "model.safetensors" not in repo.files


@pytest.mark.parametrize("args, fail, error, message", [
    (["pull", "alice/nothing"], None, HubNotFoundError, "not found on the Hub (404)"),
    (["pull", "alice/starry", "--revision", "v9"], None, HubNotFoundError, "no such revision (404)"),
    (["pull", "alice/starry"], ("GET", "/api/models/alice/starry/revision", 401), HubAuthError, "(401)"),
    (["pull", "alice/starry"], ("GET", "/api/models/alice/starry/revision", 403), HubAuthError, "(403)"),
    (["apply", "models/nothing", "x.png", "-o", "y.png"], None, HubNotFoundError,
     "models/nothing: no such model folder, and cannot download models/nothing: not found on the Hub (404)"),
])
def test_download_failures(fake_hub, model_dir, capsys, args, fail, error, message):
    hub.push(model_dir, "alice/starry")
    if fail:
        fake_hub.fail(*fail, times=2)
    with pytest.raises(error, match=re.escape(message)):
        parsed = cli.build_parser().parse_args(args)
        parsed.run(parsed)
    code, out, err = run_cli(args, capsys)
    assert code == cli.EXIT_ERROR and message in err and TOKEN not in out + err


def test_no_connection_fails_fast_and_clearly(fake_hub, model_dir, tmp_path, monkeypatch, capsys):
    with socket.socket() as s:  # a port nobody listens on: connections are refused
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    point_at(monkeypatch, closed, tmp_path)
    started = time.perf_counter()
    for args, message in ((["push", model_dir, "--repo", "alice/starry"], "cannot be reached"),
                          (["pull", "alice/starry"], "not in the local cache"),
                          (["list"], "cannot be reached"), (["deploy", "--space", "alice/demo"], "cannot be reached")):
        code, out, err = run_cli(args, capsys)
        assert code == cli.EXIT_ERROR and message in err and closed in err and TOKEN not in out + err
    assert time.perf_counter() - started < 5


def test_a_dropped_connection_is_a_hub_offline_error():
    import httpx2

    with pytest.raises(HubOfflineError, match="the connection to the Hugging Face Hub .* failed \\(ConnectError\\)"):
        with hub_errors.translated("download alice/starry"):
            raise httpx2.ConnectError("[Errno 111] Connection refused")


def test_offline_mode_is_honoured_fast_and_the_cache_still_serves(fake_hub, model_dir, photo, tmp_path, monkeypatch,
                                                                  capsys):
    hub.push(model_dir, "alice/starry")
    cached = hub.resolve_model("alice/starry")
    fake_hub.requests.clear()
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    started = time.perf_counter()
    for args in (["push", model_dir, "--repo", "alice/starry"], ["pull", "alice/wave"], ["list"],
                 ["deploy", "--space", "alice/demo"]):
        code, _, err = run_cli(args, capsys)
        assert code == cli.EXIT_ERROR and "HF_HUB_OFFLINE is set" in err
    assert time.perf_counter() - started < 2 and fake_hub.requests == []
    assert hub.resolve_model("alice/starry") == cached  # downloaded once, usable offline
    assert run_cli(["apply", "alice/starry", photo, "-o", tmp_path / "o.png"], capsys)[0] == 0
    assert hub.curated_styles() == []
    assert fake_hub.requests == []


def test_publishing_without_a_token_asks_for_one(fake_hub, model_dir, monkeypatch, capsys):
    monkeypatch.delenv("HF_TOKEN")
    code, _, err = run_cli(["push", model_dir, "--repo", "alice/starry"], capsys)
    assert code == cli.EXIT_ERROR and "no Hugging Face token; log in with `hf auth login` or set HF_TOKEN" in err
    assert fake_hub.requests == []


def test_the_token_never_appears_in_output_or_logs(fake_hub, model_dir, photo, tmp_path, monkeypatch, capfd, caplog):
    monkeypatch.setattr(constants, "HF_DEBUG", True)  # huggingface_hub then logs every request as curl
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="huggingface_hub")
    assert cli.main(["push", str(model_dir), "--repo", "alice/starry"]) == 0
    assert cli.main(["pull", "alice/starry"]) == 0
    assert cli.main(["apply", "alice/starry", str(photo), "-o", str(tmp_path / "o.png")]) == 0
    assert cli.main(["list", "--json"]) == 0
    captured = capfd.readouterr()
    assert "Authorization" in caplog.text or "authorization" in caplog.text  # the requests were logged
    assert TOKEN not in captured.out + captured.err + caplog.text


def test_list_finds_published_styles(fake_hub, model_dir, capsys):
    hub.push(model_dir, "alice/starry")
    card = "---\nlibrary_name: stylehub\ntags:\n- stylehub\n---\n# wave\n"
    fake_hub.add_repo("bob/wave", {"README.md": card.encode()}, likes=5, downloads=120)
    fake_hub.add_repo("carol/bert", {"README.md": b"---\ntags:\n- text\n---\n"}, downloads=9999)
    code, out, _ = run_cli(["list"], capsys)
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == ["repo", "likes", "downloads", "last", "modified"]
    assert lines[1].split() == ["bob/wave", "5", "120", "2025-01-02"] and lines[2].split()[0] == "alice/starry"
    assert len(lines) == 3
    code, out, _ = run_cli(["list", "--author", "bob", "--json"], capsys)
    assert json.loads(out) == [{"repo": "bob/wave", "likes": 5, "downloads": 120,
                                "last_modified": "2025-01-02T03:04:05+00:00"}]
    assert run_cli(["list", "--author", "dave"], capsys)[1].strip() == "no StyleHub styles on the Hub by dave"


def test_curated_styles_merge_the_registry_with_a_search(fake_hub, model_dir, tmp_path, monkeypatch):
    shipped = deploy.ROOT / "models" / "registry.json"
    assert isinstance(hub.read_registry(shipped), list)  # the shipped registry is valid
    registry = tmp_path / "registry.json"
    registry.write_text(json.dumps([{"repo": "alice/starry", "name": "Starry Night", "description": "Van Gogh"}]))
    hub.push(model_dir, "alice/starry")
    fake_hub.add_repo("bob/wave", {"README.md": b"---\nlibrary_name: stylehub\n---\n"}, downloads=3)
    styles = hub.curated_styles(registry=registry)
    assert [(s["repo"], s["name"], s["curated"]) for s in styles] == [("alice/starry", "Starry Night", True),
                                                                      ("bob/wave", "wave", False)]
    assert [s["repo"] for s in hub.curated_styles(registry=registry, search=False)] == ["alice/starry"]
    fake_hub.fail("GET", "^/api/models$", 404)
    assert [s["repo"] for s in hub.curated_styles(registry=registry)] == ["alice/starry"]  # a failed search
    registry.write_text(json.dumps([{"repo": "no repo id", "name": "x"}]))
    with pytest.raises(SettingsError, match="expected a list of"):
        hub.read_registry(registry)


def test_deploy_creates_a_gradio_space_in_one_commit(fake_hub, tmp_path, capsys):
    root = tmp_path / "checkout"
    for name, text in {"app.py": "import gradio\n", "requirements.txt": "gradio\n", "stylehub/__init__.py": "",
                       "ui/__init__.py": "", "stylehub/__pycache__/x.cpython-311.pyc": "",
                       "models/registry.json": "[]\n",
                       "models/starry/config.json": "{}", "models/starry/training_state.safetensors": "",
                       "examples/content/a.jpg": "jpg", ".git/HEAD": "ref",
                       "README.md": "---\ntitle: StyleHub\nsdk: gradio\napp_file: app.py\n---\n\n# StyleHub\n"}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    url = deploy.deploy("alice/demo", root=root)
    assert url == f"{fake_hub.url}/spaces/alice/demo"
    space = fake_hub.repo("alice/demo", type="space")
    assert space.sdk == "gradio" and len(space.commits) == 2
    assert set(space.files) == {".gitattributes", "app.py", "requirements.txt", "stylehub/__init__.py",
                                "ui/__init__.py",
                                "models/registry.json", "models/starry/config.json", "examples/content/a.jpg",
                                "README.md"}
    assert space.files["README.md"] == (root / "README.md").read_bytes()

    (root / "README.md").write_text("# StyleHub\n\nNo front matter here.\n")
    code, out, _ = run_cli(["deploy", "--space", "alice/demo"], capsys)  # the project's own files this time
    assert code == 0 and out.strip() == f"deployed the app to {fake_hub.url}/spaces/alice/demo"
    assert "stylehub/hub.py" in fake_hub.repo("alice/demo", type="space").files
    readme = deploy.space_readme(root)
    assert "sdk: gradio" in readme and "app_file: app.py" in readme and "No front matter here." in readme


def test_download_progress_is_reported(fake_hub, model_dir):
    hub.push(model_dir, "alice/starry")
    calls = []
    hub.resolve_model("alice/starry", progress=lambda fraction, text: calls.append((fraction, text)))
    fractions = [f for f, _ in calls]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0 and fractions == sorted(fractions)
    assert any(0 < f <= 1 and "MB" in text for f, text in calls[1:-1])


def test_resolve_model_takes_local_folders_and_rejects_what_is_no_model(fake_hub, model_dir, monkeypatch):
    assert hub.resolve_model(model_dir) == model_dir
    with pytest.raises(SettingsError, match="a revision applies to Hub repos"):
        hub.resolve_model(model_dir, "main")
    with pytest.raises(checkpoints.CheckpointError, match="no such model folder"):
        hub.resolve_model("not a repo id")
    fake_hub.add_repo("bob/text", {"README.md": b"# not a style\n", "config.json": b'{"model_type": "bert"}'})
    with pytest.raises(checkpoints.CheckpointError, match="bob/text on the Hugging Face Hub is not a StyleHub model"):
        hub.resolve_model("bob/text")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(HubOfflineError, match="models/starry: no such model folder, and cannot download models/starry: "
                                              "it is not in the local cache and HF_HUB_OFFLINE is set"):
        hub.resolve_model("models/starry")
