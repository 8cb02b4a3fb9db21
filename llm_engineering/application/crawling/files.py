"""Reading one file into a RawDocument: shared by the folder and git crawlers."""

from __future__ import annotations

import fnmatch
import re
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
