"""The lifecycle the loopback stubs share: a threaded HTTP server on 127.0.0.1, port chosen by the OS,
serving in a daemon thread, started and stopped as a context manager. Subclasses name their handler and
server classes; the handler reaches the stub through `self.server.stub`."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar, Self


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
