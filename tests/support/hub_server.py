"""A real loopback HTTP server speaking the part of the Hugging Face Hub API that our pushes use.

It implements what huggingface_hub 2.4.0 and datasets 5 actually call for `HfApi.create_repo` + `upload_folder`,
`DatasetDict.push_to_hub` and `DatasetCard.push_to_hub`:

    POST /api/repos/create                                  create a repo (409 + its url when it exists)
    GET  /api/{type}s/{ns}/{name}[/revision/{rev}]          repo info (sha, private, siblings)
    POST /api/{type}s/{ns}/{name}/preupload/{rev}           upload mode per file (see below), with the oid of
                                                            an existing file so that unchanged files are skipped
    POST /[{type}s/]{ns}/{name}.git/info/lfs/objects/batch  git-LFS batch API, "basic" transfer only
    PUT  /lfs-objects/{sha256}                              an LFS object's bytes (S3's role on the real Hub)
    POST /[{type}s/]{ns}/{name}.git/info/lfs/objects/verify the LFS verify step
    POST /api/{type}s/{ns}/{name}/commit/{rev}              ndjson commit: inline base64 files, LFS pointers,
                                                            deletions; parentCommit must be the head (else 412)
    GET  /api/{type}s/{ns}/{name}/tree/{rev}[/{path}]       file listing (HfFileSystem's ls / glob)
    POST /api/{type}s/{ns}/{name}/paths-info/{rev}          info on given paths
    GET|HEAD /[{type}s/]{ns}/{name}/resolve/{rev}/{path}    file download (HfFileSystem's read_text)
    POST /api/validate-yaml                                 a card's YAML front matter must parse to a mapping
    GET  /api/whoami-v2                                     the token's user

Upload modes. `upload_mode="hub"` (the default) answers like the Hub: "lfs" for paths matched by a
`filter=lfs` line of the repo's `.gitattributes` (a new repo's holds *.safetensors and *.parquet, among the Hub's
defaults), for files over 10 MiB and for binary content (a NUL byte in the 512-byte sample); "regular" (content
inline in the commit) otherwise. `upload_mode="regular"` answers "regular" for every file. What huggingface_hub
2.4.0 does with the answers (it decides nothing by size or .gitattributes itself; only empty files are forced to
"regular"):
- "lfs" files go through Xet when hf_xet is installed (it is: a dependency of huggingface_hub), else through the
  LFS batch API. The stub does not speak Xet's CAS protocol, so tests that upload LFS files must disable Xet
  (`use_stub_endpoint(..., disable_xet=True)`, the default): huggingface_hub then uses its LFS fallback.
- `datasets`' push_to_hub writes each parquet shard to a temporary file, pre-uploads it and deletes the file
  before the commit. That only works when the shard is an LFS/Xet upload; answered "regular", the commit fails
  reading the deleted file (FileNotFoundError). So dataset pushes need `upload_mode="hub"`.
- With hf_xet installed, `upload_folder` takes the pipelined multi-commit path (`_upload_pipeline`); with Xet
  disabled, the single `create_commit` path. `upload_mode="regular"` with Xet enabled exercises the former.

Each repo keeps its commits (snapshots of path -> bytes, the first one holding `.gitattributes` like a repo the
Hub creates), its private flag and every Authorization header it saw. Any `Bearer` token not in `tokens` gets the
Hub's 401 "Invalid credentials in Authorization header"; a private repo is invisible (404) without a valid one.
Requests the stub has no route for are answered 404 (and requests it fails to parse 501) and listed in
`unhandled`, so a test can assert that the client made no call the stub does not understand. Revisions: `main`
and commit ids (what datasets passes as `parent_commit`); no branches, tags or pull requests.

    with HubStubServer(tokens={"hf_good"}) as hub:
        use_stub_endpoint(monkeypatch, hub.endpoint)
        push_folder(folder, "me/model", SecretStr("hf_good"))
        assert hub.repo("model", "me/model").files["config.json"] == (folder / "config.json").read_bytes()
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import posixpath
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit

from tests.support.loopback_server import LoopbackServer, StubHandler

if TYPE_CHECKING:
    import pytest

INVALID_CREDENTIALS = "Invalid credentials in Authorization header"  # the Hub's wording; huggingface_hub keys on it
# An excerpt of the .gitattributes the Hub puts in every new repo.
GITATTRIBUTES = b"".join(
    pattern + b" filter=lfs diff=lfs merge=lfs -text\n"
    for pattern in (b"*.bin", b"*.gguf", b"*.h5", b"*.onnx", b"*.parquet", b"*.pt", b"*.pth", b"*.safetensors")
)
LFS_THRESHOLD = 10 * 1024 * 1024  # bigger files must go to LFS on the Hub
_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
_URL_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}
_API_REPO = re.compile(r"^/api/(models|datasets|spaces)/([^/]+)/([^/]+)(?:/(.*))?$")
_RESOLVE = re.compile(r"^/(?:(datasets|spaces)/)?([^/]+)/([^/]+)/resolve/([^/]+)/(.+)$")
_LFS = re.compile(r"^/(?:(datasets|spaces)/)?([^/]+)/([^/]+)\.git/info/lfs/objects/(batch|verify)$")
_LFS_OBJECT = re.compile(r"^/lfs-objects/([0-9a-f]{64})$")
_REPO_ACTIONS = {  # (method, first path segment after the repo id) of the /api/{type}s/{ns}/{name}/... routes
    ("GET", ""), ("GET", "revision"), ("GET", "tree"),
    ("POST", "preupload"), ("POST", "commit"), ("POST", "paths-info"),
}  # fmt: skip


def git_blob_oid(data: bytes) -> str:
    """The git object id of a file's content: what the Hub reports as a regular file's `oid`."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_patterns(gitattributes: bytes) -> list[str]:
    return [
        line.split()[0] for line in gitattributes.decode(errors="replace").splitlines()
        if line.strip() and not line.startswith("#") and "filter=lfs" in line.split()[1:]
    ]  # fmt: skip


