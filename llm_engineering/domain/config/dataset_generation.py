"""The feature pipeline's `datasets:` block: generation, curation and publication of the datasets."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from llm_engineering.domain.config.base import PromptFileSet, StrictModel
from llm_engineering.domain.config.curation_stages import CurationConfig, DecontaminationStage, stages_from_legacy
from llm_engineering.domain.config.dataset_quality import (
    DecontaminationConfig,
    DedupConfig,
    QualityFilterConfig,
    SplitConfig,
)
from llm_engineering.domain.config.judging import JuryConfig, RewardModelMember
from llm_engineering.domain.config.llm import LLMConfig

PROMPTS_DIR = Path(__file__).resolve().parents[2] / "prompts"
LEGACY_CURATION_KEYS = ("quality_filters", "dedup", "decontamination")
BACKTRANSLATION_QUESTION_TOKENS = 64  # a question needs no more; the answer is the source passage itself
# The one precedence for generation settings: a per-task value (instructions.*, preferences.*) overrides the llm
# block's when it is set; left out, the task uses `datasets.llm`'s. `llm-engineering validate --show` prints both.
PER_TASK_LLM_SETTINGS = ("max_new_tokens",)
DEFAULT_ANGLES = [
    "about the main idea",
    "about a specific detail or number",
    "about how to apply it in practice",
    "about why it matters",
]


class PromptFiles(PromptFileSet):
    """Template files (string.Template, `$name` placeholders); point any of them elsewhere in YAML."""

    backtranslation: Path = PROMPTS_DIR / "backtranslation.txt"
    repair_question: Path = PROMPTS_DIR / "repair_question.txt"
    instruction: Path = PROMPTS_DIR / "instruction.txt"
    instruction_json: Path = PROMPTS_DIR / "instruction_json.txt"
    repair: Path = PROMPTS_DIR / "repair.txt"
    repair_json: Path = PROMPTS_DIR / "repair_json.txt"
    answer_without_context: Path = PROMPTS_DIR / "answer_without_context.txt"
    judge: Path = PROMPTS_DIR / "judge.txt"


class ExtractConfig(StrictModel):
    """Consecutive chunks of one document are merged into extracts of about this many characters."""

    max_characters: int = Field(1500, ge=200)
    min_characters: int = Field(200, ge=0)
    max_extracts: int | None = Field(None, ge=1, description="cap for quick runs; None: all")


class InstructionGenerationConfig(StrictModel):
    mode: Literal["backtranslation", "question_answer"] = Field(
        "backtranslation",
        description="backtranslation: the answer is a passage of the source (the author's own style) and the LLM "
        "writes the question it answers, which small local models do well; question_answer: the LLM writes both",
    )
    pairs_per_extract: int = Field(2, ge=1, le=len(DEFAULT_ANGLES) * 4)
    passage_max_characters: int = Field(700, ge=100, description="backtranslation: longest answer passage")
    passage_min_characters: int = Field(
        120, ge=1, description="backtranslation: shorter passages are merged or skipped"
    )
    angles: list[str] = Field(DEFAULT_ANGLES, min_length=1, description="one pair per angle, cycled")
    output_format: Literal["text", "json"] = Field(
        "text", description="text ('Question:'/'Answer:' lines) suits small local models; json uses response_format"
    )
    max_new_tokens: int | None = Field(
        None,
        ge=8,
        description="each reply's token budget; left out: datasets.llm.max_new_tokens (backtranslation questions "
        f"take at most {BACKTRANSLATION_QUESTION_TOKENS})",
    )


class PreferenceGenerationConfig(StrictModel):
    """An answer generated here must end within its budget (the model's own stop, not `max_new_tokens`): a pair
    whose rejected answer was cut off is dropped (`rejected answer truncated`), and a cut-off candidate is never
    ranked, else DPO learns "complete beats truncated". Raise `max_new_tokens` when many are dropped.

    Strategies: extract_vs_generated (chosen: the grounded answer; rejected: the model's answer without the extract);
    judge_ranked (k candidates ranked by a judge or jury: best vs worst); reward_ranked (the same, ranked by a reward
    model's score)."""

    strategy: Literal["extract_vs_generated", "judge_ranked", "reward_ranked"] = "extract_vs_generated"
    candidates: int = Field(3, ge=2, description="judge_ranked / reward_ranked: answers sampled per question")
    candidate_temperature: float = Field(0.9, gt=0)
    max_new_tokens: int | None = Field(
        None,
        ge=8,
        description="budget of each generated answer (one cut off here is dropped); left out: "
        "datasets.llm.max_new_tokens",
    )
    match_chosen_length: bool = Field(
        True,
        description="extract_vs_generated: ask for about as many words as the chosen answer ('Answer in about N "
        "words.'), so a pair differs in grounding rather than length (else DPO can learn 'longer wins'), and a small "
        "model ends its answer instead of running into max_new_tokens",
    )
    jury: JuryConfig | None = Field(
        None,
        description="judge_ranked: who ranks the candidates (any jury: LLM judges, a reward model, cheap scorers). "
        "Default: the generation LLM with the `prompts.judge` rubric (1-5, grounded in the extract)",
    )
    reward_model: Path | None = Field(
        None, description="reward_ranked: a reward model folder (e.g. what a reward_model training stage wrote)"
    )

    @model_validator(mode="after")
    def _ranker_fits_the_strategy(self) -> PreferenceGenerationConfig:
        if self.strategy == "reward_ranked" and self.reward_model is None:
            raise ValueError("strategy reward_ranked ranks candidates with a reward model: set reward_model (a folder)")
        if self.reward_model is not None and self.strategy != "reward_ranked":
            raise ValueError(f"reward_model is read by strategy reward_ranked only, not {self.strategy}")
        if self.jury is not None and self.strategy != "judge_ranked":
            raise ValueError(f"jury ranks candidates for strategy judge_ranked only, not {self.strategy}")
        return self

    def ranking_jury(self) -> JuryConfig | None:
        """The configured ranker of a ranking strategy; None: the default LLM judge (judge_ranked) or no ranking."""
        if self.strategy == "reward_ranked":
            member = RewardModelMember(kind="reward_model", name="reward_model", folder=self.reward_model)
            return JuryConfig(members=[member])
        return self.jury


class DatasetHubConfig(StrictModel):
    dataset_repo: str | None = Field(None, description="e.g. my-org/llm-engineering-instructions; needs HF_TOKEN")
    private: bool = True


class ExplorationConfig(StrictModel):
    """The exploration report of each published dataset version (statistics, topic map, review sample): the
    feature pipeline's last step. It never fails a run: an error is reported in the exploration artifact."""

    enabled: bool = True
    review_per_cluster: int = Field(
        5, ge=0, description="samples per cluster (per source when not clustered) in the review CSV; 0: no CSV"
    )
    min_samples_to_cluster: int = Field(
        30, ge=10, description="fewer samples: no topic map (the report says so), statistics only"
    )
    min_cluster_size: int = Field(5, ge=2, description="HDBSCAN: the smallest group that counts as a topic")
    min_cluster_fraction: float = Field(
        0.01, ge=0, le=0.5, description="raises min_cluster_size to this share of the samples (20 of 2,000)"
    )
    neighbors: int = Field(15, ge=2, description="UMAP n_neighbors: larger sees broader topics")
    vectors: Literal["chunks", "samples"] = Field(
        "chunks",
        description="chunks: a sample's chunk vector from Qdrant (no embedding work), the sample's own text embedded "
        "only where none is found; samples: embed every sample's instruction and answer",
    )
    tokenizer: Literal["embedding", "whitespace"] = Field(
        "embedding",
        description="what counts tokens: embedding (the embedding model's tokenizer, which chunking counts with) or "
        "whitespace (words)",
    )
    label_terms: int = Field(4, ge=1, description="top c-TF-IDF terms in a cluster's label")
    seed: int = Field(42, description="UMAP and sampling seed: the same version gives the same map and sample")


class DatasetGenerationConfig(StrictModel):
    enabled: bool = True
    llm: LLMConfig = LLMConfig()
    prompts: PromptFiles = PromptFiles()
    extracts: ExtractConfig = ExtractConfig()
    instructions: InstructionGenerationConfig = InstructionGenerationConfig()
    preferences: PreferenceGenerationConfig = PreferenceGenerationConfig()
    curation: CurationConfig = Field(
        default_factory=CurationConfig, description="`stages:` run in order on the generated samples"
    )
    split: SplitConfig = SplitConfig()
    incremental: bool = Field(True, description="new version = previous version + samples from new chunks")
    max_failed_fraction: float = Field(0.5, ge=0, le=1, description="of generations; above it the step fails")
    export_jsonl_dir: Path | None = Field(None, description="also write train/test JSONL files here")
    hub: DatasetHubConfig = DatasetHubConfig()
    exploration: ExplorationConfig = ExplorationConfig()

    # The shape before `curation.stages`: these blocks still work, and become the equivalent list (filters, dedup,
    # decontamination, in that order). Excluded from dumps: a stored config holds the list only.
    quality_filters: QualityFilterConfig | None = Field(
        None, exclude=True, description="legacy: the quality-filter stages, in this order"
    )
    dedup: DedupConfig | None = Field(None, exclude=True, description="legacy: the dedup stages after the filters")
    decontamination: DecontaminationConfig | None = Field(
        None, exclude=True, description="legacy: the decontamination stage, last"
    )

    @model_validator(mode="after")
    def _legacy_curation_blocks(self) -> DatasetGenerationConfig:
        given = [key for key in LEGACY_CURATION_KEYS if getattr(self, key) is not None]
        if not given:
            return self
        stages = stages_from_legacy(self.quality_filters or QualityFilterConfig(), self.dedup or DedupConfig(),
                                    self.decontamination)  # fmt: skip
        converted = CurationConfig.model_validate({"stages": [stage.model_dump() for stage in stages]})
        # (equal: this model validated again, e.g. after an assignment, with the list it made itself)
        if "curation" in self.model_fields_set and self.curation != converted:
            raise ValueError(
                f"give either `curation.stages:` or the older {' / '.join(f'`{key}:`' for key in given)} "
                "block(s), not both: move them into the stage list (see configs/feature_engineering.yaml)"
            )
        object.__setattr__(self, "curation", converted)  # not an assignment to validate again: it is the validation
        self.model_fields_set.add("curation")  # a dump of the set fields (as ZenML stores them) keeps the list
        return self

    def instruction_settings(self) -> InstructionGenerationConfig:
        """`instructions` as generation uses it: what it leaves out taken from `llm` (PER_TASK_LLM_SETTINGS)."""
        return self.instructions.model_copy(update=self._from_llm(self.instructions))

    def preference_settings(self) -> PreferenceGenerationConfig:
        """`preferences` as generation uses it: what it leaves out taken from `llm`."""
        return self.preferences.model_copy(update=self._from_llm(self.preferences))

    def _from_llm(self, task: StrictModel) -> dict[str, object]:
        return {name: getattr(self.llm, name) for name in PER_TASK_LLM_SETTINGS if getattr(task, name) is None}

    def generation_settings(self) -> list[tuple[str, object, str]]:
        """(field under `datasets.`, effective value, where it comes from) for each per-task LLM setting."""
        rows = []
        for task in ("instructions", "preferences"):
            config = getattr(self, task)
            for name in PER_TASK_LLM_SETTINGS:
                given = getattr(config, name)
                if given is None:
                    rows.append((f"{task}.{name}", getattr(self.llm, name), f"llm.{name} ({task}.{name} not set)"))
                else:
                    rows.append((f"{task}.{name}", given, f"{task}.{name} (overrides llm.{name})"))
        return rows

    def decontamination_stages(self) -> list[tuple[str, DecontaminationConfig]]:
        """(field under `datasets.`, config) of each enabled decontamination stage: where its problems are named."""
        if self.decontamination is not None:  # the legacy block, where the user wrote it
            return [("decontamination", self.decontamination)]
        return [
            (f"curation.stages.{index}", stage)
            for index, stage in enumerate(self.curation.stages)
            if isinstance(stage, DecontaminationStage) and stage.enabled
        ]

    @model_validator(mode="after")
    def _json_needs_a_server(self) -> DatasetGenerationConfig:
        if self.instructions.output_format == "json" and self.instructions.mode == "backtranslation":
            raise ValueError("instructions.output_format 'json' is for mode 'question_answer'")
        if self.instructions.output_format == "json" and self.llm.provider == "local":
            raise ValueError("instructions.output_format 'json' needs llm.provider 'openai' (response_format)")
        return self
