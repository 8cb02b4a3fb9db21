"""A content-addressed cache of LLM answers on disk, so a rerun never pays for the same call twice.

Key: sha256 of who answers (provider kind, endpoint and served model name for an OpenAI-compatible server; the
local model's content hash) + messages + effective sampling settings (the caller's `key` label is not part of it:
the same prompt under another label is the same call). Another server or other local weights never get this
server's answers. Values are the answer's JSON in
one sqlite file (WAL: readers never block the writer, and parallel steps may share it). Only successful
answers are stored, so a rerun retries what failed. An answer keeps its `finish_reason`; one stored before it was
recorded gets it from its token count (as many completion tokens as the budget: cut off at `length`).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from pathlib import Path
from typing import cast
from urllib.parse import urlsplit, urlunsplit

from llm_engineering.domain.config.llm import LLMConfig
from llm_engineering.infrastructure.interruption import raise_if_stop_requested
from llm_engineering.infrastructure.llm.base import (
    ChatRequest,
    ChatResult,
    LLMProvider,
    Progressed,
    Usage,
    UsageReport,
    sampling_params,
)

DATABASE = "responses.sqlite"


class CorruptCache(RuntimeError):
    """The cache file is damaged; the message names it and the cost of rebuilding it."""


def answerer_identity(config: LLMConfig) -> str:
    """Who answers: the endpoint and model name of an OpenAI-compatible server, or the local model by content."""
    if config.provider == "openai":
        parts = urlsplit((config.base_url or "").strip())
        endpoint = urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/"), parts.query, ""))
        return f"openai|{endpoint}|{config.model}"
    from llm_engineering.infrastructure.base_model import MARKER, resolve_base_model
    from llm_engineering.infrastructure.model_identity import folder_identity

    resolved = Path(resolve_base_model(config.model))
    # A Hub id that is not a local folder: its name (transformers resolves it from the offline cache).
    return f"local|{folder_identity(resolved, exclude=(MARKER,)) if resolved.is_dir() else config.model}"


def cache_key(identity: str, config: LLMConfig, request: ChatRequest) -> str:
    """`identity`: answerer_identity(config)."""
    key = {"answerer": identity, "messages": request.messages, "sampling": sampling_params(config, request)}
    return hashlib.sha256(json.dumps(key, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class ResponseCache:
    def __init__(self, folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / DATABASE
        self._lock = threading.Lock()
        # One connection, shared by threads under the lock; autocommit, with explicit transactions for batches.
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable at checkpoints, never corrupt
            self._db.execute("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            if self._db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise sqlite3.DatabaseError("quick_check failed")
        except sqlite3.DatabaseError as exc:  # a truncated or overwritten file: name it, and what deleting it costs
            raise CorruptCache(
                f"the LLM response cache {self.path} is damaged ({exc}): delete it ({self.path}*) or move it aside; "
                "the next run asks the LLM again for every answer it held"
            ) from exc

    def get_many(self, keys: list[str]) -> dict[str, dict]:
        found: dict[str, dict] = {}
        unique = list(dict.fromkeys(keys))
        with self._lock:
            for start in range(0, len(unique), 500):  # stay under sqlite's bound-parameter limit
                part = unique[start : start + 500]
                rows = self._db.execute(
                    f"SELECT key, value FROM responses WHERE key IN ({','.join('?' * len(part))})", part
                )
                found.update((key, json.loads(value)) for key, value in rows)
        return found

    def put_many(self, entries: dict[str, dict]) -> None:
        if not entries:
            return
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT OR REPLACE INTO responses (key, value) VALUES (?, ?)",
                    [(key, json.dumps(value, ensure_ascii=False)) for key, value in entries.items()],
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()


def stored_finish_reason(entry: dict, sampling: dict) -> str | None:
    """The entry's finish_reason; for an entry from before it was stored, 'length' when it used the whole token
    budget, else 'stop' (None when it has no token count)."""
    if "finish_reason" in entry:
        return entry["finish_reason"]
    completion_tokens = (entry.get("usage") or {}).get("completion_tokens") or 0
    if completion_tokens <= 0:
        return None
    return "length" if completion_tokens >= sampling["max_new_tokens"] else "stop"


class CachedProvider:
    """Wraps any provider: hits come from disk, misses go to the provider in chunks and are stored as they land."""

    def __init__(self, inner: LLMProvider, config: LLMConfig, folder: Path):
        self.inner = inner
        self.config = config
        self.model_id = inner.model_id
        self.cache = ResponseCache(folder)
        self._hits = 0
        self._lock = threading.Lock()
        # Misses are sent in chunks and each chunk is stored at once: a crash loses at most one chunk of work.
        self.chunk_size = max(config.batch_size, config.max_concurrency) * 4
        self._identity: str | None = None  # computed at the first call: the local model's hash reads its weights

    def usage(self) -> UsageReport:
        report = self.inner.usage()
        with self._lock:
            report.cached = self._hits
        return report

    def generate(
        self, requests: list[ChatRequest], show_progress: bool = False, progress: Progressed | None = None
    ) -> list[ChatResult]:
        from llm_engineering.infrastructure.progress import Progress

        if self._identity is None:
            self._identity = answerer_identity(self.config)
        keys = [cache_key(self._identity, self.config, request) for request in requests]
        stored = self.cache.get_many(keys)
        results: list[ChatResult | None] = [None] * len(requests)
        # Identical requests in one batch are sent once: same prompt, same settings, same answer, as on a rerun.
        misses: dict[str, list[int]] = {}
        for index, (key, request) in enumerate(zip(keys, requests, strict=True)):
            if key in stored:
                results[index] = ChatResult(
                    key=request.key,
                    text=stored[key]["text"],
                    cached=True,
                    finish_reason=stored_finish_reason(stored[key], sampling_params(self.config, request)),
                )
            else:
                misses.setdefault(key, []).append(index)

        pending = list(misses.items())
        answered = len(requests) - sum(len(indices) for indices in misses.values())
        # Cache hits count as answered, not towards the speed; misses count as the provider answers each of them.
        own = Progress(len(requests), f"generating ({self.model_id})", "request", done=answered,
                       done_as="from the cache", enabled=show_progress and not progress)  # fmt: skip
        with own:
            advance = progress or own.update
            if progress is not None and answered:
                progress(answered)
            for start in range(0, len(pending), self.chunk_size):
                raise_if_stop_requested(f"between LLM request chunks ({self.model_id}; answers so far are cached)")
                chunk = pending[start : start + self.chunk_size]
                answers = self.inner.generate([requests[indices[0]] for _, indices in chunk], progress=advance)
                fresh = {}
                for (key, indices), answer in zip(chunk, answers, strict=True):
                    if answer.ok:
                        fresh[key] = {"text": answer.text, "usage": answer.usage.model_dump(), "model": self.model_id,
                                      "finish_reason": answer.finish_reason}  # fmt: skip
                    results[indices[0]] = answer.model_copy(update={"key": requests[indices[0]].key})
                    for index in indices[1:]:  # duplicates share the one call, as hits of it
                        results[index] = answer.model_copy(
                            update={"key": requests[index].key, "cached": answer.ok, "attempts": 0, "usage": Usage()}
                        )
                    if len(indices) > 1:
                        advance(len(indices) - 1)  # the provider counted the first
                self.cache.put_many(fresh)
        final = cast(list[ChatResult], results)
        with self._lock:
            self._hits += sum(result.cached for result in final)
        return final
