from datetime import UTC, datetime

from llm_engineering.application.embedding import removed_from_sources, superseded
from llm_engineering.domain.documents import CrawlFailure, RawDocument, RawDocuments, SkippedItem


def marker(document_id: str, location: str, fetched_at: str, fingerprint: str = "f1", key: str | None = None) -> dict:
    return {
        "document_id": document_id,
        "location": location,
        "key": key,
        "fetched_at": fetched_at,
        "fingerprint": fingerprint,
    }


def test_only_the_newest_version_at_a_location_stays() -> None:
    markers = [
        marker("v1", "/corpus/a.md", "2026-11-01T10:00:00+00:00"),
        marker("v3", "/corpus/a.md", "2026-11-03T10:00:00+00:00"),
        marker("v2", "/corpus/a.md", "2026-11-02T10:00:00+00:00"),
        marker("b", "/corpus/b.md", "2026-11-01T10:00:00+00:00"),
        marker("b", "/corpus/b.md", "2026-11-01T10:00:00+00:00", fingerprint="f2"),  # re-indexed, same version
    ]
    assert superseded(markers) == ["v1", "v2"]


def test_markers_without_a_location_are_left_alone() -> None:
    assert superseded([{"document_id": "x", "fingerprint": "f1"}, marker("y", "", "2026-11-01")]) == []


def test_a_file_changed_by_a_later_commit_supersedes_its_version_under_the_same_key() -> None:
    markers = [
        marker("app-1", "repo@aaaa:src/app.py", "2026-11-01T10:00:00+00:00", key="repo:src/app.py"),
        marker("readme", "repo@aaaa:README.md", "2026-11-01T10:00:00+00:00", key="repo:README.md"),
        marker("app-2", "repo@bbbb:src/app.py", "2026-11-02T10:00:00+00:00", key="repo:src/app.py"),
    ]
    assert superseded(markers) == ["app-1"]


def test_a_marker_from_before_keys_is_superseded_by_location() -> None:
    old = marker("old", "/corpus/a.md", "2026-11-01T10:00:00+00:00")
    new = marker("new", "/corpus/a.md", "2026-11-02T10:00:00+00:00", key="articles:a.md")
    assert superseded([old, new]) == ["old"]


def document(source: str, location: str, key: str | None = None) -> RawDocument:
    return RawDocument(
        source=source, kind="folder", location=location, key=key, fetched_at=datetime.now(UTC), format="text",
        content="x", content_hash="h",
    )  # fmt: skip


def test_documents_gone_from_a_cleanly_crawled_source_are_removed() -> None:
    markers = [
        {"document_id": "kept", "source": "docs", "key": "docs:a.md", "location": "/c/a.md"},
        {"document_id": "deleted", "source": "docs", "key": "docs:b.md", "location": "/c/b.md"},
        {"document_id": "excluded", "source": "docs", "key": "docs:c.md", "location": "/c/c.md"},
        {"document_id": "old-marker", "source": "docs", "location": "/c/a.md"},  # before keys: by location
        {"document_id": "unreadable-now", "source": "web", "location": "https://x/1"},
        {"document_id": "other-source", "source": "gone-from-config", "location": "/d/z.md"},
    ]
    crawled = RawDocuments(
        documents=[document("docs", "/c/a.md", "docs:a.md"), document("web", "https://x/2")],
        skipped=[SkippedItem(source="docs", location="/c/c.md", reason="not matched by include")],
        failures=[CrawlFailure(source="web", location="https://x/1", reason="HTTP 503")],
    )
    assert removed_from_sources(markers, crawled) == ["deleted", "excluded"]
