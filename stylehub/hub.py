"""The Hugging Face Hub: publish a model folder (push), fetch one (pull, resolve_model), find published styles
(search_styles, curated_styles) and deploy the app as a Space (deploy).

huggingface_hub does the talking and finds the token its usual way (HF_TOKEN, else `hf auth login`); StyleHub never
reads it into a message or a log. Every failure becomes a HubError subclass whose message says what to do.
Publishing prepares everything locally, then writes a single commit: it lands whole or not at all.
"""
from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import tempfile
from pathlib import Path, PurePosixPath
from typing import Callable

from huggingface_hub import CommitOperationAdd, HfApi, SpaceCard, SpaceCardData, constants, get_token, snapshot_download

from . import __version__, cards, checkpoints
from .backbones import hub_reachable
from .errors import (
    HubAuthError,
    HubConflictError,
    HubError,
    HubNotFoundError,
    HubOfflineError,
    HubRateLimitError,
    SettingsError,
)
from .files import write_atomically
from .train import LOG_NAME

LIBRARY = "stylehub"
REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")
MODEL_FILES = (checkpoints.WEIGHTS_NAME, checkpoints.CONFIG_NAME)
PICTURES = (cards.PREVIEW_NAME, "styles/*")  # the pictures an app shows beside a style

EXTRA_FILES = (cards.SCORES_NAME, LOG_NAME)  # published beside the card when present
PROJECT = Path(__file__).resolve().parents[1]
REGISTRY = PROJECT / "models" / "registry.json"
SPACE_FILES = ("app.py", "requirements.txt", "stylehub", "ui", "models", "examples")
SPACE_SKIPS = ("training_state.safetensors",)  # resume state: large and of no use to the app
PROBE_TIMEOUT = 3.0  # seconds to find out that the Hub cannot be reached

Progress = Callable[[float, str], None]  # (fraction done, description): gradio's gr.Progress() fits


def is_repo_id(text: str) -> bool:
    """Whether text has the shape of a Hub repo id, user/name."""
    return bool(REPO_ID.match(str(text)))


def resolve_model(ref, revision: str | None = None, *, progress: Progress | None = None) -> Path:
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


def download_model(repo_id: str, revision: str | None = None, *, progress: Progress | None = None) -> Path:
    """The local snapshot of a StyleHub model repo: its weights, config.json and style pictures.

    They are downloaded into the Hugging Face cache, so a second call (offline too) costs nothing.
    progress(fraction, text), if given, is called as the download advances (from download threads).
    """
    _check_repo_id(repo_id)
    folder = _download(repo_id, revision, [*MODEL_FILES, *PICTURES], progress)
    try:
        checkpoints.read_config(folder)
    except checkpoints.CheckpointError as err:
        reason = str(err).replace(f"{folder}/", "").replace(str(folder), repo_id)
        raise checkpoints.CheckpointError(f"{repo_id} on the Hugging Face Hub is not a StyleHub model "
                                          f"({reason})") from None
    return folder


def pull(repo_id: str, revision: str | None = None, *, progress: Progress | None = None) -> Path:
    """Download every file of a model repo into the Hugging Face cache; the local snapshot folder."""
    return _download(repo_id, revision, None, progress)


