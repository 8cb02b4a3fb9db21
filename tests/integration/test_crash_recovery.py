"""kill -9 in the middle of embedding, then a rerun: the run completes and Qdrant holds each chunk once."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import yaml
from zenml.client import Client

from llm_engineering.application.pipeline_runner import load_for, run_pipeline
from llm_engineering.domain.config.feature_engineering import QdrantConfig
from llm_engineering.infrastructure.qdrant import ChunkStore, open_client
from tests.conftest import PROJECT_ROOT, SAMPLE_CORPUS

PROGRESS = re.compile(rb"embedding: (\d+)/(\d+) chunks")  # the piped progress line, one per round here


def test_kill_during_embedding_then_rerun_stores_each_chunk_once(tmp_path, data_dir):
    config = tmp_path / "feature_engineering.yaml"
    parameters = {
        "crawl": {"sources": [{"name": "articles", "type": "folder", "path": str(SAMPLE_CORPUS / "articles")}]},
        "embedding": {"batch_size": 8},
        "qdrant": {"path": str(tmp_path / "qdrant"), "upsert_batch_size": 8},
        "datasets": {"enabled": False},
    }
    config.write_text(yaml.safe_dump({"parameters": parameters}))
    process = subprocess.Popen(
        [sys.executable, "-m", "llm_engineering.cli", "run", "feature_engineering", "--config", str(config)],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "LLM_ENGINEERING_PROGRESS_INTERVAL_S": "0"},
    )
    output = b""
    deadline = time.monotonic() + 240
    killed_at = None
    while time.monotonic() < deadline:
        piece = process.stdout.read1(4096)  # type: ignore[union-attr]
        if not piece:
            break
        output += piece
        progress = [(int(a), int(b)) for a, b in PROGRESS.findall(output)]
        if progress and 16 <= progress[-1][0] < progress[-1][1]:
            process.send_signal(signal.SIGKILL)
            killed_at = progress[-1]
            break
    process.wait(timeout=60)
    assert killed_at is not None, output.decode(errors="replace")[-2000:]
    assert process.returncode == -signal.SIGKILL

    with open_client(QdrantConfig(path=tmp_path / "qdrant")) as client:
        partial = ChunkStore(client, "chunks").count()
    assert 0 < partial < killed_at[1]  # some, not all, chunks were stored before the kill

    run_pipeline("feature_engineering", load_for("feature_engineering", config))
    summary = Client().get_artifact_version("embedded_chunks").run_metadata
    total = killed_at[1]
    # Documents finished before the kill are skipped outright; the rest embed only what is missing.
    assert Client().get_artifact_version("chunks").run_metadata["chunks"] < total
    assert summary["chunks_embedded"] == total - partial
    with open_client(QdrantConfig(path=tmp_path / "qdrant")) as client:
        store = ChunkStore(client, "chunks")
        payloads = store.scroll_payloads()
        assert store.count() == total
        assert len({(p["document_id"], p["chunk_index"]) for p in payloads}) == total
        assert len(store.scroll_payloads(store.documents_collection)) == 30  # every document marked complete
