"""Change checks on real folders, a real HTTP server (ETag, 304) and a real git repository."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from llm_engineering.application.scheduling.change_detection import check_folder, check_git, check_urls
from llm_engineering.domain.config.feature_engineering import FolderSource, GitSource, HttpConfig, UrlSource
from tests.support.web_server import serve

HTTP = HttpConfig(timeout_s=2)


def test_folder_changes_are_new_changed_or_deleted_files_by_content(tmp_path):
    (tmp_path / "a.md").write_text("first")
    (tmp_path / "skip.bin").write_bytes(b"\0")  # not matched by include: never a change
    source = FolderSource(name="notes", path=tmp_path)
    first = check_folder(source, None)
    assert first.changes == [f"new file {tmp_path / 'a.md'}"]

    assert check_folder(source, first.state).changes == []
    stat = (tmp_path / "a.md").stat()
    os.utime(tmp_path / "a.md", (stat.st_atime, stat.st_mtime + 10))  # touched, same content
    touched = check_folder(source, first.state)
    assert touched.changes == [] and touched.state.files[str(tmp_path / "a.md")].mtime == stat.st_mtime + 10

    (tmp_path / "a.md").write_text("second")
    (tmp_path / "b.txt").write_text("new")
    changed = check_folder(source, touched.state)
    assert changed.changes == [f"changed file {tmp_path / 'a.md'}", f"new file {tmp_path / 'b.txt'}"]

    (tmp_path / "b.txt").unlink()
    assert check_folder(source, changed.state).changes == [f"deleted file {tmp_path / 'b.txt'}"]


def test_url_changes_use_conditional_requests_and_content_hashes():
    with serve() as site:
        site.set_page("/feed.html", "<p>one</p>", '"e1"')
        source = UrlSource(name="web", urls=[f"{site.url}/feed.html", f"{site.url}/down"])
        first = check_urls(source, None, HTTP)
        assert first.changes == [f"new URL {site.url}/feed.html"]
        assert first.errors == [f"{site.url}/down: HTTP 404"]  # not data, and not a change
        assert first.state.urls[f"{site.url}/feed.html"].etag == '"e1"'

        second = check_urls(source, first.state, HTTP)
        assert second.changes == [] and second.state == first.state  # answered 304 Not Modified

        site.set_page("/feed.html", "<p>one</p>", '"e2"')  # new ETag, same bytes: not a change
        assert check_urls(source, second.state, HTTP).changes == []

        site.set_page("/feed.html", "<p>two</p>", '"e3"')
        third = check_urls(source, second.state, HTTP)
        assert third.changes == [f"changed URL {site.url}/feed.html"]
        assert third.state.urls[f"{site.url}/feed.html"].etag == '"e3"'
    # Server gone: the source cannot be checked, keeps its state and is not reported as changed.
    offline = check_urls(source, third.state, HTTP)
    assert offline.changes == [] and offline.state.urls == third.state.urls
    assert len(offline.errors) == 2


def git(repository: Path, *args: str) -> str:
    identity = ["-c", "user.email=t@example.org", "-c", "user.name=Tester"]
    return subprocess.run(["git", *identity, *args], cwd=repository, check=True, capture_output=True, text=True).stdout


def test_git_changes_follow_the_head_commit(tmp_path):
    git(tmp_path, "init", "-q")
    (tmp_path / "README.md").write_text("hello")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-qm", "one")
    source = GitSource(name="repo", repository=str(tmp_path))
    first = check_git(source, None)
    assert first.changes and first.state.commit == git(tmp_path, "rev-parse", "HEAD").strip()
    assert check_git(source, first.state).changes == []
    (tmp_path / "README.md").write_text("hello again")
    git(tmp_path, "commit", "-qam", "two")
    assert check_git(source, first.state).changes[0].startswith(f"{tmp_path} HEAD {first.state.commit} -> ")
