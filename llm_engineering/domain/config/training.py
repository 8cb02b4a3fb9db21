"""The training pipeline's `parameters:` block (SFT -> DPO -> evaluation -> export), validated before any work.

Nothing here imports torch: checks that need the hardware (QLoRA, unsloth) run when the training step starts,
on the machine that trains.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from llm_engineering.domain.config.base import StrictModel
from llm_engineering.domain.config.distill_stage import DistillStageConfig
from llm_engineering.domain.config.distributed import DISTRIBUTED, DistributedConfig
from llm_engineering.domain.config.evaluation_blocks import LmEvalConfig, WinRateConfig
from llm_engineering.domain.config.gguf_export import GgufExportConfig
from llm_engineering.domain.config.judging import JuryConfig, LlmMember
from llm_engineering.domain.config.llm import LLMConfig
from llm_engineering.domain.config.reward_model_stage import RewardModelStageConfig
from llm_engineering.domain.config.rl_stages import GrpoStageConfig, RlooStageConfig
from llm_engineering.domain.config.training_blocks import (  # noqa: F401 - re-exported: the training config's names
    FLASH_ATTENTION,
    GPU_ONLY_OPTIMIZERS,
    LOSS_TYPES,
    MERGEABLE_METHODS,
    PROMPT_LEARNING_METHODS,
    AdapterConfig,
    AttentionImplementation,
    BaseModelConfig,
    DatasetInput,
    DatasetsConfig,
    DpoLossType,
    KtoLossType,
    OptimizationConfig,
    Optimizer,
    PeftMethod,
    Scheduler,
)


class SftConfig(StrictModel):
    adapter: AdapterConfig = AdapterConfig()
    optimization: OptimizationConfig = OptimizationConfig()
    max_length: int = Field(384, gt=8, description="tokens per training sequence")
    packing: bool = Field(
        False,
        description="pack samples into rows of max_length (best fit), each attending only to itself: padding-free "
        "batches with flash attention, per-row block-diagonal masks with sdpa/eager",
    )
    assistant_only_loss: bool = Field(True, description="loss on the assistant's tokens only")
    resume_from_checkpoint: bool = Field(True, description="resume from the last checkpoint a rerun finds")


class AlignmentConfig(StrictModel):
    """What DPO, KTO and ORPO share: the preference-alignment knobs (TRL's DPOConfig / KTOConfig / ORPOConfig)."""

    beta: float = Field(0.1, gt=0, description="strength of the preference term (DPO/KTO: KL to the reference)")
    loss_type: DpoLossType | KtoLossType | None = Field(
        None, description="dpo: sigmoid (default), ipo, hinge, ...; kto: kto (default) or apo_zero_unpaired"
    )
    max_length: int = Field(384, gt=8, description="tokens per prompt + answer")
    optimization: OptimizationConfig = OptimizationConfig(learning_rate=5e-5)
    resume_from_checkpoint: bool = True

    @model_validator(mode="after")
    def _loss_type_fits_the_method(self) -> AlignmentConfig:
        allowed = LOSS_TYPES[self.method]
        if self.loss_type is not None and self.loss_type not in allowed:
            raise ValueError(
                f"loss_type {self.loss_type!r} does not apply to method {self.method!r}; "
                + (f"choose one of {list(allowed)}" if allowed else "orpo has a single loss: leave loss_type unset")
            )
        if self.method == "kto" and self.optimization.per_device_train_batch_size < 2:
            # TRL's KTO estimates its KL term from mismatched completions within a batch.
            raise ValueError("method 'kto' needs optimization.per_device_train_batch_size >= 2 (its KL estimate)")
        return self

    @property
    def resolved_loss_type(self) -> str | None:
        return self.loss_type or next(iter(LOSS_TYPES[self.method]), None)


class DpoConfig(AlignmentConfig):
    """The legacy `dpo:` block (SFT -> alignment): DPO or KTO (both against the SFT model as reference) or ORPO
    (reference-free, TRL experimental). KTO learns from unpaired good/bad answers; our pairs are unpaired for it.
    `stages:` supersedes it: `- {kind: dpo, ...}`."""

    enabled: bool = True
    method: Literal["dpo", "kto", "orpo"] = "dpo"


class JudgeConfig(StrictModel):
    """Who judges the generated answers: `base_url` + `model` is one OpenAI-compatible judge with the Handbook's
    accuracy/style rubric (1-3 each); `jury` is any jury (LLM judges, a reward model, cheap scorers; see
    domain/config/judging.py). Neither: no judging."""

    base_url: str | None = None
    model: str = "gpt-4o-mini"
    jury: JuryConfig | None = None
    samples: int = Field(5, gt=0, description="generated answers judged per model")

    @model_validator(mode="after")
    def _one_way(self) -> JudgeConfig:
        if self.base_url and self.jury is not None:
            raise ValueError("give either base_url (one judge) or jury (any jury), not both")
        return self

    def jury_config(self) -> JuryConfig | None:
        if self.jury is not None:
            return self.jury
        if not self.base_url:
            return None
        llm = LLMConfig(provider="openai", base_url=self.base_url, model=self.model, temperature=0.0)
        member = LlmMember(kind="llm", name="judge", llm=llm, rubric="accuracy_style", max_new_tokens=32)
        return JuryConfig(members=[member])


class EvaluationConfig(StrictModel):
    enabled: bool = True
    loss_samples: int = Field(32, gt=0, description="instruction test samples for held-out loss/perplexity")
    generation_samples: int = Field(4, ge=0, description="test samples answered greedily for ROUGE-L")
    max_new_tokens: int = Field(48, gt=0)
    preference_samples: int = Field(32, gt=0, description="held-out pairs for reward accuracy/margin")
    batch_size: int = Field(4, gt=0)
    judge: JudgeConfig = JudgeConfig()
    lm_eval: LmEvalConfig = Field(LmEvalConfig(), description="lm-evaluation-harness tasks on every evaluated model")
    win_rate: WinRateConfig = Field(
        WinRateConfig(), description="the final model's pairwise win rate against the base and production models"
    )

    @model_validator(mode="after")
    def _win_rate_has_a_judge(self) -> EvaluationConfig:
        if self.win_rate.enabled and self.judge.jury_config() is None:
            raise ValueError(
                "win_rate.samples needs a judge: set judge.base_url (an OpenAI-compatible judge) or judge.jury "
                "(e.g. the bundled local model: {members: [{kind: llm, name: local}]})"
            )
        return self


class PromotionConfig(StrictModel):
    metric: str = Field("eval_loss", description="a metric of the final model in the evaluation report")
    lower_is_better: bool = True
    stage: Literal["production", "staging"] = "production"
    # Gates the final model must pass before `metric` is even compared, e.g. {reward_accuracy: 0.75}: one metric
    # alone can promote a model that got worse elsewhere (a lower held-out loss after a failed alignment).
    min_metrics: dict[str, float] = Field({}, description="metric -> the lowest value that may be promoted")
    max_metrics: dict[str, float] = Field({}, description="metric -> the highest value that may be promoted")


class ExportConfig(StrictModel):
    folder: Path | None = Field(
        None,
        description="this exact folder, replaced by each run; by default <data_dir>/exports/<model name>/v<model "
        "version>, one per version, so a promoted version's files stay while later runs export",
    )
    keep: int = Field(
        3,
        ge=1,
        description="default layout only: version folders kept per model, the newest; a version in a stage "
        "(production, staging) keeps its folder whatever its age",
    )
    gguf: GgufExportConfig = Field(
        GgufExportConfig(), description="GGUF files of the final model, next to its merged safetensors weights"
    )


class HubConfig(StrictModel):
    model_repo: str | None = Field(None, description="push when set and HF_TOKEN is set")
    private: bool = True


class TrackingConfig(StrictModel):
    comet: bool = Field(True, description="Comet experiment: offline unless COMET_API_KEY is set")


# ---------------------------------------------------------------- training stages
# One config model per stage kind (as TRL has one config dataclass per trainer), told apart by `kind`, which is
# required: ZenML drops default values when it stores step parameters, and the union needs the tag.


class StageBase(StrictModel):
    name: str | None = Field(None, description="unique stage name (artifacts, metrics, the model card); default: kind")
    start_from: str | None = Field(
        None, description="the stage whose model this one starts from; default: the previous policy stage (or the "
        "base model for the first). 'base' starts from the base model"
    )  # fmt: skip
    distributed: DistributedConfig = Field(DistributedConfig(), description=DISTRIBUTED)


class SftStage(StageBase, SftConfig):
    """Supervised fine-tuning (TRL SFTTrainer + PEFT) on the instruction dataset."""

    kind: Literal["sft"]


class AlignmentStage(StageBase, AlignmentConfig):
    """Preference alignment on the preference dataset: `dpo` and `kto` against the model they start from as
    reference, `orpo` reference-free. Starts from a trained stage (an SFT adapter or full model)."""

    kind: Literal["dpo", "kto", "orpo"]

    @property
    def method(self) -> str:
        return self.kind


TrainingStage = Annotated[
    SftStage | AlignmentStage | RewardModelStageConfig | GrpoStageConfig | RlooStageConfig | DistillStageConfig,
    Field(discriminator="kind"),
]
TRAINED_MODEL_KINDS = ("dpo", "kto", "orpo", "grpo", "rloo")  # stages that continue a trained model, not the base
POLICY_KINDS = ("sft", "dpo", "kto", "orpo", "grpo", "rloo", "distill")  # stages whose output is a causal LM
PREFERENCE_KINDS = ("dpo", "kto", "orpo", "reward_model")  # stages that train on the preference dataset


class StageSpec(StrictModel):
    """One stage as a step parameter (ZenML validates a model, not a bare union)."""

    stage: TrainingStage


class StagePlan(StrictModel):
    """The ordered stages, as one step parameter (ZenML validates a model, not a bare union)."""

    stages: list[TrainingStage]

    def starts(self) -> dict[str, str]:
        """Stage name -> the stage it starts from ("base" for the base model)."""
        starts: dict[str, str] = {}
        previous_policy = "base"
        for stage in self.stages:
            starts[stage.name] = stage.start_from or (previous_policy if stage.kind in POLICY_KINDS else "base")
            if stage.kind in POLICY_KINDS:
                previous_policy = stage.name
        return starts

    @staticmethod
    def step_id(stage: StageBase) -> str:
        return f"train_{stage.name}"

    def final_policy(self) -> str:
        return [stage.name for stage in self.stages if stage.kind in POLICY_KINDS][-1]

    def adapter_of(self, name: str) -> AdapterConfig | None:
        """The adapter a stage's model carries: its own, or the one of the stage it continues (DPO keeps training
        the SFT adapter)."""
        by_name, starts = {stage.name: stage for stage in self.stages}, self.starts()
        while name in by_name:
            adapter = getattr(by_name[name], "adapter", None)
            if adapter is not None:
                return adapter
            name = starts[name]
        return None


class TrainingParameters(StrictModel):
    datasets: DatasetsConfig = DatasetsConfig()
    base_model: BaseModelConfig = BaseModelConfig()
    backend: Literal["auto", "trl", "unsloth"] = "auto"
    stages: list[TrainingStage] = Field(
        [SftStage(kind="sft"), AlignmentStage(kind="dpo")],
        description="trained in order; each starts from the previous policy stage's model unless it names another",
    )
    evaluation: EvaluationConfig = EvaluationConfig()
    promotion: PromotionConfig = PromotionConfig()
    export: ExportConfig = ExportConfig()
    hub: HubConfig = HubConfig()
    tracking: TrackingConfig = TrackingConfig()

    # The shape before stages: `sft:` + `dpo:` still work, and become the stages [sft, dpo (its method)].
    sft: SftConfig | None = Field(None, exclude=True, description="legacy: the same as `stages: [{kind: sft, ...}]`")
    dpo: DpoConfig | None = Field(None, exclude=True, description="legacy: the alignment stage after sft")

    @model_validator(mode="after")
    def _legacy_sft_and_dpo_blocks(self) -> TrainingParameters:
        if self.sft is None and self.dpo is None:
            return self
        if "stages" in self.model_fields_set:
            raise ValueError("give either `stages:` or the older `sft:` / `dpo:` blocks, not both")
        sft, dpo = self.sft or SftConfig(), self.dpo or DpoConfig()
        stages: list[Any] = [SftStage.model_validate({"kind": "sft", **sft.model_dump()})]
        if dpo.enabled:
            alignment = dpo.model_dump(exclude={"enabled", "method"})
            stages.append(AlignmentStage.model_validate({"kind": dpo.method, **alignment}))
        object.__setattr__(self, "stages", stages)  # not an assignment to validate again: it is the validation
        return self

    @model_validator(mode="after")
    def _stages_fit_together(self) -> TrainingParameters:
        names: list[str] = []
        for index, stage in enumerate(self.stages):
            if stage.name is None:
                taken = sum(1 for other in self.stages[:index] if other.kind == stage.kind)
                stage.name = stage.kind if taken == 0 else f"{stage.kind}_{taken + 1}"
            if stage.name in names or stage.name == "base":
                raise ValueError(f"stages.{index}.name: {stage.name!r} is used twice (or is 'base'); names are unique")
            names.append(stage.name)
        pairs = [stage.name for stage in self.stages if stage.kind in PREFERENCE_KINDS]
        if pairs and self.datasets.preference is None:
            raise ValueError(f"stages {pairs} train on preference pairs, but datasets.preference is null")
        if not any(stage.kind in POLICY_KINDS for stage in self.stages):
            raise ValueError("stages: at least one stage must train the policy model (sft, dpo, kto, orpo, grpo, ...)")
        kinds = {stage.name: stage.kind for stage in self.stages}
        methods = {stage.name: getattr(stage, "adapter", None) for stage in self.stages}
        plan = StagePlan(stages=self.stages)
        starts = plan.starts()
        for index, stage in enumerate(self.stages):
            start = starts[stage.name]
            if start != "base" and start not in names[:index]:
                raise ValueError(f"stages.{index}.start_from: {start!r} is not an earlier stage ({names[:index]})")
            if start != "base" and kinds[start] not in POLICY_KINDS:
                raise ValueError(f"stages.{index}.start_from: {start!r} is a {kinds[start]} stage, not a policy model")
            if stage.kind in TRAINED_MODEL_KINDS and start == "base":
                raise ValueError(
                    f"stages.{index} ({stage.kind}) aligns a trained model, but starts from the base model: put an "
                    "sft stage before it, or name one in start_from"
                )
            uses_trained_reward_model = any(
                spec.name == "reward_model" and spec.params.get("folder") is None
                for spec in getattr(stage, "rewards", [])
            )
            if uses_trained_reward_model and "reward_model" not in [kinds[n] for n in names[:index]]:
                raise ValueError(
                    f"stages.{index} ({stage.kind}) rewards with reward_model, but no reward_model stage comes before "
                    "it: add one, or set the reward's params.folder"
                )
            adapter = methods.get(start)
            prompt_learning = adapter is not None and adapter.method in PROMPT_LEARNING_METHODS
            if stage.kind in ("dpo", "kto", "orpo") and prompt_learning:
                raise ValueError(
                    f"stages.{index} ({stage.kind}) after {start!r} with adapter.method={adapter.method!r}: TRL's "
                    "DPOTrainer cannot train prompt-learning adapters; use lora, dora, ia3 or full there"
                )
            fit_plan = getattr(stage, "fit_plan", None)  # a stage's own checks against the list (distill's teacher)
            if fit_plan is not None:
                fit_plan(index, plan, POLICY_KINDS)
        return self

    @model_validator(mode="after")
    def _distributed_fits_the_stages(self) -> TrainingParameters:
        """What cannot train in several processes is refused here; the hardware (GPUs for fsdp) when the step
        starts."""
        for index, stage in enumerate(self.stages):
            distributed, field = stage.distributed, f"stages.{index}.distributed"
            if distributed.strategy == "fsdp" and not distributed.enabled:
                raise ValueError(f"{field}.strategy: fsdp shards across processes; set num_processes > 1, or use ddp")
            if not distributed.enabled:
                continue
            if stage.kind == "sft" and self.backend == "unsloth":
                raise ValueError(
                    f"{field}.num_processes: unsloth trains in one process; set backend: trl (or auto) to train "
                    f"{stage.name!r} in {distributed.num_processes}, or num_processes: 1"
                )
            adapter = getattr(stage, "adapter", None)
            if distributed.strategy == "fsdp" and adapter is not None and adapter.method == "qlora":
                raise ValueError(
                    f"{field}.strategy: fsdp cannot shard the 4-bit QLoRA weights of {stage.name!r} here; use ddp "
                    "(each GPU holds the 4-bit model), or adapter.method: lora"
                )
        return self

    @model_validator(mode="after")
    def _gguf_needs_full_weights(self) -> TrainingParameters:
        """llama.cpp's converter reads full weights: a merged adapter or a full fine-tune, never an adapter alone."""
        if not self.export.gguf.enabled:
            return self
        final = self.plan.final_policy()
        adapter = self.plan.adapter_of(final)
        if adapter is None or adapter.method == "full":
            return self
        if adapter.method not in MERGEABLE_METHODS:
            raise ValueError(
                f"export.gguf.enabled: the final stage {final!r} trains a {adapter.method} adapter, which cannot be "
                "merged into full weights for GGUF; set export.gguf.enabled: false, or use lora, dora, ia3 or full"
            )
        if not adapter.merge_for_export:
            raise ValueError(
                f"export.gguf.enabled: the final stage {final!r} exports its {adapter.method} adapter unmerged "
                "(adapter.merge_for_export: false), and GGUF needs full weights; set merge_for_export: true or "
                "export.gguf.enabled: false"
            )
        return self

    def step_ids(self) -> list[str]:
        """The pipeline's ids for the stage steps, which `steps:` may configure (step operator, resources)."""
        return [StagePlan.step_id(stage) for stage in self.stages]

    @property
    def plan(self) -> StagePlan:
        return StagePlan(stages=self.stages)

    @property
    def first_sft(self) -> SftStage:
        """The first SFT stage (preview-data and the GPU benchmark show what it trains on)."""
        found = next((stage for stage in self.stages if isinstance(stage, SftStage)), None)
        if found is None:
            raise ValueError("stages: this needs an sft stage")
        return found
