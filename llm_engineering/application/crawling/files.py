"""Reading one file into a RawDocument: shared by the folder and git crawlers."""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from llm_engineering.domain.documents import RawDocument, SourceKind, content_hash

FORMAT_BY_SUFFIX = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".rst": "text",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
}
AUTHOR_LINE = re.compile(r"^\s*(?:\*\*)?(?:author|by)(?:\*\*)?\s*[:\-]\s*(.+?)\s*$", re.IGNORECASE | re.MULTILINE)
MARKDOWN_TITLE = re.compile(r"^#\s+(.+?)\s*$", re.MULTILINE)


class SkipFile(Exception):
    """A file we deliberately do not ingest; the message is the reason."""


@dataclass(frozen=True)
class SourceFile:
    """A file found under a source root: `path` to read (symlinks resolved, inside the root), `relative` as listed
    (the link's own name when it is a link), or `skip_reason` when it must not be read."""

    path: Path
    relative: str
    skip_reason: str | None = None


class RootGuard:
    """Keeps a crawl inside its source root: every path is resolved (all symlinks followed) and must land under
    the root's real path, so `notes.md -> /home/me/.ssh/id_rsa` is skipped with a reason instead of ingested.
    Each real file is read once, however many in-root links point at it, and each real directory is entered
    once, so link loops end."""

    def __init__(self, root: Path):
        self.root = root.resolve()
        self._seen_files: dict[Path, str] = {}
        self._seen_dirs: set[Path] = set()

    def check_file(self, path: Path, relative: str) -> SourceFile:
        try:
            real = path.resolve(strict=True)
        except (OSError, RuntimeError):  # a dangling link, a loop of links, or a file gone meanwhile
            if path.is_symlink():
                return SourceFile(path, relative, "broken symlink")
            return SourceFile(path, relative)  # reading it fails and is reported as unreadable

        if not real.is_relative_to(self.root):
            return SourceFile(path, relative, f"symlink points outside the source root (-> {real})")
        if not real.is_file():
            return SourceFile(path, relative, "not a regular file")
        first = self._seen_files.setdefault(real, relative)
        if first != relative:
            return SourceFile(path, relative, f"already crawled as {first} (the same file through a symlink)")
        return SourceFile(real, relative)

    def enter_dir(self, path: Path) -> str | None:
        """None when the directory may be walked, else why not."""
        real = path.resolve()
        if not real.is_relative_to(self.root):
            return f"symlink points outside the source root (-> {real})"
        if real in self._seen_dirs:
            return "symlinked directory already crawled (link loop or second link)"
        self._seen_dirs.add(real)
        return None


def walk_source_root(root: Path) -> Iterator[SourceFile]:
    """Every file under `root` in sorted order, following in-root symlinks once and never leaving the root;
    directories that may not be entered come back as one skipped entry each."""
    guard = RootGuard(root)
    guard.enter_dir(guard.root)
    for directory, subdirs, files in os.walk(guard.root, followlinks=True):
        base = Path(directory)
        entries = sorted([(name, True) for name in subdirs] + [(name, False) for name in files])
        subdirs.clear()
        for name, is_dir in entries:
            path = base / name
            relative = path.relative_to(guard.root).as_posix()
            if is_dir:
                reason = guard.enter_dir(path)
                if reason is None:
                    subdirs.append(name)
                else:
                    yield SourceFile(path, relative, reason)
            else:
                yield guard.check_file(path, relative)
        subdirs.sort()


def matches(relative: str, patterns: list[str]) -> bool:
    # fnmatch's "*" crosses "/", so "**/x" would miss top-level "x": try both forms.
    return any(
        fnmatch.fnmatch(relative, pattern) or (pattern.startswith("**/") and fnmatch.fnmatch(relative, pattern[3:]))
        for pattern in patterns
    )


def looks_binary(data: bytes) -> bool:
    return b"\x00" in data[:8192]


def read_document(file: Path, *, source: str, kind: SourceKind, location: str, max_bytes: int) -> RawDocument:
    size = file.stat().st_size
    if size > max_bytes:
        raise SkipFile(f"file too large ({size} bytes > {max_bytes})")
    data = file.read_bytes()
    suffix = file.suffix.lower()
    if suffix == ".pdf":
        return _pdf_document(data, source=source, kind=kind, location=location)
    if looks_binary(data):
        raise SkipFile("binary file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SkipFile(f"not UTF-8 ({exc.reason} at byte {exc.start})") from exc
    document_format = FORMAT_BY_SUFFIX.get(suffix, "code")
    title, author = _title_and_author(text, document_format)
    return RawDocument(
        source=source,
        kind=kind,
        location=location,
        title=title or file.stem,
        author=author,
        fetched_at=datetime.now(UTC),
        format=document_format,
        content=text,
        content_hash=content_hash(text),
    )


def _pdf_document(data: bytes, *, source: str, kind: SourceKind, location: str) -> RawDocument:
    import io

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        text = "\n\n".join(page.extract_text() or "" for page in reader.pages)
    except (PdfReadError, ValueError) as exc:
        raise SkipFile(f"unreadable PDF: {exc}") from exc
    if not text.strip():
        raise SkipFile("PDF has no extractable text")
    metadata = reader.metadata or {}
    return RawDocument(
        source=source,
        kind=kind,
        location=location,
        title=metadata.get("/Title") or Path(location).stem,
        author=metadata.get("/Author"),
        fetched_at=datetime.now(UTC),
        format="pdf",
        content=text,
        content_hash=content_hash(text),
    )


def _title_and_author(text: str, document_format: str) -> tuple[str | None, str | None]:
    if document_format == "html":
        from llm_engineering.application.crawling.html_extraction import html_metadata

        return html_metadata(text)
    if document_format not in ("markdown", "text"):
        return None, None
    head = text[:2000]
    title = MARKDOWN_TITLE.search(head)
    author = AUTHOR_LINE.search(head)
    return (title.group(1) if title else None, author.group(1) if author else None)
