"""Text views of instruction and preference samples, and the one normalisation every quality stage shares.

Filters, dedup and decontamination work on either sample type through these accessors, so a new
sample type needs changes here only.
"""

from __future__ import annotations

import re
from typing import TypeVar

from llm_engineering.domain.samples import InstructionSample, PreferenceSample

Sample = TypeVar("Sample", InstructionSample, PreferenceSample)

_PUNCTUATION = re.compile(r"[^\w\s]")
# How a complete answer ends: a sentence, a closing bracket or quote, a code fence, emphasis, a table row.
_COMPLETE_ENDING = re.compile(r"""[.!?…)\]}"'`»*|]\s*$""")


def instruction_of(sample: InstructionSample | PreferenceSample) -> str:
    return sample.instruction if isinstance(sample, InstructionSample) else sample.prompt


def answer_of(sample: InstructionSample | PreferenceSample) -> str:
    """The answer the model is trained to give: `answer`, or `chosen` for preference pairs."""
    return sample.answer if isinstance(sample, InstructionSample) else sample.chosen


def dedup_text(sample: InstructionSample | PreferenceSample) -> str:
    """What two samples must share to be duplicates: instruction + answer (prompt + chosen)."""
    return f"{instruction_of(sample)}\n{answer_of(sample)}"


def training_texts(sample: InstructionSample | PreferenceSample) -> list[str]:
    """Every text the model sees in training (the rejected answer too): what decontamination checks."""
    if isinstance(sample, InstructionSample):
        return [sample.instruction, sample.answer]
    return [sample.prompt, sample.chosen, sample.rejected]


def normalise_token(token: str) -> str:
    return _PUNCTUATION.sub("", token.lower())


def normalised_words(text: str) -> list[str]:
    """Lowercase, strip punctuation inside each whitespace-separated token, drop tokens left empty."""
    return [word for word in map(normalise_token, text.split()) if word]


def normalise_text(text: str) -> str:
    """Lowercase, punctuation stripped, whitespace collapsed: `"Hello,  World!"` -> `"hello world"`."""
    return " ".join(normalised_words(text))


def ends_mid_sentence(text: str) -> bool:
    """The text stops without closing punctuation (a sentence, bracket, quote or code fence): it looks cut off."""
    stripped = text.rstrip()
    return bool(stripped) and not _COMPLETE_ENDING.search(stripped)
