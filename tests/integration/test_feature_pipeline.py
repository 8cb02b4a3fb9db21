"""The real ZenML feature pipeline over the sample corpus and a loopback web site."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from zenml.client import Client

from llm_engineering.application.pipeline_runner import load_for, run_pipeline
from llm_engineering.domain.config.feature_engineering import QdrantConfig
from llm_engineering.infrastructure.qdrant import ChunkStore, open_client
from tests.conftest import SAMPLE_CORPUS, copy_articles, write_feature_config
from tests.support.web_server import serve


def write_config(tmp_path: Path, corpus: Path, site_url: str, **crawl_extra) -> Path:
    web = [f"{site_url}{path}" for path in ("/articles/embeddings.html", "/articles/vector-stores.html", "/missing",
                                             "/loop", "/latin1", "/private/secret.html")]  # fmt: skip
    sources = [{"name": "articles", "type": "folder", "path": str(corpus)}, {"name": "web", "type": "url", "urls": web}]
    return write_feature_config(tmp_path, sources, **crawl_extra)


def latest_metadata(name: str) -> dict:
    return Client().get_artifact_version(name).run_metadata


def stored_payloads(tmp_path: Path) -> list[dict]:
    with open_client(QdrantConfig(path=tmp_path / "qdrant")) as client:
        return ChunkStore(client, "chunks").scroll_payloads()


# A sign-off the blog puts under each markdown article: prose to every line rule, chrome by its repetition.
SIGN_OFF = "If you enjoyed this article, follow me on Twitter @jane_writes for more posts on retrieval."


def signed(path: Path) -> Path:
    path.write_text(path.read_text() + f"\n\n{SIGN_OFF}\n")
    return path


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = copy_articles(
        tmp_path / "corpus",
        "lora-in-practice.md",
        "rag-basics.md",
        "llm-as-a-judge.html",
        "pii-redaction-before-training.md",
    )
    for article in folder.glob("*.md"):
        signed(article)
    return folder


def test_feature_pipeline_end_to_end_and_incremental(tmp_path, corpus, data_dir):
    with serve() as site:
        config = write_config(tmp_path, corpus, site.url)
        run = run_pipeline("feature_engineering", load_for("feature_engineering", config))
        assert run.status == "completed"

        raw = latest_metadata("raw_documents")
        assert raw["documents"] == 6 and raw["documents_per_source"] == {"articles": 4, "web": 2}
        assert raw["failed"] == 4
        assert raw["failed_by_reason"]["HTTP 404"] == 1
        assert raw["failed_by_reason"]["disallowed by robots.txt"] == 1
        assert any(
            f.endswith("/latin1: not valid utf-8 (invalid continuation byte at byte 15)") for f in raw["failures"]
        )
        cleaned = latest_metadata("cleaned_documents")
        assert cleaned["redactions"]["email"] >= 3  # the PII article, plus one per web page
        # The sign-off and the byline ("Author: Maya Lindqvist"), each on 3 of the 4 articles.
        assert cleaned["repeated_lines_dropped"] == 2
        chunks = latest_metadata("chunks")
        assert chunks["max_tokens"] <= 128
        embedded = latest_metadata("embedded_chunks")
        assert embedded["chunks_embedded"] == chunks["chunks"] == embedded["points_in_collection"]

        payloads = stored_payloads(tmp_path)
        assert len(payloads) == chunks["chunks"]
        assert {p["source"] for p in payloads} == {"articles", "web"}
        assert all({"document_id", "chunk_index", "text", "location"} <= set(p) for p in payloads)
        assert not any("example.com" in p["text"] for p in payloads)  # PII never reaches the vector store
        assert any("```python" in p["text"] for p in payloads)  # code survives cleaning and chunking
        assert not any("@jane_writes" in p["text"] for p in payloads)

        # Unchanged sources: nothing is cleaned, chunked or embedded again.
        run_pipeline("feature_engineering", load_for("feature_engineering", config))
        assert latest_metadata("embedded_chunks")["chunks_embedded"] == 0
        assert Client().get_artifact_version("changed_documents").run_metadata["documents"] == 0

        # One new document: it is the only work done; its sign-off goes, as the site's lines are counted over the
        # whole crawl, not the one page cleaned.
        signed(shutil.copy(SAMPLE_CORPUS / "articles" / "sequence-packing.md", corpus / "sequence-packing.md"))
        run_pipeline("feature_engineering", load_for("feature_engineering", config))
        new_chunks = latest_metadata("chunks")
        assert new_chunks["documents"] == 1
        assert not any("@jane_writes" in p["text"] for p in stored_payloads(tmp_path))
        assert latest_metadata("embedded_chunks")["chunks_embedded"] == new_chunks["chunks"]
        assert len(stored_payloads(tmp_path)) == chunks["chunks"] + new_chunks["chunks"]

        # An edited document: its new version replaces the old one in Qdrant, nothing of the old one stays.
        edited = corpus / "rag-basics.md"
        before = stored_payloads(tmp_path)
        old_chunks = [p for p in before if p["location"] == str(edited)]
        assert old_chunks
        edited.write_text(edited.read_text() + "\n\nAn added closing paragraph about reranking retrieved passages.\n")
        run_pipeline("feature_engineering", load_for("feature_engineering", config))
        embedded = latest_metadata("embedded_chunks")
        assert embedded["documents_superseded"] == 1
        after = stored_payloads(tmp_path)
        new_version = [p for p in after if p["location"] == str(edited)]
        assert len({p["document_id"] for p in new_version}) == 1
        assert new_version[0]["document_id"] != old_chunks[0]["document_id"]
        assert "reranking retrieved passages" in " ".join(p["text"] for p in new_version)
        assert len(after) == len(before) - len(old_chunks) + embedded["chunks_embedded"]
        assert embedded["points_in_collection"] == len(after)

        # A deleted file leaves Qdrant; the web source, which had failures this crawl too, keeps what it has.
        deleted = corpus / "lora-in-practice.md"
        assert any(p["location"] == str(deleted) for p in after)
        web_before = [p for p in after if p["source"] == "web"]
        deleted.unlink()
        run_pipeline("feature_engineering", load_for("feature_engineering", config))
        run = Client().list_pipeline_runs(sort_by="desc:created", size=1)[0]
        assert run.steps["select_changed_documents"].run_metadata["removed_from_sources"] == 1
        final = stored_payloads(tmp_path)
        assert not any(p["location"] == str(deleted) for p in final)
        assert [p for p in final if p["source"] == "web"] == web_before
        assert len(final) == len(after) - sum(1 for p in after if p["location"] == str(deleted))


def test_too_many_failures_fail_the_crawl_step(tmp_path, corpus, data_dir):
    with serve() as site:
        config = write_config(tmp_path, corpus, site.url, max_failed_fraction=0.2)
        with pytest.raises(RuntimeError, match="failure in step\\(s\\): crawl_sources"):
            run_pipeline("feature_engineering", load_for("feature_engineering", config))
    run = Client().list_pipeline_runs(sort_by="desc:created", size=1)[0]
    crawl = run.steps["crawl_sources"]
    assert crawl.status == "failed"
    # The report was recorded before the step failed: the user sees what went wrong and why.
    assert crawl.run_metadata["failed"] == 4 and crawl.run_metadata["documents"] == 6
    assert "embed_and_load" not in run.steps or run.steps["embed_and_load"].status != "completed"
    assert stored_payloads(tmp_path) == []
