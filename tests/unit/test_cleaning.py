import gc
import hashlib
import random
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import pytest

from llm_engineering.application import cleaning
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


SAMPLE_CORPUS = Path(__file__).resolve().parents[2] / "sample_corpus"

# (path, format, sha256 of the cleaned text, redactions), computed with the cleaner as it was before it went through
# the text a piece at a time (commit e865aed): the same documents must clean to the same text.
PINNED_CLEANING = [
    ("articles/chunking-strategies.md", "markdown",
     "81320d31b52d2310bcf02460622a6c4ea1eac63435ca6dfbb84c4505b58f85da", {}),
    ("articles/pii-redaction-before-training.md", "markdown",
     "ca06f2117786b62a5dbf70815b52df99fb24f77b2197917cb74fcfb662345e70", {"email": 1, "phone": 1}),
    ("articles/crawling-politely-robots-txt.html", "html",
     "fb141f7afc378e0ab3b877eb9e9001fe81efe3d18d93f8b1eab761392d804df1", {}),
    ("code/markdown_chunker.py", "code",
     "5a4d065f9fff76371c53a2a5373af447e22a6a123b0a250e0f6443b59322966c", {}),
]  # fmt: skip


@pytest.mark.parametrize(("path", "fmt", "digest", "redactions"), PINNED_CLEANING)
def test_sample_corpus_cleans_as_before(path, fmt, digest, redactions):
    text, counted = clean_text(raw((SAMPLE_CORPUS / path).read_text(encoding="utf-8"), fmt), CleaningConfig())
    assert hashlib.sha256(text.encode()).hexdigest() == digest
    assert counted == redactions


ACROSS_LINES = (
    "Intro paragraph ends here.\n\n\n\ntoken\n\n=\n\nabcdefghijklmnopqrstu1234 was leaked.\n\n"
    "Call +1 415\n555 0134 or mail jane.doe@example.com.\n\n```\ncode  kept\n\n\n\n  indented\n```\n\nLast line."
)
ACROSS_LINES_CLEANED = (
    "Intro paragraph ends here.\n\ntoken\n\n=\n\n[SECRET] was leaked.\n\nCall [PHONE] or mail [EMAIL].\n\n"
    "```\ncode  kept\n\n  indented\n```\n\nLast line."
)


@pytest.mark.parametrize("piece", [1, 7, 1 << 18])
def test_pieces_of_any_size_clean_like_the_whole_text(monkeypatch, piece):
    """A `key = value` secret over blank lines and a phone number over a line break are still found when the
    text is normalised and redacted in pieces (here as small as one character: a piece per line)."""
    monkeypatch.setattr(cleaning, "SEGMENT_CHARACTERS", piece)
    monkeypatch.setattr(cleaning, "REDACTION_BLOCK_CHARACTERS", piece)
    text, redactions = clean_text(raw(ACROSS_LINES), CleaningConfig())
    assert text == ACROSS_LINES_CLEANED
    assert redactions == {"secret": 1, "email": 1, "phone": 1}
    assert clean_text(raw(MARKDOWN), CleaningConfig()) == (
        "# Retrieval notes\n\nWe use Qdrant (see https://qdrant.tech/documentation/concepts/payload/?lang=python"
        "#filters) — it's fast; really!\n\n```python\ndef search(client, vector):\n    # indentation and  double  "
        'spaces matter here\n    return client.query_points("chunks", query=vector, limit=5)\n```\n\nContact: '
        "[EMAIL] or [PHONE].\nOur key was api_key = [SECRET] and a token [SECRET] leaked.",
        {"email": 1, "phone": 1, "secret": 2},
    )