def push(folder, repo_id: str, *, private: bool = False, license: str | None = None,
         examples=cards.EXAMPLES) -> str:
    """Publish a model folder to the model repo `repo_id` (created if needed) in one commit; the repo's URL.

    The card is written or refreshed (cards.write_card) in a temporary folder, and moved into the model folder only
    once the commit has landed: a failed push leaves the folder as it was. The commit holds the weights,
    config.json, the card, its images, the style images and, when present, scores.json and training_log.csv.
    private applies to a repo this call creates.
    """
    folder = Path(folder)
    _check_repo_id(repo_id)
    config = checkpoints.read_config(folder)
    if not (folder / checkpoints.WEIGHTS_NAME).is_file():
        raise checkpoints.CheckpointError(f"{folder}: {checkpoints.WEIGHTS_NAME} is missing")
    what = f"publish to {repo_id}"
    _ensure_online(what)
    _ensure_token(what)
    with tempfile.TemporaryDirectory(prefix="stylehub-card-") as staging:
        card = cards.write_card(folder, repo_id=repo_id, license=license, examples=examples, into=staging)
        uploads = {name: folder / name for name in MODEL_FILES}  # path in the repo -> local file
        uploads.update({path.name: path for path in card})
        uploads.update({name: folder / name for name in EXTRA_FILES if (folder / name).is_file()})
        for style in config["styles"]:
            if image := checkpoints.model_file(folder, style.get("image")):
                uploads[PurePosixPath(style["image"]).as_posix()] = image
        operations = [CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(path))
                      for name, path in uploads.items()]
        with _hub_errors(what):
            api = _api()
            url = api.create_repo(repo_id, private=private, exist_ok=True)
            api.create_commit(repo_id, operations, commit_message=f"Publish {folder.name} with StyleHub {__version__}")
        for path in card:  # published: now the folder's card may change too
            write_atomically(folder / path.name, lambda tmp, source=path: shutil.copyfile(source, tmp))
    return str(url)


def deploy(space_id: str, *, private: bool = False, root=PROJECT) -> str:
    """Create or update a Gradio Space running this app, in one commit; the Space's URL.

    Uploads app.py, requirements.txt, stylehub/, ui/, models/ and examples/ from `root`, with README.md whose front
    matter (sdk: gradio, app_file) configures the Space.
    """
    _check_repo_id(space_id)
    root = Path(root)
    operations = [CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(path))
                  for name, path in _space_files(root)]
    operations.append(CommitOperationAdd(path_in_repo=cards.CARD_NAME, path_or_fileobj=_space_readme(root).encode()))
    what = f"deploy to the Space {space_id}"
    _ensure_online(what)
    _ensure_token(what)
    with _hub_errors(what):
        api = _api()
        url = api.create_repo(space_id, repo_type="space", space_sdk="gradio", private=private, exist_ok=True)
        api.create_commit(space_id, operations, repo_type="space", commit_message=f"Deploy StyleHub {__version__}")
    return str(url)


def search_styles(author: str | None = None, limit: int = 100) -> list[dict]:
    """Published StyleHub models on the Hub, most downloaded first: repo, likes, downloads, last_modified."""
    what = "search the Hub for StyleHub styles"
    _ensure_online(what)
    with _hub_errors(what):
        models = list(_api().list_models(filter=LIBRARY, author=author, sort="downloads", limit=limit,
                                         expand=["downloads", "likes", "lastModified"]))
    return [{"repo": m.id, "likes": m.likes or 0, "downloads": m.downloads or 0,
             "last_modified": m.last_modified.isoformat() if m.last_modified else None} for m in models]