def matches_gitattributes(path: str, patterns: list[str]) -> bool:
    """git's rule, simplified: a pattern without a slash matches the file name, one with a slash the whole path."""
    return any(fnmatch.fnmatchcase(path if "/" in p else posixpath.basename(path), p.lstrip("/")) for p in patterns)


@dataclass
class Commit:
    oid: str
    title: str
    files: dict[str, bytes]  # the whole tree after this commit
    lfs: frozenset[str] = frozenset()  # the paths among `files` stored as LFS objects
    paths: tuple[str, ...] = ()  # the paths the commit's operations named (added, replaced or deleted)


@dataclass
class StubRepo:
    type: str  # "model", "dataset" or "space"
    id: str  # "namespace/name"
    private: bool
    commits: list[Commit] = field(default_factory=list)
    authorizations: list[str] = field(default_factory=list)  # every Authorization header sent for this repo

    @property
    def files(self) -> dict[str, bytes]:
        """path -> bytes at the head of main."""
        return self.commits[-1].files

    @property
    def sha(self) -> str:
        return self.commits[-1].oid

    def at(self, revision: str) -> Commit | None:
        if revision == "main":
            return self.commits[-1]
        return next((c for c in reversed(self.commits) if len(revision) >= 7 and c.oid.startswith(revision)), None)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str  # without the query string
    query: str
    authorization: str


