from datetime import UTC, datetime

from llm_engineering.application.cleaning import clean_documents, clean_text
from llm_engineering.domain.config.feature_engineering import CleaningConfig
from llm_engineering.domain.documents import RawDocument, content_hash

MARKDOWN = (
    """# Retrieval   notes

We  use Qdrant (see https://qdrant.tech/documentation/concepts/payload/?lang=python#filters) — it's fast; really!

```python
def search(client, vector):
    # indentation and  double  spaces matter here
    return client.query_points("chunks", query=vector, limit=5)
```

Contact: jane.doe@example.com or +1 415 555 0134.
Our key was api_key = "abcd1234efgh5678ijkl9012" and a token ghp_"""
    + "A" * 36
    + """ leaked.
Subscribe to our newsletter
"""
)


def raw(content: str, fmt: str = "markdown") -> RawDocument:
    return RawDocument(
        source="test",
        kind="folder",
        location="/tmp/x.md",
        fetched_at=datetime.now(UTC),
        format=fmt,
        content=content,
        content_hash=content_hash(content),
    )


def test_code_urls_and_punctuation_survive():
    text, _ = clean_text(raw(MARKDOWN), CleaningConfig())
    assert "https://qdrant.tech/documentation/concepts/payload/?lang=python#filters" in text
    assert "— it's fast; really!" in text
    assert "    # indentation and  double  spaces matter here\n" in text  # code kept verbatim
    assert "```python\ndef search(client, vector):" in text
    assert "# Retrieval notes" in text  # prose whitespace normalised


def test_pii_and_secrets_are_redacted_and_counted():
    text, redactions = clean_text(raw(MARKDOWN), CleaningConfig())
    assert "jane.doe@example.com" not in text and "[EMAIL]" in text
    assert "555 0134" not in text and "[PHONE]" in text
    assert "abcd1234efgh5678ijkl9012" not in text and 'api_key = "[SECRET]' not in text
    assert "api_key = [SECRET]" in text
    assert "ghp_" not in text
    assert redactions == {"email": 1, "phone": 1, "secret": 2}


def test_redaction_is_configurable():
    config = CleaningConfig(redact_emails=False, redact_phone_numbers=False, redact_secrets=False)
    text, redactions = clean_text(raw(MARKDOWN), config)
    assert "jane.doe@example.com" in text and "+1 415 555 0134" in text
    assert redactions == {}


def test_years_versions_and_ids_are_not_phone_numbers():
    text, redactions = clean_text(
        raw("In 2024 we ran v1.2.3 on 8 GPUs for 3600 steps, see issue 12345."), CleaningConfig()
    )
    assert redactions == {}
    assert "2024" in text and "v1.2.3" in text


def test_html_boilerplate_goes_and_article_stays():
    html = (
        "<html><head><title>T</title></head><body><nav>Home | Blog | About</nav><article><h1>Packing</h1>"
        "<p>Packing concatenates short samples into one sequence; it saves compute (often 2-3x).</p>"
        "<p>Use it with care: attention must not cross samples.</p>"
        "<pre><code>trainer = SFTTrainer(packing=True)</code></pre></article>"
        "<footer>Subscribe to our newsletter. © 2026 Blog. Privacy policy</footer></body></html>"
    )
    text, _ = clean_text(raw(html, "html"), CleaningConfig())
    assert "Packing concatenates short samples into one sequence; it saves compute (often 2-3x)." in text
    assert "SFTTrainer(packing=True)" in text
    assert "Subscribe" not in text and "Home | Blog" not in text and "©" not in text


def test_short_documents_are_dropped_with_reason():
    result = clean_documents([raw("tiny"), raw(MARKDOWN)], CleaningConfig(min_characters=50))
    assert len(result.documents) == 1
    assert result.dropped[0].reason == "too short after cleaning (4 < 50 characters)"
