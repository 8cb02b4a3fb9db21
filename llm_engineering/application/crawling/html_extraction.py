"""Main-content extraction from HTML with trafilatura, keeping code, links and punctuation."""

from __future__ import annotations

import trafilatura

# Site chrome containers, pruned before trafilatura looks for the article (it drops most of them itself; a page that
# defeats its heuristics must not bring its menus along): navigation, headers and footers outside the article,
# sidebars, breadcrumbs, share and author-link blocks. Class names match whole tokens, not substrings.
CHROME_CLASSES = ("navbar", "nav", "menu", "breadcrumb", "breadcrumbs", "sidebar", "site-header", "site-footer",
                  "footer", "share", "social", "social-share", "sharing", "author-links", "toc")  # fmt: skip
PRUNE_XPATH = [
    "//nav",
    "//*[@role='navigation' or @role='banner' or @role='contentinfo']",
    "//footer",
    "//aside",
    "//header[not(ancestor::article) and not(ancestor::main)]",
    *(f"//*[contains(concat(' ', normalize-space(@class), ' '), ' {name} ')]" for name in CHROME_CLASSES),
]


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
        prune_xpath=PRUNE_XPATH,
    )
    return text or ""
