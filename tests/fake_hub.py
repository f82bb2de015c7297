"""An in-process stand-in for the Hugging Face Hub's HTTP API, for the real huggingface_hub client.

It serves what StyleHub uses: repo creation, README validation, preupload and NDJSON commits (every file
"regular", base64 inside the commit), repo and revision info, the file tree, resolve (HEAD and GET with the headers
huggingface_hub checks) and the model search. Repos live in memory, one list of commits each. `fail()` makes the
next matching requests answer an error status, to exercise error handling.
"""
from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse

import yaml

TYPES = {"models": "model", "spaces": "space", "datasets": "dataset"}
API_REPO = re.compile(r"^/api/(models|spaces|datasets)/([^/]+/[^/]+)(?:/(revision|tree|preupload|commit)/([^/]+)"
                      r"(?:/(.*))?)?$")
RESOLVE = re.compile(r"^/(?:(spaces|datasets)/)?([^/]+/[^/]+)/resolve/([^/]+)/(.+)$")
DATE = "2025-01-02T03:04:05.000Z"


def git_blob_sha(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Repo:
    type: str
    private: bool = False
    sdk: str | None = None
    commits: list[tuple[str, dict[str, bytes]]] = field(default_factory=list)  # (sha, files), oldest first
    likes: int = 0
    downloads: int = 0

    @property
    def files(self) -> dict[str, bytes]:
        return self.commits[-1][1]

    def tags(self) -> tuple[list[str], str | None]:
        """(tags, library_name) from the README's YAML header, like the Hub derives them."""
        text = self.files.get("README.md", b"").decode()
        match = re.match(r"^---\n(.*?)\n---", text, re.S)
        meta = (yaml.safe_load(match.group(1)) if match else None) or {}
        library = meta.get("library_name")
        return list(dict.fromkeys([*(meta.get("tags") or []), *([library] if library else [])])), library


@dataclass
class Failure:
    method: str
    pattern: str
    status: int
    times: int
    message: str
    headers: dict


class FakeHub:
    """Start with `with FakeHub(token) as hub:`; `hub.url` is the endpoint to point huggingface_hub at."""

    def __init__(self, token: str, user: str = "alice"):
        self.token, self.user = token, user
        self.repos: dict[tuple[str, str], Repo] = {}
        self.requests: list[tuple[str, str]] = []
        self.failures: list[Failure] = []
        self.lock = threading.Lock()
        self._counter = itertools.count(1)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> "FakeHub":
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def fail(self, method: str, pattern: str, status: int, *, times: int = 1, message: str = "refused",
             headers: dict | None = None) -> None:
        """Answer the next `times` requests whose method and path (re.search) match with `status`."""
        self.failures.append(Failure(method, pattern, status, times, message, headers or {}))

    def add_repo(self, repo_id: str, files: dict[str, bytes], *, type: str = "model", **info) -> Repo:
        """A repo with one commit holding `files` (likes, downloads, private, sdk as keywords)."""
        repo = Repo(type, **info)
        repo.commits.append((self._sha(), dict(files)))
        self.repos[(type, repo_id)] = repo
        return repo

    def repo(self, repo_id: str, type: str = "model") -> Repo:
        return self.repos[(type, repo_id)]

    def _sha(self) -> str:
        return hashlib.sha1(f"commit {next(self._counter)}".encode()).hexdigest()


def _handler(hub: FakeHub):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # quiet
            pass

        def do_HEAD(self):
            self._dispatch()

        def do_GET(self):
            self._dispatch()

        def do_POST(self):
            self._dispatch()

        # -- plumbing --------------------------------------------------------------------------------------------
        def _dispatch(self) -> None:
            url = urlparse(self.path)
            self.query = parse_qs(url.query)
            path = unquote(url.path)
            length = int(self.headers.get("Content-Length") or 0)
            self.body = self.rfile.read(length) if length else b""
            with hub.lock:
                hub.requests.append((self.command, path))
                failure = next((f for f in hub.failures if f.times > 0 and f.method == self.command
                                and re.search(f.pattern, path)), None)
                if failure:
                    failure.times -= 1
                    return self._error(failure.status, failure.message, extra=failure.headers)
                try:
                    self._route(path)
                except Exception as err:  # a bug in the fake: make it visible to the client
                    self._error(500, f"fake hub error: {err!r}")

        def _send(self, status: int, body: bytes = b"", headers: dict | None = None,
                  content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, data, status: int = 200) -> None:
            self._send(status, json.dumps(data).encode())

        def _error(self, status: int, message: str, code: str | None = None, extra: dict | None = None) -> None:
            headers = {"X-Error-Message": message, **(extra or {})}
            if code:
                headers["X-Error-Code"] = code
            self._send(status, json.dumps({"error": message}).encode(), headers)

        def _authorised(self) -> bool:
            return self.headers.get("Authorization") == f"Bearer {hub.token}"

        # -- routes ----------------------------------------------------------------------------------------------
        def _route(self, path: str) -> None:
            if path == "/api/repos/create" and self.command == "POST":
                return self._create()
            if path == "/api/validate-yaml" and self.command == "POST":
                return self._json({"errors": [], "warnings": []})
            if path == "/api/models" and self.command == "GET":
                return self._search()
            match = API_REPO.match(path)
            if match:
                kind, repo_id, action, revision, rest = match.groups()
                return self._api(TYPES[kind], repo_id, action, revision, rest or "")
            match = RESOLVE.match(path)
            if match and self.command in ("GET", "HEAD"):
                kind, repo_id, revision, filename = match.groups()
                return self._resolve(TYPES.get(kind, "model"), repo_id, revision, filename)
            self._error(404, f"no route for {self.command} {path}")

        def _create(self) -> None:
            if not self._authorised():
                return self._error(401, "Invalid credentials in Authorization header")
            payload = json.loads(self.body)
            repo_id = f"{payload.get('organization') or hub.user}/{payload['name']}"
            kind = payload.get("type") or "model"
            url = f"{hub.url}/{'' if kind == 'model' else kind + 's/'}{repo_id}"
            if (kind, repo_id) in hub.repos:  # the Hub's answer, URL included (create_repo(exist_ok=True) reads it)
                message = "You already created this repo"
                return self._send(409, json.dumps({"error": message, "url": url}).encode(),
                                  {"X-Error-Message": message})
            hub.add_repo(repo_id, {".gitattributes": b"*.safetensors filter=lfs\n"}, type=kind,
                         private=payload.get("visibility") == "private" or bool(payload.get("private")),
                         sdk=payload.get("sdk"))
            self._json({"url": url, "name": repo_id})

        def _find(self, kind: str, repo_id: str, revision: str | None):
            """(repo, sha, files), or None after answering the error the Hub would."""
            repo = hub.repos.get((kind, repo_id))
            if repo is None or (repo.private and not self._authorised()):
                self._error(404, "Repository not found", code="RepoNotFound")
                return None
            if revision in (None, "main"):
                return repo, *repo.commits[-1]
            for sha, files in repo.commits:
                if sha == revision:
                    return repo, sha, files
            self._error(404, f"Invalid rev id: {revision}", code="RevisionNotFound")
            return None

        def _api(self, kind: str, repo_id: str, action: str | None, revision: str | None, rest: str) -> None:
            if action in ("preupload", "commit") and not self._authorised():
                return self._error(401, "Invalid credentials in Authorization header")
            found = self._find(kind, repo_id, revision)
            if found is None:
                return
            repo, sha, files = found
            if action in (None, "revision"):
                tags, library = repo.tags()
                return self._json({"id": repo_id, "sha": sha, "private": repo.private, "lastModified": DATE,
                                   "siblings": [{"rfilename": name} for name in files], "tags": tags,
                                   "library_name": library, "likes": repo.likes, "downloads": repo.downloads,
                                   "sdk": repo.sdk})
            if action == "tree":
                return self._json([{"type": "file", "oid": git_blob_sha(data), "size": len(data), "path": name}
                                   for name, data in files.items() if name.startswith(rest)])
            if action == "preupload":
                wanted = json.loads(self.body)["files"]
                return self._json({"files": [
                    {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False,
                     "oid": git_blob_sha(files[f["path"]]) if f["path"] in files else None} for f in wanted]})
            return self._commit(repo, repo_id, files)

        def _commit(self, repo: Repo, repo_id: str, files: dict[str, bytes]) -> None:
            new = dict(files)
            for line in self.body.decode().splitlines():
                item = json.loads(line)
                value = item["value"]
                if item["key"] == "file":
                    new[value["path"]] = base64.b64decode(value["content"])
                elif item["key"] == "deletedFile":
                    new.pop(value["path"], None)
                elif item["key"] != "header":
                    return self._error(400, f"the fake hub does not support {item['key']}")
            sha = hub._sha()
            repo.commits.append((sha, new))
            prefix = "" if repo.type == "model" else f"{repo.type}s/"
            self._json({"commitUrl": f"{hub.url}/{prefix}{repo_id}/commit/{sha}", "commitOid": sha,
                        "pullRequestUrl": None})

        def _resolve(self, kind: str, repo_id: str, revision: str, filename: str) -> None:
            found = self._find(kind, repo_id, revision)
            if found is None:
                return
            _, sha, files = found
            if filename not in files:
                return self._error(404, "Entry not found", code="EntryNotFound", extra={"X-Repo-Commit": sha})
            data = files[filename]
            self._send(200, data, {"X-Repo-Commit": sha, "ETag": f'"{git_blob_sha(data)}"'},
                       content_type="application/octet-stream")

        def _search(self) -> None:
            wanted = self.query.get("filter", [])
            author = (self.query.get("author") or [None])[0]
            limit = int((self.query.get("limit") or [1000])[0])
            found = []
            for (kind, repo_id), repo in hub.repos.items():
                tags, library = repo.tags()
                if kind != "model" or repo.private or not all(t in tags for t in wanted):
                    continue
                if author and repo_id.split("/")[0] != author:
                    continue
                found.append({"id": repo_id, "author": repo_id.split("/")[0], "likes": repo.likes,
                              "downloads": repo.downloads, "lastModified": DATE, "tags": tags,
                              "library_name": library, "private": False})
            found.sort(key=lambda m: -m["downloads"])
            self._json(found[:limit])

    return Handler
