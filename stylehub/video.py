"""Stylising a video with a trained network: frames decoded and encoded with PyAV (FFmpeg's libraries), the audio
copied as it is, and temporal smoothing so that the style does not flicker from one frame to the next."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch

from . import fast, images
from .errors import ImageError

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v")
SMOOTHING = 0.6  # share of the previous output kept where the picture does not move; 0 for none
MOTION = 0.05  # a change of the input (0-1 per pixel) that lowers the smoothing there to 1/e of SMOOTHING


class VideoError(ImageError):
    """A video cannot be read or written."""


@dataclass
class VideoInfo:
    frames: int  # as the container says; an estimate for some formats
    fps: float
    seconds: float
    size: tuple[int, int]  # (width, height)
    has_audio: bool


@dataclass
class VideoProgress:
    frame: int  # frames written so far
    total: int  # frames the container announces
    seconds: float  # since the start


@dataclass
class VideoResult:
    path: Path
    frames: int
    size: tuple[int, int]
    seconds: float
    flicker: float  # mean absolute frame-to-frame change of the output over the input's (1: as much as the input)
    flicker_unsmoothed: float  # the same for the stylised frames before smoothing


def _open(source):
    import av

    try:
        container = av.open(str(source))
    except (av.FFmpegError, OSError) as err:
        raise VideoError(f"{Path(source).name}: not a video file FFmpeg can read ({type(err).__name__})") from None
    if not container.streams.video:
        container.close()
        raise VideoError(f"{Path(source).name}: not a video file (no video stream)")
    return container


def probe(source) -> VideoInfo:
    """Length, frame rate and size of a video, read from its header."""
    with _open(source) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate or 25)
        seconds = float(stream.duration * stream.time_base) if stream.duration else (container.duration or 0) / 1e6
        frames = stream.frames or round(seconds * fps)
        return VideoInfo(frames, fps, seconds, (stream.codec_context.width, stream.codec_context.height),
                         bool(container.streams.audio))


def even_size(size: tuple[int, int], long_side: int | None) -> tuple[int, int]:
    """(width, height) at most long_side px on the long side (never enlarged), both even as H.264 needs."""
    width, height = size
    if long_side and max(size) > long_side:
        width, height = images.fit_size(size, long_side)
    return max(2, width - width % 2), max(2, height - height % 2)


def smooth(styled: torch.Tensor, previous_out, frame: torch.Tensor, previous_in, strength: float = SMOOTHING):
    """Blend the stylised frame with the previous output where the input did not change: still parts of the
    picture keep their brushwork, moving parts follow at once (no ghosting)."""
    if previous_out is None or strength <= 0:
        return styled
    change = (frame - previous_in).abs().mean(dim=1, keepdim=True)
    keep = strength * torch.exp(-change / MOTION)
    return keep * previous_out + (1 - keep) * styled


def stylize_video(net, source, target, *, styles=None, strength: float = 1.0, preserve_colour: bool = False,
                  long_side: int | None = None, smoothing: float = SMOOTHING,
                  max_seconds: float | None = None) -> Iterator[VideoProgress | VideoResult]:
    """Stylise every frame of `source` into `target` (H.264, the audio copied); yields VideoProgress per frame,
    then one VideoResult. max_seconds refuses longer videos before any work is done."""
    import av

    info = probe(source)
    if max_seconds is not None and info.seconds > max_seconds:
        raise VideoError(f"the video is {info.seconds:.0f} s long; videos up to {max_seconds:.0f} s are stylised "
                         f"here (the stylehub CLI has no limit)")
    if not 0.0 <= smoothing < 1.0:
        raise VideoError(f"smoothing must be from 0 to below 1, not {smoothing}")
    width, height = even_size(info.size, long_side)
    started, count, change_in, change_out, change_styled = time.perf_counter(), 0, 0.0, 0.0, 0.0
    previous_in = previous_out = previous_styled = None
    target = Path(target)
    with _open(source) as reader, av.open(str(target), "w") as writer:
        video_in = reader.streams.video[0]
        video_in.thread_type = "AUTO"
        video_out = writer.add_stream("libx264", rate=video_in.average_rate or 25,
                                      options={"crf": "20", "preset": "veryfast"})
        video_out.width, video_out.height, video_out.pix_fmt = width, height, "yuv420p"
        audio_in = reader.streams.audio[0] if reader.streams.audio else None
        audio_out = writer.add_stream_from_template(audio_in) if audio_in is not None else None
        for packet in reader.demux(*[s for s in (video_in, audio_in) if s is not None]):
            if packet.stream is audio_in:
                if packet.dts is not None:  # not the demuxer's empty packet at the end of the stream
                    packet.stream = audio_out
                    writer.mux(packet)
                continue
            for decoded in packet.decode():  # the empty packet at the end flushes the decoder
                rgb = decoded.to_ndarray(width=width, height=height, format="rgb24")
                frame = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255
                styled = fast.stylize_image(net, frame, styles=styles, strength=strength,
                                            preserve_colour=preserve_colour)
                out = smooth(styled, previous_out, frame, previous_in, smoothing)
                if previous_in is not None:
                    change_in += (frame - previous_in).abs().mean().item()
                    change_out += (out - previous_out).abs().mean().item()
                    change_styled += (styled - previous_styled).abs().mean().item()
                previous_in, previous_out, previous_styled = frame, out, styled
                array = (out[0].permute(1, 2, 0) * 255).round().byte().numpy()
                writer.mux(video_out.encode(av.VideoFrame.from_ndarray(array, format="rgb24")))
                count += 1
                yield VideoProgress(count, max(info.frames, count), time.perf_counter() - started)
        writer.mux(video_out.encode())
    if count == 0:
        target.unlink(missing_ok=True)
        raise VideoError(f"{Path(source).name}: no frame could be decoded")
    yield VideoResult(target, count, (width, height), time.perf_counter() - started,
                      change_out / change_in if change_in else 0.0, change_styled / change_in if change_in else 0.0)


def is_video(path) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES
