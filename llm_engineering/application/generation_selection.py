"""Which chunks still need dataset generation. Qdrant is the ledger: a document's completion marker
gets a `generated_<fingerprint>` flag once its samples are in a published dataset version, so a
failed or killed generation is picked up again by the next run, and a finished one never is."""

from __future__ import annotations

import hashlib
import json

from llm_engineering.domain.config.dataset_generation import DatasetGenerationConfig
from llm_engineering.domain.documents import Chunk
from llm_engineering.infrastructure.qdrant import ChunkStore


def generation_mark(config: DatasetGenerationConfig) -> str:
    """What makes generated samples reusable: same model, prompts, extracts and pairs per extract."""
    key = config.model_dump(
        mode="json", include={"llm": {"provider", "model", "temperature"}, "prompts": True, "extracts": True,
                              "instructions": True, "preferences": True},
    )  # fmt: skip
    for name, path in config.prompts:  # the wording, not only the file name
        key[f"prompt_{name}"] = hashlib.sha256(path.read_bytes()).hexdigest()
    return "generated_" + hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def chunks_to_generate(store: ChunkStore, index_fingerprint: str, mark: str, incremental: bool) -> list[Chunk]:
    """Chunks of every indexed document not yet generated with `mark` (all of them when not incremental)."""
    documents = store.indexed_documents(index_fingerprint)
    document_ids = sorted({d["document_id"] for d in documents if not (incremental and d.get(mark))})
    chunks = [
        Chunk(chunk_id=p["id"], **{k: v for k, v in p.items() if k in Chunk.model_fields and k != "chunk_id"})
        for p in store.chunk_payloads_of(document_ids, index_fingerprint)
    ]
    return sorted(chunks, key=lambda c: (c.document_id, c.chunk_index))
