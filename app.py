"""StyleHub's web app: a Gradio front end over the stylehub engines (meant to run as a Hugging Face Space).

    python app.py [--host 0.0.0.0] [--port 7860] [--share] [--backbone vgg16 --weights FILE.safetensors] [--models DIR]
                  [--model-folder DIR ...]

No model code lives here: the tabs turn controls into engine settings, and engine progress into page updates.
"""
from __future__ import annotations

import argparse
import functools
import os
from pathlib import Path

import gradio as gr

from stylehub.backbones import BACKBONES
from ui import anypainting, blender, fast, optimise
from ui.common import ENGINE, AppConfig
from ui.optimise import weights_notice

__all__ = ["AppConfig", "ENGINE", "build_demo", "main", "weights_notice"]
CACHE_LIFETIME = (900, 1800)  # every 15 minutes, Gradio deletes the files it served over 30 minutes ago
CSS = """
.status { min-height: 1.6em; }
.status progress { width: 45%; vertical-align: middle; }
#result img { width: 100%; height: 100%; object-fit: contain; }  /* a preview at the result's display size */
#loss-plot { display: flex; flex-direction: column; }  /* the chart below the label, its legend inside the box */
#loss-plot > .vega-embed { flex: 1 1 0; min-height: 0; height: auto; }
[data-testid=slider]:focus-visible { outline: 3px solid var(--color-accent); outline-offset: -3px; }
#blend-thumbnails .caption-label { white-space: normal; max-width: 100%; }  /* a style's whole name */
@media (max-width: 640px) {  /* phones: every tab's name on screen, smaller boxes, no tile cut off */
  .tab-container button { padding: 0 10px; font-size: 15px; }
  .gallery-container .grid-wrap { max-height: none !important; }
  .gallery-container .grid-container { grid-template-columns: repeat(3, minmax(0, 1fr)) !important; }
  #blend-thumbnails, #fast-styles { height: auto !important; }  /* every style tile shown: the box grows instead */
  #blend-thumbnails .grid-wrap, #fast-styles .grid-wrap { height: auto !important; overflow: visible !important; }
}
"""
PAGE_JS = (Path(__file__).resolve().parent / "ui" / "page.js").read_text()  # keyboard divider, alt text


def build_demo(config: AppConfig | None = None) -> gr.Blocks:
    config = config or AppConfig()
    notice = weights_notice(config)
    with gr.Blocks(title="StyleHub", delete_cache=CACHE_LIFETIME) as demo:
        gr.Markdown("# StyleHub\nNeural style transfer: paint any photo in the style of any picture.")
        with gr.Tabs() as tabs:
            with gr.Tab("Optimise", id="optimise", elem_id="tab-optimise"):
                gr.Markdown("Best quality, any style image, seconds to minutes: the image itself is optimised to "
                            "match the photo's content and the painting's texture (Gatys et al. 2016).")
                gr.Markdown(notice, visible=bool(notice), elem_id="weights-notice")
                refine = optimise.build_tab(config, notice)
            with gr.Tab("Fast", id="fast", elem_id="tab-fast"):
                gr.Markdown("Milliseconds per photo: a network trained for one painting (Johnson et al. 2016; "
                            "Ulyanov et al. 2016) paints the photo in a single pass.")
                fast.build_tab(config)
            with gr.Tab("Any painting", id="any", elem_id="tab-any"):
                gr.Markdown("Any painting of yours, or a mix of up to three, in one pass: a network predicts the "
                            "painting's style and another paints with it (Ghiasi et al. 2017).")
                refine_button = anypainting.build_tab(config, refine)
            with gr.Tab("Blender", id="blender", elem_id="tab-blender"):
                gr.Markdown("One network, many styles, any mix of them (conditional instance normalisation, "
                            "Dumoulin et al. 2017).")
                blender.build_tab(config)
        if refine_button is not None:  # Refine continues in the Optimise tab
            refine_button.click(lambda: gr.Tabs(selected="optimise"), None, tabs, queue=False, api_visibility="private")
    demo.queue(default_concurrency_limit=config.concurrency, max_size=config.max_queue)
    demo.launch = functools.partial(demo.launch, css=CSS, js=PAGE_JS)  # Gradio 6 takes these in launch()
    return demo


def parse_args(argv=None) -> tuple[argparse.Namespace, AppConfig]:
    defaults = AppConfig()
    p = argparse.ArgumentParser(description="Start the StyleHub web app.")
    p.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    p.add_argument("--share", action="store_true", help="also serve through a public gradio.live link")
    p.add_argument("--backbone", choices=list(BACKBONES), default=defaults.backbone)
    p.add_argument("--weights", help="local .safetensors backbone weights (default: STYLEHUB_WEIGHTS, else the Hub)")
    p.add_argument("--device", default=defaults.device)
    p.add_argument("--max-queue", type=int, default=defaults.max_queue, help="jobs waiting before new ones are "
                                                                              "turned away")
    p.add_argument("--max-upload-mb", type=int, default=defaults.max_upload_mb)
    p.add_argument("--models", type=Path, default=defaults.models, help="folder of trained networks for the Fast "
                                                                         "and Blender tabs (default: models/)")
    p.add_argument("--model-folder", dest="model_folders", type=Path, action="append", default=[], metavar="DIR",
                   help="let visitors load model folders under DIR by path (repeatable; default: none, visitors "
                        "load Hub repo ids and the shipped styles only)")
    args = p.parse_args(argv)
    config = AppConfig(backbone=args.backbone, weights=args.weights, device=args.device, max_queue=args.max_queue,
                       max_upload_mb=args.max_upload_mb, models=args.models, model_folders=tuple(args.model_folders))
    return args, config


def main(argv=None) -> None:
    import torch

    torch.set_num_threads(os.cpu_count() or 1)  # one job at a time gets every core
    args, config = parse_args(argv)
    build_demo(config).launch(server_name=args.host, server_port=args.port, share=args.share,
                              max_file_size=f"{config.max_upload_mb}mb")


if __name__ == "__main__":
    main()
