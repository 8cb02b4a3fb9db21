"""Text normalisation helpers used before chunking and embedding.

The functions here are deliberately dependency-free so they can run inside
any pipeline step. They operate on plain ``str`` values and never raise on
empty input.
"""

from __future__ import annotations

import re
import unicodedata

_WHITESPACE_RE = re.compile(r"[ \t\u00a0]+")
_BLANK_LINES_RE = re.compile(r"\n{3,}")
_URL_RE = re.compile(r"https?://\S+")
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\ufeff"), None)

SMART_PUNCTUATION = {
    "\u2018": "'",
    "\u2019": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u2010": "-",
    "\u2011": "-",
    "\u2013": "-",
    "\u2014": " - ",
    "\u2026": "...",
}


def normalize_unicode(text: str) -> str:
    """Apply NFKC normalisation and remove zero-width characters."""
    return unicodedata.normalize("NFKC", text).translate(_ZERO_WIDTH)


def replace_smart_punctuation(text: str) -> str:
    """Map curly quotes, dashes and ellipses to plain ASCII equivalents."""
    for fancy, plain in SMART_PUNCTUATION.items():
        text = text.replace(fancy, plain)
    return text


def collapse_whitespace(text: str) -> str:
    """Collapse runs of spaces and limit consecutive blank lines to one."""
    lines = [_WHITESPACE_RE.sub(" ", line).strip() for line in text.splitlines()]
    return _BLANK_LINES_RE.sub("\n\n", "\n".join(lines)).strip()


def mask_urls(text: str, placeholder: str = "[URL]") -> str:
    """Replace every http(s) URL with a placeholder token."""
    return _URL_RE.sub(placeholder, text)


def normalize(text: str, *, keep_urls: bool = True) -> str:
    """Run the full normalisation chain in a fixed, documented order."""
    text = normalize_unicode(text)
    text = replace_smart_punctuation(text)
    if not keep_urls:
        text = mask_urls(text)
    return collapse_whitespace(text)


def is_mostly_text(text: str, min_alpha_ratio: float = 0.6) -> bool:
    """Return True when alphabetic characters dominate the non-space content."""
    visible = [ch for ch in text if not ch.isspace()]
    if not visible:
        return False
    alpha = sum(ch.isalpha() for ch in visible)
    return alpha / len(visible) >= min_alpha_ratio


if __name__ == "__main__":
    sample = "\u201cLoRA\u201d \u2014 a low\u2011rank   adapter\u2026\n\n\n\nSee https://example.com/lora"
    print(normalize(sample))
    print(normalize(sample, keep_urls=False))
    print(is_mostly_text(sample))
