"""The web app, served for real and driven through gradio_client (HTTP + server-sent events)."""
import time

import pytest
from PIL import Image

gr = pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")

import app  # noqa: E402
from stylehub import optimize  # noqa: E402
from ui import optimise  # noqa: E402

TINY_CONTROLS = dict(preset="fast", size=32, backbone="vgg11", optimizer="lbfgs", init="content", steps=4,
                     coarse_steps=2, content_weight=1.0, style_weight=3.0, tv_weight=1.0, preserve_colour="none",
                     style_scale=1.0, style_statistic="gram", content_layers="", style_layers="", seed=0)


def _serve(config):
    demo = app.build_demo(config)
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=None, quiet=True,
                            max_file_size="1mb")
    return demo, url


@pytest.fixture(scope="module")
def server():
    demo, url = _serve(app.AppConfig(backbone="vgg11", weights="random", device="cpu", max_queue=8))
    yield url
    demo.close()


@pytest.fixture
def client(server):
    return gradio_client.Client(server, verbose=False)


@pytest.fixture
def photos(tmp_path, content_image, style_image):
    content_image.save(tmp_path / "content.png")
    style_image.save(tmp_path / "style.png")
    return str(tmp_path / "content.png"), str(tmp_path / "style.png")


def _stylize_args(content, style, **changes):
    file = gradio_client.handle_file
    return dict(content=file(content), style_1=file(style), **{**TINY_CONTROLS, **changes})


def test_api_is_named_and_documented(client):
    api = client.view_api(print_info=False, return_format="dict")
    parameters = {p["parameter_name"]: p for p in api["named_endpoints"]["/stylize"]["parameters"]}
    assert list(parameters)[:7] == ["content", "style_1", "style_2", "style_3", "weight_1", "weight_2", "weight_3"]
    assert set(TINY_CONTROLS) <= set(parameters)
    assert parameters["steps"]["parameter_default"] == optimize.preset().steps  # optional, with the UI's default


def test_short_job_streams_progress_and_returns_an_image(client, photos):
    job = client.submit(**_stylize_args(*photos, steps=6), api_name="/stylize")
    outputs = job.result(timeout=120) and job.outputs()
    assert len(outputs) >= 2  # previews streamed before the final result
    preview, plot, (before, after), download, used, status = outputs[-1]
    assert Image.open(download).size == (32, 21) and Image.open(download).format == "PNG"
    assert Image.open(after).size == Image.open(before).size == (32, 21)
    assert used["steps"] == 6 and used["backbone"] == "vgg11" and "seconds" in used
    assert used["weights"] == "random"  # the settings name the weights they ran with
    assert status.startswith("Done: 32×21 px") and "never enlarged" not in status
    assert all("step" in out[-1] for out in outputs[:-1] if isinstance(out[-1], str))  # one status line, with steps
    assert {row[2] for row in plot["data"]} == {"total", "content", "style"}
    assert max(row[0] for row in plot["data"]) == used["steps"]  # 32 px < min_size: a single scale


def test_stop_cancels_a_running_job(client, photos):
    job = client.submit(**_stylize_args(*photos, size=64, steps=5000, preset="best"), api_name="/stylize")
    deadline = time.monotonic() + 60
    while not job.outputs() and time.monotonic() < deadline:  # wait for the first preview
        time.sleep(0.2)
    assert job.outputs(), "the job never started"
    job.cancel()
    deadline = time.monotonic() + 30
    while not job.done() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert job.done()
    # the engine is free again: a short job runs straight after
    quick = client.submit(**_stylize_args(*photos), api_name="/stylize").result(timeout=60)
    assert quick[3] is not None