def curated_styles(*, search: bool = True, registry=REGISTRY) -> list[dict]:
    """The styles of models/registry.json ({repo, name, description}), then, when online and `search` is set,
    the other StyleHub styles found on the Hub (name: the repo's name, description: ""). Never fails for want of
    a network: offline, or when the search fails, the registry alone is returned.
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


def read_registry(path=REGISTRY) -> list[dict]:
    """The curated registry: a JSON list of {repo, name, description}; [] when the file is absent."""
    path = Path(path)
    if not path.is_file():
        return []
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


def _download(repo_id: str, revision: str | None, files: list[str] | None, progress: Progress | None) -> Path:
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
    with _hub_errors(f"download {label}"):
        folder = snapshot_download(**options, tqdm_class=_progress_bars(progress, label) if progress else None)
    if progress:
        progress(1.0, f"Downloaded {label}")
    return Path(folder)


def _progress_bars(progress: Progress, label: str):
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


@contextlib.contextmanager
def _hub_errors(what: str):
    """Turn huggingface_hub's and the network's exceptions into HubError subclasses that say what to do."""
    try:
        yield
    except HubError:
        raise
    except Exception as err:
        mapped = _translate(err, what)
        if mapped is None:
            raise
        raise mapped from None


# What a refusal means, by HTTP status: the error class and the message after "cannot {what}: ".
STATUS_ERRORS = {
    401: (HubAuthError, "the Hub did not accept the token (401){said}; check the repo id, then log in with "
                        "`hf auth login` or set HF_TOKEN to a valid token"),
    403: (HubAuthError, "the token lacks the access this needs (403){said}; use a token with write access to that "
                        "namespace (https://huggingface.co/settings/tokens)"),
    404: (HubNotFoundError, "not found on the Hub (404); check the repo id (and revision); a private repo needs a "
                            "token of an account that can see it"),
    409: (HubConflictError, "conflict (409){said}; the repo changed meanwhile or exists with another type; nothing "
                            "was published: try again, or pick another name"),
    429: (HubRateLimitError, "the Hub is rate-limiting requests (429); wait {wait} and try again"),
}


def _translate(err: Exception, what: str) -> HubError | None:
    from huggingface_hub import errors

    cache_only = isinstance(err, errors.LocalEntryNotFoundError)  # the Hub could not be asked; the cause says why
    if cache_only and isinstance(err.__cause__, Exception):
        err = err.__cause__
    if isinstance(err, errors.HfHubHTTPError) and err.response is not None:
        status = err.response.status_code
        if isinstance(err, errors.RevisionNotFoundError):
            kind, text = HubNotFoundError, "no such revision (404); check the branch, tag or commit"
        elif isinstance(err, errors.GatedRepoError):
            kind, text = HubAuthError, "the repo is gated; accept its conditions on its Hub page while logged in"
        elif status in STATUS_ERRORS:
            kind, text = STATUS_ERRORS[status]
        elif isinstance(err, (errors.RepositoryNotFoundError, errors.EntryNotFoundError)):
            kind, text = STATUS_ERRORS[404]
        elif status >= 500:
            kind, text = HubError, f"the Hub had a server error ({status}); try again later"
        else:
            kind, text = HubError, f"the Hub answered {status}{{said}}"
        wait = err.response.headers.get("Retry-After")
        text = text.format(said=f" (the Hub says: {err.server_message.strip()[:200]})" if err.server_message else "",
                           wait=f"{wait} s" if wait else "a few minutes")
    elif isinstance(err, errors.OfflineModeIsEnabled):
        kind, text = HubOfflineError, "HF_HUB_OFFLINE is set; unset it to use the network"
    elif cache_only or _is_network_error(err):
        kind, text = HubOfflineError, (f"the connection to the Hugging Face Hub ({constants.ENDPOINT}) failed "
                                       f"({type(err).__name__}); check the network connection and try again")
    else:
        return None
    return kind(_redact(" ".join(f"cannot {what}: {text}".split())))  # one line, whatever a server sent


def _is_network_error(err: Exception) -> bool:
    """A failed connection, whichever HTTP library huggingface_hub uses (httpx, requests) or the OS raised it."""
    names = {"TransportError", "ConnectionError", "ConnectError", "TimeoutException", "Timeout", "TimeoutError",
             "NetworkError", "ProxyError"}
    return any(cls.__name__ in names for cls in type(err).__mro__)


def _redact(text: str) -> str:
    """The text with the Hub token, should a server echo it, replaced by a placeholder."""
    try:
        token = get_token()
    except Exception:  # a broken token setup must not hide the error being reported
        return text
    return text.replace(token, "hf_***") if token else text


def _space_files(root: Path) -> list[tuple[str, Path]]:
    """(path in the Space, local file) for the app's files under root, skipping caches and hidden files."""
    for required in ("app.py", "stylehub"):
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


def _space_readme(root: Path) -> str:
    """root's README.md with the Space front matter it needs (sdk: gradio, app_file); kept as is when complete."""
    path = root / cards.CARD_NAME
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    card = SpaceCard(text) if text.strip() else None
    data = card.data.to_dict() if card else {}
    wanted = {"sdk": "gradio", "app_file": "app.py"}
    if all(data.get(k) == v for k, v in wanted.items()):
        return text
    body = card.text.lstrip() if card else "# StyleHub\n"
    return f"---\n{SpaceCardData(**{'title': 'StyleHub', **data, **wanted}).to_yaml()}\n---\n\n{body}"
