"""A real loopback HTTP server speaking OpenAI's `POST /v1/chat/completions`, with scripted faults.

Answers are deterministic and derived from the prompt (`echo: <last user message>`, or a JSON object when
`response_format` asks for one), so tests assert on content. Faults are chosen per request by a marker
string in the prompt, so one batch can mix healthy and failing requests:

    with OpenAIStubServer() as server:
        server.script("flaky", Fault.rate_limited(retry_after=0.5), Fault.server_error())  # next 2 "flaky" requests
        server.always("broken", Fault.server_error())                                       # every "broken" request
        ... LLMConfig(provider="openai", base_url=server.base_url, ...)
        assert server.count("flaky") == 3

A server with slots plays a real inference server's capacity: `OpenAIStubServer(slots=1, service_s=0.1)` answers one
request at a time, each taking 0.1 s of its slot, and queues the others (llama.cpp's server with one slot), or with
`overflow="reject"` answers them 429 at once (a hosted API at its rate limit). Like llama.cpp and vLLM, it drops a
queued request whose client has gone (timed out) before a slot frees, and aborts one being served when its client
goes: `dropped` and `aborted` count them, `served` the answers.
"""

from __future__ import annotations

import json
import select
import socket
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
    kind: Literal["rate_limited", "server_error", "slow", "malformed", "truncated", "disconnect"]
    status: int = 500
    retry_after: float | None = None
    delay_s: float = 0.0
    body: str | None = None  # server_error: this body, as it is, instead of the OpenAI-style JSON error
    content_type: str = "text/plain; charset=utf-8"
    after_headers: bool = False  # disconnect: after the status line and headers (mid-response), not before

    @classmethod
    def rate_limited(cls, retry_after: float | None = 1.0) -> Fault:
        """429, with `Retry-After: <seconds>` (fractional allowed) unless retry_after is None."""
        return cls("rate_limited", status=429, retry_after=retry_after)

    @classmethod
    def server_error(cls, status: int = 500, body: str | None = None, content_type: str | None = None) -> Fault:
        """`status` with an OpenAI-style JSON error, or with `body` as it is (plain text unless content_type)."""
        return cls("server_error", status=status, body=body, content_type=content_type or cls.content_type)

    @classmethod
    def disconnect(cls, after_headers: bool = False) -> Fault:
        """The server closes the connection without answering (a crash, a proxy dropping it); `after_headers`: once
        the status line and headers are out, mid-response."""
        return cls("disconnect", status=200, after_headers=after_headers)

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

    def __init__(
        self,
        latency_s: float = 0.0,
        responder: Responder = echo_responder,
        slots: int | None = None,
        service_s: float = 0.0,
        overflow: Literal["queue", "reject"] = "queue",
        reject_status: int = 429,
    ):
        super().__init__()
        self.latency_s = latency_s  # added to every request: the benchmark's fixed model latency
        self.responder = responder
        self.slots = slots  # None: every request is served at once (after latency_s)
        self.service_s = service_s  # with slots: how long each answer holds its slot
        self.overflow = overflow
        self.reject_status = reject_status
        self._slots = _Slots(slots) if slots else None
        self.served = 0  # answers that went through a slot
        self.dropped = 0  # queued requests whose client went away before a slot freed
        self.aborted = 0  # requests whose client went away while their slot served them
        self.rejected = 0  # overflow="reject": answered reject_status because every slot was busy
        self.first_arrival: float | None = None  # time.monotonic() of the first request received
        self.last_served: float | None = None  # ... and of the end of the last answer's service
        self.services: list[tuple[float, float]] = []  # (arrival, end of service) of each answer, time.time()
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
            self.served = self.dropped = self.aborted = self.rejected = 0
            self.first_arrival = self.last_served = None
            self.services.clear()

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
            if self.first_arrival is None:
                self.first_arrival = time.monotonic()
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

    def _tally(self, counter: str) -> None:
        with self._lock:
            setattr(self, counter, getattr(self, counter) + 1)

    @property
    def served_per_s(self) -> float:
        """Answers a second from the first request's arrival to the end of the last service: how busy the client
        kept the slots (its own start-up, before the first request, not counted)."""
        if self.first_arrival is None or self.last_served is None:
            return 0.0
        return self.served / (self.last_served - self.first_arrival)

    def served_per_s_between(self, start: float, end: float) -> tuple[int, float]:
        """(answers, answers a second) of the requests that arrived between two time.time() moments (one pipeline
        step), from the first one's arrival to the end of the last one's service."""
        with self._lock:
            window = [(arrived, done) for arrived, done in self.services if start <= arrived <= end]
        if not window:
            return 0, 0.0
        span = max(done for _, done in window) - min(arrived for arrived, _ in window)
        return len(window), len(window) / span if span > 0 else 0.0

    @property
    def capacity_per_s(self) -> float:
        """Answers a second the slots can give at most: slots / service_s."""
        if not self.slots or not self.service_s:
            raise ValueError("a server without slots and a service time has no fixed capacity")
        return self.slots / self.service_s


