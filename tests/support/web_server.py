"""A real HTTP server on 127.0.0.1 for crawler tests: pages, robots.txt and every failure we handle."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ARTICLE = """<html><head><title>{title}</title><meta name="author" content="Ada Tester"></head>
<body><nav><a href="/">Home</a> | <a href="/blog">Blog</a></nav>
<article><h1>{title}</h1>
<p>{body} Read the docs at https://qdrant.tech/documentation/ for details; it covers payloads (filters, indexes).</p>
<p>Chunking decides what the retriever can find. We split on paragraphs first, then sentences, and keep
code intact so that examples stay runnable.</p>
<pre><code>def chunk(text, size=200):
    return [text[i:i + size] for i in range(0, len(text), size)]
</code></pre>
<p>Questions? Write to crawler.test@example.org and we will answer.</p>
</article>
<footer><p>Subscribe to our newsletter</p><p>© 2026 Test Blog. All rights reserved.</p></footer>
</body></html>"""

PAGES = {
    "/articles/embeddings.html": ARTICLE.format(title="Embeddings on a budget", body="Small embedders are fast."),
    "/articles/vector-stores.html": ARTICLE.format(title="Vector stores compared", body="Qdrant runs embedded."),
    "/private/secret.html": ARTICLE.format(title="Private", body="Robots say no."),
}
ROBOTS = "User-agent: *\nDisallow: /private/\n"
DRIP_PAGE = "<html><body>drip</body></html>"  # 30 bytes, served one a second at /drip


class Handler(BaseHTTPRequestHandler):
    server_version = "TestServer/1.0"
    slow_seconds = 3.0
    drip_seconds = 1.0  # /drip: one body byte every this many seconds, the first after half of it
    requests: list[str] = []
    pages: dict[str, tuple[str, str]] = {}  # path -> (html, ETag), set per server with Site.set_page
    robots: tuple[int, str, float] = (200, ROBOTS, 0.0)  # status, body, delay of the first answer: set_robots

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass

    def _send(self, status: int, body: bytes, content_type: str = "text/html; charset=utf-8", **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in headers.items():
            self.send_header(key.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        type(self).requests.append(self.path)
        if self.path == "/robots.txt":
            status, body, first_delay = self.robots
            if first_delay and type(self).requests.count("/robots.txt") == 1:
                time.sleep(first_delay)
            self._send(status, body.encode(), "text/plain")
        elif self.path in self.pages:
            body, etag = self.pages[self.path]
            if self.headers.get("If-None-Match") == etag:
                self._send(304, b"", ETag=etag)  # conditional GET: the scheduler's cheap change check
            else:
                self._send(200, body.encode("utf-8"), ETag=etag)
        elif self.path in PAGES:
            self._send(200, PAGES[self.path].encode("utf-8"), ETag='"v1"')
        elif self.path == "/moved":
            self._send(301, b"", Location="/articles/embeddings.html")
        elif self.path == "/loop":
            self._send(302, b"", Location="/loop")
        elif self.path == "/slow":
            time.sleep(self.slow_seconds)
            self._send(200, b"<html><body>late</body></html>")
        elif self.path == "/drip":
            # Headers at once, then the body one byte at a time: every read is quick, the page never is.
            body = DRIP_PAGE.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.flush()
            time.sleep(self.drip_seconds / 2)
            for index in range(len(body)):
                self.wfile.write(body[index : index + 1])
                self.wfile.flush()
                time.sleep(self.drip_seconds)
        elif self.path == "/latin1":
            self._send(200, "<html><body>Caf\u00e9 cr\u00e8me</body></html>".encode("latin-1"), "text/html")
        elif self.path == "/binary":
            self._send(200, bytes(range(256)) * 4, "application/octet-stream")
        elif self.path == "/huge":
            self._send(200, b"<html><body>" + b"x" * 300_000 + b"</body></html>")
        elif self.path == "/flaky":
            # Fails once per server, then succeeds: shows that 5xx is retried.
            if "/flaky" in type(self).requests[:-1]:
                self._send(200, PAGES["/articles/vector-stores.html"].replace("Vector stores", "Flaky page").encode())
            else:
                self._send(503, b"try again")
        else:
            self._send(404, b"not found")


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients that time out close the socket early; that is the point of the test


class Site:
    def __init__(self, url: str, handler: type[Handler]):
        self.url = url
        self.handler = handler

    @property
    def requests(self) -> list[str]:
        return self.handler.requests

    def set_page(self, path: str, html: str, etag: str) -> None:
        """Serve (or replace) a page; conditional GETs with a matching If-None-Match get a 304."""
        self.handler.pages[path] = (html, etag)

    def set_robots(self, status: int = 200, body: str = ROBOTS, first_delay_s: float = 0.0) -> None:
        """Answer /robots.txt with `status` and `body`; the first answer waits `first_delay_s` (a timeout)."""
        self.handler.robots = (status, body, first_delay_s)


@contextmanager
def serve() -> Iterator[Site]:
    handler = type("TestHandler", (Handler,), {"requests": [], "pages": {}})
    server = QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Site(f"http://127.0.0.1:{server.server_address[1]}", handler)
    finally:
        server.shutdown()
        server.server_close()
