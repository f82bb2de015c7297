"""Videos: every frame stylised, the size kept (even), the audio copied, flicker smoothed, clear errors."""
from fractions import Fraction

import numpy as np
import pytest
import torch

av = pytest.importorskip("av")

from stylehub import video  # noqa: E402
from stylehub.nets import TransformerConfig, TransformerNet  # noqa: E402


def make_clip(path, frames=12, size=(64, 48), fps=12, audio=True):
    """A small H.264 clip of a moving pattern, with a sine tone as AAC audio."""
    width, height = size
    y, x = np.mgrid[0:height, 0:width]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        sound = container.add_stream("aac", rate=44100) if audio else None
        for i in range(frames):
            rgb = np.stack([(x * 4 + i * 3) % 256, (y * 5) % 256, ((x + y + i * 7) * 2) % 256], -1).astype(np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        container.mux(stream.encode())
        if sound is not None:
            count = 44100 * frames // fps
            tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(count) / 44100)).astype(np.float32)[None]
            for start in range(0, count, 1024):
                chunk = av.AudioFrame.from_ndarray(tone[:, start:start + 1024], format="fltp", layout="mono")
                chunk.sample_rate, chunk.pts, chunk.time_base = 44100, start, Fraction(1, 44100)
                container.mux(sound.encode(chunk))
            container.mux(sound.encode())
    return path


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return TransformerNet(TransformerConfig(width=4, residual_blocks=1)).eval()


def test_every_frame_is_stylised_with_the_audio_kept(tmp_path, net):
    source = make_clip(tmp_path / "clip.mp4", size=(66, 50))
    events = list(video.stylize_video(net, source, tmp_path / "out.mp4"))
    *progress, result = events
    assert [p.frame for p in progress] == list(range(1, 13)) and result.frames == 12
    info = video.probe(result.path)
    assert info.frames == 12 and info.size == (66, 50) and info.has_audio and abs(info.seconds - 1.0) < 0.1


def test_the_size_is_capped_and_kept_even(tmp_path, net):
    source = make_clip(tmp_path / "clip.mp4", frames=3, size=(64, 48), audio=False)
    *_, result = video.stylize_video(net, source, tmp_path / "out.mp4", long_side=42)
    info = video.probe(result.path)
    assert info.size == result.size == (42, 32) and not info.has_audio  # 42 x 31.5 -> even


def test_smoothing_lowers_the_flicker(tmp_path, net):
    source = make_clip(tmp_path / "clip.mp4", frames=8, audio=False)
    *_, smoothed = video.stylize_video(net, source, tmp_path / "a.mp4", smoothing=0.8)
    *_, plain = video.stylize_video(net, source, tmp_path / "b.mp4", smoothing=0.0)
    assert plain.flicker == pytest.approx(plain.flicker_unsmoothed)
    assert smoothed.flicker < plain.flicker


def test_smoothing_follows_motion_at_once():
    still, moved = torch.zeros(1, 3, 4, 4), torch.ones(1, 3, 4, 4)
    previous_out, styled = torch.zeros(1, 3, 4, 4), torch.ones(1, 3, 4, 4)
    assert torch.allclose(video.smooth(styled, previous_out, still, still, 0.6), torch.full_like(styled, 0.4))
    assert video.smooth(styled, previous_out, moved, still, 0.6).min() > 0.99  # no ghost of the last frame


def test_a_file_that_is_not_a_video_gets_a_clear_error(tmp_path, net):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    with pytest.raises(video.VideoError, match="notes.mp4: not a video file"):
        list(video.stylize_video(net, text, tmp_path / "out.mp4"))
    with pytest.raises(video.VideoError, match="up to 0 s"):
        list(video.stylize_video(net, make_clip(tmp_path / "clip.mp4", frames=3), tmp_path / "out.mp4",
                                 max_seconds=0.1))


def test_the_cli_stylises_a_video(tmp_path, net, capsys):
    import json

    from stylehub import checkpoints, cli

    checkpoints.save_model(net, tmp_path / "model", styles=[{"name": "Test"}])
    source = make_clip(tmp_path / "clip.mp4", frames=4)
    assert cli.main(["apply", str(tmp_path / "model"), str(source), "-o", str(tmp_path / "out.mp4"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["frames"] == 4 and video.probe(tmp_path / "out.mp4").has_audio
