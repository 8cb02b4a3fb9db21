"""Crawl every configured source and enforce the failure budget."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from llm_engineering.application.crawling.folder import crawl_folder, list_folder_state
from llm_engineering.application.crawling.git import crawl_git
from llm_engineering.application.crawling.http import HttpCrawler
from llm_engineering.domain.config.feature_engineering import CrawlConfig, FolderSource, GitSource, UrlSource
from llm_engineering.domain.documents import RawDocuments


class TooManyFailures(RuntimeError):
    pass


class EverySourceEmpty(RuntimeError):
    pass


def crawl_sources(config: CrawlConfig, clones_dir: Path, previous: RawDocuments | None = None) -> RawDocuments:
    """`previous`: the last crawl, so URL sources are re-fetched conditionally (ETag / Last-Modified)."""
    result = RawDocuments()
    previous_urls = {d.location: d for d in previous.documents if d.kind == "url"} if previous else {}
    with HttpCrawler(config.http) as http:
        for source in config.sources:
            if isinstance(source, FolderSource):
                part = crawl_folder(source, config.max_file_bytes)
            elif isinstance(source, GitSource):
                part = crawl_git(source, clones_dir, config.max_file_bytes)
            elif isinstance(source, UrlSource):
                part = http.crawl(source, previous_urls)
            else:  # pragma: no cover - the config union is closed
                raise TypeError(type(source))
            result.documents.extend(part.documents)
            result.failures.extend(part.failures)
            result.skipped.extend(part.skipped)
            result.not_modified += part.not_modified
    return result


def failed_fraction(result: RawDocuments) -> float:
    attempted = len(result.documents) + len(result.failures)
    return len(result.failures) / attempted if attempted else 0.0


def check_failure_budget(result: RawDocuments, max_failed_fraction: float) -> None:
    fraction = failed_fraction(result)
    if fraction > max_failed_fraction:
        reasons = Counter(f.reason.split(" (")[0] for f in result.failures)
        raise TooManyFailures(
            f"{len(result.failures)} of {len(result.documents) + len(result.failures)} items failed "
            f"({fraction:.0%} > max_failed_fraction {max_failed_fraction:.0%}); reasons: {dict(reasons)}"
        )


def _where(source: FolderSource | GitSource | UrlSource) -> str:
    if isinstance(source, FolderSource):
        return f"folder {source.path} (include {source.include})"
    if isinstance(source, GitSource):
        return f"repository {source.repository} (include {source.include})"
    return f"{len(source.urls)} URL(s)"


def empty_folder_warning(source: FolderSource) -> str | None:
    """Before any work (`llm-engineering validate`): a folder none of whose files its include globs match."""
    if list_folder_state(source):
        return None
    return f"folder source {source.name!r} is empty: no file under {source.path} matches include {source.include}"


def empty_sources(config: CrawlConfig, result: RawDocuments) -> list[str]:
    """After the crawl: one line per source that yielded nothing (no document, no failure), with what it skipped."""
    yielded = {document.source for document in result.documents} | {failure.source for failure in result.failures}
    lines = []
    for source in config.sources:
        if source.name in yielded:
            continue
        skipped = Counter(item.reason for item in result.skipped if item.source == source.name)
        detail = f"; skipped: {dict(sorted(skipped.items()))}" if skipped else ""
        lines.append(f"source {source.name!r} yielded no documents from {_where(source)}{detail}")
    return lines


def check_not_every_source_empty(config: CrawlConfig, result: RawDocuments) -> None:
    """Some sources may be empty (a warning); all of them is a config pointing at the wrong place."""
    empty = empty_sources(config, result)
    if len(empty) == len(config.sources):
        raise EverySourceEmpty("every source is empty: " + "; ".join(empty))
