"""The shipped OpenAI variant config against a server with one slot (llama.cpp's server, `--parallel 1`), in a real
ZenML run: 16 requests in flight with a timeout shorter than 16 answers' service failed half the calls before the
provider adapted; now the run completes with no failed call and each generation step keeps the slot busy."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from llm_engineering.application.pipeline_runner import load_for, run_pipeline
from llm_engineering.application.run_config import read_yaml
from tests.conftest import PROJECT_ROOT, copy_articles
from tests.support.dataset_responder import dataset_responder
from tests.support.openai_server import OpenAIStubServer

CONFIG = PROJECT_ROOT / "configs" / "feature_engineering-openai.yaml"
SERVICE_S = 0.1  # each answer holds the one slot this long: capacity 10 answers a second
TIMEOUT_S = 1.0  # 16 queued answers take 1.6 s: a fixed fan-out of 16 (the shipped max_concurrency) times out


def _epoch(moment: datetime) -> float:
    return (moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment).timestamp()


def test_the_shipped_openai_config_completes_against_a_one_slot_server(tmp_path: Path, data_dir: Path) -> None:
    stages = read_yaml(CONFIG)["parameters"]["datasets"]["curation"]["stages"]
    judge = next(index for index, stage in enumerate(stages) if stage["kind"] == "judge")
    corpus = copy_articles(
        tmp_path / "corpus", "lora-in-practice.md", "sequence-packing.md", "chat-templates-matter.md"
    )
    with OpenAIStubServer(responder=dataset_responder, slots=1, service_s=SERVICE_S) as server:
        member = f"datasets.curation.stages.{judge}.jury.members.0.llm"
        settings = [
            f"crawl.sources=[{{name: articles, type: folder, path: '{corpus}'}}]",
            f"qdrant.path={tmp_path / 'qdrant'}",
            f"datasets.llm.base_url={server.base_url}",
            f"datasets.llm.cache_dir={tmp_path / 'llm_cache'}",
            f"datasets.llm.timeout_s={TIMEOUT_S}",
            f"{member}.base_url={server.base_url}",
            f"{member}.cache_dir={tmp_path / 'llm_cache'}",
            f"{member}.timeout_s={TIMEOUT_S}",
            "datasets.incremental=false",
            "embedding.show_progress=false",
        ]
        run = run_pipeline("feature_engineering", load_for("feature_engineering", CONFIG, settings))

        assert run.status == "completed"
        for name in ("generate_instruction_samples", "generate_preference_samples"):
            step = run.steps[name]
            metadata = step.run_metadata
            assert metadata["failed"] == 0 and metadata.get("llm_failed", 0) == 0, (name, metadata)
            assert metadata["llm_lowest_concurrency"] < 16  # it did come down from the ceiling
            served, per_s = server.served_per_s_between(_epoch(step.start_time), _epoch(step.end_time))
            assert served >= metadata["llm_calls"] > 0
            # From the step's first request to its last answer, the slot served within 10% of its capacity.
            assert per_s >= 0.9 * server.capacity_per_s, (name, served, per_s)
    assert server.served == server.request_count - server.dropped - server.aborted
