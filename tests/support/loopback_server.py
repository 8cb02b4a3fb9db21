"""What the loopback stubs share: a threaded HTTP server on 127.0.0.1, port chosen by the OS, serving in a
daemon thread, started and stopped as a context manager, and a keep-alive handler that answers JSON or bytes.
Subclasses name their handler and server classes; the handler reaches the stub through `self.server.stub`."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Self


class StubHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers do
    # Headers and body go out in two writes; with Nagle on, the body waits ~40 ms for the client's delayed ACK.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        pass

    def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None, head: bool = False) -> None:
        self.send_bytes(status, json.dumps(payload).encode(), "application/json", headers, head)

    def send_bytes(
        self, status: int, data: bytes, content_type: str, headers: dict[str, str] | None = None, head: bool = False
    ) -> None:
        """One whole response; `head`: headers only (the answer to a HEAD request)."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.before_body()
        if not head:
            self.wfile.write(data)

    def before_body(self) -> None:
        """Called once the headers are out and the body is next."""


class LoopbackServer:
    handler_class: ClassVar[type[BaseHTTPRequestHandler]]
    server_class: ClassVar[type[ThreadingHTTPServer]] = ThreadingHTTPServer

    def __init__(self) -> None:
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def origin(self) -> str:
        """http://127.0.0.1:<port> of the running server."""
        if self._httpd is None:
            raise RuntimeError("server not started")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> Self:
        httpd = self.server_class(("127.0.0.1", 0), self.handler_class)  # port 0: the OS picks a free one
        httpd.stub = self  # type: ignore[attr-defined]
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