class _Slots:
    """A server's slots, granted first come, first served (a FIFO queue, as llama.cpp's)."""

    def __init__(self, count: int):
        self._free = count
        self._waiting: deque[int] = deque()
        self._tickets = 0
        self._changed = threading.Condition()

    def acquire(self, wait: bool, client_gone: Callable[[], bool]) -> bool:
        """A slot, at once or in turn; False: none free (wait=False), or the client went away while queued."""
        with self._changed:
            if not wait:
                if self._free and not self._waiting:
                    self._free -= 1
                    return True
                return False
            ticket = self._tickets
            self._tickets += 1
            self._waiting.append(ticket)
            while not (self._free and self._waiting[0] == ticket):
                self._changed.wait(0.005)
                if client_gone():
                    self._waiting.remove(ticket)
                    self._changed.notify_all()
                    return False
            self._waiting.popleft()
            self._free -= 1
            return True

    def release(self) -> None:
        with self._changed:
            self._free += 1
            self._changed.notify_all()


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
        arrived = time.time()
        fault = stub._receive(body, self.headers.get("Authorization", ""))
        self._in_flight = True
        try:
            if stub.latency_s:
                time.sleep(stub.latency_s)
            if stub._slots is not None and not self._serve_in_a_slot(stub, arrived):
                return
            self._respond(stub, body, fault)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test): nothing to answer
        finally:
            self._leave_flight()

    def _serve_in_a_slot(self, stub: OpenAIStubServer, arrived: float) -> bool:
        """Wait for a slot (or reject), then hold it for service_s; False: nothing to answer (rejected, or the client
        went away while queued or served)."""
        slots = stub._slots
        assert slots is not None
        if not slots.acquire(wait=stub.overflow == "queue", client_gone=self._client_gone):
            if stub.overflow == "reject":
                stub._tally("rejected")
                message = f"server busy: all {stub.slots} slot(s) in use"
                self.send_json(stub.reject_status, {"error": {"message": message, "type": "server_busy"}})
            else:
                stub._tally("dropped")  # llama.cpp: "Disconnected from client ... before llm invoked"
                self.close_connection = True
            return False
        try:
            finished = time.monotonic() + stub.service_s
            while (left := finished - time.monotonic()) > 0:
                time.sleep(min(left, 0.005))
                if self._client_gone():
                    stub._tally("aborted")
                    self.close_connection = True
                    return False
            stub._tally("served")
            stub.last_served = time.monotonic()
            with stub._lock:
                stub.services.append((arrived, time.time()))
            return True
        finally:
            slots.release()

    def _client_gone(self) -> bool:
        """The client closed its end (a timeout): its socket reads as ended."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

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
            if fault.body is not None:
                self.send_bytes(fault.status, fault.body.encode(), fault.content_type)
            else:
                self.send_json(fault.status, {"error": {"message": "injected server error", "type": "server_error"}})
            return
        if fault is not None and fault.kind == "disconnect":
            if fault.after_headers:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "1000")
                self.end_headers()
                self.wfile.write(b'{"id": "chatcmpl-cut", "choi')
                self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
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
