"""The on-disk response cache: what the key covers, and that answers survive a new process."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from llm_engineering.domain.config.llm import LLMConfig
from llm_engineering.infrastructure.llm import ChatRequest
from llm_engineering.infrastructure.llm.response_cache import ResponseCache, answerer_identity, cache_key

CONFIG = LLMConfig()


def ask(text: str, **fields: object) -> ChatRequest:
    return ChatRequest(messages=[{"role": "user", "content": text}], **fields)


def test_key_depends_on_what_changes_the_answer_and_nothing_else() -> None:
    base = cache_key("openai:m", CONFIG, ask("hi", key="a"))

    assert cache_key("openai:m", CONFIG, ask("hi", key="b")) == base  # the caller's label is not the call
    assert cache_key("openai:m", CONFIG, ask("hi", temperature=0.0)) == base  # an override equal to the config
    changed = [
        cache_key("local:m", CONFIG, ask("hi")),
        cache_key("openai:other", CONFIG, ask("hi")),
        cache_key("openai:m", CONFIG, ask("hi!")),
        cache_key("openai:m", CONFIG, ask("hi", temperature=0.7)),
        cache_key("openai:m", CONFIG, ask("hi", max_new_tokens=8)),
        cache_key("openai:m", CONFIG, ask("hi", response_format={"type": "json_object"})),
        cache_key("openai:m", LLMConfig(top_p=0.9), ask("hi")),
        cache_key("openai:m", LLMConfig(temperature=0.7, seed=1), ask("hi")),
    ]
    assert base not in changed and len(set(changed)) == len(changed)
    # The seed only matters when sampling: a greedy answer stays cached across seeds.
    assert cache_key("openai:m", LLMConfig(seed=1), ask("hi")) == base


def test_the_answerer_is_the_endpoint_and_model_not_only_the_model_name(tmp_path: Path) -> None:
    def openai(base_url: str, model: str = "m") -> str:
        return answerer_identity(LLMConfig(provider="openai", base_url=base_url, model=model))

    assert (
        openai("http://127.0.0.1:8000/v1") == openai("HTTP://127.0.0.1:8000/v1/") == "openai|http://127.0.0.1:8000/v1|m"
    )
    assert (
        len(
            {
                openai("http://127.0.0.1:8000/v1"),
                openai("http://127.0.0.1:8001/v1"),
                openai("http://127.0.0.1:8000/v1", "n"),
            }
        )
        == 3
    )

    # A local model is known by its weights: a copy is the same model, an edited copy is not.
    import shutil

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "model.safetensors").write_bytes(b"weights")
    (tmp_path / "a" / "config.json").write_text("{}")
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    local = {name: answerer_identity(LLMConfig(model=str(tmp_path / name))) for name in ("a", "b")}
    assert local["a"] == local["b"] and local["a"].startswith("local|")
    (tmp_path / "b" / "model.safetensors").write_bytes(b"retrained")
    assert answerer_identity(LLMConfig(model=str(tmp_path / "b"))) != local["a"]


def test_answers_persist_across_instances_in_a_wal_database(tmp_path: Path) -> None:
    writer = ResponseCache(tmp_path / "cache")
    writer.put_many({"k1": {"text": "one"}, "k2": {"text": "two — ünïcode"}})
    writer.close()

    reader = ResponseCache(tmp_path / "cache")
    assert reader.get_many(["k2", "missing", "k1", "k1"]) == {"k1": {"text": "one"}, "k2": {"text": "two — ünïcode"}}
    assert len(reader) == 2
    mode = sqlite3.connect(reader.path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_many_keys_are_looked_up_in_one_call(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path)
    cache.put_many(
        {f"k{i}": {"text": str(i)} for i in range(1200)}
    )  # several lookup chunks: old sqlite caps bound parameters at 999

    found = cache.get_many([f"k{i}" for i in range(1300)])

    assert len(found) == 1200 and found["k1199"] == {"text": "1199"}
