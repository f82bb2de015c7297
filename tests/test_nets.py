import pytest
import torch
import torch.nn.functional as F

from stylehub.errors import SettingsError
from stylehub.nets import (
    TRANSFORMER_SIZES,
    ConditionalInstanceNorm2d,
    TextureConfig,
    TextureNet,
    TransformerConfig,
    TransformerNet,
)

SLIM = TRANSFORMER_SIZES["slim"]


def test_transformer_keeps_the_size_and_range():
    net = TransformerNet(SLIM).eval()
    x = torch.rand(2, 3, 36, 44)
    y = net(x)
    assert y.shape == x.shape and 0 <= y.min() and y.max() <= 1


def test_transformer_layers_are_named_like_the_paper():
    net = TransformerNet(TransformerConfig(width=8, residual_blocks=2))
    names = [name for name, _ in net.named_children()]
    assert names == ["conv1", "down1", "down2", "residuals", "up1", "up2", "pad_out", "conv_out"]
    assert net.conv1.conv.kernel_size == (9, 9) and net.conv_out.kernel_size == (9, 9)
    assert net.down1.conv.stride == (2, 2) and net.up1.upsample == 2
    assert isinstance(net.conv1.pad, torch.nn.ReflectionPad2d)


def _random_conditional_norm(channels: int, num_styles: int, seed: int) -> ConditionalInstanceNorm2d:
    """A CIN layer whose per-style gamma and beta are random (not the identity they start as)."""
    torch.manual_seed(seed)
    norm = ConditionalInstanceNorm2d(channels, num_styles)
    with torch.no_grad():
        norm.weight.normal_()
        norm.bias.normal_()
    return norm


def test_conditional_norm_with_one_style_selected_equals_instance_norm():
    norm = _random_conditional_norm(4, num_styles=3, seed=0)
    x = torch.randn(2, 4, 5, 5)
    one_hot = F.one_hot(torch.tensor([1, 1]), 3).float()
    expected = F.instance_norm(x, weight=norm.weight[1], bias=norm.bias[1])
    assert torch.allclose(norm(x, one_hot), expected, atol=1e-6)


def test_convex_weights_interpolate_gamma_and_beta():
    norm = _random_conditional_norm(3, num_styles=2, seed=1)
    x = torch.randn(1, 3, 4, 4)
    mix = torch.tensor([[0.25, 0.75]])
    gamma = 0.25 * norm.weight[0] + 0.75 * norm.weight[1]
    beta = 0.25 * norm.bias[0] + 0.75 * norm.bias[1]
    assert torch.allclose(norm(x, mix), F.instance_norm(x, weight=gamma, bias=beta), atol=1e-6)


def test_style_selection_by_index_weights_and_batch():
    net = TransformerNet(TransformerConfig(width=8, residual_blocks=1, num_styles=3)).eval()
    x = torch.rand(2, 3, 16, 16)
    assert torch.equal(net.style_weights(x, 2), torch.tensor([[0.0, 0.0, 1.0]] * 2))
    assert torch.allclose(net.style_weights(x, [1, 1, 2]), torch.tensor([[0.25, 0.25, 0.5]] * 2))
    per_image = net.style_weights(x, [[1, 0, 0], [0, 1, 0]])
    assert torch.equal(per_image, torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]))
    with torch.no_grad():
        both = net(x, [[1, 0, 0], [0, 1, 0]])
        assert torch.allclose(both[1:], net(x[1:], 1), atol=1e-6)  # a batch can mix styles per image
    for bad, message in ((None, "holds 3 styles"), (5, "out of range"), ([1, 2], "2 style weights"),
                         ([-1, 1, 1], "non-negative")):
        with pytest.raises(SettingsError, match=message):
            net(x, bad)


