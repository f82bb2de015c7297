"""The Hugging Face Hub: publish a model folder (push), fetch one (pull, resolve_model), find published styles
(search_styles, curated_styles) and upload an app's files as a Gradio Space (deploy_space).

huggingface_hub does the talking and finds the token its usual way (HF_TOKEN, else `hf auth login`); StyleHub never
reads it into a message or a log. Every failure becomes a HubError subclass whose message says what to do.
Publishing prepares everything locally, then writes a single commit: it lands whole or not at all.
"""
from __future__ import annotations

import io
import json
import shutil
import tempfile
from pathlib import Path, PurePosixPath
from typing import Callable

from huggingface_hub import CommitOperationAdd, HfApi, constants, get_token, snapshot_download

from . import __version__, cards, checkpoints
from .backbones import hub_reachable
from .errors import HubAuthError, HubError, HubNotFoundError, HubOfflineError, SettingsError
from .files import write_atomically
from .hub_errors import translated
from .training_log import LOG_NAME

LIBRARY = "stylehub"
REPO_ID = checkpoints.REPO_ID
MODEL_FILES = (checkpoints.WEIGHTS_NAME, checkpoints.CONFIG_NAME)
PICTURES = (cards.PREVIEW_NAME, "styles/*")  # the pictures an app shows beside a style

EXTRA_FILES = (cards.SCORES_NAME, LOG_NAME)  # published beside the card when present
PROBE_TIMEOUT = 3.0  # seconds to find out that the Hub cannot be reached

ProgressCallback = Callable[[float, str], None]  # (fraction done, description): gradio's gr.Progress() fits


def is_repo_id(text: str) -> bool:
    """Whether text has the shape of a Hub repo id, user/name."""
    return bool(REPO_ID.match(str(text)))


def resolve_model(ref, revision: str | None = None, *, progress: ProgressCallback | None = None) -> Path:
    """A model folder for `ref`: an existing local folder as it is, else a Hub repo id (user/name) downloaded.

    The folder is checked to hold a StyleHub config; failures are CheckpointError or HubError.
    """
    path = Path(ref).expanduser()
    if path.exists() or not is_repo_id(str(ref)):
        if revision is not None:
            raise SettingsError(f"a revision applies to Hub repos, not to the local folder {path}")
        checkpoints.read_config(path)
        return path
    try:
        return download_model(str(ref), revision, progress=progress)
    except (HubNotFoundError, HubOfflineError) as err:
        raise type(err)(f"{ref}: no such model folder, and {err}") from None


def download_model(repo_id: str, revision: str | None = None, *, progress: ProgressCallback | None = None) -> Path:
    """The local snapshot of a StyleHub model repo: its weights (or style vector), config.json and style pictures.

    They are downloaded into the Hugging Face cache, so a second call (offline too) costs nothing.
    progress(fraction, text), if given, is called as the download advances (from download threads).
    """
    _check_repo_id(repo_id)
    folder = _download(repo_id, revision, [*MODEL_FILES, checkpoints.VECTOR_NAME, *PICTURES], progress)
    try:
        checkpoints.read_config(folder)
    except checkpoints.CheckpointError as err:
        reason = str(err).replace(f"{folder}/", "").replace(str(folder), repo_id)
        raise checkpoints.CheckpointError(f"{repo_id} on the Hugging Face Hub is not a StyleHub model "
                                          f"({reason})") from None
    return folder


def pull(repo_id: str, revision: str | None = None, *, progress: ProgressCallback | None = None) -> Path:
    """Download every file of a model repo into the Hugging Face cache; the local snapshot folder."""
    return _download(repo_id, revision, None, progress)