class HubStubServer(LoopbackServer):
    """Start with `with` (or start()/stop()); `endpoint` is what HF_ENDPOINT would be."""

    def __init__(
        self,
        tokens: Iterable[str] = ("hf_stub_token",),
        user: str = "stub-user",
        upload_mode: Literal["hub", "regular"] = "hub",
    ):
        super().__init__()
        self.tokens = set(tokens)
        self.user = user
        self.upload_mode = upload_mode
        self.repos: dict[tuple[str, str], StubRepo] = {}
        self.lfs_objects: dict[str, bytes] = {}  # sha256 hex -> bytes: the LFS storage shared by all repos
        self.requests: list[RecordedRequest] = []
        self.unhandled: list[str] = []  # "METHOD /path" of requests no route matched
        self._lock = threading.Lock()

    def repo(self, repo_type: str, repo_id: str) -> StubRepo | None:
        with self._lock:
            return self.repos.get((repo_type, repo_id))

    def count(self, method: str, pattern: str) -> int:
        """Requests with this method whose path matches the regex `pattern`."""
        with self._lock:
            return sum(r.method == method and re.search(pattern, r.path) is not None for r in self.requests)

    @property
    def endpoint(self) -> str:
        return self.origin + ""

    # -- state changes (under the lock, called by the handler) ---------------------------------------
    def _create(self, repo_type: str, repo_id: str, private: bool) -> tuple[StubRepo, bool]:
        with self._lock:
            existing = self.repos.get((repo_type, repo_id))
            if existing is not None:
                return existing, False
            repo = StubRepo(repo_type, repo_id, private)
            files = {".gitattributes": GITATTRIBUTES}
            repo.commits.append(Commit(_commit_oid("", "initial commit", files), "initial commit", files))
            self.repos[(repo_type, repo_id)] = repo
            return repo, True

    def _commit(self, repo: StubRepo, title: str, parent: str | None, lines: list[dict[str, Any]]) -> Commit:
        with self._lock:
            if parent is not None and not repo.sha.startswith(parent):
                raise _HubError(412, "A commit has happened since. Please refresh and try again.")
            files, lfs = dict(repo.files), set(repo.commits[-1].lfs)
            for line in lines:
                key, value = line.get("key"), line.get("value") or {}
                path = value.get("path", "")
                if key == "file":
                    if value.get("encoding") != "base64":
                        raise _HubError(400, f"unsupported encoding {value.get('encoding')!r} for {path}")
                    files[path] = base64.b64decode(value["content"])
                    lfs.discard(path)
                elif key == "lfsFile":
                    data = self.lfs_objects.get(value.get("oid", ""))
                    if data is None:
                        raise _HubError(422, f"LFS object {value.get('oid')} for {path} was never uploaded")
                    files[path] = data
                    lfs.add(path)
                elif key == "deletedFile":
                    if files.pop(path, None) is None:
                        raise _HubError(404, "A file with this name doesn't exist", "EntryNotFound")
                    lfs.discard(path)
                elif key == "deletedFolder":
                    prefix = path.rstrip("/") + "/"
                    for name in [n for n in files if n.startswith(prefix)]:
                        del files[name]
                        lfs.discard(name)
                else:
                    raise _HubError(400, f"unknown commit operation {key!r} ({path})")
            paths = tuple(line.get("value", {}).get("path", "") for line in lines)
            commit = Commit(_commit_oid(repo.sha, title, files), title, files, frozenset(lfs), paths)
            repo.commits.append(commit)
            return commit


def _commit_oid(parent: str, title: str, files: dict[str, bytes]) -> str:
    digest = hashlib.sha1(f"{parent}\n{title}\n".encode())
    for path in sorted(files):
        digest.update(f"{path}\0{git_blob_oid(files[path])}\n".encode())
    return digest.hexdigest()


