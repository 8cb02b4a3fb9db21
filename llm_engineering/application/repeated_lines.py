"""Site chrome that only shows as repetition: the lines a site puts on most of its pages.

The line rules in cleaning.py know what a menu or a link row looks like; an author bio, a sign-off ("If you're
interested in more technical content around LLMs, follow me on Twitter"), a course plug or a licence header look
like prose. What gives them away is that the same line comes back on page after page of one site. As CCNet does for
the paragraphs of a Common Crawl shard, we count in how many documents of a site each line appears and drop those
in at least `repeated_line_min_documents` of them and `repeated_line_min_fraction` of the site's documents.

The counts are taken over every crawled document of the site, not only the changed ones an incremental run
cleans, so a page that changed alone still loses its footer. Headings, table rows, fenced code and one-word lines
are never counted: "## Conclusion" on every page is structure, not chrome.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from urllib.parse import urlsplit

from llm_engineering.domain.config.feature_engineering import CleaningConfig
from llm_engineering.domain.documents import RawDocument, RepeatedLine

PREVIEW_CHARACTERS = 160  # of a repeated line, in the report


def site_of(document: RawDocument) -> str:
    if document.kind == "url":
        return f"{document.source} ({urlsplit(document.location).hostname or '?'})"
    return document.source


def line_key(line: str) -> str | None:
    """What two lines share when they are "the same line" (case and spacing aside); None for lines never counted."""
    text = " ".join(line.split())
    if not text or text.startswith(("#", "|")) or " " not in text:
        return None
    return hashlib.blake2b(text.casefold().encode(), digest_size=12).hexdigest()


def prose_lines(lines: Iterable[str]) -> Iterator[str]:
    """The lines outside fenced code."""
    in_code = False
    for line in lines:
        if line.strip().startswith(("```", "~~~")):
            in_code = not in_code
        elif not in_code:
            yield line


class RepeatedLines:
    """The line keys to drop, per site, from the document frequencies of the sites' lines."""

    def __init__(self, config: CleaningConfig) -> None:
        self.config = config
        self._frequency: dict[str, Counter[str]] = defaultdict(Counter)
        self._documents: Counter[str] = Counter()
        self._text: dict[str, str] = {}
        self._repeated: dict[str, frozenset[str]] = {}

    def add(self, document: RawDocument, lines: Iterable[str]) -> None:
        """Count one document's prose lines (normalised as cleaning normalises them)."""
        if document.format == "code":
            return
        site = site_of(document)
        keys: dict[str, str] = {}  # key -> the line, the first time this document has it
        for line in prose_lines(lines):
            if (key := line_key(line)) is not None and key not in keys:
                keys[key] = line
        frequency = self._frequency[site]
        frequency.update(keys.keys())  # counted as keys: update(a dict) would add its values
        for key, line in keys.items():
            # Only a line that can be reported keeps its text: not a second copy of every line of the crawl.
            if frequency[key] == self.config.repeated_line_min_documents:
                self._text.setdefault(key, " ".join(line.split()))
        self._documents[site] += 1
        self._repeated.pop(site, None)

    def repeated(self, document: RawDocument) -> frozenset[str]:
        if not self.config.drop_repeated_lines or document.format == "code":
            return frozenset()
        site = site_of(document)
        if site not in self._repeated:
            self._repeated[site] = frozenset(key for key, _ in self._over_threshold(site))
        return self._repeated[site]

    def report(self) -> list[RepeatedLine]:
        if not self.config.drop_repeated_lines:
            return []
        return [
            RepeatedLine(
                site=site,
                text=self._text[key][:PREVIEW_CHARACTERS],
                documents=count,
                site_documents=self._documents[site],
            )
            for site in sorted(self._frequency)
            for key, count in self._over_threshold(site)
        ]

    def _over_threshold(self, site: str) -> list[tuple[str, int]]:
        documents = self._documents[site]
        least = max(self.config.repeated_line_min_documents, self.config.repeated_line_min_fraction * documents)
        return [(key, count) for key, count in self._frequency[site].most_common() if count >= least]
