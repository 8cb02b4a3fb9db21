"""Config blocks for the dataset-quality stages: quality filters, dedup, decontamination, split.

Every block is validated before any work: an unknown filter name, a wrong filter parameter or a
missing evaluation-set file fails here, naming the field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from llm_engineering.domain.config.base import StrictModel, repeated

# ---------------------------------------------------------------- quality filters


class LengthBounds(StrictModel):
    min: int = Field(0, ge=0)
    max: int | None = Field(None, gt=0, description="inclusive; None: no upper bound")

    @model_validator(mode="after")
    def _ordered(self) -> LengthBounds:
        if self.max is not None and self.max < self.min:
            raise ValueError(f"max ({self.max}) is below min ({self.min})")
        return self


class LengthFilterParams(StrictModel):
    """Instruction = instruction (or prompt); answer = answer (or chosen)."""

    unit: Literal["characters", "words"] = "characters"
    instruction: LengthBounds = LengthBounds(min=10, max=2000)
    answer: LengthBounds = LengthBounds(min=20, max=8000)


class InstructionFormatParams(StrictModel):
    """The instruction must read as a question (ends with '?', or starts with a question word) or an imperative."""

    question_words: list[str] = [
        "what", "why", "how", "when", "where", "which", "who", "whom", "whose", "is", "are", "can", "could",
        "does", "do", "did", "should", "would", "will", "in what", "to what",
    ]  # fmt: skip
    imperative_verbs: list[str] = [
        "explain", "describe", "list", "name", "give", "write", "summarize", "summarise", "compare", "contrast",
        "define", "outline", "show", "provide", "identify", "suggest", "discuss", "state", "tell", "walk",
        "implement", "create", "rewrite", "translate", "classify", "evaluate", "analyze", "analyse", "illustrate",
        "recommend", "calculate", "convert", "fix", "find", "generate", "propose", "clarify", "elaborate",
    ]  # fmt: skip


class TemplateMarkerParams(StrictModel):
    """Leftover prompt-template scaffolding inside the answer means the generator echoed its template."""

    markers: list[str] = [
        "Instruction:", "Answer:", "### Instruction", "### Response", "### Answer", "<|im_start|>", "<|im_end|>",
        "[INST]", "[/INST]", "{instruction}", "{answer}", "{context}",
    ]  # fmt: skip
    case_sensitive: bool = False


class CodeFenceParams(StrictModel):
    """An odd number of ``` fences means a code block was cut off."""

    fields: list[Literal["instruction", "answer"]] = ["instruction", "answer"]


class ExcludedPhraseParams(StrictModel):
    """Refusals and boilerplate; matched case-insensitively with whitespace collapsed."""

    phrases: list[str] = [
        "as an ai",
        "as a language model",
        "as an ai language model",
        "i cannot",
        "i can't",
        "i'm sorry, but",
        "i am sorry, but",
        "i'm unable to",
        "i am unable to",
        "i don't have access",
    ]
    fields: list[Literal["instruction", "answer"]] = ["answer"]


class GroundingParams(StrictModel):
    """Share of the answer's content words (≥ min_word_length chars, not stopwords) found in its extract."""

    min_overlap: float = Field(0.5, ge=0, le=1)
    min_word_length: int = Field(3, ge=1)
    if_no_extract: Literal["keep", "remove"] = Field("keep", description="samples without an extract")
    generated_answers: Literal["skip", "check"] = Field(
        "skip",
        description="samples an evol_instruct stage added (generated_answer: true): skip keeps them unchecked (their "
        "answer was written for a new instruction with the extract as context, and may rightly go beyond its words); "
        "check measures them against the extract like any other",
    )


# The names YAML may use, each with its parameter model; the application registry implements exactly these.
class RepetitionParams(StrictModel):
    """Degenerate generations ("Bos_Bos_Bos...", a sentence looping): too few distinct word n-grams."""

    n: int = Field(3, ge=1, description="words per n-gram")
    min_distinct_ratio: float = Field(0.5, gt=0, le=1, description="distinct n-grams / all n-grams")
    max_token_repeats: int = Field(4, ge=2, description="the same sub-token repeated in a row, e.g. Bos_Bos_Bos")
    fields: list[Literal["instruction", "answer"]] = ["instruction", "answer"]


class ContextReferenceParams(StrictModel):
    """A question that points at "the text above" cannot be answered once the passage is gone (training)."""

    phrases: list[str] = [
        "the text above", "the above text", "this text", "the text", "the passage", "this passage", "the article",
        "this article", "the given text", "the provided text", "the author", "this document",
    ]  # fmt: skip


FILTER_PARAMS: dict[str, type[StrictModel]] = {
    "length": LengthFilterParams,
    "instruction_format": InstructionFormatParams,
    "template_markers": TemplateMarkerParams,
    "code_fences": CodeFenceParams,
    "excluded_phrases": ExcludedPhraseParams,
    "grounding": GroundingParams,
    "repetition": RepetitionParams,
    "context_reference": ContextReferenceParams,
}


class FilterSpec(StrictModel):
    """One YAML entry: `- name: length` with optional `params:`; params are checked against the filter's model."""

    name: str
    params: dict[str, Any] = {}

    @model_validator(mode="after")
    def _known_filter_with_valid_params(self) -> FilterSpec:
        if self.name not in FILTER_PARAMS:
            raise ValueError(f"unknown quality filter '{self.name}'; known filters: {', '.join(sorted(FILTER_PARAMS))}")
        FILTER_PARAMS[self.name].model_validate(self.params)  # a bad parameter fails now, not mid-run
        return self

    def parsed_params(self) -> StrictModel:
        return FILTER_PARAMS[self.name].model_validate(self.params)


class QualityFilterConfig(StrictModel):
    filters: list[FilterSpec] = [FilterSpec(name=name) for name in FILTER_PARAMS]

    @field_validator("filters")
    @classmethod
    def _unique_names(cls, filters: list[FilterSpec]) -> list[FilterSpec]:
        duplicates = repeated([spec.name for spec in filters])
        if duplicates:
            raise ValueError(f"quality filter listed twice: {', '.join(duplicates)}")
        return filters


# ---------------------------------------------------------------- MinHash (shared by dedup and decontamination)


class MinHashConfig(StrictModel):
    """Word-shingle MinHash with LSH banding; candidates are verified by signature Jaccard ≥ threshold."""

    enabled: bool = True
    num_perm: int = Field(128, ge=8, le=1024)
    bands: int | None = Field(None, ge=1, description="None: chosen from threshold; rows = num_perm / bands")
    threshold: float = Field(0.7, gt=0, le=1, description="estimated Jaccard at or above which texts are duplicates")
    shingle_size: int = Field(5, ge=1, description="words per shingle")
    seed: int = 1

    @model_validator(mode="after")
    def _bands_divide_num_perm(self) -> MinHashConfig:
        if self.bands is not None and self.num_perm % self.bands:
            raise ValueError(f"bands ({self.bands}) must divide num_perm ({self.num_perm})")
        return self

    @property
    def rows(self) -> int:
        return self.num_perm // self.resolved_bands

    @property
    def resolved_bands(self) -> int:
        """The divisor b of num_perm whose S-curve threshold (1/b)^(1/r) sits just below `threshold`.

        Just below, not nearest: LSH is only the candidate filter, verification restores precision,
        so we trade some extra candidates for recall.
        """
        if self.bands is not None:
            return self.bands
        divisors = [b for b in range(1, self.num_perm + 1) if self.num_perm % b == 0]
        below = [b for b in divisors if (1 / b) ** (b / self.num_perm) <= self.threshold * 0.9]
        return min(below) if below else divisors[-1]


# ---------------------------------------------------------------- dedup


class ExactDedupConfig(StrictModel):
    """Hash of the normalised text (lowercase, punctuation stripped, whitespace collapsed)."""

    enabled: bool = True


class SemanticDedupConfig(StrictModel):
    enabled: bool = False
    threshold: float = Field(0.95, gt=0, le=1, description="cosine similarity of normalised embeddings")
    block_size: int = Field(1024, ge=1, description="rows per matrix-product block: bounds memory")


class DedupConfig(StrictModel):
    """Methods run in this order; each sees only what the previous kept."""

    exact: ExactDedupConfig = ExactDedupConfig()
    minhash: MinHashConfig = MinHashConfig()
    semantic: SemanticDedupConfig = SemanticDedupConfig()


# ---------------------------------------------------------------- decontamination


class EvalSetConfig(StrictModel):
    """A local evaluation set: JSONL (.jsonl/.json), Parquet (.parquet) or a `save_to_disk` folder."""

    name: str
    path: Path
    text_fields: list[str] | None = Field(None, description="None: every string field of each item")
    split: str | None = Field(None, description="for a saved DatasetDict; None: all splits")

    @field_validator("path")
    @classmethod
    def _exists(cls, path: Path) -> Path:
        if not path.exists():
            raise ValueError(f"evaluation set not found: {path}")
        if path.is_file() and path.suffix not in {".jsonl", ".json", ".parquet"}:
            raise ValueError(f"unsupported evaluation set format (want .jsonl, .json, .parquet or a folder): {path}")
        return path


class ExactContaminationConfig(StrictModel):
    """A sample field equal to an eval text after normalisation."""

    enabled: bool = True


class NgramContaminationConfig(StrictModel):
    enabled: bool = True
    n: int = Field(13, ge=1, description="words per n-gram, after normalisation")
    min_short_text_words: int = Field(
        8, ge=1, description="eval texts shorter than n but at least this long are matched as one whole phrase"
    )


class ParaphraseMinHashConfig(MinHashConfig):
    """MinHash for paraphrase-level copies: the Jaccard similarity of the *sets of words* (1-word shingles) of the
    sample (instruction + answer) and the eval item (its texts), so reordered sentences, dropped words and a few
    synonyms still score high, where 5-word shingles (`minhash`) share almost nothing.

    Off by default (today's behaviour stays the default); the defaults are the recommended values measured by
    `make bench-decontamination` (benchmarks/RESULTS.md: recall 1.0 on paraphrased eval items, no same-topic clean
    sample flagged, for any threshold from 0.3 to 0.5): `{enabled: true}` is enough to switch it on. Compares
    instruction + answer (prompt + chosen) with the eval item's texts joined.
    """

    enabled: bool = Field(False, description="off by default; true: run after exact, ngram and minhash")
    num_perm: int = Field(256, ge=8, le=1024, description="signature length: more is a tighter Jaccard estimate")
    threshold: float = Field(
        0.4, gt=0, le=1, description="estimated word-set Jaccard at or above which a sample is contaminated"
    )
    shingle_size: int = Field(1, ge=1, description="words per shingle; 1 (word sets) ignores word order")


class EmbeddingContaminationConfig(StrictModel):
    """Cosine similarity of sentence embeddings from the curation embedder (`embedding.model`, the bundled MiniLM by
    default; the one semantic dedup uses): catches paraphrases that share few words with the eval item.

    Off by default (today's behaviour stays the default; it embeds every sample, which costs minutes on a 2-core CPU,
    and separates paraphrases from same-topic text only narrowly: at 0.77 the benchmark's recall is 0.91 with no
    clean sample flagged, at 0.76 one of 192 is). The defaults are the recommended values measured by
    `make bench-decontamination` (benchmarks/RESULTS.md); with `paraphrase_minhash` it catches what changed words.
    """

    enabled: bool = Field(False, description="off by default; true: run last, on what the other methods kept")
    threshold: float = Field(
        0.77, gt=0, le=1, description="cosine similarity (normalised embeddings) at or above which a sample is removed"
    )
    compare: Literal["fields", "whole"] = Field(
        "fields",
        description="fields: each training text (instruction, answer; prompt, chosen, rejected) against each eval "
        "text (question, answer, ...), so a copied question alone is caught; whole: instruction + answer against the "
        "eval item's texts joined",
    )
    min_words: int = Field(
        4, ge=1, description="texts with fewer words are not embedded (too little meaning; exact match covers them)"
    )
    block_size: int = Field(1024, ge=1, description="sample texts per similarity-matrix block: bounds memory")


class DecontaminationConfig(StrictModel):
    """Methods run in this order, each on what the previous kept: exact, ngram, minhash, paraphrase_minhash,
    embedding. A removal names its method, eval set and item, and the method's score."""

    eval_sets: list[EvalSetConfig] = Field(min_length=1)
    exact: ExactContaminationConfig = ExactContaminationConfig()
    ngram: NgramContaminationConfig = NgramContaminationConfig()
    minhash: MinHashConfig = Field(
        MinHashConfig(threshold=0.5), description="near-verbatim copies: 5-word shingles, estimated Jaccard >= 0.5"
    )
    paraphrase_minhash: ParaphraseMinHashConfig = ParaphraseMinHashConfig()
    embedding: EmbeddingContaminationConfig = EmbeddingContaminationConfig()
    max_examples: int = Field(5, ge=0, description="examples kept per eval set in the report")

    @field_validator("eval_sets")
    @classmethod
    def _unique_names(cls, eval_sets: list[EvalSetConfig]) -> list[EvalSetConfig]:
        names = [eval_set.name for eval_set in eval_sets]
        if len(set(names)) != len(names):
            raise ValueError(f"eval set names must be unique: {names}")
        return eval_sets


# ---------------------------------------------------------------- split


class SplitConfig(StrictModel):
    """Train/test split by source document: no document contributes to both halves."""

    test_fraction: float = Field(0.1, gt=0, lt=1, description="target share of samples in the test half")
    seed: int = 42
