"""The `distill` training stage: on-policy knowledge distillation of a teacher into the policy (TRL's GKDConfig).

Generalized Knowledge Distillation (Agarwal et al., 2024; TRL's experimental GKDTrainer): on the instruction dataset's
conversations, the student (the model this stage starts from) is trained to match the teacher's next-token
distribution on every answer token, with a generalized Jensen-Shannon divergence. With probability `lmbda` a batch's
answers are the student's own samples (on-policy: the student learns from its own mistakes), otherwise the dataset's
reference answers. The loss compares the two distributions id by id, so teacher and student must share a tokenizer:
validation compares them for a teacher folder or Hub id, and the stage compares them again when it starts.

The teacher is one of (exactly one key):

    teacher: {stage: sft}                       # an earlier policy stage of this list (its trained model)
    teacher: {path: models/smollm2-teacher}     # a local model folder: one this project trained, or a transformers one
    teacher: {hub_id: HuggingFaceTB/SmolLM2-360M-Instruct}   # a Hub model, from the local cache when offline

The student follows the usual start rule: the previous policy stage's model (an adapter keeps training, a full model
too), or `start_from: <stage>`; `start_from: base` trains a new `adapter` on the base model.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator, model_validator

from llm_engineering.domain.config.base import StrictModel
from llm_engineering.domain.config.distributed import DISTRIBUTED, DistributedConfig
from llm_engineering.domain.config.training_blocks import PROMPT_LEARNING_METHODS, AdapterConfig, OptimizationConfig

if TYPE_CHECKING:  # training.py holds the union of all stages, this one among them
    from llm_engineering.domain.config.training import StagePlan

# What a distilled student may train: LoRA/DoRA/IA3 adapters or the full model. Prompt-learning adapters prepend virtual
# tokens, so the student's logits would not line up with the teacher's; QLoRA would need a 4-bit student.
DISTILL_ADAPTER_METHODS = ("full", "lora", "dora", "ia3")
# owner/name, as the Hub spells repo ids (the same rule as a base model's Hub id).
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


class TeacherConfig(StrictModel):
    """The model the student learns from: exactly one of `stage`, `path` or `hub_id`."""

    stage: str | None = Field(
        None,
        description="the name of an earlier policy stage of this list (sft, dpo, ...): its trained model is the "
        "teacher, checked for a shared tokenizer when this stage starts",
    )
    path: Path | None = Field(
        None,
        description="a local model folder: one a training stage of this project wrote (training_info.json: an "
        "adapter is loaded on its base) or a plain transformers causal-LM folder; must exist at validation",
    )
    hub_id: str | None = Field(
        None,
        description="a Hugging Face Hub model id owner/name; must be in the local cache while HF_HUB_OFFLINE is set",
    )

    @model_validator(mode="after")
    def _exactly_one_source(self) -> TeacherConfig:
        given = [key for key in ("stage", "path", "hub_id") if getattr(self, key) is not None]
        if len(given) != 1:
            raise ValueError(
                "set exactly one of `stage` (an earlier stage of this list), `path` (a model folder) or `hub_id` "
                f"(a cached Hub model), got {given or 'none'}"
            )
        if self.hub_id is not None and not HUB_ID.fullmatch(self.hub_id):
            raise ValueError(f"hub_id {self.hub_id!r} is not a Hub id owner/name; a local folder goes in `path`")
        return self

    @property
    def label(self) -> str:
        """How metrics and errors name the teacher."""
        return self.stage or self.hub_id or str(self.path)


class DistillStageConfig(StrictModel):
    """Knowledge distillation (TRL GKDTrainer) of a teacher into the policy, on the instruction dataset's
    conversations; the result is a policy like any other (evaluated, exported, carried on by later stages)."""

    # Required, no default: ZenML drops default values when it stores step parameters, and the union needs the tag.
    kind: Literal["distill"] = Field(description="the stage kind (the union's tag)")
    name: str | None = Field(
        None, description="unique stage name (artifacts, metrics, the model card); default: set from the kind"
    )
    teacher: TeacherConfig = Field(
        description="the model to distil: {stage: <earlier stage>}, {path: <folder>} or {hub_id: <owner/name>}; it "
        "must use the student's tokenizer (same vocabulary, same ids)"
    )
    lmbda: float = Field(
        0.5,
        ge=0,
        le=1,
        description="on-policy fraction: the share of batches whose answers the student samples itself (0: the "
        "dataset's answers only, supervised KD; 1: always its own samples, as in the GKD paper's best runs)",
    )
    beta: float = Field(
        0.5,
        ge=0,
        le=1,
        description="interpolation of the generalized Jensen-Shannon divergence: 0 is the forward KL(teacher || "
        "student), 1 the reverse KL(student || teacher), 0.5 the symmetric JSD (not a KL penalty coefficient)",
    )
    temperature: float = Field(0.9, gt=0, description="sampling temperature of the student's on-policy answers")
    max_new_tokens: int = Field(64, gt=0, description="tokens per on-policy answer; longer ones are cut off")
    seq_kd: bool = Field(
        False,
        description="sequence-level KD: a batch not sampled by the student is answered by the teacher instead of "
        "taken from the dataset (supervised fine-tuning on the teacher's answers)",
    )
    max_length: int = Field(
        384,
        gt=8,
        description="tokens per templated conversation; a longer one keeps its last max_length tokens (TRL's "
        "collator); a conversation whose answer alone fills them is left out (counted in the metrics)",
    )
    adapter: AdapterConfig | None = Field(
        None,
        description="only with start_from: base, the adapter the student trains on the base model (unset: lora, "
        "r=8 on q/k/v/o_proj; full, lora, dora or ia3); from a trained stage leave it unset: that stage's adapter "
        "(or full model) keeps training, as DPO does",
    )
    distributed: DistributedConfig = Field(DistributedConfig(), description=DISTRIBUTED)
    optimization: OptimizationConfig = Field(
        OptimizationConfig(learning_rate=5e-5),
        description="TrainingArguments knobs; learning_rate 5e-5 by default",
    )
    start_from: str | None = Field(
        None,
        description="the stage whose model the student starts from; default: the previous policy stage. 'base' "
        "trains a new adapter (see adapter) on the base model",
    )
    resume_from_checkpoint: bool = Field(True, description="resume from the last complete checkpoint a rerun finds")

    @field_validator("adapter")
    @classmethod
    def _adapter_the_student_can_train(cls, adapter: AdapterConfig | None) -> AdapterConfig | None:
        if adapter is not None and adapter.method not in DISTILL_ADAPTER_METHODS:
            raise ValueError(
                f"adapter.method {adapter.method!r} is not supported by the distill stage; choose one of "
                f"{list(DISTILL_ADAPTER_METHODS)}"
            )
        return adapter

    def fit_plan(self, index: int, plan: StagePlan, policy_kinds: tuple[str, ...]) -> None:
        """Checks against the whole list of stages, raising ValueError naming `stages.<index>.<field>`; fills in the
        default adapter when the student starts from the base model. `plan` has every stage named."""
        kinds = {stage.name: stage.kind for stage in plan.stages}
        names, start, field = list(kinds), plan.starts()[self.name], f"stages.{index}"
        teacher = self.teacher.stage
        if teacher is not None:
            if teacher == self.name:
                raise ValueError(f"{field}.teacher.stage: {teacher!r} is this stage itself; name an earlier stage")
            if teacher not in kinds:
                raise ValueError(f"{field}.teacher.stage: {teacher!r} is not a stage of this list ({names})")
            if names.index(teacher) > index:
                raise ValueError(
                    f"{field}.teacher.stage: {teacher!r} comes later (stages.{names.index(teacher)}); a teacher is "
                    "trained before its student: move it before this stage"
                )
            if kinds[teacher] not in policy_kinds:
                raise ValueError(
                    f"{field}.teacher.stage: {teacher!r} is a {kinds[teacher]} stage, not a language model; name a "
                    "policy stage (sft, dpo, ...)"
                )
            if teacher == start:
                raise ValueError(
                    f"{field}.teacher.stage: {teacher!r} is also the model this stage starts from, so the student "
                    "would begin equal to its teacher and learn nothing; set start_from (base, or another stage), or "
                    "train the student in a stage of its own first"
                )
            _no_virtual_tokens(f"{field}.teacher.stage", teacher, plan.adapter_of(teacher))
        if start == "base" and self.adapter is None:
            self.adapter = AdapterConfig()
        elif start != "base":
            if self.adapter is not None:
                raise ValueError(
                    f"{field}.adapter: the student starts from {start!r} and keeps training its model; remove "
                    "adapter, or set start_from: base to train a new adapter on the base model"
                )
            _no_virtual_tokens(f"{field}.start_from", start, plan.adapter_of(start))


def _no_virtual_tokens(field: str, stage: str, adapter: AdapterConfig | None) -> None:
    """A prompt-learning model's logits cover its virtual tokens too: they do not line up with the other model's."""
    if adapter is not None and adapter.method in PROMPT_LEARNING_METHODS:
        raise ValueError(
            f"{field}: {stage!r} trains a {adapter.method} adapter (virtual tokens), whose logits do not line up "
            "token by token with the other model's; distil from or into a lora, dora, ia3 or full stage"
        )
