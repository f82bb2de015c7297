"""`stylehub train fast|multi|texture|add-style|finetune`: training feed-forward networks."""
from __future__ import annotations

from pathlib import Path

from .. import distributed, train, training_output
from ..errors import SettingsError
from ..settings import given_values
from .common import add_setting_options, print_json, progress_bar


def add_parsers(subparsers) -> None:
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
                            f"{', '.join(training_output.replaced_names())} (without this, or --resume, such a "
                            f"folder is refused)")
        _add_style_credits(q)
        add_setting_options(q, train.TrainSettings, leave_out=("net_size",) if q is texture else ())
        q.add_argument("--json", action="store_true", help="print a JSON summary instead of a progress bar")
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
    tune = kinds.add_parser("finetune", help="train a finished network further on its own styles, with the settings "
                                             "it was trained with and any given here (e.g. today's grid term)")
    tune.add_argument("model", type=Path, help="trained model folder (its styles' pictures are trained on)")
    tune.add_argument("--content-dir", required=True, help="folder of training photos")
    tune.add_argument("--styles", nargs="+", help="train on these images, one per style in order (default: the "
                                                  "pictures the model folder keeps)")
    tune.add_argument("--only-style", type=int, metavar="INDEX",
                      help="train only this style of a multi-style network (its normalisation parameters, e.g. "
                           "with its own --content-weight); the other styles stay exactly as they are")
    tune.add_argument("-o", "--output", required=True, type=Path, help="model folder (created; not MODEL)")
    tune.add_argument("--resume", action="store_true", help="continue the interrupted run in the model folder")
    tune.add_argument("--overwrite", action="store_true", help="replace the model already in the output folder")
    add_setting_options(tune, train.TrainSettings, leave_out=("net_size",))  # the network is the model's
    tune.add_argument("--json", action="store_true", help="print a JSON summary instead of a progress bar")
    tune.set_defaults(run=_finetune)


def _add_style_credits(parser) -> None:
    for name, what in (("name", "name shown in the app"), ("source", "where the image comes from"),
                       ("licence", "its licence")):
        parser.add_argument(f"--style-{name}", dest=f"style_{name}s", action="append", metavar=name.upper(),
                            help=f"the style's {what}; once per style, in order")


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
    settings = train.TrainSettings().replace(**given_values(train.TrainSettings, vars(args))).check()
    events = train.train(args.styles, args.content_dir, args.output, settings, style_info=_style_info(args),
                         resume=args.resume, overwrite=args.overwrite)
    return _report_training(events, args.json)


def _add_style(args) -> int:
    events = train.add_style(args.model, args.styles[0], args.content_dir, args.output, steps=args.steps,
                             style_info=_style_info(args), device=args.device)
    return _report_training(events, args.json)


def _finetune(args) -> int:
    events = train.finetune(args.model, args.content_dir, args.output, given_values(train.TrainSettings, vars(args)),
                            styles=args.styles, only_style=args.only_style, resume=args.resume,
                            overwrite=args.overwrite)
    return _report_training(events, args.json)


def _report_training(events, as_json: bool) -> int:
    result, bar, report = None, None, distributed.is_main_process()
    try:
        for event in events:
            if isinstance(event, train.TrainResult):
                result = event
            elif report and not as_json:
                bar = bar or progress_bar(event.total, initial=event.step - 1)
                bar.set_postfix_str(f"loss {event.losses['total']:.4g}", refresh=False)
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    if not report:
        return 0
    if as_json:
        print_json({"output": str(result.folder), "steps": result.steps, "seconds": round(result.seconds, 3),
                     "losses": result.losses})
    else:
        print(f"wrote {result.folder} ({result.steps} steps, {result.seconds:.1f} s)")
    return 0
