"""A real loopback HTTP server speaking OpenAI's `POST /v1/chat/completions`, with scripted faults.

Answers are deterministic and derived from the prompt (`echo: <last user message>`, or a JSON object when
`response_format` asks for one), so tests assert on content. Faults are chosen per request by a marker
string in the prompt, so one batch can mix healthy and failing requests:

    with OpenAIStubServer() as server:
        server.script("flaky", Fault.rate_limited(retry_after=0.5), Fault.server_error())  # next 2 "flaky" requests
        server.always("broken", Fault.server_error())                                       # every "broken" request
        ... LLMConfig(provider="openai", base_url=server.base_url, ...)
        assert server.count("flaky") == 3
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from typing import Any, Literal

from tests.support.loopback_server import LoopbackServer, StubHandler

Responder = Callable[[dict[str, Any]], str]


@dataclass(frozen=True)
class Fault:
    kind: Literal["rate_limited", "server_error", "slow", "malformed", "truncated"]
    status: int = 500
    retry_after: float | None = None
    delay_s: float = 0.0

    @classmethod
    def rate_limited(cls, retry_after: float | None = 1.0) -> Fault:
        """429, with `Retry-After: <seconds>` (fractional allowed) unless retry_after is None."""
        return cls("rate_limited", status=429, retry_after=retry_after)

    @classmethod
    def server_error(cls, status: int = 500) -> Fault:
        return cls("server_error", status=status)

    @classmethod
    def slow(cls, delay_s: float) -> Fault:
        """Answers correctly, but only after delay_s: longer than the client's timeout, it is a timeout."""
        return cls("slow", delay_s=delay_s)

    @classmethod
    def truncated(cls) -> Fault:
        """Answers, with `finish_reason: "length"`: the answer ran out of max_tokens and is cut off."""
        return cls("truncated", status=200)

    @classmethod
    def malformed(cls) -> Fault:
        """200 with `Content-Type: application/json` and a body that is not JSON."""
        return cls("malformed", status=200)


def prompt_text(body: dict[str, Any]) -> str:
    return "\n".join(str(message.get("content", "")) for message in body.get("messages", []))


def last_user_message(body: dict[str, Any]) -> str:
    users = [m for m in body.get("messages", []) if m.get("role") == "user"]
    return str(users[-1].get("content", "")) if users else ""


def echo_responder(body: dict[str, Any]) -> str:
    """The default answer: an echo, or a JSON object when response_format requests one."""
    text = last_user_message(body)
    response_format = body.get("response_format") or {}
    if response_format.get("type") == "json_object":
        return json.dumps({"echo": text})
    if response_format.get("type") == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema") or {}
        return json.dumps(_instance_of(schema, text))
    return f"echo: {text}"


def _instance_of(schema: dict[str, Any], text: str) -> Any:
    """A value that satisfies simple JSON schemas (objects, arrays, scalars), filled from the prompt."""
    kind = schema.get("type", "object")
    if kind == "object":
        return {name: _instance_of(sub, text) for name, sub in (schema.get("properties") or {}).items()}
    if kind == "array":
        return [_instance_of(schema.get("items") or {"type": "string"}, text)]
    if kind == "integer":
        return len(text.split())
    if kind == "number":
        return float(len(text.split()))
    if kind == "boolean":
        return True
    return f"echo: {text}"


