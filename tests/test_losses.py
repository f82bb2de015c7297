import copy

import pytest
import torch

from stylehub import losses
from stylehub.backbones import load_backbone
from stylehub.errors import SettingsError


def test_gram_matrix_by_hand():
    f = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 2, 1, 2)  # 2 channels, 2 positions
    expected = torch.tensor([[1 + 4, 3 + 8], [3 + 8, 9 + 16]]) / 2
    assert torch.allclose(losses.gram_matrix(f)[0], expected)


def test_content_l2_value_and_gradient_by_hand():
    torch.manual_seed(0)
    f = torch.randn(1, 4, 3, 5, requires_grad=True)
    p = torch.randn(1, 4, 3, 5)
    loss = losses.content_loss(f, p, "l2")
    n, scale = f.numel(), (p ** 2).mean()
    assert torch.isclose(loss, ((f - p) ** 2).sum() / n / scale)
    loss.backward()
    assert torch.allclose(f.grad, 2 * (f - p).detach() / n / scale, atol=1e-6)


def test_content_l1_gradient_by_hand():
    f = torch.tensor([[[[1.0, -2.0, 3.0]]]], requires_grad=True)
    p = torch.tensor([[[[0.0, 0.0, 4.0]]]])
    loss = losses.content_loss(f, p, "l1")
    assert torch.isclose(loss, torch.tensor((1 + 2 + 1) / 3 / (4 / 3)))
    loss.backward()
    assert torch.allclose(f.grad, torch.tensor([1.0, -1.0, -1.0]).view(1, 1, 1, 3) / 3 / (4 / 3))


def test_gram_loss_gradient_by_hand():
    torch.manual_seed(1)
    f = torch.randn(1, 3, 4, 4, requires_grad=True)
    a = losses.gram_matrix(torch.randn(1, 3, 4, 4))[0]
    loss = losses.gram_loss(f, a)
    flat = f.detach().reshape(3, 16)
    g = flat @ flat.T / 16
    norm = (a ** 2).sum()
    assert torch.isclose(loss, ((g - a) ** 2).sum() / norm)
    loss.backward()
    by_hand = (2 / norm) * (2 / 16) * (g - a) @ flat  # d/dF |FF^T/M - A|^2 = 4/M (G - A) F
    assert torch.allclose(f.grad.reshape(3, 16), by_hand, atol=1e-5)


