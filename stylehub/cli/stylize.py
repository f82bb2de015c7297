"""`stylehub stylize`: style transfer by optimisation."""
from __future__ import annotations

from pathlib import Path

from .. import images, optimize
from ..settings import given_values
from .common import add_setting_options, print_json, progress_bar


def add_parsers(subparsers) -> None:
    p = subparsers.add_parser("stylize", help="style transfer by optimisation (Gatys et al.)",
                              description="Optimise an image with CONTENT's content and the STYLE images' style.")
    p.add_argument("content", help="content image")
    p.add_argument("styles", nargs="+", metavar="STYLE", help="one or more style images")
    p.add_argument("-o", "--output", required=True, type=Path, help="output image (.png .jpg .webp .tif)")
    p.add_argument("--preset", choices=list(optimize.PRESETS), default=optimize.DEFAULT_PRESET,
                   help="speed/quality preset (default %(default)s); the options below override it")
    add_setting_options(p, optimize.StylizeSettings)
    p.add_argument("--start", type=Path, metavar="IMAGE", help="begin from this image instead (refine a fast "
                                                                "network's result); overrides --init")
    p.add_argument("--bits", type=int, choices=(8, 16), default=8, help="bits per channel (16: PNG/TIFF)")
    p.add_argument("--json", action="store_true", help="print a JSON summary instead of a progress bar")
    p.set_defaults(run=_stylize)


def _stylize(args) -> int:
    settings = optimize.preset(args.preset, **given_values(optimize.StylizeSettings, vars(args))).check()
    images.check_output_path(args.output, args.bits)
    result, bar = None, None
    try:
        for event in optimize.stylize(args.content, args.styles, settings.replace(preview_every=0),
                                       start=args.start):
            if isinstance(event, optimize.Result):
                result = event
            elif not args.json:
                bar = bar or progress_bar(event.total)
                bar.set_postfix_str(f"scale {event.scale + 1}/{event.scales} {event.size[0]}x{event.size[1]} "
                                    f"loss {event.losses.get('total', 0):.4g}", refresh=False)
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    result.save(args.output, bits=args.bits)
    if args.json:
        print_json({"output": str(args.output), "seconds": round(result.seconds, 3),
                     "size": list(result.image.shape[-1:-3:-1]), "losses": result.losses,
                     "settings": result.settings.to_dict()})
    else:
        print(f"wrote {args.output} ({result.image.shape[-1]}x{result.image.shape[-2]}, {result.seconds:.1f} s)")
    return 0
