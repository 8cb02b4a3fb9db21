"""Heading-aware chunking for Markdown documents.

Documents are first split on ATX headings (``#``, ``##``...). Sections that
are still longer than ``max_words`` are split again with a sliding window,
so every chunk stays below the embedding model's input limit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

HEADING_RE = re.compile(r"^(#{1,6})\s+(.*)$")
FENCE = "```"


@dataclass
class Chunk:
    """A piece of a document plus the heading path that leads to it."""

    text: str
    headings: list[str] = field(default_factory=list)
    index: int = 0

    @property
    def word_count(self) -> int:
        return len(self.text.split())


def split_sections(markdown: str) -> list[tuple[list[str], str]]:
    """Split into (heading path, body) pairs, ignoring '#' inside code fences."""
    sections: list[tuple[list[str], str]] = []
    path: list[str] = []
    body: list[str] = []
    in_code = False
    for line in markdown.splitlines():
        if line.strip().startswith(FENCE):
            in_code = not in_code
        match = None if in_code else HEADING_RE.match(line)
        if match:
            if "\n".join(body).strip():
                sections.append((list(path), "\n".join(body).strip()))
            level = len(match.group(1))
            path = path[: level - 1] + [match.group(2).strip()]
            body = []
        else:
            body.append(line)
    if "\n".join(body).strip():
        sections.append((list(path), "\n".join(body).strip()))
    return sections


def window(words: list[str], size: int, overlap: int) -> list[list[str]]:
    """Sliding windows of ``size`` words with ``overlap`` words shared."""
    if size <= overlap:
        raise ValueError("size must be larger than overlap")
    step = size - overlap
    return [words[i : i + size] for i in range(0, max(len(words) - overlap, 1), step)]


def chunk_markdown(markdown: str, max_words: int = 200, overlap: int = 30) -> list[Chunk]:
    """Chunk a Markdown string; chunk indices are sequential per document."""
    chunks: list[Chunk] = []
    for headings, body in split_sections(markdown):
        words = body.split()
        pieces = [body] if len(words) <= max_words else [
            " ".join(w) for w in window(words, max_words, overlap)
        ]
        for piece in pieces:
            chunks.append(Chunk(text=piece, headings=headings, index=len(chunks)))
    return chunks


if __name__ == "__main__":
    doc = "# Guide\nIntro text.\n## Setup\n```bash\n# not a heading\n```\nInstall it.\n"
    for c in chunk_markdown(doc, max_words=50):
        print(c.index, " > ".join(c.headings), "|", c.text.replace("\n", " "))
