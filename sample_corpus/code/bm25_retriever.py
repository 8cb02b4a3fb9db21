"""Okapi BM25 keyword retrieval over an in-memory list of documents.

BM25 is a strong lexical baseline for retrieval-augmented generation and a
useful complement to dense embeddings (hybrid search). This module has no
third-party dependencies.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

_WORD_RE = re.compile(r"[a-z0-9]+")

STOPWORDS = frozenset(
    "a an and are as at be by for from in is it of on or that the to with".split()
)


def tokenize(text: str) -> list[str]:
    """Lower-case, split on non-alphanumerics and drop common stopwords."""
    return [w for w in _WORD_RE.findall(text.lower()) if w not in STOPWORDS]


@dataclass(frozen=True)
class Hit:
    """A single search result."""

    doc_id: int
    score: float
    text: str


class BM25Index:
    """Build once, query many times."""

    def __init__(self, documents: list[str], k1: float = 1.5, b: float = 0.75) -> None:
        self.documents = documents
        self.k1 = k1
        self.b = b
        self.term_freqs = [Counter(tokenize(doc)) for doc in documents]
        self.doc_lengths = [sum(tf.values()) for tf in self.term_freqs]
        self.avg_length = sum(self.doc_lengths) / max(len(documents), 1)
        doc_freq: Counter[str] = Counter()
        for tf in self.term_freqs:
            doc_freq.update(tf.keys())
        n = len(documents)
        self.idf = {
            term: math.log(1 + (n - df + 0.5) / (df + 0.5)) for term, df in doc_freq.items()
        }

    def score(self, query_terms: list[str], doc_id: int) -> float:
        """BM25 score of one document for an already tokenised query."""
        tf = self.term_freqs[doc_id]
        norm = 1 - self.b + self.b * self.doc_lengths[doc_id] / (self.avg_length or 1)
        total = 0.0
        for term in query_terms:
            freq = tf.get(term, 0)
            if freq:
                total += self.idf[term] * freq * (self.k1 + 1) / (freq + self.k1 * norm)
        return total

    def search(self, query: str, k: int = 5) -> list[Hit]:
        """Return the top ``k`` documents with a positive score."""
        terms = tokenize(query)
        scored = ((self.score(terms, i), i) for i in range(len(self.documents)))
        ranked = sorted((s for s in scored if s[0] > 0), reverse=True)[:k]
        return [Hit(doc_id=i, score=round(s, 4), text=self.documents[i]) for s, i in ranked]


if __name__ == "__main__":
    docs = [
        "LoRA trains low-rank adapter matrices while the base weights stay frozen.",
        "Qdrant stores vectors together with JSON payloads for filtering.",
        "MinHash estimates Jaccard similarity between shingled documents.",
    ]
    index = BM25Index(docs)
    for hit in index.search("how are payloads stored with vectors"):
        print(hit)