def test_a_large_document_is_cleaned_without_full_copies_per_pass():
    articles = [p.read_text(encoding="utf-8") for p in sorted((SAMPLE_CORPUS / "articles").glob("*.md"))]
    random.Random(0).shuffle(articles)
    content = "\n\n".join(articles * (2_000_000 // sum(len(a) for a in articles) + 1))
    document = raw(content)
    gc.collect()
    tracemalloc.start()
    try:
        text, redactions = clean_text(document, CleaningConfig())
        held, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(text) > 1_900_000 and redactions["email"] > 10
    # Beyond the cleaned text it returns, cleaning needed ~0.9 bytes per character; a full copy per pass and a
    # character list for the control filter (the code before) needed ~8.
    assert (peak - held) / len(content) < 2.0


SITE_CHROME = Path(__file__).resolve().parent / "fixtures" / "site_chrome"
CHROME = [  # what the fixtures carry around the article: none of it may reach a chunk, let alone an answer
    "Hands-On GNNs",
    "Publications",
    "[Twitter]",
    "[GitHub](https://github.com/mlabonne)",
    "LinkedIn",
    "Home / Articles",
    "8 min read",
    "Share this article",
    "[Notes]",
    "Copyright 2024",
    "Built with Quarto",
]
ARTICLE = [  # ...and what must stay
    "# Fine-tune Llama 3 with ORPO",
    "ORPO is an exciting new fine-tuning technique that combines the traditional supervised fine-tuning and "
    "preference alignment stages into a single process.",
    "with the [TRL library](https://huggingface.co/docs/trl). The code is available on Google Colab and in the LLM "
    "Course on GitHub.",  # prose with a link, and the course named in a sentence
    "Traditionally, this involves a multi-stage process: supervised fine-tuning on instructions, then preference",
    "ORPO fine-tunes a model for instructions and preferences in a single stage",
]


def test_site_chrome_of_a_markdown_export_goes_and_the_article_stays():
    """The probe: menus like "Maxime Labonne * LLM Course * Hands-On GNNs ..." reached 2 of 19 answers."""
    from llm_engineering.application.dataset_generation.instructions import passages

    text, _ = clean_text(raw((SITE_CHROME / "orpo-export.md").read_text(encoding="utf-8")), CleaningConfig())

    assert not [chrome for chrome in CHROME if chrome in text], text
    assert all(part in text for part in ARTICLE), text
    assert text.startswith("# Fine-tune Llama 3 with ORPO\n\nA cheaper and faster unified fine-tuning technique\n\n")
    assert text.endswith("fine-tune your own Llama 3 models with ORPO.\n\n---")
    # A list of phrases with a link in one, the code, and a reference list (a long title breaks a run of short links)
    assert (
        "- a base model to fine-tune,\n- a preference dataset with chosen and rejected answers,\n"
        "- the [TRL](https://github.com/huggingface/trl) trainer.\n\n```python\ntrainer = ORPOTrainer("
    ) in text
    assert (
        "- [ORPO: Monolithic Preference Optimization without Reference Model](https://arxiv.org/abs/2403.07691)\n"
        "- [Llama 3 model card](https://huggingface.co/meta-llama/Meta-Llama-3-8B)\n"
        "- [TRL documentation](https://huggingface.co/docs/trl)"
    ) in text
    # Backtranslation answers are passages of the cleaned text: none is a menu.
    answers = passages(text, 700, 120)
    assert answers and not [a for a in answers if any(chrome in a for chrome in CHROME)]
    # drop_boilerplate: false keeps the page as it came
    kept, _ = clean_text(raw((SITE_CHROME / "orpo-export.md").read_text(encoding="utf-8")),
                         CleaningConfig(drop_boilerplate=False))  # fmt: skip
    assert kept.startswith("Maxime Labonne * LLM Course * Hands-On GNNs * Articles * Notes * Publications * About")


def test_site_chrome_of_a_crawled_page_goes_and_the_article_stays():
    html = (SITE_CHROME / "orpo-quarto.html").read_text(encoding="utf-8")  # a Quarto blog page: navbar, TOC, footer
    text, _ = clean_text(raw(html, "html"), CleaningConfig())

    assert not [chrome for chrome in [*CHROME, "Sections", "Share on Twitter"] if chrome in text], text
    assert all(part in text for part in ARTICLE[1:]), text
    assert "ORPOTrainer(model=model" in text


@pytest.mark.parametrize(
    ("line", "chrome"),
    [
        ("Maxime Labonne * LLM Course * Hands-On GNNs * Articles", True),
        ("- Docs | Blog | Pricing | Sign in", True),
        ("[Home](/) » [Blog](/blog) » [Fine-tune Llama 3 with ORPO](/orpo)", True),
        ("Follow me on [X](https://x.com/a) and [LinkedIn](https://linkedin.com/in/a)", True),
        (
            "We compare [LoRA](https://arxiv.org/abs/2106.09685) and [DoRA](https://arxiv.org/abs/2402.09353) below.",
            False,
        ),
        ("Tokenize, embed, store: three steps / one pipeline / no surprises. It works.", False),
        ("loss = a * b * c", False),
        ("a * b * c", False),
        ("| Precision | Recall | F1 |", False),
        ("Read the [ORPO paper](https://arxiv.org/abs/2403.07691) for the full derivation.", False),
    ],
)
def test_what_counts_as_a_menu_or_a_link_row(line, chrome):
    assert (cleaning.is_menu(line) or cleaning.is_link_row(line)) is chrome


BIO = "Maxime Labonne is a machine learning scientist who writes about large language models."
SIGN_OFF = "If you're interested in more technical content around LLMs, follow me on Twitter @maximelabonne."


def page(index: int, *extra: str, source: str = "blog", kind: str = "folder", location: str = "") -> RawDocument:
    body = "\n\n".join(
        [
            f"# Article {index}",
            f"Article {index} explains technique number {index} in detail, with its trade-offs and a worked example.",
            "## Conclusion",  # a heading on every page: structure, kept
            "```python",
            "import torch  # the same line in every page's code: kept",
            "```",
            *extra,
            BIO,
            SIGN_OFF,
        ]
    )
    return RawDocument(
        source=source,
        kind=kind,
        location=location or f"/site/{source}/{index}.md",
        fetched_at=datetime.now(UTC),
        format="markdown",
        content=body,
        content_hash=content_hash(body),
    )


def test_lines_a_site_repeats_on_most_pages_go_and_its_articles_stay():
    """Bios and sign-offs look like prose, so no line rule catches them: their repetition across a site does."""
    pages = [page(i) for i in range(5)]
    pages[0] = page(0, "A sentence two pages share, below the three-document minimum.")
    pages[1] = page(1, "A sentence two pages share, below the three-document minimum.")
    result = clean_documents(pages, CleaningConfig())

    for index, document in enumerate(result.documents):
        assert BIO not in document.text and SIGN_OFF not in document.text
        assert f"Article {index} explains technique number {index}" in document.text
        assert "## Conclusion" in document.text and "import torch  # the same line" in document.text
    assert "two pages share" in result.documents[0].text
    assert {(line.text, line.documents, line.site_documents) for line in result.repeated_lines} == {
        (BIO, 5, 5),
        (SIGN_OFF, 5, 5),
    }
    kept = clean_documents(pages, CleaningConfig(drop_repeated_lines=False))
    assert all(BIO in document.text for document in kept.documents) and not kept.repeated_lines


def test_a_line_on_fewer_than_half_of_a_sites_pages_stays():
    pages = [page(i) for i in range(3)] + [
        page(i).model_copy(update={"content": f"Page {i} has its own text and no footer."}) for i in range(3, 7)
    ]  # the footer on 3 of 7 pages
    result = clean_documents(pages, CleaningConfig())
    assert not result.repeated_lines and all(BIO in document.text for document in result.documents[:3])
    assert clean_documents(pages, CleaningConfig(repeated_line_min_fraction=0.4)).repeated_lines


def test_an_incremental_run_counts_over_every_crawled_page_and_sites_are_counted_apart():
    pages = [page(i) for i in range(4)]
    alone = clean_documents(pages[3:], CleaningConfig())  # one changed page, counted alone: nothing repeats
    assert BIO in alone.documents[0].text
    changed = clean_documents(pages[3:], CleaningConfig(), corpus=pages)  # counted over the whole crawl
    assert BIO not in changed.documents[0].text and "Article 3 explains" in changed.documents[0].text

    # Two hosts of one URL source are two sites: 2 pages each do not make a repeated line.
    hosts = ["a.org", "a.org", "b.org", "b.org"]
    urls = [page(i, source="web", kind="url", location=f"https://{host}/post-{i}") for i, host in enumerate(hosts)]
    assert all(BIO in document.text for document in clean_documents(urls, CleaningConfig()).documents)
    assert {line.site for line in clean_documents(urls + [page(9, source="web", kind="url", location="https://a.org/9")],
                                                  CleaningConfig()).repeated_lines} == {"web (a.org)"}  # fmt: skip