def test_texture_net_with_content_and_from_noise_alone():
    content_net = TextureNet(TextureConfig(scales=3, channels=4)).eval()
    x = torch.rand(1, 3, 32, 24)
    assert content_net(x).shape == (1, 3, 32, 24)
    with pytest.raises(SettingsError, match="content image"):
        content_net(None, (32, 32))
    with pytest.raises(SettingsError, match="multiple of 4"):
        content_net(torch.rand(1, 3, 30, 24))
    texture_net = TextureNet(TextureConfig(scales=3, channels=4, with_content=False)).eval()
    first = texture_net(None, (16, 8), batch=2, generator=torch.Generator().manual_seed(0))
    again = texture_net(None, (16, 8), batch=2, generator=torch.Generator().manual_seed(0))
    assert first.shape == (2, 3, 8, 16) and torch.equal(first, again)


def test_default_config_keeps_the_original_network():
    net = TransformerNet(TransformerConfig(width=8, residual_blocks=1))
    assert net.conv_out.bias is not None and not hasattr(net, "norm_out")
    assert [net.down2.conv.out_channels, net.up1.conv.out_channels, net.up2.conv.out_channels] == [32, 16, 8]
    old_config = {"width": 8, "residual_blocks": 1, "num_styles": 1}  # a config.json written before the options
    assert TransformerConfig(**old_config) == net.config


def test_channels_sigmoid_output_and_normalised_last_layer():
    config = TransformerConfig(width=4, residual_blocks=1, num_styles=2, channels=[4, 6, 8, 5, 3], output="sigmoid",
                               output_norm=True)
    assert config.channels == (4, 6, 8, 5, 3) and TransformerConfig(**config.to_dict()) == config
    net = TransformerNet(config).eval()
    assert net.conv_out.bias is None and net.norm_out.weight.shape == (2, 3)
    assert net.residuals[0].conv1.conv.in_channels == 8 and net.conv_out.in_channels == 3
    with torch.no_grad():
        net.norm_out.bias.fill_(-3.0)  # the output is sigmoid(gamma * normalised + beta): a dark image
        y = net(torch.rand(1, 3, 16, 20), 0)
    assert y.shape == (1, 3, 16, 20) and 0 < y.mean() < torch.sigmoid(torch.tensor(-1.0))
    for bad, message in (({"channels": (4, 4)}, "5 widths"), ({"output": "relu"}, "output must be")):
        with pytest.raises(SettingsError, match=message):
            TransformerConfig(**bad)


def test_bilinear_upsampling_is_an_option_and_old_configs_stay_nearest():
    assert TransformerConfig(width=8, residual_blocks=1).upsample == "nearest"  # config.json files without the key
    assert "upsample" not in TransformerConfig(width=8, residual_blocks=1).to_dict()  # and the files it writes
    config = TransformerConfig(width=4, residual_blocks=1, upsample="bilinear")
    assert TransformerConfig(**config.to_dict()) == config
    torch.manual_seed(0)
    net = TransformerNet(config).eval()
    nearest = TransformerNet(TransformerConfig(width=4, residual_blocks=1)).eval()
    nearest.load_state_dict(net.state_dict())  # the same weights: only the upsampling differs
    x = torch.rand(1, 3, 24, 32)
    with torch.no_grad():
        assert net(x).shape == x.shape and not torch.allclose(net(x), nearest(x))
    with pytest.raises(SettingsError, match="upsample must be"):
        TransformerConfig(upsample="bicubic")


def test_bilinear_network_exports_to_onnx_exactly(tmp_path):
    pytest.importorskip("onnx", reason="the onnx extra is not installed")
    pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
    from stylehub import fast, onnx_export, onnx_runtime

    torch.manual_seed(0)
    net = TransformerNet(TransformerConfig(width=4, residual_blocks=1, num_styles=2, upsample="bilinear")).eval()
    with torch.no_grad():
        for name, parameter in net.named_parameters():
            if "norm" in name:
                parameter.normal_(1.0 if name.endswith("weight") else 0.0, 0.5)
    path = onnx_export.export_onnx(net, tmp_path / "net.onnx")
    image = torch.rand(1, 3, 37, 51)
    ours = onnx_runtime.onnx_session(path, threads=1).run(None, {"image": image.numpy(),
                                                             "style_weights": torch.tensor([[0.3, 0.7]]).numpy()})[0]
    expected = fast.stylize_image(net, image, styles=[0.3, 0.7])
    assert (torch.from_numpy(ours) - expected).abs().max() < 1e-5
