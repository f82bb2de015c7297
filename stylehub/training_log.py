"""The loss log a training run writes beside its model (training_log.csv), and reading it back (cards, resume)."""
from __future__ import annotations

import csv
from pathlib import Path

from .files import write_atomically

LOG_NAME = "training_log.csv"  # the network's own training
LOG_PATTERN = "training_log*.csv"  # that one, and one per style added later
LOG_COLUMNS = ("step", "content", "style", "tv", "total")


def style_log_name(slug: str) -> str:
    """The log of the training of the style named `slug` alone (an added style, or one fine-tuned alone)."""
    return f"training_log_{slug}.csv"


def write_log(path: Path, log: list[dict]) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=LOG_COLUMNS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows({k: (f"{v:.6g}" if k != "step" else v) for k, v in row.items()} for row in log)

    write_atomically(path, write)


def read_log(path: Path) -> list[dict[str, float]]:
    """The rows of a training log (step, content, style, tv, total) as numbers; [] when absent."""
    if not path.is_file():
        return []
    rows = []
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            try:
                rows.append({k: float(row[k]) for k in LOG_COLUMNS if row.get(k) not in (None, "")})
            except ValueError:
                continue  # a damaged line: the curve does without it
    return [{**row, "step": int(row["step"])} for row in rows if "step" in row]
