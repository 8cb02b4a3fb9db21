"""The `evol_instruct` curation stage: Evol-Instruct augmentation (WizardLM, Xu et al. 2023).

An LLM rewrites instructions into new ones, each by one mutation: in depth (harder versions of the same instruction)
or in breadth (a new instruction on the same topic). Each evolved instruction gets an answer from the same LLM, with
the parent sample's source extract as context, so the answer stays grounded. An elimination step drops evolutions
that add nothing, copy the prompt's wording or failed; the rest are added to the kept samples (the parents stay) and
go on through the stages listed after this one:

    curation:
      stages:
        - {kind: length}
        - {kind: evol_instruct, mutations: [add_constraints, deepen, in_breadth], fraction: 0.5, rounds: 1}
        - {kind: exact_dedup}            # list evol_instruct before dedup and decontamination,
        - {kind: minhash_dedup}          #   so that evolved samples are deduplicated and decontaminated too
        - {kind: decontamination, eval_sets: [...]}

Preference pairs are not evolved: the stage passes them through unchanged (its report says so). They are generated
from the curated instruction samples, evolved ones included, so evolved prompts reach the preference dataset anyway.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from llm_engineering.domain.config.base import PromptFileSet, StrictModel, repeated
from llm_engineering.domain.config.curation_stage_base import CurationStageBase
from llm_engineering.domain.config.llm import LLMConfig

EVOLUTION_PROMPTS_DIR = Path(__file__).resolve().parents[2] / "prompts" / "evolution"

Mutation = Literal["add_constraints", "deepen", "concretize", "increase_reasoning_steps", "in_breadth"]
# In depth: the same instruction made harder; in breadth: a new instruction on the same topic.
MUTATIONS: tuple[str, ...] = ("add_constraints", "deepen", "concretize", "increase_reasoning_steps", "in_breadth")

# Words of the mutation prompts themselves: an evolved instruction containing one (that its parent did not) copied
# the prompt instead of following it (WizardLM's third elimination rule).
PROMPT_WORDING = [
    "#given instruction#",
    "#rewritten instruction#",
    "given instruction",
    "rewritten instruction",
    "rewritten prompt",
    "given prompt",
    "created prompt",
    "new instruction:",
    "original instruction",
    "the instruction above",
    "rewrite the instruction",
]
REFUSALS = [
    "as an ai",
    "as a language model",
    "i cannot",
    "i can't",
    "i'm sorry",
    "i am sorry",
    "i'm unable to",
    "i am unable to",
    "i don't have access",
    "i do not have access",
]


class EvolutionPrompts(PromptFileSet):
    """Template files (string.Template): `$instruction` (the parent's) and `$context` (the extract block, or empty)
    in the mutation prompts; `$instruction` and `$context` in the answer prompts."""

    add_constraints: Path = EVOLUTION_PROMPTS_DIR / "add_constraints.txt"
    deepen: Path = EVOLUTION_PROMPTS_DIR / "deepen.txt"
    concretize: Path = EVOLUTION_PROMPTS_DIR / "concretize.txt"
    increase_reasoning_steps: Path = EVOLUTION_PROMPTS_DIR / "increase_reasoning_steps.txt"
    in_breadth: Path = EVOLUTION_PROMPTS_DIR / "in_breadth.txt"
    answer: Path = Field(EVOLUTION_PROMPTS_DIR / "answer.txt", description="the answer, with the extract as context")
    answer_without_context: Path = Field(
        EVOLUTION_PROMPTS_DIR / "answer_without_context.txt", description="the answer of a sample without an extract"
    )


class EliminationConfig(StrictModel):
    """Which evolutions are dropped (WizardLM's elimination): each is recorded as a removed sample of the stage, with
    its reason (and, for `adds nothing to its parent`, the word overlap with the parent as its score)."""

    max_similarity: float = Field(
        0.8, gt=0, le=1, description="word-set Jaccard of the evolved instruction and its parent's at or above which "
        "the evolution adds nothing (a normalised copy of the parent always does)"
    )  # fmt: skip
    min_new_words: int = Field(
        2, ge=0, description="content words the evolved instruction must have that its parent does not"
    )
    prompt_wording: list[str] = Field(
        PROMPT_WORDING, description="phrases of the mutation prompts (case-insensitive); an evolved instruction with "
        "one its parent did not have copied the prompt"
    )  # fmt: skip
    refusals: list[str] = Field(REFUSALS, description="an answer containing one of these is a refusal")
    min_answer_words: int = Field(
        3, ge=1, description="content words (not stopwords or punctuation) an answer needs not to count as empty"
    )
    max_instruction_words: int = Field(
        200, ge=1, description="an evolved instruction longer than this ran on (it is an answer, or several prompts)"
    )
    require_instruction_format: bool = Field(
        True, description="the evolved instruction must read as a question or an imperative (the instruction_format "
        "filter's default words): a small model often answers the parent instead of rewriting it"
    )  # fmt: skip
    max_answer_overlap: float = Field(
        0.8, gt=0, le=1, description="an answer whose content words are at least this share the instruction's only "
        "repeats it (its score is the share)"
    )  # fmt: skip


class EvolInstructStage(CurationStageBase):
    """Evol-Instruct: evolves a seeded share of the samples with the listed mutations, answers each evolved
    instruction, eliminates evolutions that add nothing, copy the prompt or failed, and adds the rest to the kept
    samples, each recording its `parent_id`, its `mutation` and `generated_answer: true`. Every request is
    deterministic (the same prompt for the same sample; the LLM's temperature, default 0), so a rerun is answered by
    the response cache. Preference pairs pass through unchanged."""

    kind: Literal["evol_instruct"]
    default_name: ClassVar[str] = "evol_instruct"
    mutations: list[Mutation] = Field(
        list(MUTATIONS),  # type: ignore[arg-type]
        min_length=1,
        description="in depth: add_constraints (one more requirement), deepen (a deeper or broader inquiry), "
        "concretize (general concepts made specific), increase_reasoning_steps (explicit multi-step reasoning); "
        "in breadth: in_breadth (a new, rarer instruction on the same topic). Default: all five",
    )
    mutations_per_sample: int = Field(
        1, ge=1, description="evolutions of each chosen sample per round, each by another of `mutations` (seeded)"
    )
    rounds: int = Field(
        1, ge=1, le=5, description="round n evolves round n-1's kept evolutions again (each one's parent_id is the "
        "sample it was evolved from)"
    )  # fmt: skip
    fraction: float = Field(
        1.0, gt=0, le=1, description="share of the stage's samples that are evolved: each sample is chosen or not by "
        "a hash of the seed and its id, so the same sample is always chosen, in any batch"
    )  # fmt: skip
    max_samples: int | None = Field(
        None, ge=1, description="at most this many samples evolved per run (the chosen ones with the lowest hashes)"
    )
    seed: int = Field(0, description="picks the samples and each sample's mutations")
    llm: LLMConfig | None = Field(
        None, description="the LLM that evolves and answers (provider, model, endpoint, cache); default: the "
        "pipeline's `datasets.llm`. Its temperature stays as configured (0: greedy); the cache answers reruns"
    )  # fmt: skip
    answer_with_context: bool = Field(
        True, description="answer an evolved instruction with the parent's source extract as context (grounded)"
    )
    max_new_tokens: int = Field(384, ge=8, description="each answer's token budget; an answer cut off here is dropped")
    instruction_max_new_tokens: int = Field(
        160, ge=8, description="each evolved instruction's token budget; one cut off here is dropped"
    )
    max_failed_fraction: float = Field(
        0.5, ge=0, le=1, description="of the stage's LLM calls that failed (after the provider's retries); above "
        "it the stage stops (EvolutionFailed) instead of quietly adding fewer samples"
    )  # fmt: skip
    prompts: EvolutionPrompts = EvolutionPrompts()
    elimination: EliminationConfig = EliminationConfig()
    examples: int = Field(5, ge=0, description="parent -> child examples kept for the dataset report")

    @field_validator("mutations")
    @classmethod
    def _each_once(cls, mutations: list[str]) -> list[str]:
        twice = repeated(mutations)
        if twice:
            raise ValueError(f"each mutation once, listed twice: {', '.join(twice)}")
        return mutations

    @model_validator(mode="after")
    def _enough_mutations(self) -> EvolInstructStage:
        if self.mutations_per_sample > len(self.mutations):
            raise ValueError(
                f"mutations_per_sample {self.mutations_per_sample} is more than the {len(self.mutations)} mutation(s) "
                "listed: each evolution of a sample uses another mutation"
            )
        return self
