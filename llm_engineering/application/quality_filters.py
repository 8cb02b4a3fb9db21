"""Quality filters for instruction / preference samples, chosen by name in YAML.

Each filter takes a sample and its parsed params and returns None (keep) or the reason to drop it.
Filters run in the configured order; a sample is counted against the first filter that drops it.
As a curation stage (`run_filter`), a filter is a block that judges each sample as (keep, reason, score), like
datatrove's filters; the score is what the filter measured, where it measures one (`SCORES`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from llm_engineering.application.sample_text import Sample, answer_of, instruction_of
from llm_engineering.domain.config.dataset_quality import (
    FILTER_PARAMS,
    CodeFenceParams,
    ContextReferenceParams,
    ExcludedPhraseParams,
    GroundingParams,
    InstructionFormatParams,
    LengthBounds,
    LengthFilterParams,
    QualityFilterConfig,
    RepetitionParams,
    TemplateMarkerParams,
)
from llm_engineering.domain.samples import InstructionSample, PreferenceSample, RemovedSample

FilterFunction = Callable[[InstructionSample | PreferenceSample, Any], str | None]

_WORD = re.compile(r"\w+")
_STOPWORDS = frozenset(
    [
        "the",
        "and",
        "for",
        "are",
        "but",
        "not",
        "you",
        "all",
        "any",
        "can",
        "had",
        "her",
        "was",
        "one",
        "our",
        "out",
        "his",
        "has",
        "how",
        "its",
        "may",
        "new",
        "now",
        "see",
        "two",
        "who",
        "did",
        "get",
        "him",
        "let",
        "say",
        "she",
        "too",
        "use",
        "that",
        "with",
        "have",
        "this",
        "will",
        "your",
        "from",
        "they",
        "been",
        "were",
        "said",
        "each",
        "which",
        "their",
        "what",
        "there",
        "would",
        "about",
        "could",
        "other",
        "into",
        "than",
        "then",
        "them",
        "these",
        "some",
        "when",
        "where",
        "while",
        "also",
        "such",
        "only",
        "very",
        "more",
        "most",
        "should",
        "does",
        "just",
        "over",
        "both",
        "being",
    ]
)


def _field(sample: InstructionSample | PreferenceSample, field: str) -> str:
    return instruction_of(sample) if field == "instruction" else answer_of(sample)


def check_length(sample: InstructionSample | PreferenceSample, params: LengthFilterParams) -> str | None:
    for field, bounds in (("instruction", params.instruction), ("answer", params.answer)):
        text = _field(sample, field).strip()
        size = len(text) if params.unit == "characters" else len(text.split())
        if not _within(size, bounds):
            upper = "inf" if bounds.max is None else bounds.max
            return f"{field} has {size} {params.unit}, outside [{bounds.min}, {upper}]"
    return None


def _within(size: int, bounds: LengthBounds) -> bool:
    return size >= bounds.min and (bounds.max is None or size <= bounds.max)


def check_instruction_format(
    sample: InstructionSample | PreferenceSample, params: InstructionFormatParams
) -> str | None:
    if reads_as_instruction(instruction_of(sample), params):
        return None
    return "instruction is neither a question nor an imperative"


def reads_as_instruction(text: str, params: InstructionFormatParams) -> bool:
    """A question (ends with '?') or an opening question word or imperative verb."""
    text = text.strip()
    if text.endswith("?"):
        return True
    # Judge by the first sentence's opening words: "Please explain ..." and "Explain ..." both pass.
    opening = " ".join(_WORD.findall(text.lower())[:4])
    opening = opening.removeprefix("please ").removeprefix("briefly ")
    starters = [*params.question_words, *params.imperative_verbs]
    return any(opening == starter or opening.startswith(f"{starter} ") for starter in starters)


def check_template_markers(sample: InstructionSample | PreferenceSample, params: TemplateMarkerParams) -> str | None:
    answer = answer_of(sample)
    haystack = answer if params.case_sensitive else answer.lower()
    for marker in params.markers:
        if (marker if params.case_sensitive else marker.lower()) in haystack:
            return f"answer contains template marker {marker!r}"
    return None


def check_code_fences(sample: InstructionSample | PreferenceSample, params: CodeFenceParams) -> str | None:
    for field in params.fields:
        fences = sum(1 for line in _field(sample, field).splitlines() if line.lstrip().startswith("```"))
        if fences % 2:
            return f"{field} has an unbalanced code fence ({fences} ``` lines)"
    return None


def check_excluded_phrases(sample: InstructionSample | PreferenceSample, params: ExcludedPhraseParams) -> str | None:
    for field in params.fields:
        text = " ".join(_field(sample, field).lower().replace("’", "'").split())
        for phrase in params.phrases:
            if " ".join(phrase.lower().split()) in text:
                return f"{field} contains excluded phrase {phrase!r}"
    return None


def check_grounding(sample: InstructionSample | PreferenceSample, params: GroundingParams) -> str | None:
    if getattr(sample, "generated_answer", False) and params.generated_answers == "skip":
        return None  # an evol_instruct answer to a new instruction: the extract was its context, not its source
    if not sample.extract.strip():
        return "no extract to check the answer against" if params.if_no_extract == "remove" else None
    overlap = grounding_overlap(answer_of(sample), sample.extract, params.min_word_length)
    if overlap is None:
        return None  # nothing checkable (e.g. a one-word answer); the length filter judges those
    if overlap < params.min_overlap:
        return f"answer overlaps its extract by {overlap:.2f} < {params.min_overlap}"
    return None


def check_repetition(sample: InstructionSample | PreferenceSample, params: RepetitionParams) -> str | None:
    for field in params.fields:
        text = _field(sample, field)
        repeats = r"(?<![A-Za-z])([A-Za-z]{2,})(?:[_\-\s]+\1(?![A-Za-z])){" + str(params.max_token_repeats - 1) + ",}"
        if re.search(repeats, text):
            return f"{field} repeats one token {params.max_token_repeats}+ times in a row"
        distinct, total = distinct_ngrams(text, params.n)
        if total >= 8 and distinct / total < params.min_distinct_ratio:
            return f"{field} repeats itself ({distinct} distinct of {total} {params.n}-grams)"
    return None


def distinct_ngrams(text: str, n: int) -> tuple[int, int]:
    """(distinct, total) word n-grams of the text, lowercased: a looping generation has few distinct ones."""
    words = _WORD.findall(text.lower())
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    return len(set(grams)), len(grams)


def check_context_reference(sample: InstructionSample | PreferenceSample, params: ContextReferenceParams) -> str | None:
    question = " ".join(instruction_of(sample).lower().split())
    for phrase in params.phrases:
        if re.search(rf"\b{re.escape(phrase.lower())}\b", question):
            return f"instruction refers to {phrase!r}, which the trained model will not see"
    return None


def grounding_overlap(answer: str, extract: str, min_word_length: int = 3) -> float | None:
    """Share of the answer's content words found in the extract; None when the answer has none to check. The one
    measure of grounding: the curation filter and the GRPO reward both use it."""
    answer_words = content_words(answer, min_word_length)
    if not answer_words:
        return None
    extract_words = set(content_words(extract, min_word_length))
    return sum(word in extract_words for word in answer_words) / len(answer_words)


def content_words(text: str, min_length: int = 3) -> list[str]:
    """Lowercase words of at least `min_length` characters, stopwords left out: what grounding and evolution count."""
    return [word for word in _WORD.findall(text.lower()) if len(word) >= min_length and word not in _STOPWORDS]


FILTERS: dict[str, FilterFunction] = {
    "length": check_length,
    "instruction_format": check_instruction_format,
    "template_markers": check_template_markers,
    "code_fences": check_code_fences,
    "excluded_phrases": check_excluded_phrases,
    "grounding": check_grounding,
    "repetition": check_repetition,
    "context_reference": check_context_reference,
}
if set(FILTERS) != set(FILTER_PARAMS):  # the config's names and this registry must not drift apart
    raise RuntimeError(f"filter registry mismatch: {sorted(set(FILTERS) ^ set(FILTER_PARAMS))}")


# What a filter measured, for the removed sample's score: only filters that compute a number have one.
SCORES: dict[str, Callable[[InstructionSample | PreferenceSample, Any], float | None]] = {
    "grounding": lambda sample, params: grounding_overlap(answer_of(sample), sample.extract, params.min_word_length),
}


class Verdict(NamedTuple):
    keep: bool
    reason: str | None = None
    score: float | None = None


def judge(name: str, sample: InstructionSample | PreferenceSample, params: Any) -> Verdict:
    """One filter's (keep, reason, score) for one sample."""
    reason = FILTERS[name](sample, params)
    if reason is None:
        return Verdict(True)
    score = SCORES[name](sample, params) if name in SCORES else None
    return Verdict(False, reason, None if score is None else round(score, 4))


