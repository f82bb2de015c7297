"""Model cards: the README.md of a model folder, with a sample grid, the loss curve, settings, scores and sources.

The generated part sits between two HTML comments, so `write_card` can refresh it on every push while text a
person added above it, and metadata they added to the YAML header, are kept.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from huggingface_hub import ModelCard, ModelCardData
from PIL import Image, ImageDraw, ImageFont

from . import arbitrary, checkpoints, fast, images, vector_files
from .files import write_atomically
from .model import Model
from .training_log import LOG_NAME, read_log

CARD_NAME = "README.md"
PREVIEW_NAME = "preview.png"  # the sample grid: example photos x styles
CURVE_NAME = "loss_curve.png"
SCORES_NAME = "scores.json"
TAGS = ["stylehub", "style-transfer", "image-to-image"]
DEFAULT_LICENSE = "mit"
BEGIN, END = "<!-- stylehub card: begin -->", "<!-- stylehub card: end -->"
SAMPLE_SIZE = 256  # long side of each photo in the grid
MAX_STYLE_COLUMNS = 8
GRID_NOTE = ("grid is the percentage of the output's fine detail that repeats exactly every 2, 4 or 8 pixels: a "
             "machine-made weave or dot pattern. Photos and paintings score under 0.1 and clean stylised images "
             "under 0.3; a visible weave scores 1 or more.")
CURVE_COLOURS = {"total": (20, 20, 20), "content": (31, 119, 180), "style": (214, 39, 40), "tv": (44, 160, 44)}
SHEET_TILE, SHEET_RUN, SHEET_COLUMNS = 192, 384, 7  # contact sheet: tile long side, stylised at, columns


def write_card(folder, *, repo_id: str | None = None, license: str | None = None,
               examples=None, into=None) -> list[Path]:
    """Write or refresh the card of a model folder; the files written (README.md, preview.png, loss_curve.png).

    The sample grid runs the model on the .jpg photos in the folder `examples` (none: no grid); the loss curve
    is drawn from training_log.csv and the scores table read from scores.json when they are present. With `into`,
    the files are written to that folder instead, and the model folder is left as it is (see hub.push).
    """
    folder = Path(folder)
    into = Path(into or folder)
    config = checkpoints.read_config(folder)
    if config["kind"] == checkpoints.STYLE_VECTOR_KIND:
        vector_files.load_style_vector(folder)  # checked before it is published
        net, examples = None, None  # no network of its own to draw a sample grid with
    else:
        net, config = checkpoints.load_model(folder)
    written = []
    photos = sorted(Path(examples).glob("*.jpg")) if examples is not None else []
    if photos:
        grid = sample_grid(net, config, photos, folder)
        written.append(save_png(grid, into / PREVIEW_NAME))
    log = read_log(folder / LOG_NAME)
    if len(log) >= 2:
        written.append(save_png(loss_curve(log), into / CURVE_NAME))
    card_path = folder / CARD_NAME
    existing = card_path.read_text(encoding="utf-8") if card_path.is_file() else ""
    text = render_card(config, folder, repo_id=repo_id, license=license, existing=existing,
                       preview=bool(photos), curve=len(log) >= 2, scores=read_scores(folder / SCORES_NAME))
    card = write_atomically(into / CARD_NAME, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    return [card, *written]


def render_card(config: dict, folder: Path, *, repo_id: str | None = None, license: str | None = None,
                existing: str = "", preview: bool = False, curve: bool = False, scores: dict | None = None) -> str:
    """The card's text: YAML metadata merged into `existing`'s, and the generated part replaced or appended."""
    old = ModelCard(existing) if existing.strip() else None
    data = old.data.to_dict() if old else {}
    data["tags"] = list(dict.fromkeys([*(data.get("tags") or []), *TAGS]))
    data["library_name"] = "stylehub"
    data["pipeline_tag"] = "image-to-image"
    data["license"] = license or data.get("license") or config.get("license") or DEFAULT_LICENSE
    body = (_style_vector_body(config, folder, repo_id) if config["kind"] == checkpoints.STYLE_VECTOR_KIND
            else _body(config, folder, repo_id, preview, curve, scores))
    body = "\n".join([BEGIN, body, END])
    text = old.text if old else ""
    if BEGIN in text and END in text:
        body = text[:text.index(BEGIN)] + body + text[text.index(END) + len(END):]
    elif text.strip():
        body = text.rstrip() + "\n\n" + body
    return f"---\n{ModelCardData(**data).to_yaml()}\n---\n\n{body.strip()}\n"


def _body(config: dict, folder: Path, repo_id: str | None, preview: bool, curve: bool, scores: dict | None) -> str:
    model = Model(config, folder)
    names = model.style_names
    painted = (f"{len(names)} styles, pictured under Styles" if len(names) > MAX_STYLE_COLUMNS
               else f"the style of {', '.join(names) or 'one style'}")
    kind = {"transformer": "a feed-forward transformer network (Johnson et al. 2016)",
            "texture": "a multi-scale texture network (Ulyanov et al. 2016)"}.get(model.kind, model.kind)
    ref = repo_id or str(folder)
    lines = [f"# {repo_id.split('/')[-1] if repo_id else folder.name}", "",
             f"A StyleHub fast style transfer model: {kind} that paints photos in {painted}.", ""]
    if preview:
        lines += [f"![Example photos and their stylised versions]({PREVIEW_NAME})", ""]
    option = " --style 0" if model.style_index(0) is not None else ""
    lines += ["## Use", "", "```bash", f"stylehub apply {ref} photo.jpg -o styled.png{option}", "```", "",
              "```python", "from stylehub import checkpoints, fast, hub, images", "",
              f'net, config = checkpoints.load_model(hub.resolve_model("{ref}"))',
              'styled = fast.stylize_image(net, images.load_image("photo.jpg").rgb' + (", styles=0" if option else "")
              + f", working_side=fast.WORKING_SIDE)  # as the CLI: photos above {fast.WORKING_SIDE} px painted at "
              f"{fast.WORKING_SIDE} px", "```", ""]
    lines += ["## Styles", "", "| # | style | source | licence |", "| ---: | --- | --- | --- |"]
    for i, style in enumerate(model.styles):
        shown = f"![{_cell(style.name)}]({style.image}) " if checkpoints.model_file(folder, style.image) else ""
        lines.append(f"| {i} | {shown}{_cell(style.name)} | {_source(style.source)} | "
                     f"{_cell(style.licence or 'unknown')} |")
    training = {k: v for k, v in (config.get("training") or {}).items() if v is not None}
    base = training.pop("fine_tuned_from", None)  # `stylehub train finetune`: the base network's own record
    if training:
        lines += ["", "## Training", "", *_record_tables(training)]
    while base:  # a network fine-tuned more than once keeps each base's record inside the next
        base = dict(base)
        earlier = base.pop("fine_tuned_from", None)
        lines += ["", "Fine-tuned (all weights, with the settings of the first table above) from a network trained "
                      "with:", "", *_record_tables(base)]
        base = earlier
    if curve:
        lines += ["", f"![Training losses per step]({CURVE_NAME})"]
    if scores:
        flat = _flatten(scores)
        lines += ["", "## Scores", "", "Distances measured by the StyleHub benchmark (lower is better).", ""]
        if any(k == "grid" or k.endswith(".grid") for k in flat):
            lines += [GRID_NOTE, ""]
        lines += ["| metric | value |", "| --- | ---: |"]
        lines += [f"| {_cell(k)} | {_cell(_value(v))} |" for k, v in flat.items()]
    return "\n".join(lines)


def _style_vector_body(config: dict, folder: Path, repo_id: str | None) -> str:
    """A style vector's card: what it is, how to use it, the network it is for, the paintings and their credits."""
    style, network = Model(config, folder).styles[0], config["network"]
    ref = repo_id or str(folder)
    seen = (f"at {config['painting_side']} px" if config.get("stroke_size") is None else
            f"at {config['painting_side']} px (stroke size {config['stroke_size']:g})")
    where = (f"`{network['repo']}` on the Hub, downloaded when needed" if network.get("repo") else
             "StyleHub's shipped `models/arbitrary`, found when run from a StyleHub checkout; elsewhere name it "
             "with `--network FOLDER_OR_REPO`")
    lines = [f"# {repo_id.split('/')[-1] if repo_id else folder.name}", "",
             f"A StyleHub style vector: the style of {_cell(style.name)}, {network['style_dim']} numbers for the "
             f"arbitrary-style network (Ghiasi et al. 2017, Magenta's small 8-bit networks) that paints any photo "
             f"with it in one pass. It was made from the painting(s) below, shown to the network's style predictor "
             f"{seen}.", "",
             "## Use", "", "```bash", f"stylehub apply {ref} photo.jpg -o styled.png", "```", "",
             f"It paints with the arbitrary-style network whose `model.safetensors` has the sha256 "
             f"`{network['sha256']}`: {where}. Another network is refused: a style vector means something only to "
             f"the network that made it.", "",
             "```python", "from stylehub import arbitrary, hub, images, style_vectors", "",
             f'style, network = style_vectors.open_style(hub.resolve_model("{ref}"), fallback="models/arbitrary")',
             'styled = style_vectors.stylize(network.net, images.load_image("photo.jpg").rgb, style,',
             f"                               working_side=arbitrary.WORKING_SIDE)  # as the CLI: at "
             f"{arbitrary.WORKING_SIDE} px, resized", "```", "",
             "## Paintings", "", "| painting | weight | source | licence |", "| --- | ---: | --- | --- |"]
    for painting in config["paintings"]:
        image = painting.get("image")
        shown = f"![painting]({image})" if checkpoints.model_file(folder, image) else "not kept"
        lines.append(f"| {shown} | {painting['weight']:g} | {_source(painting.get('source'))} | "
                     f"{_cell(painting.get('licence') or 'unknown')} |")
    lines += ["", "The paintings keep their own licences; the copies here are at most 512 px on their long side."]
    return "\n".join(lines)