def use_stub_endpoint(monkeypatch: pytest.MonkeyPatch, endpoint: str, disable_xet: bool = True) -> None:
    """Point huggingface_hub and datasets at `endpoint`, as HF_ENDPOINT would have if set before their import,
    and turn their offline mode off (tests/conftest.py sets HF_HUB_OFFLINE=1 for the whole session). With
    `disable_xet`, as HF_HUB_DISABLE_XET=1 would: LFS files then use the LFS batch API, which the stub speaks.

    Both libraries read HF_ENDPOINT and HF_HUB_OFFLINE once, at import: huggingface_hub into
    `constants.ENDPOINT` / `HUGGINGFACE_CO_URL_TEMPLATE` / `HF_URL_HOSTS` / `HF_HUB_OFFLINE` and into the
    module-level `HfApi()` behind `huggingface_hub.upload_file` (which `DatasetCard.push_to_hub` uses);
    datasets into `config.HF_ENDPOINT` (passed as `endpoint=` to every HfApi / HfFileSystem it builds),
    `config.HUB_DATASETS_URL` and `config.HF_HUB_OFFLINE`. Each copy is patched; monkeypatch restores them.
    """
    import datasets.config
    from huggingface_hub import constants, hf_api

    endpoint = endpoint.rstrip("/")
    environment = {"HF_ENDPOINT": endpoint, "HF_HUB_OFFLINE": "0", "HF_DATASETS_OFFLINE": "0"}
    environment["HF_HUB_DISABLE_XET"] = "1" if disable_xet else "0"
    for name, value in environment.items():
        monkeypatch.setenv(name, value)  # for anything that reads the environment at call time
    monkeypatch.setattr(constants, "ENDPOINT", endpoint)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", endpoint + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setattr(constants, "HF_URL_HOSTS", constants.HF_URL_HOSTS | {urlsplit(endpoint).hostname or ""})
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", disable_xet)  # read at call time by is_xet_available()
    monkeypatch.setattr(hf_api.api, "endpoint", endpoint)
    monkeypatch.setattr(datasets.config, "HF_ENDPOINT", endpoint)
    monkeypatch.setattr(datasets.config, "HUB_DATASETS_URL", endpoint + "/datasets/{repo_id}/resolve/{revision}/{path}")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", False)


class _HubError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    stub: HubStubServer


