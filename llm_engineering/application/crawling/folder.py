"""Local folders: markdown, text, HTML, PDF and code files matched by include/exclude globs."""

from __future__ import annotations

from pathlib import Path

from llm_engineering.application.crawling.files import SkipFile, SourceFile, matches, read_document, walk_source_root
from llm_engineering.domain.config.feature_engineering import FolderSource
from llm_engineering.domain.documents import CrawlFailure, RawDocuments, SkippedItem


def _files(source: FolderSource) -> list[SourceFile]:
    return sorted(walk_source_root(source.path), key=lambda f: Path(f.relative).parts)


def crawl_folder(source: FolderSource, max_file_bytes: int) -> RawDocuments:
    result = RawDocuments()
    root = source.path.resolve()
    for entry in _files(source):
        relative, file = entry.relative, entry.path
        location = str(root / relative)
        if entry.skip_reason is not None:
            result.skipped.append(SkippedItem(source=source.name, location=location, reason=entry.skip_reason))
            continue
        if matches(relative, source.exclude):
            result.skipped.append(
                SkippedItem(source=source.name, location=location, reason="excluded (vendored or generated)")
            )
            continue
        if not matches(relative, source.include):
            result.skipped.append(SkippedItem(source=source.name, location=location, reason="not matched by include"))
            continue
        try:
            document = read_document(
                file, source=source.name, kind="folder", location=location, max_bytes=max_file_bytes
            )
            result.documents.append(document.model_copy(update={"key": f"{source.name}:{relative}"}))
        except SkipFile as exc:
            result.skipped.append(SkippedItem(source=source.name, location=location, reason=str(exc)))
        except OSError as exc:
            result.failures.append(CrawlFailure(source=source.name, location=location, reason=f"unreadable: {exc}"))
    return result


def list_folder_state(source: FolderSource) -> dict[str, tuple[int, float]]:
    """Path -> (size, mtime) of matching files; the scheduler's cheap change check."""
    root: Path = source.path.resolve()
    state = {}
    for entry in _files(source):
        relative = entry.relative
        if entry.skip_reason is None and matches(relative, source.include) and not matches(relative, source.exclude):
            stat = entry.path.stat()
            state[str(root / relative)] = (stat.st_size, stat.st_mtime)
    return state
