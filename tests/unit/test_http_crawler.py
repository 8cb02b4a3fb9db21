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