class _Handler(StubHandler):
    server: _HTTPServer

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's naming
        self._dispatch("GET")

    def do_HEAD(self) -> None:  # noqa: N802
        self._dispatch("HEAD")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch("PUT")

    # -- routing -------------------------------------------------------------------------------------
    def _dispatch(self, method: str) -> None:
        stub = self.server.stub
        url = urlsplit(self.path)
        path, query = unquote(url.path), parse_qs(url.query)
        body = self._body()
        authorization = self.headers.get("Authorization", "")
        with stub._lock:
            stub.requests.append(RecordedRequest(method, path, url.query, authorization))
        try:
            token = self._token(authorization)
            self._route(method, path, query, body, token, authorization)
        except _HubError as error:
            headers = {"X-Error-Message": error.message.encode("ascii", "replace").decode()}
            if error.code:
                headers["X-Error-Code"] = error.code
            self.send_json(error.status, {"error": error.message}, headers, head=method == "HEAD")
        except Exception as error:  # a request the stub cannot parse: 501 (not retried by huggingface_hub), recorded
            with stub._lock:
                stub.unhandled.append(f"{method} {self.path}: {error!r}")
            self.send_json(501, {"error": f"the Hub stub failed on this request: {error!r}"}, head=method == "HEAD")

    def _route(
        self, method: str, path: str, query: dict[str, list[str]], body: bytes, token: str | None, authorization: str
    ) -> None:
        stub = self.server.stub
        if method == "POST" and path == "/api/validate-yaml":
            self._validate_yaml(json.loads(body or b"{}"))
            return
        if method == "GET" and path == "/api/whoami-v2":
            self.send_json(200, {"type": "user", "name": self._require(token), "auth": {"type": "access_token"}})
            return
        if method == "POST" and path == "/api/repos/create":
            self._create_repo(json.loads(body or b"{}"), self._require(token), authorization)
            return
        match = _API_REPO.match(path)
        action, _, tail = (match[4] or "").partition("/") if match else ("", "", "")
        if match and (method, action) in _REPO_ACTIONS:
            repo = self._visible_repo(_TYPES[match[1]], f"{match[2]}/{match[3]}", token, authorization)
            if action in ("", "revision"):
                self._repo_info(repo, tail or "main")
                return
            revision, _, sub_path = tail.partition("/")
            if action == "preupload":
                self._require(token)
                self._preupload(repo, revision, json.loads(body or b"{}"))
            elif action == "commit":
                self._require(token)
                self._commit(repo, revision, query, body)
            elif action == "tree":
                self._tree(repo, revision, sub_path.strip("/"), query.get("recursive", ["false"])[0] == "true")
            else:  # paths-info
                self._paths_info(repo, revision, body, self.headers.get("Content-Type", ""))
            return
        if method == "POST" and (match := _LFS.match(path)):
            repo_type = _TYPES[match[1]] if match[1] else "model"
            self._require(token)
            repo = self._visible_repo(repo_type, f"{match[2]}/{match[3]}", token, authorization)
            if match[4] == "batch":
                self._lfs_batch(json.loads(body or b"{}"))
            else:
                self._lfs_verify(json.loads(body or b"{}"))
            return
        if method == "PUT" and (match := _LFS_OBJECT.match(path)):
            self._lfs_put(match[1], body)
            return
        if method in ("GET", "HEAD") and (match := _RESOLVE.match(path)):
            repo_type = _TYPES[match[1]] if match[1] else "model"
            repo = self._visible_repo(repo_type, f"{match[2]}/{match[3]}", token, authorization)
            self._resolve(repo, match[4], match[5], head=method == "HEAD")
            return
        if path == "/api/agent-harnesses":  # huggingface_hub's optional agent registry: not served by the stub,
            raise _HubError(404, "not served by the stub")  # and a 404 keeps it from caching one under HF_HOME
        with stub._lock:
            stub.unhandled.append(f"{method} {self.path}")
        raise _HubError(404, f"no route for {method} {path} in the Hub stub")

    # -- auth ----------------------------------------------------------------------------------------
    def _token(self, authorization: str) -> str | None:
        """The request's token when valid, None when absent; an invalid one is the Hub's 401."""
        if not authorization:
            return None
        token = authorization.removeprefix("Bearer ").strip()
        if token not in self.server.stub.tokens:
            raise _HubError(401, INVALID_CREDENTIALS)
        return token

    def _require(self, token: str | None) -> str:
        if token is None:
            raise _HubError(401, "You must be authenticated to access this resource.")
        return self.server.stub.user

    def _visible_repo(self, repo_type: str, repo_id: str, token: str | None, authorization: str) -> StubRepo:
        repo = self.server.stub.repo(repo_type, repo_id)
        if repo is None or (repo.private and token is None):
            raise _HubError(404, "Repository not found", "RepoNotFound")
        with self.server.stub._lock:
            repo.authorizations.append(authorization)
        return repo

    # -- endpoints -----------------------------------------------------------------------------------
    def _validate_yaml(self, payload: dict[str, Any]) -> None:
        import yaml

        content = str(payload.get("content", ""))
        match = re.match(r"^---\s*\n(.*?)\n---\s*(\n|$)", content, re.DOTALL)
        if match:
            try:
                metadata = yaml.safe_load(match[1])
            except yaml.YAMLError as error:
                raise _HubError(400, f"Invalid metadata in README.md: {error}") from error
            if metadata is not None and not isinstance(metadata, dict):
                raise _HubError(400, "Invalid metadata in README.md: the front matter must be a mapping")
        self.send_json(200, {"errors": [], "warnings": []})

    def _create_repo(self, payload: dict[str, Any], user: str, authorization: str) -> None:
        repo_type = payload.get("type") or "model"
        name = payload.get("name") or ""
        repo_id = f"{payload.get('organization') or user}/{name}"
        if repo_type not in _URL_PREFIX or not re.fullmatch(r"[\w.-]+", name):
            raise _HubError(400, f"invalid repo type {repo_type!r} or name {name!r}")
        repo, created = self.server.stub._create(repo_type, repo_id, payload.get("visibility") == "private")
        with self.server.stub._lock:
            repo.authorizations.append(authorization)
        url = self._repo_url(repo)
        if not created:
            self.send_json(409, {"error": f"You already created this {repo_type} repo", "url": url})
            return
        self.send_json(200, {"url": url, "name": repo_id, "id": repo_id})

    def _repo_info(self, repo: StubRepo, revision: str) -> None:
        commit = self._at(repo, revision)
        namespace = repo.id.split("/")[0]
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        self.send_json(
            200,
            {
                "_id": hashlib.sha1(repo.id.encode()).hexdigest()[:24],
                "id": repo.id,
                "author": namespace,
                "sha": commit.oid,
                "private": repo.private,
                "gated": False,
                "disabled": False,
                "lastModified": now,
                "createdAt": now,
                "tags": [],
                "siblings": [{"rfilename": p} for p in sorted(commit.files)],
            },
        )

    def _preupload(self, repo: StubRepo, revision: str, payload: dict[str, Any]) -> None:
        commit = self._at(repo, revision)
        patterns = lfs_patterns(commit.files.get(".gitattributes", b""))
        files = []
        for item in payload.get("files", []):
            path, size, sample = item["path"], int(item.get("size", 0)), base64.b64decode(item.get("sample", ""))
            lfs = self.server.stub.upload_mode == "hub" and (
                matches_gitattributes(path, patterns) or size > LFS_THRESHOLD or b"\0" in sample
            )
            existing = commit.files.get(path)
            files.append(
                {
                    "path": path,
                    "uploadMode": "lfs" if lfs else "regular",
                    "shouldIgnore": False,
                    "oid": None if existing is None else _oid(path, existing, commit),
                }
            )
        self.send_json(200, {"files": files, "commitOid": commit.oid})

    def _lfs_batch(self, payload: dict[str, Any]) -> None:
        if payload.get("operation") != "upload" or "basic" not in payload.get("transfers", ["basic"]):
            raise _HubError(400, "the stub supports LFS uploads with the basic transfer only")
        stub, objects = self.server.stub, []
        for item in payload.get("objects", []):
            oid, size = item["oid"], int(item["size"])
            entry: dict[str, Any] = {"oid": oid, "size": size, "authenticated": True}
            if oid not in stub.lfs_objects:  # an object already stored needs no upload (no "actions")
                entry["actions"] = {
                    "upload": {"href": f"{stub.endpoint}/lfs-objects/{oid}", "header": {}},
                    "verify": {"href": f"{stub.endpoint}{self.path.removesuffix('batch')}verify", "header": {}},
                }
            objects.append(entry)
        answer = json.dumps({"transfer": "basic", "objects": objects}).encode()
        self.send_bytes(200, answer, "application/vnd.git-lfs+json")

    def _lfs_put(self, oid: str, body: bytes) -> None:
        if hashlib.sha256(body).hexdigest() != oid:
            raise _HubError(400, f"the uploaded bytes do not hash to {oid}")
        with self.server.stub._lock:
            self.server.stub.lfs_objects[oid] = body
        self.send_bytes(200, b"", "text/plain", {"ETag": f'"{oid}"'})

    def _lfs_verify(self, payload: dict[str, Any]) -> None:
        data = self.server.stub.lfs_objects.get(payload.get("oid", ""))
        if data is None or len(data) != payload.get("size"):
            raise _HubError(404, f"LFS object {payload.get('oid')} of size {payload.get('size')} not found")
        self.send_json(200, {"success": True})

    def _commit(self, repo: StubRepo, revision: str, query: dict[str, list[str]], body: bytes) -> None:
        if query.get("create_pr") or revision != "main":
            raise _HubError(400, "the stub only commits to main (no branches, no pull requests)")
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        header = next((line["value"] for line in lines if line.get("key") == "header"), None)
        if not header or not header.get("summary"):
            raise _HubError(400, "the commit has no header with a summary")
        commit = self.server.stub._commit(
            repo, header["summary"], header.get("parentCommit"), [line for line in lines if line["key"] != "header"]
        )
        self.send_json(
            200,
            {
                "success": True,
                "commitOid": commit.oid,
                "commitUrl": f"{self._repo_url(repo)}/commit/{commit.oid}",
                "hookOutput": "",
            },
        )

    def _tree(self, repo: StubRepo, revision: str, folder: str, recursive: bool) -> None:
        commit = self._at(repo, revision)
        files = commit.files
        prefix = f"{folder}/" if folder else ""
        if folder and not any(p.startswith(prefix) for p in files):
            raise _HubError(404, f"{folder} does not exist on {revision}", "EntryNotFound")
        entries: dict[str, dict[str, Any]] = {}
        for path in sorted(p for p in files if p.startswith(prefix)):
            parts = path[len(prefix) :].split("/")
            for depth in range(1, len(parts)):  # the folders on the way
                if recursive or depth == 1:
                    name = prefix + "/".join(parts[:depth])
                    entries.setdefault(name, _folder_entry(name, files))
            if recursive or len(parts) == 1:
                entries[path] = _file_entry(path, commit)
        self.send_json(200, list(entries.values()))

    def _paths_info(self, repo: StubRepo, revision: str, body: bytes, content_type: str) -> None:
        commit = self._at(repo, revision)
        files = commit.files
        if content_type.startswith("application/json"):
            paths = json.loads(body or b"{}").get("paths", [])
        else:
            paths = parse_qs(body.decode()).get("paths", [])
        out = []
        for path in (p.strip("/") for p in paths):
            if path in files:
                out.append(_file_entry(path, commit))
            elif any(p.startswith(path + "/") for p in files):
                out.append(_folder_entry(path, files))
        self.send_json(200, out)

    def _resolve(self, repo: StubRepo, revision: str, path: str, head: bool) -> None:
        commit = self._at(repo, revision)
        if path not in commit.files:
            raise _HubError(404, "Entry not found", "EntryNotFound")
        data = commit.files[path]
        headers = {"ETag": f'"{_oid(path, data, commit)}"', "X-Repo-Commit": commit.oid}
        if path in commit.lfs:  # the Hub redirects these to its CDN; the stub serves them itself
            headers |= {"X-Linked-Etag": headers["ETag"], "X-Linked-Size": str(len(data))}
        self.send_bytes(200, data, "application/octet-stream", headers, head=head)

    # -- helpers -------------------------------------------------------------------------------------
    def _at(self, repo: StubRepo, revision: str) -> Commit:
        commit = repo.at(unquote(revision))
        if commit is None:
            raise _HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return commit

    def _repo_url(self, repo: StubRepo) -> str:
        return f"{self.server.stub.endpoint}/{_URL_PREFIX[repo.type]}{repo.id}"

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                pass
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))


