"""`datasets.curation.stages`: curation as an ordered list of stages, one config model per stage kind.

Each entry is a block told apart by `kind` (a discriminated union), with its own parameters next to it:

    curation:
      stages:
        - {kind: length, unit: words}
        - {kind: grounding, min_overlap: 0.3}
        - {kind: exact_dedup}
        - {kind: minhash_dedup, threshold: 0.7}
        - {kind: decontamination, eval_sets: [{name: eval, path: eval.jsonl}]}

Augmentation stages add samples instead: `evol_instruct` (its own module, evolution_stage.py) evolves instructions
with an LLM and adds the evolutions it keeps; list it before dedup and decontamination.

Stages run in the listed order, each on what the previous kept (the application's `STAGE_RUNNERS` maps each kind to
the function that runs it). The quality-filter kinds reuse the filter parameter models of `dataset_quality`; the dedup
kinds dedup against the previous dataset version too. `kind` is required, with no default: ZenML drops default values
when it stores step parameters, and the union needs the tag.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, ValidationError, ValidatorFunctionWrapHandler, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from llm_engineering.domain.config.base import StrictModel, repeated
from llm_engineering.domain.config.curation_stage_base import CurationStageBase
from llm_engineering.domain.config.dataset_quality import (
    FILTER_PARAMS,
    CodeFenceParams,
    ContextReferenceParams,
    DecontaminationConfig,
    DedupConfig,
    ExcludedPhraseParams,
    GroundingParams,
    InstructionFormatParams,
    LengthFilterParams,
    MinHashConfig,
    QualityFilterConfig,
    RepetitionParams,
    SemanticDedupConfig,
    TemplateMarkerParams,
)
from llm_engineering.domain.config.evolution_stage import EvolInstructStage
from llm_engineering.domain.config.judging import JuryConfig

# ---------------------------------------------------------------- quality filters: keep, or drop with a reason


class LengthStage(CurationStageBase, LengthFilterParams):
    """Instruction and answer lengths within bounds (characters or words)."""

    kind: Literal["length"]
    default_name: ClassVar[str] = "filter:length"


class InstructionFormatStage(CurationStageBase, InstructionFormatParams):
    """The instruction reads as a question or an imperative."""

    kind: Literal["instruction_format"]
    default_name: ClassVar[str] = "filter:instruction_format"


class TemplateMarkerStage(CurationStageBase, TemplateMarkerParams):
    """No prompt-template scaffolding (`### Response`, `[INST]`, ...) left in the answer."""

    kind: Literal["template_markers"]
    default_name: ClassVar[str] = "filter:template_markers"


class CodeFenceStage(CurationStageBase, CodeFenceParams):
    """Balanced ``` fences: an odd count means a code block was cut off."""

    kind: Literal["code_fences"]
    default_name: ClassVar[str] = "filter:code_fences"


class ExcludedPhraseStage(CurationStageBase, ExcludedPhraseParams):
    """No refusals or boilerplate ("as an AI", "I cannot")."""

    kind: Literal["excluded_phrases"]
    default_name: ClassVar[str] = "filter:excluded_phrases"


class GroundingStage(CurationStageBase, GroundingParams):
    """The answer's content words are found in its extract; the removed sample's score is the overlap."""

    kind: Literal["grounding"]
    default_name: ClassVar[str] = "filter:grounding"


class RepetitionStage(CurationStageBase, RepetitionParams):
    """No degenerate output: a token or a phrase looping."""

    kind: Literal["repetition"]
    default_name: ClassVar[str] = "filter:repetition"


class ContextReferenceStage(CurationStageBase, ContextReferenceParams):
    """No question pointing at "the text above", which the trained model will not see."""

    kind: Literal["context_reference"]
    default_name: ClassVar[str] = "filter:context_reference"


# ---------------------------------------------------------------- dedup, also against the previous dataset version


class ExactDedupStage(CurationStageBase):
    """Equal normalised text (lowercase, punctuation stripped, whitespace collapsed): the first occurrence stays."""

    kind: Literal["exact_dedup"]
    default_name: ClassVar[str] = "dedup:exact"


class MinhashDedupStage(CurationStageBase, MinHashConfig):
    """Near duplicates: word-shingle MinHash with LSH banding, verified by signature Jaccard >= threshold."""

    kind: Literal["minhash_dedup"]
    default_name: ClassVar[str] = "dedup:minhash"
    enabled: bool = Field(True, description="false: listed but skipped")


class SemanticDedupStage(CurationStageBase, SemanticDedupConfig):
    """Paraphrases: cosine similarity of the embeddings (the pipeline's embedding model) >= threshold."""

    kind: Literal["semantic_dedup"]
    default_name: ClassVar[str] = "dedup:semantic"
    enabled: bool = Field(True, description="false: listed but skipped")


# ---------------------------------------------------------------- decontamination


class DecontaminationStage(CurationStageBase, DecontaminationConfig):
    """Samples overlapping the evaluation sets (exact, n-gram, MinHash; each switchable) are removed."""

    kind: Literal["decontamination"]
    default_name: ClassVar[str] = "decontamination"


# ---------------------------------------------------------------- scoring: a judge or a jury


class JudgeStage(CurationStageBase):
    """Scores every sample with a judge or a jury (domain/config/judging.py: LLM judges with rubrics, a reward model,
    embedding relevance, instruction-following difficulty). The scores become dataset columns named after the stage:
    `judge` (the aggregate, in [0, 1]), `judge_<member>` and `judge_<member>_<dimension>`; for preference pairs both
    answers are scored (`judge_chosen...`, `judge_rejected...`) and `judge_margin` is chosen minus rejected.
    With no threshold it only scores; with one it is a filter, each removal keeping its score."""

    kind: Literal["judge"]
    default_name: ClassVar[str] = "judge"
    jury: JuryConfig = Field(description="the members, how their scores combine, the quorum and the failure budget")
    min_score: float | None = Field(
        None, ge=0, le=1, description="drop a sample whose aggregate score (the chosen answer's, for pairs) is lower"
    )
    min_margin: float | None = Field(
        None, ge=-1, le=1, description="preference pairs: drop a pair whose chosen answer does not beat the rejected "
        "one by this much (0: the chosen must score at least as high)"
    )  # fmt: skip
    unjudged: Literal["keep", "drop"] = Field(
        "keep",
        description="a sample fewer than the quorum of members scored: kept without a score, or dropped; counted in "
        "the report either way (and more than jury.max_unjudged_fraction of them stops the stage)",
    )
    with_context: bool = Field(
        True, description="give the judges the source extract the sample was generated from (grounding rubrics)"
    )


FilterStage = (
    LengthStage
    | InstructionFormatStage
    | TemplateMarkerStage
    | CodeFenceStage
    | ExcludedPhraseStage
    | GroundingStage
    | RepetitionStage
    | ContextReferenceStage
)
CurationStage = Annotated[
    FilterStage
    | ExactDedupStage
    | MinhashDedupStage
    | SemanticDedupStage
    | DecontaminationStage
    | JudgeStage
    | EvolInstructStage,
    Field(discriminator="kind"),
]
# kind -> its config model: the names YAML may use. The application's STAGE_RUNNERS implements exactly these.
STAGE_MODELS: dict[str, type[CurationStageBase]] = {
    model.model_fields["kind"].annotation.__args__[0]: model  # type: ignore[union-attr]
    for model in (
        LengthStage, InstructionFormatStage, TemplateMarkerStage, CodeFenceStage, ExcludedPhraseStage, GroundingStage,
        RepetitionStage, ContextReferenceStage, ExactDedupStage, MinhashDedupStage, SemanticDedupStage,
        DecontaminationStage, JudgeStage, EvolInstructStage,
    )
}  # fmt: skip
FILTER_KINDS = tuple(FILTER_PARAMS)
if set(FILTER_KINDS) - set(STAGE_MODELS):  # every quality filter is a stage kind
    raise RuntimeError(f"quality filters without a stage kind: {sorted(set(FILTER_KINDS) - set(STAGE_MODELS))}")


def stages_from_legacy(
    quality_filters: QualityFilterConfig, dedup: DedupConfig, decontamination: DecontaminationConfig | None
) -> list[CurationStageBase]:
    """The older fixed shape as the equivalent list: the filters in their order, then exact, MinHash and semantic
    dedup (those enabled), then decontamination (when configured). The same order, so the same results."""
    stages: list[CurationStageBase] = [
        STAGE_MODELS[spec.name].model_validate({"kind": spec.name, **spec.params}) for spec in quality_filters.filters
    ]
    if dedup.exact.enabled:
        stages.append(ExactDedupStage(kind="exact_dedup"))
    if dedup.minhash.enabled:
        stages.append(MinhashDedupStage.model_validate({"kind": "minhash_dedup", **dedup.minhash.model_dump()}))
    if dedup.semantic.enabled:
        stages.append(SemanticDedupStage.model_validate({"kind": "semantic_dedup", **dedup.semantic.model_dump()}))
    if decontamination is not None:
        stages.append(DecontaminationStage.model_validate({"kind": "decontamination", **decontamination.model_dump()}))
    return stages


def default_stages() -> list[CurationStageBase]:
    """Today's default: every quality filter, exact dedup, MinHash dedup; no semantic dedup, no decontamination."""
    return stages_from_legacy(QualityFilterConfig(), DedupConfig(), None)


class CurationConfig(StrictModel):
    stages: list[CurationStage] = Field(
        default_factory=default_stages,  # type: ignore[arg-type]
        description="run in order, each on what the previous kept; the default: every quality filter, then exact "
        "and MinHash dedup",
    )

    @field_validator("stages", mode="wrap")
    @classmethod
    def _errors_name_the_entry_and_its_field(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        """`stages.3.kind: unknown stage kind 'x'` and `stages.3.treshold: ...`: without pydantic's union tag in
        the path, and naming the known kinds."""
        try:
            return handler(value)
        except ValidationError as exc:
            errors = []
            for error in exc.errors():
                location, message = list(error["loc"]), error["msg"]
                if error["type"] == "union_tag_invalid":
                    location.append("kind")
                    message = f"unknown stage kind {error['ctx']['tag']!r}; known kinds: {', '.join(STAGE_MODELS)}"
                elif error["type"] == "union_tag_not_found":
                    location.append("kind")
                    message = f"every stage needs a kind, one of: {', '.join(STAGE_MODELS)}"
                elif len(location) >= 2 and location[1] in STAGE_MODELS:
                    del location[1]  # the union's tag: the entry's own `kind:` says it already
                errors.append(
                    InitErrorDetails(
                        type=PydanticCustomError(error["type"], "{message}", {"message": message}),
                        loc=tuple(location),
                        input=error["input"],
                    )
                )
            raise ValidationError.from_exception_data(exc.title, errors) from None

    @model_validator(mode="after")
    def _unique_names(self) -> CurationConfig:
        for index, stage in enumerate(self.stages):
            if stage.name is None:
                taken = sum(1 for other in self.stages[:index] if other.kind == stage.kind)
                stage.name = stage.default_name if taken == 0 else f"{stage.default_name}_{taken + 1}"
        duplicates = repeated([stage.name for stage in self.stages if stage.name is not None])
        if duplicates:
            raise ValueError(f"stages: names must be unique, used twice: {', '.join(duplicates)}")
        return self
