import pytest
import torch

from stylehub import colour, images, losses, optimize
from stylehub.errors import ImageError, SettingsError
from stylehub.optimize import Progress, Result


def test_multi_scale_schedule():
    settings = optimize.preset(size=512, min_size=128)
    sides = [max(s) for s in optimize.scale_sizes((1024, 768), settings)]
    assert sides == [128, 181, 256, 362, 512]
    assert optimize.scale_sizes((1024, 768), settings)[-1] == (512, 384)
    assert optimize.scale_sizes((100, 50), settings.replace(min_size=512)) == [(512, 256)]
    assert optimize.steps_per_scale(5, settings) == [settings.coarse_steps] * 4 + [settings.steps]


def test_stylize_streams_progress_then_result(content_image, style_image, tiny):
    events = list(optimize.stylize(content_image, style_image, tiny))
    progress, result = events[:-1], events[-1]
    assert isinstance(result, Result) and all(isinstance(e, Progress) for e in progress)
    sizes = optimize.scale_sizes((48, 32), tiny)
    total = tiny.coarse_steps * (len(sizes) - 1) + tiny.steps
    assert [e.step for e in progress] == list(range(1, total + 1))
    assert {e.total for e in progress} == {total}
    assert [e.scale for e in progress] == sorted(e.scale for e in progress)
    assert progress[-1].size == (32, 21) and result.image.shape == (1, 3, 21, 32)
    assert {"content", "style", "tv", "total"} <= set(progress[0].losses)
    assert [e.step for e in progress if e.preview is not None] == [s for s in range(1, total + 1) if s % 2 == 0
                                                                   or s == total]
    assert 0 <= result.image.min() and result.image.max() <= 1


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_optimisation_lowers_the_loss(content_image, style_image, tiny, optimizer):
    settings = tiny.replace(min_size=32, steps=15, optimizer=optimizer, learning_rate=0.05)
    progress = [e for e in optimize.stylize(content_image, style_image, settings) if isinstance(e, Progress)]
    assert progress[-1].losses["total"] < 0.7 * progress[0].losses["total"]
    assert [e.step for e in progress] == list(range(1, len(progress) + 1))  # one event a step
    assert len(progress) <= progress[-1].total and (optimizer == "lbfgs" or len(progress) == progress[-1].total)


@pytest.mark.parametrize("init", optimize.INITS)
def test_every_init_runs_and_seed_repeats(content_image, style_image, tiny, init):
    first = optimize.run(content_image, style_image, tiny, init=init, seed=3)
    again = optimize.run(content_image, style_image, tiny, init=init, seed=3)
    assert torch.equal(first.image, again.image)
    if init == "noise":
        other = optimize.run(content_image, style_image, tiny, init=init, seed=4)
        assert not torch.equal(first.image, other.image)


def test_several_styles_with_blend_weights(content_image, style_image, tiny):
    second = images.to_pil(torch.rand(1, 3, 24, 24, generator=torch.Generator().manual_seed(9)))
    only_first = optimize.run(content_image, [style_image, second], tiny, style_blend=[1.0, 0.0])
    single = optimize.run(content_image, style_image, tiny)
    assert torch.allclose(only_first.image, single.image, atol=1e-5)
    mixed = optimize.run(content_image, [style_image, second], tiny, style_blend=[0.5, 0.5])
    assert not torch.allclose(mixed.image, single.image, atol=1e-3)
    with pytest.raises(SettingsError, match="2 style images but 1"):
        optimize.run(content_image, [style_image, second], tiny, style_blend=[1.0])


def test_luminance_preservation_keeps_the_content_chroma(content_image, style_image, tiny):
    result = optimize.run(content_image, style_image, tiny, preserve_colour="luminance")
    content = images.resize(images.load_image(content_image).rgb, (32, 21))
    out_iq, content_iq = colour.rgb_to_yiq(result.image)[:, 1:], colour.rgb_to_yiq(content)[:, 1:]
    assert (out_iq - content_iq).abs().mean() < 0.01
    plain = optimize.run(content_image, style_image, tiny.replace(style_weight=1000.0))
    assert (colour.rgb_to_yiq(plain.image)[:, 1:] - content_iq).abs().mean() > (out_iq - content_iq).abs().mean()