def push(folder, repo_id: str, *, private: bool = False, license: str | None = None, examples=None) -> str:
    """Publish a model folder to the model repo `repo_id` (created if needed) in one commit; the repo's URL.

    The card is written or refreshed (cards.write_card, its sample grid from the photos in `examples`, when given)
    in a temporary folder, and moved into the model folder only
    once the commit has landed: a failed push leaves the folder as it was. The commit holds the weights (a style
    vector's style.safetensors), config.json, the card, its images, the style images (a style vector's paintings)
    and, when present, scores.json and training_log.csv.
    private applies to a repo this call creates.
    """
    folder = Path(folder)
    _check_repo_id(repo_id)
    config = checkpoints.read_config(folder)
    files = checkpoints.model_files(config)
    for name in files:
        if not (folder / name).is_file():
            raise checkpoints.CheckpointError(f"{folder}: {name} is missing")
    what = f"publish to {repo_id}"
    _ensure_online(what)
    _ensure_token(what)
    with tempfile.TemporaryDirectory(prefix="stylehub-card-") as staging:
        card = cards.write_card(folder, repo_id=repo_id, license=license, examples=examples, into=staging)
        uploads = {name: folder / name for name in files}  # path in the repo -> local file
        uploads.update({path.name: path for path in card})
        uploads.update({name: folder / name for name in EXTRA_FILES if (folder / name).is_file()})
        for style in [*config["styles"], *config.get("paintings", [])]:
            if image := checkpoints.model_file(folder, style.get("image")):
                uploads[PurePosixPath(style["image"]).as_posix()] = image
        operations = [CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(path))
                      for name, path in uploads.items()]
        with translated(what):
            api = _api()
            url = api.create_repo(repo_id, private=private, exist_ok=True)
            api.create_commit(repo_id, operations, commit_message=f"Publish {folder.name} with StyleHub {__version__}")
        for path in card:  # published: now the folder's card may change too
            write_atomically(folder / path.name, lambda tmp, source=path: shutil.copyfile(source, tmp))
    return str(url)


def deploy_space(space_id: str, files: list[tuple[str, Path]], readme: str, *, private: bool = False) -> str:
    """Create or update the Gradio Space `space_id` in one commit holding `files` ((path in the Space, local file))
    and README.md `readme` (whose front matter configures the Space); the Space's URL."""
    _check_repo_id(space_id)
    operations = [CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(path)) for name, path in files]
    operations.append(CommitOperationAdd(path_in_repo=cards.CARD_NAME, path_or_fileobj=readme.encode()))
    what = f"deploy to the Space {space_id}"
    _ensure_online(what)
    _ensure_token(what)
    with translated(what):
        api = _api()
        url = api.create_repo(space_id, repo_type="space", space_sdk="gradio", private=private, exist_ok=True)
        api.create_commit(space_id, operations, repo_type="space", commit_message=f"Deploy StyleHub {__version__}")
    return str(url)


def search_styles(author: str | None = None, limit: int = 100) -> list[dict]:
    """Published StyleHub models on the Hub, most downloaded first: repo, likes, downloads, last_modified."""
    what = "search the Hub for StyleHub styles"
    _ensure_online(what)
    with translated(what):
        models = list(_api().list_models(filter=LIBRARY, author=author, sort="downloads", limit=limit,
                                         expand=["downloads", "likes", "lastModified"]))
    return [{"repo": m.id, "likes": m.likes or 0, "downloads": m.downloads or 0,
             "last_modified": m.last_modified.isoformat() if m.last_modified else None} for m in models]


def curated_styles(*, search: bool = True, registry=None) -> list[dict]:
    """The styles of a registry file (read_registry), if given, then, when online and `search` is set, the other
    StyleHub styles found on the Hub (name: the repo's name, description: ""). Never fails for want of a network:
    offline, or when the search fails, the registry alone is returned.
    """
    styles = [{**entry, "curated": True} for entry in read_registry(registry)]
    if search and not constants.HF_HUB_OFFLINE:
        try:
            found = search_styles()
        except HubError:
            found = []
        known = {s["repo"] for s in styles}
        styles += [{"repo": f["repo"], "name": f["repo"].split("/")[-1], "description": "", "curated": False,
                    "likes": f["likes"], "downloads": f["downloads"]} for f in found if f["repo"] not in known]
    return styles