def _record_tables(record: dict) -> list[str]:
    """A training record's settings, then those of each style trained alone after it (`add-style`,
    `finetune --only-style`)."""
    record = dict(record)
    runs = [(run, "added") for run in record.pop("added_styles", [])] + \
        [(run, "fine-tuned") for run in record.pop("tuned_styles", [])]
    lines = _settings_table(record)
    for run, what in runs:
        run = dict(run)
        lines += ["", f"Then {_cell(run.pop('name', 'a style'))} {what} alone ({_cell(run.pop('trained', ''))}), "
                      "with:", "", *_settings_table(run)]
    return lines


def _settings_table(record: dict) -> list[str]:
    return ["| setting | value |", "| --- | --- |",
            *(f"| {_cell(k)} | {_cell(_value(v))} |" for k, v in record.items() if v is not None)]


def _source(source) -> str:
    """A link for a URL; for a file, its name only (a local folder is nobody else's business)."""
    if not source:
        return "unknown"
    source = str(source)
    if source.startswith(("http://", "https://")):
        return f"[{_cell(source)}]({source.replace(')', '%29').replace(' ', '%20')})"
    if " " not in source and ("/" in source or "\\" in source):  # a path, not a sentence that names one
        return _cell(Path(source.replace("\\", "/")).name)
    return _cell(source)


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _value(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(", ", ": "))
    return str(value)