def test_histogram_preservation_runs(content_image, style_image, tiny):
    result = optimize.run(content_image, style_image, tiny, preserve_colour="histogram")
    assert result.image.shape == (1, 3, 21, 32)


def test_saturated_pixels_do_not_stall_lbfgs(tiny, monkeypatch):
    """Pixels held at 0 or 1 by the clamp must not trap L-BFGS in line searches that find no decrease."""
    evaluations = []
    evaluate = losses.PerceptualLoss.__call__
    monkeypatch.setattr(losses.PerceptualLoss, "__call__", lambda *a: evaluations.append(1) or evaluate(*a))
    content = torch.zeros(1, 3, 32, 48)
    content[:, :, :16] = 1  # white sky over a red ground: most pixels start at a bound
    content[:, 0] = 1
    style = (torch.rand(1, 3, 40, 40, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    settings = tiny.replace(size=48, min_size=None, steps=60, preview_every=0)
    progress = [e for e in optimize.stylize(content, style, settings) if isinstance(e, Progress)]
    assert len(progress) == 60  # not ended early as converged
    assert len(evaluations) <= 2 * 60
    assert progress[-1].losses["total"] < 0.3 * progress[0].losses["total"]


def test_start_image_is_where_the_optimisation_begins(content_image, style_image, tiny):
    start = torch.zeros(1, 3, 10, 15)  # another size: resized to the output
    settings = tiny.replace(min_size=None, steps=1, preserve_colour="none")
    from_start = optimize.run(content_image, style_image, settings, start=start)
    from_content = optimize.run(content_image, style_image, settings)
    assert from_start.image.shape == from_content.image.shape
    assert from_start.image.mean() < 0.5 * from_content.image.mean()  # one step stays near the black start
    with pytest.raises(ImageError, match="starting image"):
        optimize.run(content_image, style_image, settings, start="missing.png")


def test_stop_between_steps(content_image, style_image, tiny):
    stream = optimize.stylize(content_image, style_image, tiny.replace(steps=50))
    seen = [next(stream) for _ in range(3)]
    stream.close()  # what the app's Stop button and Ctrl-C do
    assert [e.step for e in seen] == [1, 2, 3]
    with pytest.raises(StopIteration):
        next(stream)


def test_alpha_is_reattached(style_image, tiny, tmp_path):
    content = images.to_pil(torch.rand(1, 3, 20, 30), torch.full((1, 1, 20, 30), 0.5))
    result = optimize.run(content, style_image, tiny)
    assert result.alpha is not None and result.to_pil().mode == "RGBA"
    saved = result.save(tmp_path / "out.png")
    assert images.load_image(saved).alpha is not None


def test_w2_style_statistic_and_layer_choice(content_image, style_image, tiny):
    result = optimize.run(content_image, style_image, tiny, style_statistic="w2",
                          style_layers={"relu1_1": 1.0, "relu2_1": 2.0}, content_layers={"relu3_1": 1.0},
                          content_norm="l1", normalize_weights=True)
    assert torch.isfinite(result.image).all()


@pytest.mark.parametrize("changes, message", [
    (dict(size=4096), "size must be between 16 and 2048"),
    (dict(optimizer="sgd"), "optimizer must be one of"),
    (dict(init="zeros"), "init must be one of"),
    (dict(preserve_colour="sepia"), "preserve_colour must be one of"),
    (dict(backbone="alexnet"), "backbone must be one of"),
    (dict(style_weight=-1.0), "loss weights"),
    (dict(colour=True), "unknown setting"),
])
def test_bad_settings(content_image, style_image, tiny, changes, message):
    with pytest.raises(SettingsError, match=message):
        optimize.run(content_image, style_image, tiny, **changes)


def test_bad_inputs_name_the_image(style_image, tiny, tmp_path):
    with pytest.raises(ImageError, match="content image: no such file"):
        optimize.run(tmp_path / "nope.jpg", style_image, tiny)
    (tmp_path / "s.png").write_text("not an image")
    with pytest.raises(ImageError, match="not an image"):
        optimize.run(style_image, [style_image, tmp_path / "s.png"], tiny)


def test_presets():
    assert optimize.preset("balanced") == optimize.StylizeSettings()
    assert optimize.preset("fast").steps < optimize.preset("best").steps
    with pytest.raises(SettingsError, match="unknown preset"):
        optimize.preset("ultra")