def read_registry(path=None) -> list[dict]:
    """A curated registry: a JSON list of {repo, name, description}; [] when there is none (no path, no file)."""
    if path is None or not Path(path).is_file():
        return []
    path = Path(path)
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise SettingsError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(entries, list) or not all(
            isinstance(e, dict) and is_repo_id(e.get("repo", "")) and isinstance(e.get("name"), str)
            for e in entries):
        raise SettingsError(f"{path}: expected a list of {{\"repo\": \"user/name\", \"name\": ..., "
                            f"\"description\": ...}}")
    return [{"repo": e["repo"], "name": e["name"], "description": str(e.get("description", ""))} for e in entries]


def _api() -> HfApi:
    return HfApi(library_name=LIBRARY, library_version=__version__)  # the endpoint as configured now


def _check_repo_id(repo_id: str) -> None:
    if not is_repo_id(repo_id):
        raise SettingsError(f"{repo_id!r} is not a Hub repo id: use USER/NAME (letters, digits, '-', '_', '.')")


def _ensure_online(what: str) -> None:
    """Fail within seconds, before any work, when the Hub cannot be used."""
    if constants.HF_HUB_OFFLINE:
        raise HubOfflineError(f"cannot {what}: HF_HUB_OFFLINE is set; unset it to use the network")
    if not hub_reachable(PROBE_TIMEOUT):
        raise HubOfflineError(f"cannot {what}: the Hugging Face Hub ({constants.ENDPOINT}) cannot be reached; "
                              f"check the network connection (or HF_ENDPOINT) and try again")


def _ensure_token(what: str) -> None:
    if get_token() is None:
        raise HubAuthError(f"cannot {what}: no Hugging Face token; log in with `hf auth login` or set HF_TOKEN to a "
                           f"token with write access (https://huggingface.co/settings/tokens)")


def _download(repo_id: str, revision: str | None, files: list[str] | None,
              progress: ProgressCallback | None) -> Path:
    """snapshot_download into the cache; from the cache alone when offline or when the Hub cannot be reached."""
    _check_repo_id(repo_id)
    label = f"{repo_id}@{revision}" if revision else repo_id
    options = dict(repo_id=repo_id, revision=revision, allow_patterns=files, library_name=LIBRARY,
                   library_version=__version__)
    offline = constants.HF_HUB_OFFLINE
    if offline or not hub_reachable(PROBE_TIMEOUT):
        reason = ("HF_HUB_OFFLINE is set (unset it to download)" if offline else
                  f"the Hugging Face Hub ({constants.ENDPOINT}) cannot be reached (check the network connection)")
        try:
            return Path(snapshot_download(**options, local_files_only=True))
        except Exception:  # not cached, or cached in part: huggingface_hub raises several types here
            raise HubOfflineError(f"cannot download {label}: it is not in the local cache and {reason}") from None
    if progress:
        progress(0.0, f"Downloading {label}")
    with translated(f"download {label}"):
        folder = snapshot_download(**options, tqdm_class=_progress_bars(progress, label) if progress else None)
    if progress:
        progress(1.0, f"Downloaded {label}")
    return Path(folder)


def _progress_bars(progress: ProgressCallback, label: str):
    """A tqdm class for huggingface_hub that draws nothing and turns its byte counts into progress() calls."""
    from tqdm import tqdm

    reported = [0.0]

    class Bars(tqdm):
        monitor_interval = 0

        def __init__(self, *args, **kwargs):
            kwargs.pop("name", None)
            super().__init__(*args, **{**kwargs, "file": io.StringIO(), "disable": False})

        def update(self, n=1):
            super().update(n)
            if self.unit == "B" and self.total and self.n / self.total > reported[0]:
                reported[0] = min(self.n / self.total, 1.0)
                progress(reported[0], f"Downloading {label}: {self.n / 1e6:.1f} of {self.total / 1e6:.1f} MB")

    return Bars

