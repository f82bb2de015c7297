"""What the benchmarks share: ../shared's judge, and the painting a style was learnt from.

A script imports this module before stylehub: it puts the checkout first on sys.path, so that `python bench/x.py`
benchmarks this checkout's stylehub, installed or not.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared"
PAINTINGS = SHARED / "images" / "style"
KNOWN_PAINTINGS = {"The Starry Night": "starry_night.jpg", "The Great Wave": "wave.jpg",  # names unlike the file
                   "The Shipwreck": "shipwreck.jpg"}


def judge(output: Path, content: Path, style: Path, size: int) -> dict:
    """../shared/tools/judge.py's scores (grid, style, style_avg, content, colour; lower is better) of one output.

    grid is measured on the output file at its own resolution; the others at `size` px (long side).
    """
    command = [sys.executable, str(SHARED / "tools" / "judge.py"), str(output), str(content), str(style),
               "--size", str(size)]
    return json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)


def painting_for(name: str, folder: Path = PAINTINGS, overrides: dict[str, str] | None = None) -> Path | None:
    """The painting of a style, found by its name in `folder` ("The Scream" → the_scream.jpg), or None."""
    file = (overrides or {}).get(name) or KNOWN_PAINTINGS.get(name) or name.lower().replace(" ", "_") + ".jpg"
    return folder / file if (folder / file).is_file() else None