def test_bad_upload_gets_a_clear_error_and_the_server_stays_up(client, photos, tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("this is not an image")
    with pytest.raises(Exception, match="content image: not an image file"):
        client.predict(**_stylize_args(str(text), photos[1]), api_name="/stylize")
    big = tmp_path / "big.png"
    Image.effect_noise((1200, 1200), 64).convert("RGB").save(big)  # over the test server's 1 MB limit
    with pytest.raises(Exception, match="exceeds the maximum file size"):
        client.predict(**_stylize_args(str(big), photos[1]), api_name="/stylize")
    assert client.predict(**_stylize_args(*photos), api_name="/stylize")[3] is not None


def test_bad_settings_get_a_clear_error(client, photos):
    with pytest.raises(Exception, match="no layer relu9_9"):
        client.predict(**_stylize_args(*photos, style_layers="relu9_9"), api_name="/stylize")


def _wait_for(job, codes, seconds=60):
    deadline = time.monotonic() + seconds
    while job.status().code not in codes and time.monotonic() < deadline:
        time.sleep(0.1)
    assert job.status().code in codes, job.status()


def test_full_queue_answers_with_a_clear_message(photos):
    demo, url = _serve(app.AppConfig(backbone="vgg11", weights="random", device="cpu", max_queue=1))
    Status = gradio_client.utils.Status
    try:
        client = gradio_client.Client(url, verbose=False)
        long = _stylize_args(*photos, size=64, steps=5000)
        running = client.submit(**long, api_name="/stylize")
        _wait_for(running, {Status.PROCESSING, Status.ITERATING, Status.PROGRESS})
        waiting = client.submit(**long, api_name="/stylize")
        _wait_for(waiting, {Status.IN_QUEUE})
        refused = client.submit(**long, api_name="/stylize")
        with pytest.raises(Exception, match="(?i)queue is full"):
            refused.result(timeout=60)
        for job in (running, waiting):
            job.cancel()
    finally:
        demo.close()


def test_weights_are_named_without_server_paths(tmp_path):
    weights = tmp_path / "secret-folder" / "vgg16-mine.safetensors"
    notice = app.weights_notice(app.AppConfig(backbone="vgg16", weights=str(weights)))
    assert "vgg16-mine.safetensors" in notice and "secret-folder" not in notice
    weights.parent.mkdir()
    weights.write_bytes(b"0123")
    config = app.AppConfig(backbone="vgg16", weights=str(weights))
    used = optimise.weights_used(optimize.preset(backbone="vgg16", weights=str(weights)), config)
    assert used == {"weights": "vgg16-mine.safetensors",
                    "weights_sha256": "1be2e452b46d7a0d9656bbb1f768e8248eba1b75baed65f5d99eafa948899a6a"}
    assert optimise.weights_used(optimize.preset(backbone="vgg11"), config) == {"weights": None}  # the Hub's


def test_the_backbone_list_offers_only_what_can_run():
    offered = optimise.runnable_backbones(app.AppConfig(backbone="vgg11", weights="random"))
    assert offered[0] == "vgg11" or "vgg11" in offered
    assert all(name == "vgg11" or optimise.weights_problem(name) is None for name in offered)


def test_missing_weights_are_explained_in_the_page():
    notice = app.weights_notice(app.AppConfig(backbone="vgg19", weights=None))
    assert "HF_HUB_OFFLINE" in notice and "--weights" in notice and "STYLEHUB_WEIGHTS" in notice
    assert app.weights_notice(app.AppConfig(backbone="vgg11", weights="random")) == ""
    demo = app.build_demo(app.AppConfig(backbone="vgg19", weights=None))  # builds, does not crash
    assert any("Backbone weights are not available" in str(getattr(b, "value", "")) for b in demo.blocks.values())


def test_ui_defaults_come_from_the_engine():
    defaults = optimize.preset()
    with gr.Blocks() as demo:
        optimise.build_tab(app.AppConfig(backbone="vgg11", weights="random"), notice="")
    labels = {getattr(b, "label", None): getattr(b, "value", None) for b in demo.blocks.values()}
    assert labels["Steps at full size"] == defaults.steps
    assert labels["Style weight"] == defaults.style_weight
    assert labels["Output size (long side, px)"] == defaults.size


def test_optional_parameters_take_the_ui_defaults(client, photos):
    file = gradio_client.handle_file
    *_, used, _ = client.predict(content=file(photos[0]), style_1=file(photos[1]), size=32, api_name="/stylize")
    defaults = optimize.preset()
    assert used["size"] == 32 and used["steps"] == defaults.steps and used["style_weight"] == defaults.style_weight


def test_an_api_call_naming_only_a_preset_gets_that_preset():
    config = app.AppConfig(backbone="vgg11", weights="random", device="cpu")
    balanced = dict(TINY_CONTROLS, steps=optimize.preset().steps)
    assert optimise.settings_from_controls(config, "fast", balanced).steps == optimize.preset("fast").steps
    assert optimise.settings_from_controls(config, "best", balanced).steps == optimize.preset("best").steps
    assert optimise.settings_from_controls(config, "fast", TINY_CONTROLS).steps == 4  # a value of one's own stays


def test_heavy_events_share_one_concurrency_group():
    demo = app.build_demo(app.AppConfig(backbone="vgg11", weights="random"))
    groups = {block_fn.name: block_fn.concurrency_id for block_fn in demo.fns.values()}
    assert groups["stylize"] == groups["example"] == app.ENGINE