def test_gram_matrix_gradient_on_a_batch():
    f = torch.randn(2, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(losses.gram_matrix, (f,))


def test_a_bfloat16_backbone_gives_the_float32_loss_and_gradient_closely():
    torch.manual_seed(3)
    extractor = load_backbone("vgg11", weights="random")
    image, style = torch.rand(1, 3, 48, 48), torch.rand(1, 3, 48, 48)
    results = []
    for dtype in (None, torch.bfloat16):
        loss = losses.PerceptualLoss(extractor, content_layers={"relu4_2": 1.0},
                                     style_layers={"relu1_1": 1.0, "relu3_1": 1.0}, weights=losses.LossWeights(),
                                     normalisation="network", backbone_dtype=dtype)
        loss.set_styles([style])
        x = image.clone().requires_grad_(True)
        terms = loss(x, loss.content_targets(torch.rand(1, 3, 48, 48, generator=torch.Generator().manual_seed(0))))
        terms["total"].backward()
        assert terms["total"].dtype == torch.float32
        results.append((terms["total"].item(), x.grad.flatten()))
    (exact, exact_grad), (low, low_grad) = results
    assert low == pytest.approx(exact, rel=0.03)
    assert torch.nn.functional.cosine_similarity(exact_grad, low_grad, dim=0) > 0.98


def test_w2_loss_is_zero_at_target_and_matches_diagonal_gaussians():
    torch.manual_seed(2)
    target = torch.randn(1, 3, 8, 8) * torch.tensor([1.0, 2.0, 0.5]).view(1, 3, 1, 1) + 1
    mean, cov = losses.mean_covariance(target)
    root = losses.sqrtm_psd(cov[0]).float()
    assert losses.w2_loss(target, mean[0], cov[0], root).abs() < 1e-4
    # Two Gaussians with diagonal covariances: W2^2 = |m1 - m2|^2 + sum (sqrt(a) - sqrt(b))^2
    m1, m2 = torch.tensor([0.0, 1.0]), torch.tensor([1.0, 3.0])
    v1, v2 = torch.tensor([1.0, 4.0]), torch.tensor([9.0, 1.0])
    expected = ((m1 - m2) ** 2).sum() + ((v1.sqrt() - v2.sqrt()) ** 2).sum()
    expected = expected / ((m2 ** 2).sum() + v2.sum())
    feats = _features_with(m1, v1)
    value = losses.w2_loss(feats, m2, torch.diag(v2), torch.diag(v2.sqrt()))
    assert torch.isclose(value, expected, rtol=1e-4)


def _features_with(mean, var):
    """Features whose empirical mean and (biased) variance per channel are exactly mean and var, uncorrelated."""
    signs = torch.tensor([[1.0, -1.0, 1.0, -1.0], [1.0, 1.0, -1.0, -1.0]])
    return (mean.view(2, 1) + var.sqrt().view(2, 1) * signs).view(1, 2, 2, 2)


def test_w2_loss_has_finite_gradients():
    torch.manual_seed(3)
    f = torch.randn(1, 6, 5, 5, requires_grad=True)
    mean, cov = losses.mean_covariance(torch.randn(1, 6, 5, 5))
    losses.w2_loss(f, mean[0], cov[0], losses.sqrtm_psd(cov[0]).float()).backward()
    assert torch.isfinite(f.grad).all() and f.grad.abs().sum() > 0


def test_tv_loss_by_hand():
    image = torch.tensor([[0.0, 1.0], [1.0, 1.0]]).view(1, 1, 2, 2)
    # horizontal differences: 1, 0 -> mean 0.5; vertical: 1, 0 -> mean 0.5
    assert torch.isclose(losses.tv_loss(image), torch.tensor(1.0))


def _loss(statistic="gram", **weights):
    extractor = load_backbone("vgg11", weights="random")
    return losses.PerceptualLoss(extractor, content_layers={"relu4_2": 1.0},
                                 style_layers={"relu1_1": 1.0, "relu2_1": 3.0},
                                 weights=losses.LossWeights(**weights), style_statistic=statistic)


def test_perceptual_loss_terms_and_weights():
    torch.manual_seed(4)
    content, style = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    loss = _loss(content=2.0, style=5.0, tv=0.5)
    assert loss.style_layers == {"relu1_1": 0.25, "relu2_1": 0.75}
    loss.set_styles([style])
    terms = loss(content, loss.content_targets(content))
    assert terms["content"] == 0
    assert terms["style"] > 0
    assert torch.isclose(terms["tv"], 0.5 * losses.tv_loss(content))
    assert torch.isclose(terms["total"], terms["content"] + terms["style"] + terms["tv"])
    assert loss(style, None)["style"] < 1e-6  # the style image matches its own statistics


@pytest.mark.parametrize("statistic", ["gram", "w2"])
def test_blend_of_one_style_equals_that_style(statistic):
    torch.manual_seed(5)
    a, b = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    single, blended = _loss(statistic), _loss(statistic)
    single.set_styles([a])
    blended.set_styles([a, b], [1.0, 0.0])
    for name in single.style_targets:
        for s, t in zip(single.style_targets[name], blended.style_targets[name]):
            assert torch.allclose(s, t, atol=1e-5)


def test_blended_gram_target_is_weighted_mean():
    torch.manual_seed(6)
    a, b = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    la, lb, lab = _loss(), _loss(), _loss()
    la.set_styles([a]), lb.set_styles([b]), lab.set_styles([a, b], [3, 1])
    for name in lab.style_targets:
        expected = 0.75 * la.style_targets[name][0] + 0.25 * lb.style_targets[name][0]
        assert torch.allclose(lab.style_targets[name][0], expected, atol=1e-5)


def test_bad_loss_settings():
    extractor = load_backbone("vgg11", weights="random")
    with pytest.raises(SettingsError, match="style statistic"):
        losses.PerceptualLoss(extractor, content_layers={}, style_layers={"relu1_1": 1}, weights=losses.LossWeights(),
                              style_statistic="nope")
    loss = _loss()
    with pytest.raises(SettingsError, match="3 style images but 2"):
        loss.set_styles([torch.rand(1, 3, 16, 16)] * 3, [1, 2])
    with pytest.raises(SettingsError, match="non-negative"):
        loss.set_styles([torch.rand(1, 3, 16, 16)], [-1])


def test_paper_gram_loss_by_hand():
    f = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 2, 1, 2)  # C = 2 channels, H W = 2 positions
    # Gatys et al.: G = F F^T / (C H W) = [[5, 11], [11, 25]] / 4; against a zero target, MSE over the 4 entries
    expected = torch.tensor((5 ** 2 + 11 ** 2 + 11 ** 2 + 25 ** 2) / 16 / 4)
    assert torch.isclose(losses.paper_gram_loss(f, torch.zeros(1, 2, 2)), expected)


