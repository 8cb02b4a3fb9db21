"""Main-content extraction from HTML with trafilatura, keeping code, links and punctuation."""

from __future__ import annotations

import trafilatura


def html_metadata(html: str) -> tuple[str | None, str | None]:
    metadata = trafilatura.extract_metadata(html)
    if metadata is None:
        return None, None
    return metadata.title, metadata.author


def extract_main_text(html: str, url: str | None = None) -> str:
    """Article text as markdown: nav, footers and cookie banners go; code blocks and links stay."""
    text = trafilatura.extract(
        html,
        url=url,
        output_format="markdown",
        include_links=True,
        include_formatting=True,
        include_comments=False,
        include_tables=True,
        favor_precision=True,
        deduplicate=False,
    )
    return text or ""