def _flatten(scores: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in scores.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def read_scores(path: Path) -> dict | None:
    """The benchmark's scores.json as a dict, None when absent; a CheckpointError when unreadable."""
    if not path.is_file():
        return None
    try:
        scores = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise checkpoints.CheckpointError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(scores, dict):
        raise checkpoints.CheckpointError(f"{path}: expected a JSON object of scores")
    return scores


def sample_grid(net: torch.nn.Module, config: dict, photos: list[Path], folder: Path | None = None) -> Image.Image:
    """A grid: one row per photo (the photo, then the photo in each style), the style images on top if kept."""
    model = Model(config, folder)
    count = min(model.num_styles, MAX_STYLE_COLUMNS) if model.paints_photos else 0  # noise only: no photo
    rows = []
    for photo in photos:
        rgb = images.resize_long_side(images.load_image(photo).rgb, SAMPLE_SIZE)
        cells = [rgb] + [fast.stylize_image(net, rgb, styles=model.style_index(i)) for i in range(count)]
        rows.append([images.to_pil(cell) for cell in cells])
    heads = [checkpoints.model_file(folder, s.image) if folder else None for s in model.styles[:count]]
    if any(heads):
        top = [None] + [images.to_pil(images.resize_long_side(images.load_image(h).rgb, SAMPLE_SIZE))
                        if h else None for h in heads]
        rows.insert(0, top)
    grid = Image.new("RGB", (SAMPLE_SIZE * (count + 1), SAMPLE_SIZE * len(rows)), "white")
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            if cell is not None:
                grid.paste(cell, (c * SAMPLE_SIZE + (SAMPLE_SIZE - cell.width) // 2,
                                  r * SAMPLE_SIZE + (SAMPLE_SIZE - cell.height) // 2))
    return grid


def loss_curve(log: list[dict[str, float]], size: tuple[int, int] = (720, 400)) -> Image.Image:
    """The training losses against the step, on a logarithmic axis, as a PNG-ready image."""
    width, height = size
    left, right, top, bottom = 70, 20, 20, 40
    series = {k: [(r["step"], r[k]) for r in log if r.get(k, 0) > 0] for k in CURVE_COLOURS}
    series = {k: v for k, v in series.items() if len(v) >= 2}
    values = [math.log10(y) for points in series.values() for _, y in points] or [0.0]
    steps = [r["step"] for r in log]
    x0, y0 = min(steps), math.floor(min(values))
    x1, y1 = max(max(steps), x0 + 1), max(math.ceil(max(values)), y0 + 1)
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()

    def xy(step: float, value: float) -> tuple[float, float]:
        return (left + (step - x0) / (x1 - x0) * (width - left - right),
                height - bottom - (math.log10(value) - y0) / (y1 - y0) * (height - top - bottom))

    for exponent in range(y0, y1 + 1):
        _, y = xy(x0, 10.0 ** exponent)
        draw.line([(left, y), (width - right, y)], fill=(225, 225, 225))
        draw.text((8, y - 6), f"1e{exponent}", fill="black", font=font)
    draw.rectangle([left, top, width - right, height - bottom], outline="black")
    draw.text((left + 8, top + 8), "loss (log scale)", fill="black", font=font)
    draw.text((left, height - bottom + 8), f"step {x0:g}", fill="black", font=font)
    draw.text((width - right - 80, height - bottom + 8), f"step {x1:g}", fill="black", font=font)
    for i, (name, points) in enumerate(series.items()):
        draw.line([xy(*p) for p in points], fill=CURVE_COLOURS[name], width=2)
        draw.text((width - right - 70, top + 8 + 14 * i), name, fill=CURVE_COLOURS[name], font=font)
    return image


def contact_sheet(net: torch.nn.Module, photo, names: list[str] | None = None) -> Image.Image:
    """The photo and the photo in every style of a network, in a labelled grid (index, or the names given)."""
    labels = ["photo", *(names or [str(i) for i in range(net.config.num_styles)])]
    tiles = every_style_tiles(net, photo)
    tile_w, tile_h, label, gap = tiles[0].width, tiles[0].height, 14, 4
    rows = -(-len(tiles) // SHEET_COLUMNS)
    sheet = Image.new("RGB", (SHEET_COLUMNS * (tile_w + gap) + gap, rows * (tile_h + label + gap) + gap), "white")
    draw = ImageDraw.Draw(sheet)
    for k, (text, tile) in enumerate(zip(labels, tiles)):
        row, column = divmod(k, SHEET_COLUMNS)
        x, y = gap + column * (tile_w + gap), gap + row * (tile_h + label + gap)
        draw.text((x + 2, y), text, fill="black")
        sheet.paste(tile, (x, y + label))
    return sheet


def save_png(image: Image.Image, path) -> Path:
    """Write a picture as an optimised PNG, atomically."""
    return write_atomically(Path(path), lambda tmp: image.save(tmp, "PNG", optimize=True))


def every_style_tiles(net: torch.nn.Module, photo, side: int = SHEET_TILE) -> list[Image.Image]:
    """The photo, then the photo in every style of a network: stylised at SHEET_RUN px, shrunk to `side` px."""
    rgb = images.resize_long_side(images.load_image(photo).rgb, SHEET_RUN)
    return [images.to_pil(images.resize_long_side(tile[None], side))
            for tile in torch.cat([rgb, fast.stylize_every_style(net, rgb)])]


def save_jpeg(image: Image.Image, path, quality: int = 85) -> Path:
    """Write a picture as an optimised JPEG, atomically."""
    return write_atomically(Path(path), lambda tmp: image.save(tmp, "JPEG", quality=quality, optimize=True))
