import time

import pytest
import torch
from conftest import HED_VGG16, requires_shared
from safetensors.torch import save_file
from torch import nn

from stylehub import backbones
from stylehub.backbones import BACKBONES, load_backbone, normalize_weights
from stylehub.errors import SettingsError, WeightsUnavailableError

VGG_CHANNELS = {1: 64, 2: 128, 3: 256, 4: 512, 5: 512}


@pytest.mark.parametrize("name", ["vgg11", "vgg13", "vgg16", "vgg19"])
def test_vgg_layer_table(name):
    extractor = load_backbone(name, weights="random", pooling="max")
    convs = {"vgg11": 8, "vgg13": 10, "vgg16": 13, "vgg19": 16}[name]
    kinds = {"conv": nn.Conv2d, "relu": nn.ReLU, "pool": nn.MaxPool2d}
    assert sum(n.startswith("conv") for n in extractor.layer_names) == convs
    for layer_name, layer in extractor.layers.items():
        kind = layer_name.rstrip("0123456789_")
        assert isinstance(layer, kinds[kind]), layer_name
        if kind == "conv":
            block = int(layer_name[4])
            assert layer.out_channels == VGG_CHANNELS[block], layer_name
    spec = BACKBONES[name]
    assert set(spec.style_layers + spec.content_layers) <= set(extractor.layer_names)


def test_resnet50_layer_table():
    extractor = load_backbone("resnet50", weights="random")
    names = extractor.layer_names
    assert names[:4] == ("conv1", "bn1", "relu1", "pool1")
    assert names[4:] == tuple(f"res{s}{b}" for s, n in zip("2345", (3, 4, 6, 3)) for b in "abcdef"[:n])
    spec = BACKBONES["resnet50"]
    assert len(spec.content_layers) == 1 and len(spec.style_layers) == 8
    out = extractor(torch.rand(1, 3, 64, 64), ["res2c", "res5c"])
    assert out["res2c"].shape[1] == 256 and out["res5c"].shape[1] == 2048


def test_average_pooling_replaces_max_pooling():
    avg = load_backbone("vgg11", weights="random", pooling="avg")
    assert not any(isinstance(m, nn.MaxPool2d) for m in avg.layers.values())
    assert sum(isinstance(m, nn.AvgPool2d) for m in avg.layers.values()) == 5


def test_conv_outputs_are_pre_relu_and_frozen():
    extractor = load_backbone("vgg11", weights="random")
    out = extractor(torch.rand(1, 3, 32, 32), ["conv2_1", "relu2_1"])
    assert (out["conv2_1"] < 0).any()
    assert torch.equal(out["relu2_1"], out["conv2_1"].clamp_min(0))
    assert not any(p.requires_grad for p in extractor.parameters())
    extractor.train()
    assert not extractor.training


def test_unknown_layer_and_backbone():
    extractor = load_backbone("vgg11", weights="random")
    with pytest.raises(SettingsError, match="no layer relu9_9"):
        extractor(torch.rand(1, 3, 16, 16), ["relu9_9"])
    with pytest.raises(SettingsError, match="unknown backbone"):
        load_backbone("alexnet", weights="random")


def test_weight_normalisation_gives_unit_mean_activations_and_same_features_up_to_scale():
    torch.manual_seed(0)
    extractor = load_backbone("vgg11", weights="random")
    calibration = [torch.rand(2, 3, 32, 32), torch.rand(1, 3, 40, 24)]
    normalised = normalize_weights(extractor, calibration)
    relus = [n for n in extractor.layer_names if n.startswith("relu")]
    for name in relus:
        acts = [normalised(x, [name])[name] for x in calibration]
        mean = sum(a.sum((0, 2, 3)) for a in acts) / sum(a.shape[0] * a.shape[2] * a.shape[3] for a in acts)
        alive = mean > 1e-3  # filters that never fire on these images keep their (zero) mean
        assert torch.allclose(mean[alive], torch.ones_like(mean[alive]), atol=1e-2), name
    x = torch.rand(1, 3, 32, 32)
    before, after = extractor(x, ["relu3_1"])["relu3_1"], normalised(x, ["relu3_1"])["relu3_1"]
    ratio = after.sum((2, 3)) / before.sum((2, 3)).clamp_min(1e-12)
    assert torch.allclose(after, before * ratio.view(1, -1, 1, 1), rtol=1e-3, atol=1e-4)
    assert ratio.std() > 0  # channels were rescaled differently, yet each one only by a constant
    assert extractor.layers["conv1_1"].weight is not normalised.layers["conv1_1"].weight  # the cache is untouched


