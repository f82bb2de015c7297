"""The app as a Hugging Face Space: the files of a StyleHub checkout it needs, uploaded in one commit.

    stylehub deploy --space USER/NAME [--private] [--root CHECKOUT]

The list of files lives here, beside app.py, because the app (not the stylehub package) knows what it needs.
"""
from __future__ import annotations

from pathlib import Path

from huggingface_hub import SpaceCard, SpaceCardData

from stylehub import hub
from stylehub.errors import SettingsError

ROOT = Path(__file__).resolve().parent
APP_FILE = "app.py"
SPACE_FILES = (APP_FILE, "requirements.txt", "stylehub", "ui", "models", "examples")
SPACE_SKIPS = ("training_state.safetensors",)  # resume state: large and of no use to the app
README = "README.md"


def deploy(space_id: str, *, private: bool = False, root=ROOT) -> str:
    """Create or update a Gradio Space running the app of the checkout `root`, in one commit; the Space's URL.

    Uploads app.py, requirements.txt, stylehub/, ui/, models/ and examples/ from `root`, with README.md whose front
    matter (sdk: gradio, app_file) configures the Space.
    """
    root = Path(root)
    return hub.deploy_space(space_id, space_files(root), space_readme(root), private=private)


def space_files(root: Path) -> list[tuple[str, Path]]:
    """(path in the Space, local file) for the app's files under root, skipping caches and hidden files."""
    for required in (APP_FILE, "stylehub"):
        if not (root / required).exists():
            raise SettingsError(f"{root}: not a StyleHub checkout ({required} is missing); run deploy from one")
    files = []
    for name in SPACE_FILES:
        path = root / name
        candidates = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in candidates:
            parts = file.relative_to(root).parts
            if not file.is_file() or file.name in SPACE_SKIPS or file.suffix == ".pyc" or any(
                    p.startswith(".") or p == "__pycache__" for p in parts):
                continue
            files.append(("/".join(parts), file))
    return files


def space_readme(root: Path) -> str:
    """root's README.md with the Space front matter it needs (sdk: gradio, app_file); kept as is when complete."""
    path = root / README
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    card = SpaceCard(text) if text.strip() else None
    data = card.data.to_dict() if card else {}
    wanted = {"sdk": "gradio", "app_file": APP_FILE}
    if all(data.get(k) == v for k, v in wanted.items()):
        return text
    body = card.text.lstrip() if card else "# StyleHub\n"
    return f"---\n{SpaceCardData(**{'title': 'StyleHub', **data, **wanted}).to_yaml()}\n---\n\n{body}"
