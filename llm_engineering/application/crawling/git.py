"""Git repositories: a local path or a URL cloned with git; tracked files matched by globs."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from llm_engineering.application.crawling.files import RootGuard, SkipFile, matches, read_document
from llm_engineering.domain.config.feature_engineering import GitSource
from llm_engineering.domain.documents import CrawlFailure, RawDocuments, SkippedItem


class GitError(RuntimeError):
    pass


def _git(*args: str, cwd: Path | None = None, timeout: float = 300) -> str:
    completed = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
    if completed.returncode != 0:
        raise GitError(f"git {' '.join(args)} failed: {completed.stderr.strip() or completed.stdout.strip()}")
    return completed.stdout


def is_remote(repository: str) -> bool:
    return repository.startswith(("http://", "https://", "ssh://", "git@", "file://"))


def checkout(source: GitSource, clones_dir: Path) -> Path:
    """The working tree to read: the local repo itself, or a clone kept under the data dir."""
    if not is_remote(source.repository):
        return Path(source.repository).resolve()
    target = clones_dir / hashlib.sha256(source.repository.encode()).hexdigest()[:16]
    if (target / ".git").is_dir():
        _git("fetch", "--depth", "1", "origin", source.revision or "HEAD", cwd=target)
        _git("checkout", "--force", "FETCH_HEAD", cwd=target)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        _git(
            "clone",
            "--depth",
            "1",
            *(["--branch", source.revision] if source.revision else []),
            source.repository,
            str(target),
        )
    return target


def head_commit(repository: str) -> str:
    """The commit a repository's HEAD points at (remote: `git ls-remote`); for change detection."""
    if is_remote(repository):
        return _git("ls-remote", repository, "HEAD", timeout=60).split()[0]
    return _git("rev-parse", "HEAD", cwd=Path(repository)).strip()


def crawl_git(source: GitSource, clones_dir: Path, max_file_bytes: int) -> RawDocuments:
    result = RawDocuments()
    try:
        tree = checkout(source, clones_dir)
        files = _git("ls-files", "-z", cwd=tree).split("\0")
        commit = _git("rev-parse", "HEAD", cwd=tree).strip()
    except (GitError, subprocess.TimeoutExpired, OSError) as exc:
        result.failures.append(CrawlFailure(source=source.name, location=source.repository, reason=str(exc)))
        return result
    guard = RootGuard(tree)  # a committed symlink may point anywhere on the machine that crawls it
    for relative in sorted(f for f in files if f):
        location = f"{source.repository}@{commit[:12]}:{relative}"
        if matches(relative, source.exclude):
            result.skipped.append(
                SkippedItem(source=source.name, location=location, reason="excluded (vendored or generated)")
            )
            continue
        if not matches(relative, source.include):
            continue  # most of a repository is not asked for; listing each file would drown the report
        entry = guard.check_file(tree / relative, relative)
        if entry.skip_reason is not None:
            result.skipped.append(SkippedItem(source=source.name, location=location, reason=entry.skip_reason))
            continue
        try:
            document = read_document(
                entry.path, source=source.name, kind="git", location=location, max_bytes=max_file_bytes
            )
            # Without the commit: a file a new commit did not touch keeps its id and is not embedded again.
            result.documents.append(document.model_copy(update={"key": f"{source.name}:{relative}"}))
        except SkipFile as exc:
            result.skipped.append(SkippedItem(source=source.name, location=location, reason=str(exc)))
        except OSError as exc:
            result.failures.append(CrawlFailure(source=source.name, location=location, reason=f"unreadable: {exc}"))
    return result
