"""HTTP(S) article URLs: robots.txt, per-host politeness, an overall deadline per request, size cap,
content-type check, bounded redirects, retries with backoff on transient errors. Every skipped URL is
reported with its real cause."""

from __future__ import annotations

import time
import urllib.robotparser
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx

from llm_engineering.application.crawling.html_extraction import html_metadata
from llm_engineering.domain.config.feature_engineering import HttpConfig, UrlSource
from llm_engineering.domain.documents import CrawlFailure, RawDocument, RawDocuments, content_hash
from llm_engineering.infrastructure.progress import Progress

ROBOTS_MAX_BYTES = 500 * 1024  # RFC 9309 section 2.5: parse at least the first 500 KiB, ignore the rest


class FetchError(Exception):
    def __init__(self, reason: str, *, transient: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.transient = transient


class _Deadline:
    """One request's overall budget: connecting, the headers and the whole body must arrive within it.
    httpx's timeouts apply to each read on its own, so a server that drips a byte at a time never
    trips them; the crawler checks this clock between pieces instead."""

    def __init__(self, seconds: float):
        self.ends_at = time.monotonic() + seconds

    def remaining(self) -> float:
        return self.ends_at - time.monotonic()

    def passed(self) -> bool:
        return self.remaining() <= 0

    def timeout(self) -> httpx.Timeout:
        return httpx.Timeout(max(self.remaining(), 0.001))


@dataclass(frozen=True)
class _RobotsPolicy:
    """What one host's robots.txt decided, cached for the crawl. Transport failures are never cached."""

    parser: urllib.robotparser.RobotFileParser | None = None  # None: no rules, everything is allowed
    refusal: str | None = None  # set when the whole site is off limits (a 5xx robots.txt)


class HttpCrawler:
    def __init__(self, config: HttpConfig, sleep: Callable[[float], None] = time.sleep):
        self.config = config
        self._sleep = sleep
        self._last_request: dict[str, float] = {}
        self._robots: dict[str, _RobotsPolicy] = {}
        self._client = httpx.Client(
            follow_redirects=True,
            max_redirects=config.max_redirects,
            timeout=httpx.Timeout(config.timeout_s),
            headers={"User-Agent": config.user_agent},
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpCrawler:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def crawl(self, source: UrlSource, previous: dict[str, RawDocument] | None = None) -> RawDocuments:
        """`previous`: the last crawl's documents by URL; with an ETag or Last-Modified they are
        re-fetched conditionally, and a 304 reuses the document without downloading it again."""
        result = RawDocuments()
        previous = previous or {}
        urls = [str(u) for u in source.urls]
        # Politeness delays make a long URL list slow by design: show where it stands (not a bare tqdm on stderr,
        # which ZenML files at ERROR level).
        with Progress(len(urls), f"crawling {source.name}", "url", enabled=len(urls) >= 10) as progress:
            for url in urls:
                self._crawl_one(url, source, previous, result)
                progress.update()
        return result

    def _crawl_one(self, url: str, source: UrlSource, previous: dict[str, RawDocument], result: RawDocuments) -> None:
        attempts = 0
        while True:
            attempts += 1
            try:
                refusal = self.robots_refusal(url)
                if refusal is not None:
                    raise FetchError(refusal)
                document, not_modified = self.fetch(url, source.name, previous.get(url))
                result.documents.append(document)
                result.not_modified += not_modified
                return
            except FetchError as exc:
                if exc.transient and attempts <= self.config.retries:
                    self._sleep(self.config.backoff_s * 2 ** (attempts - 1))
                    continue
                result.failures.append(
                    CrawlFailure(source=source.name, location=url, reason=exc.reason, attempts=attempts)
                )
                return

    # -- politeness ---------------------------------------------------------------------------
    def _wait_for_host(self, url: str) -> None:
        host = urlsplit(url).netloc
        delay = self.config.politeness_delay_s
        robots = self._robots.get(host)
        if robots is not None and robots.parser is not None:
            delay = max(delay, float(robots.parser.crawl_delay(self.config.user_agent) or 0))
        last = self._last_request.get(host)
        if last is not None:
            remaining = last + delay - time.monotonic()
            if remaining > 0:
                self._sleep(remaining)
        self._last_request[host] = time.monotonic()

    def robots_refusal(self, url: str) -> str | None:
        """Why robots.txt forbids `url`, or None when it may be fetched. Raises a transient FetchError
        (with the real cause, and nothing cached) when robots.txt itself cannot be fetched."""
        if not self.config.respect_robots_txt:
            return None
        parts = urlsplit(url)
        if parts.netloc not in self._robots:
            self._robots[parts.netloc] = self._load_robots(f"{parts.scheme}://{parts.netloc}/robots.txt")
        robots = self._robots[parts.netloc]
        if robots.refusal is not None:
            return robots.refusal
        if robots.parser is not None and not robots.parser.can_fetch(self.config.user_agent, url):
            return "disallowed by robots.txt"
        return None

    def _load_robots(self, robots_url: str) -> _RobotsPolicy:
        """RFC 9309: a 4xx robots.txt (or one behind too many redirects) allows everything; a 5xx one
        disallows everything. A connection failure or timeout is not an answer: it raises."""
        self._wait_for_host(robots_url)
        try:
            with self._request(robots_url) as (response, deadline):
                status = response.status_code
                if 400 <= status < 500:
                    return _RobotsPolicy()
                if status >= 500:
                    return _RobotsPolicy(
                        refusal=f"robots.txt answered HTTP {status}: "
                        "the site disallows crawling until it recovers (RFC 9309)"
                    )
                body = self._read_body(response, deadline, ROBOTS_MAX_BYTES, truncate=True)
        except httpx.TooManyRedirects:
            return _RobotsPolicy()  # RFC 9309 section 2.3.1.2: may be treated as unavailable
        except httpx.DecodingError as exc:
            return _RobotsPolicy(refusal=f"robots.txt could not be decoded ({exc}): nothing is allowed")
        parser = urllib.robotparser.RobotFileParser(robots_url)
        parser.parse(body.decode("utf-8", errors="replace").splitlines())
        return _RobotsPolicy(parser=parser)

    # -- fetching -----------------------------------------------------------------------------
    @contextmanager
    def _request(self, url: str, headers: dict[str, str] | None = None) -> Iterator[tuple[httpx.Response, _Deadline]]:
        """A streamed GET under one deadline of `timeout_s`; timeouts and transport errors, while
        connecting or while the caller reads the body, become transient FetchErrors."""
        deadline = _Deadline(self.config.timeout_s)
        response: httpx.Response | None = None
        try:
            with self._client.stream("GET", url, headers=headers, timeout=deadline.timeout()) as response:
                if deadline.passed():
                    raise self._timed_out(None)  # connecting and the headers used the whole budget
                # Best effort: httpcore reads the body's per-read timeout from the request's timeout
                # extension when the body starts, so a stalled body cannot wait a full timeout_s more.
                # The clock check in _read_body is the guarantee either way.
                timeouts = response.request.extensions.get("timeout")
                if isinstance(timeouts, dict):
                    timeouts["read"] = max(deadline.remaining(), 0.001)
                yield response, deadline
        except httpx.TimeoutException as exc:
            raise self._timed_out(response) from exc
        except httpx.TransportError as exc:
            raise FetchError(f"connection failed: {exc}", transient=True) from exc

    def _timed_out(self, response: httpx.Response | None) -> FetchError:
        """No response headers in time: "timed out after 3.0s"; headers but not the whole body:
        "timed out after 3.0s: body incomplete (read 12 of 400 bytes)" ("of ?" without a Content-Length)."""
        reason = f"timed out after {self.config.timeout_s}s"
        if response is not None:
            declared = response.headers.get("content-length", "")
            total = declared if declared.isdigit() else "?"
            reason += f": body incomplete (read {response.num_bytes_downloaded} of {total} bytes)"
        return FetchError(reason, transient=True)

    def fetch(self, url: str, source: str, previous: RawDocument | None = None) -> tuple[RawDocument, bool]:
        """(the document, whether the server said it is unchanged since `previous`)."""
        self._wait_for_host(url)
        headers = {}
        if previous is not None and previous.etag:
            headers["If-None-Match"] = previous.etag
        if previous is not None and previous.last_modified:
            headers["If-Modified-Since"] = previous.last_modified
        try:
            with self._request(url, headers) as (response, deadline):
                if response.status_code == 304 and previous is not None:
                    return previous.model_copy(update={"fetched_at": datetime.now(UTC)}), True
                self._check_status(response)
                media_type, charset = _content_type(response.headers.get("content-type", ""))
                if media_type not in self.config.allowed_content_types:
                    raise FetchError(f"unsupported content type {media_type or 'missing'!r}")
                declared = response.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > self.config.max_bytes:
                    raise FetchError(f"too large ({declared} bytes > {self.config.max_bytes})")
                body = self._read_body(response, deadline, self.config.max_bytes)
                final_url = str(response.url)
                etag, last_modified = response.headers.get("etag"), response.headers.get("last-modified")
        except httpx.TooManyRedirects as exc:
            raise FetchError(f"too many redirects (limit {self.config.max_redirects}): {exc}") from exc
        except httpx.DecodingError as exc:
            raise FetchError(f"undecodable content encoding: {exc}") from exc
        text = _decode(body, charset)
        document_format = {"text/plain": "text", "text/markdown": "markdown"}.get(media_type, "html")
        title, author = html_metadata(text) if document_format == "html" else (None, None)
        document = RawDocument(
            source=source,
            kind="url",
            location=final_url,
            title=title,
            author=author,
            fetched_at=datetime.now(UTC),
            format=document_format,
            content=text,
            content_hash=content_hash(text),
            etag=etag,
            last_modified=last_modified,
        )
        return document, False

    @staticmethod
    def _check_status(response: httpx.Response) -> None:
        status = response.status_code
        if status == 429 or status >= 500:
            raise FetchError(f"HTTP {status}", transient=True)
        if status >= 400:
            raise FetchError(f"HTTP {status}")

    def _read_body(self, response: httpx.Response, deadline: _Deadline, limit: int, *, truncate: bool = False) -> bytes:
        """The whole body, or a FetchError once the deadline passes (a piece that arrives late counts
        as missed, so the overshoot is at most one gap between reads). Over `limit` bytes: an error,
        or with `truncate` the first `limit` bytes."""
        body = bytearray()
        for piece in response.iter_bytes():
            if deadline.passed():
                raise self._timed_out(response)
            body.extend(piece)
            if len(body) > limit:
                if truncate:
                    return bytes(body[:limit])
                raise FetchError(f"too large (over {limit} bytes)")
        if deadline.passed():  # the end of a body without Content-Length is the server closing
            raise self._timed_out(response)
        return bytes(body)


def _content_type(header: str) -> tuple[str, str | None]:
    media_type, _, params = header.partition(";")
    charset = None
    for param in params.split(";"):
        key, _, value = param.strip().partition("=")
        if key.lower() == "charset" and value:
            charset = value.strip("\"' ").lower()
    return media_type.strip().lower(), charset


def _decode(body: bytes, charset: str | None) -> str:
    if b"\x00" in body[:8192]:
        raise FetchError("binary content")
    encoding = charset or "utf-8"
    try:
        return body.decode(encoding)
    except LookupError as exc:
        raise FetchError(f"unknown charset {encoding!r}") from exc
    except UnicodeDecodeError as exc:
        raise FetchError(f"not valid {encoding} ({exc.reason} at byte {exc.start})") from exc
