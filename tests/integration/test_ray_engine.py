"""The Ray execution engine on a real local cluster (`ray start --head` on 127.0.0.1, stopped afterwards): the data
stages give byte-identical results to the local engine, and a killed worker is retried or fails clearly."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from functools import partial
from pathlib import Path

import numpy as np
import psutil
import pytest

from llm_engineering.application.dedup import deduplicate, semantic_duplicate_pairs
from llm_engineering.application.embedding import embed_and_store
from llm_engineering.application.minhash import find_similar_pairs
from llm_engineering.application.pipeline_runner import load_for, run_pipeline
from llm_engineering.domain.config.dataset_quality import DedupConfig, MinHashConfig, SemanticDedupConfig
from llm_engineering.domain.config.execution import ExecutionConfig
from llm_engineering.domain.config.feature_engineering import EmbeddingConfig, QdrantConfig
from llm_engineering.domain.documents import Chunk, point_id
from llm_engineering.domain.samples import InstructionSample
from llm_engineering.infrastructure.embedder import Embedder
from llm_engineering.infrastructure.execution import LocalEngine, RayEngine, WorkerFailed
from llm_engineering.infrastructure.qdrant import ChunkStore, open_client
from tests.conftest import SAMPLE_CORPUS, copy_articles, write_feature_config

RAY = Path(sys.executable).with_name("ray")
pytestmark = pytest.mark.skipif(not RAY.exists(), reason="the ray extra is not installed")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def ray_address(tmp_path_factory):
    import ray

    port = _free_port()
    environment = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    command = [str(RAY), "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port), "--num-cpus", "2",
               "--include-dashboard=false", "--disable-usage-stats"]  # fmt: skip
    subprocess.run(command, check=True, env=environment, capture_output=True, timeout=120)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        ray.shutdown()
        subprocess.run([str(RAY), "stop", "--force"], env=environment, capture_output=True, timeout=120)


def sample_chunks(limit: int = 48) -> list[Chunk]:
    """Paragraphs of the sample articles as chunks (ids from their text, as the chunker makes them)."""
    chunks: list[Chunk] = []
    for path in sorted((SAMPLE_CORPUS / "articles").glob("*.md")):
        document_id = point_id(path.read_text())
        paragraphs = [p.strip() for p in path.read_text().split("\n\n") if len(p.strip()) > 40]
        for index, text in enumerate(paragraphs):
            chunk_id = point_id(f"{document_id}\n{index}\n{text}")
            chunks.append(Chunk(chunk_id=chunk_id, document_id=document_id, source="articles", location=path.name,
                                chunk_index=index, text=text, token_count=len(text.split()),
                                content_hash=point_id(text), fingerprint="test"))  # fmt: skip
    return chunks[:limit]


def stored_points(folder: Path) -> list[tuple[str, dict, bytes]]:
    """(id, payload, vector bytes) of every chunk point, by id."""
    with open_client(QdrantConfig(path=folder)) as client:
        points, _ = client.scroll("chunks", limit=10_000, with_payload=True, with_vectors=True)
    return sorted((str(p.id), p.payload, np.asarray(p.vector, dtype=np.float32).tobytes()) for p in points)


def embed_into(folder: Path, chunks: list[Chunk], engine) -> None:  # noqa: ANN001 - an ExecutionEngine
    config = EmbeddingConfig(show_progress=False, batch_size=8)
    embedder = Embedder(config.model, config.device, config.batch_size)
    with open_client(QdrantConfig(path=folder)) as client:
        embed_and_store(chunks, ChunkStore(client, "chunks"), embedder, config, "test", {}, round_size=12,
                        engine=engine)  # fmt: skip


@pytest.fixture(scope="module")
def local_points(tmp_path_factory) -> list[tuple[str, dict, bytes]]:
    folder = tmp_path_factory.mktemp("local")
    embed_into(folder, sample_chunks(), LocalEngine())
    return stored_points(folder)


def ray_engine(address: str, **overrides) -> RayEngine:
    return RayEngine(ExecutionConfig(engine="ray", address=address, num_workers=2, **overrides))


def test_embedding_on_ray_stores_the_same_points_as_local(tmp_path, ray_address, local_points):
    chunks = sample_chunks()
    embed_into(tmp_path / "ray", chunks, ray_engine(ray_address))
    local, distributed = local_points, stored_points(tmp_path / "ray")
    assert len(local) == len(chunks) == 48
    assert [p[:2] for p in distributed] == [p[:2] for p in local]  # ids and payloads
    assert [p[2] for p in distributed] == [p[2] for p in local]  # vectors, byte for byte


def _worker_pids(batch: list[int]) -> list[int]:
    return [os.getpid()] * len(batch)


def test_a_later_stage_runs_on_the_same_workers_and_a_failed_stage_gets_new_ones(ray_address):
    """Workers outlive a stage (no second process start or model load), and a stage that stops early discards them."""
    first = set(sum(ray_engine(ray_address).map_batches(_worker_pids, list(range(8)), 2), []))
    second = set(sum(ray_engine(ray_address).map_batches(_worker_pids, list(range(8)), 2), []))
    assert len(first) == 2 and second == first
    next(ray_engine(ray_address).map_batches(_worker_pids, list(range(8)), 2))  # the consumer stops after one batch
    third = set(sum(ray_engine(ray_address).map_batches(_worker_pids, list(range(8)), 2), []))
    assert len(third) == 2 and not third & first


def _kill_first_worker_running(method: str, killed: list[int], deadline_s: float = 60) -> None:
    """SIGKILL the first Ray worker process seen running `method` (Ray titles them `ray::_BatchWorker.run`)."""
    stop = time.monotonic() + deadline_s
    while time.monotonic() < stop and not killed:
        for process in psutil.process_iter(["pid", "cmdline"]):
            if any(method in part for part in process.info["cmdline"] or []):
                os.kill(process.info["pid"], signal.SIGKILL)
                killed.append(process.info["pid"])
                return
        time.sleep(0.05)


@pytest.mark.slow  # restarting a worker reloads torch and the model: ~25 s on 2 busy cores
def test_a_killed_embedding_worker_is_retried_and_the_points_are_unchanged(tmp_path, ray_address, local_points):
    chunks = sample_chunks()
    killed: list[int] = []
    killer = threading.Thread(target=_kill_first_worker_running, args=("_BatchWorker.run", killed))
    killer.start()
    embed_into(tmp_path / "ray", chunks, ray_engine(ray_address, max_retries=2))
    killer.join()
    assert killed, "no worker was seen running a batch"
    assert stored_points(tmp_path / "ray") == local_points


def test_a_killed_worker_without_retries_fails_naming_the_batch_and_stores_only_whole_rounds(
    tmp_path, ray_address, local_points
):
    chunks = sample_chunks()
    killed: list[int] = []
    killer = threading.Thread(target=_kill_first_worker_running, args=("_BatchWorker.run", killed))
    killer.start()
    with pytest.raises(WorkerFailed, match=r"batch \d of 4 failed: its Ray worker died 1 time\(s\)"):
        embed_into(tmp_path / "ray", chunks, ray_engine(ray_address, max_retries=0))
    killer.join()
    stored = stored_points(tmp_path / "ray")
    local = {point[0]: point for point in local_points}
    assert len(stored) % 12 == 0 and len(stored) < len(chunks)  # whole rounds of 12, each as the local engine's
    assert all(local[point[0]] == point for point in stored)


def corpus_samples(chunks: int = 60) -> list[InstructionSample]:
    """Paragraphs of the sample articles as samples, each also planted as a near copy (a few words changed, seeded)
    and some as a reworded one (for semantic dedup), interleaved so duplicates span blocks and batches."""
    rng = random.Random(0)
    samples = []
    for index, chunk in enumerate(sample_chunks(limit=chunks)):
        words = chunk.text.split()
        near = list(words)
        for position in rng.sample(range(len(words)), k=max(1, len(words) // 25)):
            near[position] = "edited"
        texts = [chunk.text, " ".join(near)] + (["In short: " + chunk.text.lower()] if index % 3 == 0 else [])
        for copy, text in enumerate(texts):
            samples.append(InstructionSample(sample_id=f"{index}-{copy}", instruction=f"About {chunk.location}?",
                                             answer=text, document_id=chunk.document_id, chunk_id=chunk.chunk_id,
                                             source="articles"))  # fmt: skip
    rng.shuffle(samples)
    return samples


def test_minhash_pairs_on_ray_are_the_local_ones(ray_address):
    texts = [s.answer for s in corpus_samples()] * 3  # whole copies too: buckets of many members
    config = MinHashConfig(threshold=0.6)
    local = find_similar_pairs(texts, config)  # the one-process path (rensa's one-shot pre-filter)
    distributed = find_similar_pairs(texts, config, ray_engine(ray_address))
    assert len(local) > 300
    for field in ("left", "right", "similarity"):
        assert getattr(distributed, field).tobytes() == getattr(local, field).tobytes()


def test_semantic_neighbour_search_on_ray_gives_the_local_pairs(ray_address):
    texts = [s.answer for s in corpus_samples(chunks=24)]
    vectors = Embedder(batch_size=8).encode(texts)  # embedding on Ray: the tests above and below
    config = SemanticDedupConfig(enabled=True, threshold=0.9, block_size=8)
    local = semantic_duplicate_pairs(texts, lambda _: vectors, config)
    distributed = semantic_duplicate_pairs(texts, lambda _: vectors, config, ray_engine(ray_address))
    assert distributed == local and len(local) > 10  # (earlier, later, cosine) in the same order, floats equal


@pytest.mark.slow  # the samples embedded twice, once on Ray workers that load torch: ~75 s on 2 busy cores
def test_curation_dedup_on_ray_keeps_the_same_samples_in_the_same_order(ray_address):
    samples = corpus_samples()
    config = DedupConfig(minhash=MinHashConfig(threshold=0.6), semantic=SemanticDedupConfig(enabled=True,
                         threshold=0.9, block_size=16))  # fmt: skip
    embedder = Embedder(batch_size=8)
    engine = ray_engine(ray_address)
    local = deduplicate(samples, config, embed=embedder.encode)
    distributed = deduplicate(samples, config, embed=partial(embedder.encode_on, engine), engine=engine)
    assert [s.sample_id for s in distributed[0]] == [s.sample_id for s in local[0]]
    assert distributed[1] == local[1] and distributed[2] == local[2]  # removed samples, pairs and similarities
    assert local[2].removed_by_method["minhash"] > 20 and local[2].removed_by_method["semantic"] > 5


@pytest.mark.slow  # two feature pipeline runs, one of them starting Ray workers that load torch
def test_the_feature_pipeline_with_engine_ray_stores_the_local_engines_points(tmp_path, data_dir, ray_address):
    corpus = copy_articles(tmp_path / "corpus", "lora-in-practice.md", "rag-basics.md")
    points = {}
    for engine in ("local", "ray"):
        folder = tmp_path / engine
        folder.mkdir()
        config = write_feature_config(folder, [{"name": "articles", "type": "folder", "path": str(corpus)}])
        overrides = [f"execution.engine={engine}", "qdrant.upsert_batch_size=8"]
        overrides += [f"execution.address={ray_address}"] if engine == "ray" else []
        run = run_pipeline("feature_engineering", load_for("feature_engineering", config, overrides))
        assert run.status == "completed"
        points[engine] = stored_points(folder / "qdrant")
    # ids, payloads, vectors; 12 chunks of the two articles: more than one round of upsert_batch_size 8
    assert points["ray"] == points["local"] and len(points["local"]) > 8
