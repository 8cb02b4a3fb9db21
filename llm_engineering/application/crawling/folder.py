"""Local folders: markdown, text, HTML, PDF and code files matched by include/exclude globs."""

from __future__ import annotations

from pathlib import Path

from llm_engineering.application.crawling.files import SkipFile, matches, read_document
from llm_engineering.domain.config.feature_engineering import FolderSource
from llm_engineering.domain.documents import CrawlFailure, RawDocuments, SkippedItem


def crawl_folder(source: FolderSource, max_file_bytes: int) -> RawDocuments:
    result = RawDocuments()
    root = source.path.resolve()
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = file.relative_to(root).as_posix()
        location = str(file)
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
    for file in root.rglob("*"):
        relative = file.relative_to(root).as_posix()
        if file.is_file() and matches(relative, source.include) and not matches(relative, source.exclude):
            stat = file.stat()
            state[str(file)] = (stat.st_size, stat.st_mtime)
    return state
