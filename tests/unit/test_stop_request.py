"""A stop request (SIGTERM / Ctrl-C during `llm-engineering run`) ends long loops between units of work, even where
ZenML's own interruption was swallowed on its way up; what was finished before it stays stored."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from llm_engineering.application.training.stop_on_signal import StopOnSignal
from llm_engineering.domain.config.llm import LLMConfig
from llm_engineering.infrastructure.interruption import (
    RunStopped,
    raise_if_stop_requested,
    recording_signals,
    request_stop,
    stop_requested,
)
from llm_engineering.infrastructure.llm import ChatRequest
from llm_engineering.infrastructure.llm.openai_compatible import OpenAICompatibleProvider
from llm_engineering.infrastructure.llm.response_cache import CachedProvider
from tests.support.openai_server import OpenAIStubServer, echo_responder


def ask(text: str) -> ChatRequest:
    return ChatRequest(messages=[{"role": "user", "content": text}], key=text)


def test_the_stop_flag_names_the_signal_and_where_and_ends_with_the_run() -> None:
    with recording_signals() as received:
        raise_if_stop_requested("anywhere")  # nothing asked yet
        request_stop(signal.SIGTERM)
        assert stop_requested()
        with pytest.raises(RunStopped) as stopped:
            raise_if_stop_requested("between embedding rounds (64 of 146 chunks stored)")
    assert str(stopped.value) == (
        "SIGTERM received: stopped between embedding rounds (64 of 146 chunks stored); "
        "the next run resumes from what was stored"
    )
    assert not isinstance(stopped.value, Exception)  # no `except Exception` on the way up can swallow it
    assert received == [signal.SIGTERM] and not stop_requested()  # the request belonged to that run only
    request_stop(signal.SIGTERM)  # outside a run there is nothing to stop
    raise_if_stop_requested("anywhere")


def test_a_training_stage_saves_the_step_it_was_in_then_stops() -> None:
    callback, state, control = StopOnSignal("sft"), SimpleNamespace(global_step=7), SimpleNamespace(should_save=False)
    with recording_signals():
        callback.on_step_begin(None, state, control)
        callback.on_step_end(None, state, control)
        callback.on_save(None, state, control)  # a scheduled checkpoint: training goes on
        assert not control.should_save
        request_stop(signal.SIGINT)
        callback.on_step_end(None, state, control)
        assert control.should_save  # the Trainer saves checkpoint-7 next
        with pytest.raises(RunStopped, match=r"^SIGINT received: stopped sft training after step 7 \(saved as "):
            callback.on_save(None, state, control)
        with pytest.raises(RunStopped, match=r"^SIGINT received: stopped sft training before step 8;"):
            callback.on_step_begin(None, state, control)


def test_generation_stops_sending_and_keeps_the_chunks_it_finished(tmp_path: Path) -> None:
    requests = [ask(f"question {n}") for n in range(8)]

    def signal_on_the_fifth(body: dict) -> str:  # the signal lands while request 5 (chunk 2's first) is in flight
        if "question 4" in str(body):
            request_stop(signal.SIGTERM)  # a no-op on the rerun, outside `recording_signals`
        return echo_responder(body)

    with OpenAIStubServer(responder=signal_on_the_fifth) as server:
        config = LLMConfig(provider="openai", base_url=server.base_url, model="m", batch_size=1, max_concurrency=1)
        cached = CachedProvider(OpenAICompatibleProvider(config), config, tmp_path / "cache")
        assert cached.chunk_size == 4
        with recording_signals(), pytest.raises(RunStopped) as stopped:
            cached.generate(requests)
        assert server.request_count == 5  # requests 6-8 were never sent
        assert str(stopped.value).startswith(f"SIGTERM received: stopped before sending a request to {server.base_url}")

        server.reset()
        rerun = CachedProvider(OpenAICompatibleProvider(config), config, tmp_path / "cache").generate(requests)
    assert [result.cached for result in rerun] == [True] * 4 + [False] * 4  # the first chunk was kept
    assert server.request_count == 4
    assert [result.text for result in rerun] == [echo_responder(request.model_dump()) for request in requests]


def test_a_second_signal_while_stopping_exits_at_once() -> None:
    script = (
        "import os, signal, time\n"
        "from llm_engineering.infrastructure.interruption import recording_signals, request_stop\n"
        "with recording_signals():\n"
        "    request_stop(signal.SIGTERM)  # the first signal: the run is stopping\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "    time.sleep(30)\n"
        "print('the orderly stop went on')\n"
    )
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 143 and time.monotonic() - started < 20
    assert result.stderr.strip() == "SIGTERM again: exiting at once" and result.stdout == ""