def test_weight_normalisation_is_vgg_only():
    with pytest.raises(SettingsError, match="VGG"):
        normalize_weights(load_backbone("resnet50", weights="random"), [torch.rand(1, 3, 32, 32)])


def test_local_weights_file_is_loaded(tmp_path):
    import timm

    model = timm.create_model("vgg11.tv_in1k", pretrained=False)
    state = {k: v.clone() for k, v in model.state_dict().items() if k.startswith("features.")}
    path = tmp_path / "vgg11.safetensors"
    save_file(state, str(path))
    extractor = load_backbone("vgg11", weights=path)
    assert torch.equal(extractor.layers["conv1_1"].weight, state["features.0.weight"])
    assert torch.equal(extractor.layers["conv5_2"].bias, state["features.18.bias"])


def test_weights_from_environment_variable(tmp_path, monkeypatch):
    monkeypatch.setenv(backbones.WEIGHTS_ENV, str(tmp_path / "missing.safetensors"))
    with pytest.raises(WeightsUnavailableError, match="does not exist"):
        load_backbone("vgg11")


def test_bad_weight_files(tmp_path):
    with pytest.raises(WeightsUnavailableError, match="does not exist"):
        load_backbone("vgg11", weights=tmp_path / "nope.safetensors")
    pickle = tmp_path / "vgg.pth"
    pickle.write_bytes(b"\x80\x04not loaded")
    with pytest.raises(WeightsUnavailableError, match="never pickles"):
        load_backbone("vgg11", weights=pickle)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"this is not a safetensors file")
    with pytest.raises(WeightsUnavailableError, match="not a readable safetensors"):
        load_backbone("vgg11", weights=garbage)
    other = tmp_path / "other.safetensors"
    save_file({"features.0.weight": torch.zeros(64, 3, 3, 3)}, str(other))
    with pytest.raises(WeightsUnavailableError, match="another backbone"):
        load_backbone("vgg11", weights=other)


def test_offline_without_weights_fails_fast_with_instructions():
    started = time.monotonic()
    with pytest.raises(WeightsUnavailableError) as info:
        load_backbone("vgg19")
    assert time.monotonic() - started < 10
    message = str(info.value)
    assert "HF_HUB_OFFLINE" in message and "--weights" in message and "STYLEHUB_WEIGHTS" in message


def test_pick_device():
    assert backbones.pick_device("cpu").type == "cpu"
    assert backbones.pick_device("auto").type in ("cpu", "cuda", "mps")
    with pytest.raises(SettingsError, match="unknown device"):
        backbones.pick_device("toaster")


def test_pick_precision(monkeypatch):
    cpu = torch.device("cpu")
    assert backbones.pick_precision("float32", cpu) is None
    assert backbones.pick_precision("bfloat16", cpu) == torch.bfloat16
    for amx, avx512_bf16, expected in ((True, False, torch.bfloat16), (False, True, torch.bfloat16),
                                       (False, False, None)):
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda amx=amx: amx, raising=False)
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda bf16=avx512_bf16: bf16,
                            raising=False)
        assert backbones.pick_precision("auto", cpu) == expected


@requires_shared(HED_VGG16)
@pytest.mark.slow
def test_offline_vgg16_weights_load_through_timm():
    extractor = load_backbone("vgg16", weights=HED_VGG16)
    out = extractor(torch.rand(1, 3, 64, 64), ["relu1_1"])["relu1_1"]
    assert out.abs().mean() > 1  # Caffe-scale activations, not a random init
