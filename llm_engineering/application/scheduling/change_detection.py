"""Has a watched source changed since the last successful run? Cheap checks first, content hashes to confirm.

- folders: size + mtime per file; a file whose size or mtime moved is re-hashed, so `touch` alone is no change.
- URLs: conditional GET (If-None-Match / If-Modified-Since); a 304 is "unchanged", a 200 is compared by content hash.
- git: the commit HEAD points at (`git ls-remote` for remote repositories).
A source that cannot be checked right now (network down) keeps its previous state and does not count as changed.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import httpx
from pydantic import BaseModel

from llm_engineering.application.crawling.folder import list_folder_state
from llm_engineering.application.crawling.git import GitError, head_commit
from llm_engineering.domain.config.feature_engineering import FolderSource, GitSource, HttpConfig, Source, UrlSource
from llm_engineering.infrastructure.model_identity import file_sha256

logger = logging.getLogger(__name__)


class FileState(BaseModel):
    size: int
    mtime: float
    sha256: str


class UrlState(BaseModel):
    etag: str | None = None
    last_modified: str | None = None
    sha256: str | None = None


class SourceState(BaseModel):
    kind: str
    files: dict[str, FileState] = {}
    urls: dict[str, UrlState] = {}
    commit: str | None = None


class SourceCheck(BaseModel):
    """One source's verdict: what changed (empty = nothing), what could not be checked, its new state."""

    name: str
    changes: list[str] = []
    errors: list[str] = []
    state: SourceState


def check_folder(source: FolderSource, previous: SourceState | None) -> SourceCheck:
    old_files = previous.files if previous else {}
    files: dict[str, FileState] = {}
    changes: list[str] = []
    for path, (size, mtime) in sorted(list_folder_state(source).items()):
        old = old_files.get(path)
        if old is not None and old.size == size and old.mtime == mtime:
            files[path] = old  # cheap path: nothing moved, no need to read the file
            continue
        try:
            digest = file_sha256(Path(path))
        except OSError as exc:  # deleted or unreadable between listing and reading: the next tick sees it
            logger.warning("cannot read %s: %s", path, exc)
            continue
        files[path] = FileState(size=size, mtime=mtime, sha256=digest)
        if old is None:
            changes.append(f"new file {path}")
        elif old.sha256 != digest:
            changes.append(f"changed file {path}")
    changes += [f"deleted file {path}" for path in sorted(set(old_files) - set(files))]
    return SourceCheck(name=source.name, changes=changes, state=SourceState(kind="folder", files=files))


def check_urls(source: UrlSource, previous: SourceState | None, http: HttpConfig) -> SourceCheck:
    old_urls = previous.urls if previous else {}
    urls: dict[str, UrlState] = {}
    changes: list[str] = []
    errors: list[str] = []
    headers = {"User-Agent": http.user_agent}
    with httpx.Client(timeout=http.timeout_s, follow_redirects=True, max_redirects=http.max_redirects) as client:
        for url in source.urls:
            old = old_urls.get(url)
            conditional = dict(headers)
            if old and old.etag:
                conditional["If-None-Match"] = old.etag
            if old and old.last_modified:
                conditional["If-Modified-Since"] = old.last_modified
            try:
                response = client.get(url, headers=conditional)
            except httpx.HTTPError as exc:
                errors.append(f"{url}: {type(exc).__name__}: {exc}")
                if old:
                    urls[url] = old
                continue
            if response.status_code == 304 and old is not None:
                urls[url] = old
                continue
            if response.status_code >= 400:
                # The crawler reports failing URLs; a page that is down is not new data.
                errors.append(f"{url}: HTTP {response.status_code}")
                if old:
                    urls[url] = old
                continue
            state = UrlState(
                etag=response.headers.get("ETag"),
                last_modified=response.headers.get("Last-Modified"),
                sha256=hashlib.sha256(response.content).hexdigest(),
            )
            urls[url] = state
            if old is None or old.sha256 is None:
                changes.append(f"new URL {url}")
            elif old.sha256 != state.sha256:
                changes.append(f"changed URL {url}")
    return SourceCheck(name=source.name, changes=changes, errors=errors, state=SourceState(kind="url", urls=urls))


def check_git(source: GitSource, previous: SourceState | None) -> SourceCheck:
    try:
        commit = head_commit(source.repository)
    except (GitError, OSError) as exc:
        state = previous or SourceState(kind="git")
        return SourceCheck(name=source.name, errors=[f"{source.repository}: {exc}"], state=state)
    old_commit = previous.commit if previous else None
    changes = [] if commit == old_commit else [f"{source.repository} HEAD {old_commit or 'none'} -> {commit[:12]}"]
    return SourceCheck(name=source.name, changes=changes, state=SourceState(kind="git", commit=commit))


def check_source(source: Source, previous: SourceState | None, http: HttpConfig) -> SourceCheck:
    if isinstance(source, FolderSource):
        return check_folder(source, previous)
    if isinstance(source, UrlSource):
        return check_urls(source, previous, http)
    if isinstance(source, GitSource):
        return check_git(source, previous)
    raise TypeError(f"no change check for source type {type(source).__name__}")  # pragma: no cover