def _lfs_pointer(data: bytes) -> bytes:
    sha = hashlib.sha256(data).hexdigest()
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha}\nsize {len(data)}\n".encode()


def _oid(path: str, data: bytes, commit: Commit) -> str:
    """What the Hub reports as a file's oid in preupload answers: the sha256 of an LFS file, the git oid of others
    (huggingface_hub compares it with the same hash of the local file to skip unchanged files)."""
    return hashlib.sha256(data).hexdigest() if path in commit.lfs else git_blob_oid(data)


def _file_entry(path: str, commit: Commit) -> dict[str, Any]:
    data = commit.files[path]
    if path not in commit.lfs:
        return {"type": "file", "oid": git_blob_oid(data), "size": len(data), "path": path}
    pointer = _lfs_pointer(data)
    lfs = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": len(pointer)}
    return {"type": "file", "oid": git_blob_oid(pointer), "size": len(data), "path": path, "lfs": lfs}


def _folder_entry(path: str, files: dict[str, bytes]) -> dict[str, Any]:
    digest = hashlib.sha1(path.encode())
    for name in sorted(p for p in files if p.startswith(path + "/")):
        digest.update(git_blob_oid(files[name]).encode())
    return {"type": "directory", "oid": digest.hexdigest(), "size": 0, "path": path}


# The stub's handler and server classes are defined below the stub itself.
HubStubServer.handler_class = _Handler
HubStubServer.server_class = _HTTPServer