def test_network_normalisation_keeps_the_papers_layer_weights():
    """Style = sum over layers of weight x MSE(Gram F F^T / (C H W)) x PAPER_SCALE / s^2, content = MSE / s: one s
    per network, so that on a network of the paper's scale the weights are the paper's alpha and beta."""
    torch.manual_seed(7)
    extractor = load_backbone("vgg11", weights="random")
    loss = losses.PerceptualLoss(extractor, content_layers={"relu4_2": 1.0},
                                 style_layers={"relu1_1": 1.0, "relu2_1": 3.0}, weights=losses.LossWeights(2.0, 5.0),
                                 normalisation="network")
    image, content, style = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    loss.set_styles([style])
    terms = loss(image, loss.content_targets(content))

    def paper_gram(f):
        _, c, h, w = f.shape
        flat = f.reshape(c, h * w)
        return flat @ flat.T / (c * h * w)

    scale = (extractor(losses.pink_noise(), ["relu4_2"])["relu4_2"] ** 2).mean()
    mine, theirs = extractor(image, loss.layers), extractor(style, loss.layers)
    by_hand = sum(w * ((paper_gram(mine[n]) - paper_gram(theirs[n])) ** 2).mean()
                  for n, w in {"relu1_1": 0.25, "relu2_1": 0.75}.items()) * losses.PAPER_SCALE / scale ** 2
    content_by_hand = ((mine["relu4_2"] - extractor(content, ["relu4_2"])["relu4_2"]) ** 2).mean() / scale
    assert torch.isclose(loss.scale * torch.tensor(1.0), scale)
    assert torch.isclose(terms["style"], 5.0 * by_hand, rtol=1e-4)
    assert torch.isclose(terms["content"], 2.0 * content_by_hand, rtol=1e-4)


def test_network_normalisation_does_not_depend_on_the_networks_scale():
    """A copy of the network whose every activation is 10x larger gives the same loss (not so for raw terms)."""
    torch.manual_seed(8)
    extractor = load_backbone("vgg11", weights="random")
    louder = copy.deepcopy(extractor)
    convs = [m for m in louder.layers.values() if isinstance(m, torch.nn.Conv2d)]
    convs[0].weight.mul_(10)
    for conv in convs:
        conv.bias.mul_(10)  # ReLU and pooling are positively homogeneous: every activation is now 10x
    image, style = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    results = []
    for net in (extractor, louder):
        loss = losses.PerceptualLoss(net, content_layers={"relu4_2": 1.0},
                                     style_layers={"relu1_1": 1.0, "relu3_1": 1.0},
                                     weights=losses.LossWeights(), normalisation="network")
        loss.set_styles([style])
        results.append(loss(image, loss.content_targets(style)))
    for key in ("content", "style"):
        assert torch.isclose(results[0][key], results[1][key], rtol=1e-3), key


def test_unknown_normalisation():
    with pytest.raises(SettingsError, match="normalisation"):
        losses.PerceptualLoss(load_backbone("vgg11", weights="random"), content_layers={},
                              style_layers={"relu1_1": 1}, weights=losses.LossWeights(), normalisation="nope")


@pytest.mark.parametrize("period", [2, 4, 8])
def test_the_grid_term_sees_a_pattern_locked_to_the_pixel_grid(period):
    torch.manual_seed(0)
    photos = 0.4 + 0.2 * torch.rand(2, 3, 50, 46)  # not a multiple of the period: the term looks at what fits
    pattern = torch.zeros(1, 1, 50, 46)
    pattern[..., ::period, ::period] = 0.3  # a dot every `period` px, wherever the photo is

    zero = {"total": torch.tensor(1.0)}
    clean = losses.with_grid_term(zero, photos, 1.0)
    stamped = losses.with_grid_term(zero, photos + pattern, 1.0)
    assert clean["grid"] < 0.05 and stamped["grid"] > 5 * clean["grid"]
    assert torch.isclose(stamped["total"], 1 + stamped["grid"])