def run_filter(
    samples: Sequence[Sample], name: str, params: Any, stage: str
) -> tuple[list[Sample], list[RemovedSample]]:
    """One filter as a curation stage: kept samples (input order) and the removed ones, under `stage`."""
    kept: list[Sample] = []
    removed: list[RemovedSample] = []
    for sample in samples:
        verdict = judge(name, sample, params)
        if verdict.keep:
            kept.append(sample)
        else:
            removed.append(_removed(sample, stage, verdict))
    return kept, removed


def _removed(sample: InstructionSample | PreferenceSample, stage: str, verdict: Verdict) -> RemovedSample:
    return RemovedSample(
        sample_id=sample.sample_id,
        stage=stage,
        reason=verdict.reason or "",
        score=verdict.score,
        text=f"{instruction_of(sample)}\n{answer_of(sample)}",
    )


def apply_filters(
    samples: Sequence[Sample], config: QualityFilterConfig
) -> tuple[list[Sample], list[RemovedSample], dict[str, int]]:
    """Kept samples (input order), removed ones with their reason, and removals per filter name."""
    active = [(spec.name, FILTERS[spec.name], spec.parsed_params()) for spec in config.filters]
    counts = {name: 0 for name, _, _ in active}
    kept: list[Sample] = []
    removed: list[RemovedSample] = []
    for sample in samples:
        for name, _, params in active:
            verdict = judge(name, sample, params)
            if not verdict.keep:
                counts[name] += 1
                removed.append(_removed(sample, f"filter:{name}", verdict))
                break
        else:
            kept.append(sample)
    return kept, removed, counts
