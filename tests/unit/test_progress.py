"""Progress that counts work as it finishes: LLM requests one by one (the local model's batches: test_llm_local.py),
with a time left that ignores what the cache answered, and no bar redraws when the output is piped or captured."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

from llm_engineering.domain.config.llm import LLMConfig
from llm_engineering.infrastructure.llm import ChatRequest, build_provider
from llm_engineering.infrastructure.progress import Progress
from tests.conftest import PROJECT_ROOT
from tests.support.openai_server import OpenAIStubServer


def ask(text: str) -> ChatRequest:
    return ChatRequest(messages=[{"role": "user", "content": text}], key=text)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_piped_progress_prints_a_line_at_most_every_interval_and_its_time_left_ignores_the_cached_part() -> None:
    lines: list[str] = []
    clock = Clock()
    progress = Progress(10, "generating (stub)", "request", done=4, done_as="from the cache", interval_s=30,
                        out=lines.append, clock=clock)  # fmt: skip
    clock.now = 10.0
    progress.update(1)  # the first answer: a line at once
    clock.now = 20.0
    progress.update(1)  # within 30 s of the last line: none
    clock.now = 45.0
    progress.update(1)
    clock.now = 60.0
    progress.update(3)
    progress.close()
    progress.close()  # once
    assert lines == [
        # 10 s for the one request answered here (not 10 s / 5): 5 left, about 50 s.
        "generating (stub): 5/10 requests (50%), 10.0 s/request, about 50s left",
        "generating (stub): 7/10 requests (70%), 15.0 s/request, about 45s left",
        "generating (stub): 10/10 requests in 1m00s (10.0 s/request; 4 from the cache)",
    ]
    silent: list[str] = []
    with Progress(3, "off", "request", enabled=False, out=silent.append) as off:
        off.update(3)
    assert silent == []


def test_requests_to_a_server_are_counted_one_by_one_as_they_finish_and_cache_hits_at_once(tmp_path: Path) -> None:
    with OpenAIStubServer(latency_s=0.3) as server:
        config = LLMConfig(provider="openai", base_url=server.base_url, model="stub", max_concurrency=2,
                           cache_dir=tmp_path / "cache")  # fmt: skip
        provider = build_provider(config)  # the response cache around the server: one chunk of 6 misses
        counts: list[tuple[float, int]] = []
        provider.generate([ask(f"q{i}") for i in range(6)], progress=lambda n: counts.append((time.monotonic(), n)))
        assert [n for _, n in counts] == [1] * 6
        # Two at a time, 0.3 s each (three rounds): counted as they finish, not all at once when the chunk is done.
        assert counts[-1][0] - counts[0][0] >= 0.45
        again: list[int] = []
        provider.generate([ask(f"q{i}") for i in range(6)] + [ask("q0")], progress=again.append)
    assert again == [7]  # all from the cache (a repeated prompt too)


def test_on_a_terminal_the_bar_is_drawn_there_and_stdout_gets_one_line(tmp_path: Path) -> None:
    """The bar goes to the terminal itself, not through sys.stderr (which ZenML stores, line by line, as ERROR)."""
    script = (
        "import sys\n"
        "from llm_engineering.infrastructure.progress import Progress\n"
        "writes = []\n"
        "original = sys.stderr.write\n"
        "sys.stderr.write = lambda text: (writes.append(text), original(text))[1]\n"  # what ZenML does
        "with Progress(3, 'training sft', 'step') as progress:\n"
        "    for _ in range(3):\n"
        "        progress.update(1)\n"
        "print('stderr writes:', len(writes))\n"
    )
    parent, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a terminal 100 columns wide
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=child, text=True,
                               cwd=PROJECT_ROOT)  # fmt: skip
    os.close(child)
    drawn: list[bytes] = []

    def read_terminal() -> None:
        while True:
            try:
                chunk = os.read(parent, 4096)
            except OSError:  # the child closed the terminal
                return
            if not chunk:
                return
            drawn.append(chunk)

    reader = threading.Thread(target=read_terminal)
    reader.start()
    stdout, _ = process.communicate(timeout=60)
    reader.join(timeout=10)
    os.close(parent)
    terminal = b"".join(drawn)
    assert process.returncode == 0
    assert b"training sft:" in terminal and b"/3 [" in terminal and b"step" in terminal  # tqdm's bar
    lines = stdout.splitlines()
    assert lines[0].startswith("training sft: 3/3 steps in ") and lines[1:] == ["stderr writes: 0"]
