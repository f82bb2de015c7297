"""Moving pictures in the network tabs: the live webcam panel and the video panel, and streaming them stylised."""
from __future__ import annotations

import time

import gradio as gr

from stylehub import images, video
from stylehub.model import Model

from .common import SCRATCH, STATUS_EVERY, problem, shown_in_page
from .results import stylize

WEBCAM = "webcam"  # concurrency group of the live webcam streams
WEBCAM_SIDE = 256  # long side of a stylised webcam frame
VIDEO_SECONDS = 20  # longest video the app stylises (the CLI has no limit)
VIDEO_SIDE = 640  # long side of a stylised video in the app


def webcam_panel(prefix: str) -> tuple[gr.Image, gr.Image]:
    """A webcam input streaming frames, and the image that shows them stylised with the tab's current style."""
    with gr.Accordion("Webcam (live)", open=False):
        gr.Markdown(f"Frames are stylised at {WEBCAM_SIDE} px with the style chosen above; nothing is stored.")
        with gr.Row():
            camera = gr.Image(label="Camera", sources=["webcam"], streaming=True, type="numpy",
                              elem_id=f"{prefix}-camera")
            live = gr.Image(label="Stylised", type="filepath", interactive=False, elem_id=f"{prefix}-live")
    return camera, live


def stream_frame(model: Model, frame, styles, strength: float, preserve_colour: bool, long_side: int):
    """One webcam frame (H, W, 3 uint8 array) stylised, as a JPEG file for the page; None without a frame."""
    if frame is None:
        return None
    rgb = images.load_image(frame[..., :3]).rgb
    if max(rgb.shape[-2:]) > long_side:
        rgb = images.resize_long_side(rgb, long_side)
    return SCRATCH.png(stylize(model, rgb, styles, strength, preserve_colour), "frame.jpg")


def video_panel(prefix: str):
    """A video upload, its button, the stylised video and the line that shows progress and errors."""
    with gr.Accordion("Video", open=False):
        gr.Markdown(f"Up to {VIDEO_SECONDS} s, stylised at {VIDEO_SIDE} px with the style chosen above; the sound is "
                    f"kept, and frames are smoothed where the picture is still so that the style does not flicker.")
        with gr.Row():
            clip = gr.Video(label="Video", sources=["upload"], elem_id=f"{prefix}-video")
            styled = gr.Video(label="Stylised video", interactive=False, elem_id=f"{prefix}-video-result")
        button = gr.Button("Stylise the video", elem_id=f"{prefix}-video-run")
        status = gr.HTML("", elem_id=f"{prefix}-video-status", elem_classes="status")
    return clip, button, styled, status


def stream_video(model: Model, clip, styles, strength: float, preserve_colour: bool):
    """Stylise an uploaded video, yielding (video, status line): progress, then the file and what it took."""
    if clip is None:
        raise problem("Add a video first.")
    target, shown = SCRATCH.path("stylehub.mp4"), 0.0
    with shown_in_page():
        for event in video.stylize_video(model.net, clip, target, styles=styles, strength=float(strength),
                                         preserve_colour=bool(preserve_colour), long_side=VIDEO_SIDE,
                                         max_seconds=VIDEO_SECONDS):
            if isinstance(event, video.VideoProgress):
                if time.perf_counter() - shown >= STATUS_EVERY:
                    shown = time.perf_counter()
                    yield gr.skip(), (f"<progress value='{event.frame}' max='{event.total}'></progress> frame "
                                      f"{event.frame}/{event.total} · {event.seconds:.0f} s")
                continue
            width, height = event.size
            yield str(event.path), (f"Done: {event.frames} frames at {width}×{height} px in {event.seconds:.1f} s "
                                    f"({event.seconds / event.frames:.2f} s per frame)")