class OpenAIStubServer(LoopbackServer):
    """Start with `with` (or start()/stop()); `base_url` ends in /v1, as the openai client expects."""

    def __init__(self, latency_s: float = 0.0, responder: Responder = echo_responder):
        super().__init__()
        self.latency_s = latency_s  # added to every request: the benchmark's fixed model latency
        self.responder = responder
        self.requests: list[dict[str, Any]] = []  # every body received, faulty or not, in arrival order
        self.authorizations: list[str] = []  # the Authorization header of each request, same order
        self.max_in_flight = 0
        self._in_flight = 0
        self._scripted: dict[str, deque[Fault]] = {}
        self._always: dict[str, Fault] = {}
        self._lock = threading.Lock()

    # -- control -------------------------------------------------------------------------------------
    def script(self, marker: str, *faults: Fault) -> None:
        """The next len(faults) requests whose prompt contains marker get these faults, in order; then answers."""
        with self._lock:
            self._scripted.setdefault(marker, deque()).extend(faults)

    def always(self, marker: str, fault: Fault) -> None:
        with self._lock:
            self._always[marker] = fault

    def reset(self) -> None:
        """Forget faults and counts (the latency and responder stay)."""
        with self._lock:
            self._scripted.clear()
            self._always.clear()
            self.requests.clear()
            self.authorizations.clear()
            self.max_in_flight = 0

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self.requests)

    def count(self, marker: str) -> int:
        """Requests received whose prompt contains marker (retries included)."""
        with self._lock:
            return sum(marker in prompt_text(body) for body in self.requests)

    @property
    def base_url(self) -> str:
        return self.origin + "/v1"

    # -- used by the handler -------------------------------------------------------------------------
    def _receive(self, body: dict[str, Any], authorization: str) -> Fault | None:
        text = prompt_text(body)
        with self._lock:
            self.requests.append(body)
            self.authorizations.append(authorization)
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            for marker, queue in self._scripted.items():
                if marker in text and queue:
                    return queue.popleft()
            for marker, fault in self._always.items():
                if marker in text:
                    return fault
        return None

    def _done(self) -> None:
        with self._lock:
            self._in_flight -= 1


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True  # a handler still sleeping in a "slow" fault must not block shutdown
    block_on_close = False
    request_queue_size = 256  # the default backlog of 5 stalls bursts of concurrent connections
    stub: OpenAIStubServer


class _Handler(StubHandler):
    server: _HTTPServer
    _in_flight = False  # this request is counted in the stub's in-flight gauge

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's naming
        if self.path.rstrip("/").endswith("/models"):
            self.send_json(200, {"object": "list", "data": [{"id": "stub", "object": "model", "owned_by": "tests"}]})
        else:
            self.send_json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})

    def do_POST(self) -> None:  # noqa: N802
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self.send_json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
            return
        try:
            body = json.loads(raw)
        except ValueError:
            self.send_json(400, {"error": {"message": "request body is not JSON", "type": "invalid_request_error"}})
            return
        stub = self.server.stub
        fault = stub._receive(body, self.headers.get("Authorization", ""))
        self._in_flight = True
        try:
            if stub.latency_s:
                time.sleep(stub.latency_s)
            self._respond(stub, body, fault)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test): nothing to answer
        finally:
            self._leave_flight()

    def before_body(self) -> None:
        # Out of flight before the body leaves: a client that has its answer (and sends its next request at once)
        # must never find this one still counted, or max_in_flight would read one over the client's real bound.
        self._leave_flight()

    def _leave_flight(self) -> None:
        if self._in_flight:
            self._in_flight = False
            self.server.stub._done()

    def _respond(self, stub: OpenAIStubServer, body: dict[str, Any], fault: Fault | None) -> None:
        if fault is not None and fault.kind == "rate_limited":
            headers = {} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after:g}"}
            self.send_json(429, {"error": {"message": "rate limited", "type": "rate_limit_error"}}, headers)
            return
        if fault is not None and fault.kind == "server_error":
            self.send_json(fault.status, {"error": {"message": "injected server error", "type": "server_error"}})
            return
        if fault is not None and fault.kind == "malformed":
            self.send_bytes(200, b'{"id": "chatcmpl-broken", "choices": [', "application/json")
            return
        if fault is not None and fault.kind == "slow":
            time.sleep(fault.delay_s)
        content = stub.responder(body)
        prompt_tokens = len(prompt_text(body).split())
        completion_tokens = len(content.split())
        self.send_json(
            200,
            {
                "id": f"chatcmpl-{len(stub.requests)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "stub"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "length" if fault is not None and fault.kind == "truncated" else "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            },
        )


# The stub's handler and server classes are defined below the stub itself.
OpenAIStubServer.handler_class = _Handler
OpenAIStubServer.server_class = _HTTPServer
