from llm_engineering.application.embedding import superseded


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
