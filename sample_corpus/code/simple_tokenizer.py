"""A tiny word-level tokenizer with a learned vocabulary.

This is a teaching aid, not a replacement for a subword tokenizer. It is
useful for quick token-count estimates, BM25 indexing and unit tests that
must not download model files.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable

TOKEN_RE = re.compile(r"[A-Za-z0-9]+(?:'[a-z]+)?|[^\sA-Za-z0-9]")

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
SPECIAL_TOKENS = (PAD, UNK, BOS, EOS)


def pre_tokenize(text: str, lowercase: bool = True) -> list[str]:
    """Split text into word and punctuation pieces."""
    if lowercase:
        text = text.lower()
    return TOKEN_RE.findall(text)


def estimate_tokens(text: str, chars_per_token: float = 4.0) -> int:
    """Rough subword-token estimate based on character length."""
    return max(1, round(len(text) / chars_per_token)) if text else 0


@dataclass
class WordTokenizer:
    """Word-level tokenizer whose vocabulary is built from a corpus."""

    vocab: dict[str, int] = field(default_factory=dict)
    lowercase: bool = True

    @classmethod
    def train(cls, texts: Iterable[str], max_size: int = 5000, min_freq: int = 2) -> "WordTokenizer":
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(pre_tokenize(text))
        vocab = {tok: idx for idx, tok in enumerate(SPECIAL_TOKENS)}
        for token, freq in counts.most_common():
            if freq < min_freq or len(vocab) >= max_size:
                break
            vocab.setdefault(token, len(vocab))
        return cls(vocab=vocab)

    @property
    def inverse(self) -> dict[int, str]:
        return {idx: tok for tok, idx in self.vocab.items()}

    def encode(self, text: str, add_special: bool = True) -> list[int]:
        unk = self.vocab[UNK]
        ids = [self.vocab.get(tok, unk) for tok in pre_tokenize(text, self.lowercase)]
        if add_special:
            ids = [self.vocab[BOS], *ids, self.vocab[EOS]]
        return ids

    def decode(self, ids: Iterable[int], skip_special: bool = True) -> str:
        inverse = self.inverse
        tokens = [inverse.get(i, UNK) for i in ids]
        if skip_special:
            tokens = [t for t in tokens if t not in SPECIAL_TOKENS]
        return " ".join(tokens)

    def __len__(self) -> int:
        return len(self.vocab)


if __name__ == "__main__":
    corpus = ["LoRA adds low-rank adapters.", "QLoRA adds 4-bit weights to LoRA."]
    tok = WordTokenizer.train(corpus, min_freq=1)
    ids = tok.encode("LoRA adds adapters.")
    print(len(tok), ids, tok.decode(ids))
