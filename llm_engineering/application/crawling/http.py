"""HTTP(S) article URLs: robots.txt, per-host politeness, timeouts, size cap, content-type check,
bounded redirects, retries with backoff on transient errors. Every skipped URL is reported."""

from __future__ import annotations

import time
import urllib.robotparser
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx

from llm_engineering.application.crawling.html_extraction import html_metadata
from llm_engineering.domain.config.feature_engineering import HttpConfig, UrlSource
from llm_engineering.domain.documents import CrawlFailure, RawDocument, RawDocuments, content_hash


class FetchError(Exception):
    def __init__(self, reason: str, *, transient: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.transient = transient


class HttpCrawler:
    def __init__(self, config: HttpConfig, sleep: Callable[[float], None] = time.sleep):
        self.config = config
        self._sleep = sleep
        self._last_request: dict[str, float] = {}
        self._robots: dict[str, urllib.robotparser.RobotFileParser | None] = {}
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
        from tqdm.auto import tqdm

        result = RawDocuments()
        previous = previous or {}
        # Politeness delays make a long URL list slow by design: show where it stands.
        for url in tqdm([str(u) for u in source.urls], desc=f"crawling {source.name}", unit="url",
                        disable=len(source.urls) < 10):  # fmt: skip
            attempts = 0
            while True:
                attempts += 1
                try:
                    if not self.allowed_by_robots(url):
                        raise FetchError("disallowed by robots.txt")
                    document, not_modified = self.fetch(url, source.name, previous.get(url))
                    result.documents.append(document)
                    result.not_modified += not_modified
                    break
                except FetchError as exc:
                    if exc.transient and attempts <= self.config.retries:
                        self._sleep(self.config.backoff_s * 2 ** (attempts - 1))
                        continue
                    result.failures.append(
                        CrawlFailure(source=source.name, location=url, reason=exc.reason, attempts=attempts)
                    )
                    break
        return result

    # -- politeness ---------------------------------------------------------------------------
    def _wait_for_host(self, url: str) -> None:
        host = urlsplit(url).netloc
        delay = self.config.politeness_delay_s
        robots = self._robots.get(host)
        if robots is not None:
            delay = max(delay, float(robots.crawl_delay(self.config.user_agent) or 0))
        last = self._last_request.get(host)
        if last is not None:
            remaining = last + delay - time.monotonic()
            if remaining > 0:
                self._sleep(remaining)
        self._last_request[host] = time.monotonic()

    def allowed_by_robots(self, url: str) -> bool:
        if not self.config.respect_robots_txt:
            return True
        parts = urlsplit(url)
        if parts.netloc not in self._robots:
            self._robots[parts.netloc] = self._load_robots(f"{parts.scheme}://{parts.netloc}/robots.txt")
        robots = self._robots[parts.netloc]
        return True if robots is None else robots.can_fetch(self.config.user_agent, url)

    def _load_robots(self, robots_url: str) -> urllib.robotparser.RobotFileParser | None:
        """RFC 9309: a 4xx robots.txt allows everything; an unreachable or 5xx one disallows all."""
        parser = urllib.robotparser.RobotFileParser(robots_url)
        self._wait_for_host(robots_url)
        try:
            response = self._client.get(robots_url)
        except httpx.HTTPError:
            parser.disallow_all = True
            return parser
        if 400 <= response.status_code < 500:
            return None
        if response.status_code >= 500:
            parser.disallow_all = True
            return parser
        parser.parse(response.text.splitlines())
        return parser

    # -- fetching -----------------------------------------------------------------------------
    def fetch(self, url: str, source: str, previous: RawDocument | None = None) -> tuple[RawDocument, bool]:
        """(the document, whether the server said it is unchanged since `previous`)."""
        self._wait_for_host(url)
        headers = {}
        if previous is not None and previous.etag:
            headers["If-None-Match"] = previous.etag
        if previous is not None and previous.last_modified:
            headers["If-Modified-Since"] = previous.last_modified
        try:
            with self._client.stream("GET", url, headers=headers) as response:
                if response.status_code == 304 and previous is not None:
                    return previous.model_copy(update={"fetched_at": datetime.now(UTC)}), True
                self._check_status(response)
                media_type, charset = _content_type(response.headers.get("content-type", ""))
                if media_type not in self.config.allowed_content_types:
                    raise FetchError(f"unsupported content type {media_type or 'missing'!r}")
                body = self._read_capped(response)
                final_url = str(response.url)
                etag, last_modified = response.headers.get("etag"), response.headers.get("last-modified")
        except httpx.TooManyRedirects as exc:
            raise FetchError(f"too many redirects (limit {self.config.max_redirects}): {exc}") from exc
        except httpx.TimeoutException as exc:
            raise FetchError(f"timed out after {self.config.timeout_s}s", transient=True) from exc
        except httpx.TransportError as exc:
            raise FetchError(f"connection failed: {exc}", transient=True) from exc
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

    def _read_capped(self, response: httpx.Response) -> bytes:
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.config.max_bytes:
            raise FetchError(f"too large ({declared} bytes > {self.config.max_bytes})")
        body = bytearray()
        for piece in response.iter_bytes():
            body.extend(piece)
            if len(body) > self.config.max_bytes:
                raise FetchError(f"too large (over {self.config.max_bytes} bytes)")
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
