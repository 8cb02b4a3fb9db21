from llm_engineering.application.crawling.http import HttpCrawler
from llm_engineering.domain.config.feature_engineering import HttpConfig, UrlSource
from tests.support.web_server import serve

FAST = HttpConfig(timeout_s=1.0, max_bytes=100_000, politeness_delay_s=0, retries=1, backoff_s=0.01, max_redirects=3)


def crawl(site_url: str, *paths: str, config: HttpConfig = FAST):
    source = UrlSource(name="web", urls=[f"{site_url}{p}" for p in paths])
    with HttpCrawler(config) as crawler:
        return crawler.crawl(source)


def test_fetches_pages_with_metadata_and_follows_redirects():
    with serve() as site:
        result = crawl(site.url, "/articles/embeddings.html", "/moved")
    assert not result.failures
    first, moved = result.documents
    assert first.title == "Embeddings on a budget"
    assert first.author == "Ada Tester"
    assert first.kind == "url" and first.format == "html"
    assert "<pre><code>def chunk" in first.content
    assert moved.location == f"{site.url}/articles/embeddings.html"  # the final URL after the redirect
    assert moved.content_hash == first.content_hash


def test_every_failure_is_reported_with_its_reason():
    with serve() as site:
        result = crawl(site.url, "/missing", "/loop", "/slow", "/latin1", "/binary", "/huge", "/private/secret.html")
    reasons = {f.location.removeprefix(site.url): f.reason for f in result.failures}
    assert reasons["/missing"] == "HTTP 404"
    assert reasons["/loop"].startswith("too many redirects (limit 3)")
    assert reasons["/slow"] == "timed out after 1.0s"
    assert reasons["/latin1"].startswith("not valid utf-8")
    assert reasons["/binary"] == "unsupported content type 'application/octet-stream'"
    assert reasons["/huge"].startswith("too large")
    assert reasons["/private/secret.html"] == "disallowed by robots.txt"
    assert not result.documents
    attempts = {f.location.removeprefix(site.url): f.attempts for f in result.failures}
    assert attempts["/slow"] == 2 and attempts["/missing"] == 1  # timeouts are retried, 404s are not
    assert "/private/secret.html" not in site.requests  # robots.txt is respected before fetching


def test_transient_errors_are_retried_until_success():
    with serve() as site:
        result = crawl(site.url, "/flaky")
    assert [d.title for d in result.documents] == ["Flaky page compared"]
    assert site.requests.count("/flaky") == 2


def test_politeness_delay_spaces_requests_to_one_host():
    import time

    config = FAST.model_copy(update={"politeness_delay_s": 0.3})
    with serve() as site:
        start = time.monotonic()
        crawl(site.url, "/articles/embeddings.html", "/articles/vector-stores.html", config=config)
        elapsed = time.monotonic() - start
    # robots.txt, then two pages: two waits of 0.3 s between three requests to the same host
    assert elapsed >= 0.6


def test_a_recrawl_is_conditional_and_a_304_reuses_the_document():
    with serve() as site:
        site.set_page(
            "/news.html", "<html><body><article><p>First version of the news.</p></article></body></html>", '"a"'
        )
        first = crawl(site.url, "/news.html", "/articles/embeddings.html")
        assert [d.etag for d in first.documents] == ['"a"', '"v1"']
        previous = {d.location: d for d in first.documents}
        source = UrlSource(name="web", urls=[f"{site.url}/news.html", f"{site.url}/articles/embeddings.html"])
        with HttpCrawler(FAST) as crawler:
            again = crawler.crawl(source, previous)
        assert again.not_modified == 1  # /news.html answered 304; the static page has no conditional support
        assert again.documents[0].content_hash == first.documents[0].content_hash
        site.set_page("/news.html", "<html><body><article><p>Second version.</p></article></body></html>", '"b"')
        with HttpCrawler(FAST) as crawler:
            changed = crawler.crawl(source, previous)
        assert changed.not_modified == 0 and changed.documents[0].etag == '"b"'
        assert "Second version" in changed.documents[0].content


def test_a_server_that_drips_bytes_misses_the_deadline_and_nothing_partial_is_kept():
    import time

    config = FAST.model_copy(update={"timeout_s": 2.0, "retries": 0})
    with serve() as site:  # /drip answers at once, then sends one byte a second (bytes at 0.5 s, 1.5 s, 2.5 s...)
        start = time.monotonic()
        result = crawl(site.url, "/drip", config=config)
        elapsed = time.monotonic() - start
    assert [(f.location, f.reason, f.attempts) for f in result.failures] == [
        (f"{site.url}/drip", "timed out after 2.0s: body incomplete (read 3 of 30 bytes)", 1)
    ]
    assert not result.documents  # the partial page is not accepted
    assert 2.0 <= elapsed < 4.0  # the whole page had 2 s; every single read was well under httpx's timeout


def test_a_refused_connection_is_reported_as_such_not_as_robots():
    import errno
    import os
    import socket

    with socket.socket() as probe:  # a port that was just free: nothing listens there now
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = crawl(f"http://127.0.0.1:{port}", "/articles/embeddings.html")
    refused = f"[Errno {errno.ECONNREFUSED}] {os.strerror(errno.ECONNREFUSED)}"
    assert [(f.reason, f.attempts) for f in result.failures] == [(f"connection failed: {refused}", 2)]
    assert "robots" not in result.failures[0].reason
    assert not result.documents


def test_a_robots_txt_that_times_out_is_retried_not_taken_as_a_disallow():
    with serve() as site:
        site.set_robots(first_delay_s=1.5)  # the first robots.txt misses FAST's 1 s deadline, the retry does not
        result = crawl(site.url, "/articles/embeddings.html")
    assert not result.failures
    assert [d.title for d in result.documents] == ["Embeddings on a budget"]
    assert site.requests == ["/robots.txt", "/robots.txt", "/articles/embeddings.html"]  # not cached as a refusal


def test_robots_txt_answers_follow_rfc_9309_with_their_own_reason():
    with serve() as site:
        site.set_robots(503, "down for maintenance")
        unavailable = crawl(site.url, "/articles/embeddings.html", "/articles/vector-stores.html")
        requests_while_down = list(site.requests)
    assert [(f.reason, f.attempts) for f in unavailable.failures] == [
        ("robots.txt answered HTTP 503: the site disallows crawling until it recovers (RFC 9309)", 1)
    ] * 2
    assert not unavailable.documents
    assert requests_while_down == ["/robots.txt"]  # asked once per crawl, no page fetched

    with serve() as site:
        site.set_robots(404, "not found")  # no robots.txt at all: everything is allowed
        missing = crawl(site.url, "/private/secret.html")
    assert not missing.failures and [d.title for d in missing.documents] == ["Private"]

    with serve() as site:  # a real Disallow rule keeps its own label
        disallowed = crawl(site.url, "/private/secret.html", "/articles/embeddings.html")
    assert [(f.location.removeprefix(site.url), f.reason, f.attempts) for f in disallowed.failures] == [
        ("/private/secret.html", "disallowed by robots.txt", 1)
    ]
    assert [d.title for d in disallowed.documents] == ["Embeddings on a budget"]
    assert "/private/secret.html" not in site.requests
