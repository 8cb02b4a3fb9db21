"""Knowledge distillation of a teacher into the policy: TRL's experimental GKDTrainer (`kind: distill`).

Why GKD and not TRL's stable DistillationTrainer: GKD mixes on-policy batches (the student's own answers, a share
`lmbda` of them) with the dataset's reference answers, and can answer with the teacher (`seq_kd`); the stable trainer
is always on-policy. Both minimise the same generalized Jensen-Shannon divergence (`beta`).

The student is the model the stage starts from: a trained stage's folder keeps training as it was (its adapter, or
its full weights, saved with `save_continued_policy` as DPO and GRPO do), or, from the base model, a new adapter is
trained on it (saved as SFT saves). The teacher is frozen: an earlier stage's folder, a local folder or a cached Hub
model; an adapter teacher is merged into its base first (one forward pass per batch, no PEFT hooks).

The loss compares next-token distributions id by id, so teacher and student must share a tokenizer: the vocabularies
are compared (token -> id) at validation for a folder or Hub teacher, and again here, before a model is loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llm_engineering.application.training.chat_template import apply_chat_template
from llm_engineering.application.training.checkpoints import train_from_last_checkpoint
from llm_engineering.application.training.data_preparation import DatasetError, cap
from llm_engineering.application.training.divergence import DivergenceGuard
from llm_engineering.application.training.peft_methods import build_peft_config
from llm_engineering.application.training.sft import FINAL_FOLDER, carries_adapter
from llm_engineering.application.training.stop_on_signal import StopOnSignal
from llm_engineering.application.training.trainer_arguments import (
    final_metrics,
    log_history_of,
    save_continued_policy,
    save_final,
    shared_arguments,
)
from llm_engineering.application.training.training_progress import TrainingProgress
from llm_engineering.domain.config.distill_stage import DistillStageConfig, TeacherConfig
from llm_engineering.domain.config.training import AdapterConfig, BaseModelConfig
from llm_engineering.domain.training import StageResult, TrainedStage
from llm_engineering.infrastructure.causal_lm import (
    TRAINING_INFO,
    TrainingInfo,
    is_prompt_learning,
    load_base_model,
    load_tokenizer,
    load_trained_model,
    read_training_info,
    torch_dtype,
)


class TokenizerMismatch(ValueError):
    """Teacher and student do not share a tokenizer: their next-token distributions cannot be compared."""


class TeacherError(ValueError):
    """The teacher cannot be used: not given, or a kind of model the stage cannot distil from."""


# ---------------------------------------------------------------- the teacher, and the tokenizer both must share


def teacher_reference(teacher: TeacherConfig, teacher_stage: TrainedStage | None) -> str:
    """The folder or Hub id the teacher loads from: an earlier stage's model folder (the pipeline passes that
    stage), the configured folder, or the Hub id."""
    if teacher.stage is not None:
        if teacher_stage is None or teacher_stage.name != teacher.stage:
            raise TeacherError(
                f"teacher.stage {teacher.stage!r}: the pipeline passed no trained stage of that name to this step"
            )
        return str(teacher_stage.model_dir)
    return str(teacher.path) if teacher.path is not None else str(teacher.hub_id)


def load_teacher_tokenizer(reference: str) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(reference)


def tokenizer_mismatch(student: Any, teacher: Any) -> str | None:
    """Why the two tokenizers do not map the same tokens to the same ids, or None when they do."""
    student_vocab, teacher_vocab = student.get_vocab(), teacher.get_vocab()
    if student_vocab == teacher_vocab:
        return None
    differing = sorted(
        token
        for token in student_vocab.keys() | teacher_vocab.keys()
        if student_vocab.get(token) != teacher_vocab.get(token)
    )
    examples = ", ".join(
        f"{token!r}: {student_vocab.get(token)} vs {teacher_vocab.get(token)}" for token in differing[:3]
    )
    return (
        f"vocabularies of {len(student_vocab)} (student) and {len(teacher_vocab)} (teacher) tokens, {len(differing)} "
        f"tokens with another id or missing (e.g. {examples})"
    )


def check_shared_tokenizer(student: Any, teacher: Any, teacher_label: str, student_label: str) -> None:
    """Raises TokenizerMismatch, saying what differs and how to fix it."""
    problem = tokenizer_mismatch(student, teacher)
    if problem is not None:
        raise TokenizerMismatch(
            f"teacher {teacher_label!r} does not share the student's tokenizer ({student_label}): {problem}. GKD "
            "compares the two models' next-token distributions id by id: distil from a teacher of the student's "
            "model family (the same tokenizer, e.g. a larger SmolLM2 for a SmolLM2 student), or from an earlier "
            "stage of this run"
        )


def teacher_tokenizer_problem(reference: str, base_model_name: str) -> str | None:
    """What validation reports for a folder or Hub teacher: its tokenizer cannot be read, or is not the student's
    (the base model's with our chat template, as every stage trains with it); None when it is."""
    try:
        teacher = load_teacher_tokenizer(reference)
    except (OSError, ValueError) as exc:
        return f"cannot read the teacher's tokenizer from {reference!r}: {exc}"
    student = apply_chat_template(load_tokenizer(base_model_name))
    try:
        check_shared_tokenizer(student, teacher, reference, f"base model {base_model_name!r}")
    except TokenizerMismatch as exc:
        return str(exc)
    return None


def load_teacher(reference: str, base_model: BaseModelConfig, device: str) -> Any:
    """The frozen teacher: a folder this project trained (an adapter merged into its base, or full weights), or any
    transformers causal LM (folder or cached Hub id)."""
    folder = Path(reference)
    if (folder / TRAINING_INFO).is_file():
        if is_prompt_learning(folder):
            raise TeacherError(
                f"teacher {reference!r} holds a {read_training_info(folder).method} adapter (virtual tokens), whose "
                "logits do not line up token by token with the student's; distil from a lora, dora, ia3 or full model"
            )
        model = load_trained_model(folder, base_model.dtype, device, attn_implementation=base_model.attn_implementation)
        if hasattr(model, "merge_and_unload"):
            model = model.merge_and_unload()
    else:
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(
            reference, dtype=torch_dtype(base_model.dtype), attn_implementation=base_model.attn_implementation
        ).to(device)
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad = False
    return model


# ---------------------------------------------------------------- the stage


def train_distill(
    start_dir: Path | None,
    teacher: str,
    instruction_dataset: Any,
    base_model: BaseModelConfig,
    config: DistillStageConfig,
    output_dir: Path,
    *,
    max_train_samples: int | None = None,
    device: str = "cpu",
    report_to: list[str] | None = None,
) -> StageResult:
    """Distils `teacher` (a folder or Hub id) into the student: `start_dir`'s model, or a new adapter on the base
    model when it is None. Metrics: the held-out divergence to the teacher before and after (`heldout_divergence_*`,
    the test split's reference answers; `eval_loss` is the one after), the last training loss, and how many
    conversations trained or were left out by max_length."""
    from transformers import AutoTokenizer

    if start_dir is None:
        tokenizer = apply_chat_template(load_tokenizer(base_model.name))
        student_label = f"base model {base_model.name!r}"
    else:
        tokenizer = AutoTokenizer.from_pretrained(str(start_dir))  # carries our chat template
        student_label = f"the model of {start_dir}"
    check_shared_tokenizer(tokenizer, load_teacher_tokenizer(teacher), teacher, student_label)

    train_split = cap(instruction_dataset["train"], max_train_samples)
    train, dropped = conversation_dataset(train_split, tokenizer, config.max_length)
    if len(train) == 0:
        raise DatasetError(
            f"distill.max_length={config.max_length} leaves no prompt token in any conversation of the train split "
            f"({len(train_split)} conversations): each answer alone fills it; raise distill.max_length"
        )
    test, _ = conversation_dataset(instruction_dataset["test"], tokenizer, config.max_length)

    adapter = config.adapter or AdapterConfig()  # the stage list fills it in for a student from the base model
    if start_dir is None:
        model = load_base_model(base_model.name, base_model.dtype, device, base_model.attn_implementation)
        if model.get_input_embeddings().num_embeddings < len(tokenizer):
            model.resize_token_embeddings(len(tokenizer))  # our chat template may add its tokens
        peft_config = build_peft_config(adapter)
    else:
        model = load_trained_model(
            start_dir, base_model.dtype, device, trainable=True, attn_implementation=base_model.attn_implementation
        )
        peft_config = None
    trainer = _trainer(config, model, load_teacher(teacher, base_model, device), tokenizer, peft_config, train, test,
                       output_dir, device, report_to)  # fmt: skip
    before = trainer.evaluate(metric_key_prefix="before")["before_loss"] if len(test) else None
    resume = train_from_last_checkpoint(trainer, output_dir, config.resume_from_checkpoint)
    metrics = final_metrics(trainer) if len(test) else {}

    final = output_dir / FINAL_FOLDER
    trained = trainer.accelerator.unwrap_model(trainer.model)
    if start_dir is None:
        trainer.save_model(str(final))  # every process calls it (FSDP gathers the weights); rank 0 writes
        is_adapter = carries_adapter(trained, peft_config)
        info = TrainingInfo(stage=config.kind, method=adapter.method, base_model=base_model.name,
                            is_adapter=is_adapter)  # fmt: skip
        save_final(final, tokenizer, info)
    else:
        save_continued_policy(trained, tokenizer, final, read_training_info(start_dir), config.kind)

    history = log_history_of(trainer)
    losses = [entry["loss"] for entry in history if "loss" in entry]
    if losses:
        metrics["last_train_loss"] = float(losses[-1])
    if before is not None:
        metrics["heldout_divergence_before"] = float(before)
        metrics["heldout_divergence_after"] = metrics["eval_loss"]
    metrics.update({"train_conversations": float(len(train)), "train_dropped_by_max_length": float(dropped),
                    "test_conversations": float(len(test))})  # fmt: skip
    return StageResult(model_dir=final, metrics=metrics, log_history=history, resumed_from=resume)


def _trainer(
    config: DistillStageConfig,
    model: Any,
    teacher: Any,
    tokenizer: Any,
    peft_config: Any | None,
    train: Any,
    test: Any,
    output_dir: Path,
    device: str,
    report_to: list[str] | None,
) -> Any:
    from trl.experimental.gkd import GKDConfig, GKDTrainer

    arguments = GKDConfig(
        **shared_arguments(config.optimization, output_dir, device, report_to or []),
        max_length=config.max_length,
        lmbda=config.lmbda,
        beta=config.beta,
        temperature=config.temperature,
        max_new_tokens=config.max_new_tokens,
        seq_kd=config.seq_kd,
        prediction_loss_only=True,  # evaluation needs the divergence, not the full-vocabulary logits of every token
    )
    return GKDTrainer(
        model=model,
        teacher_model=teacher,
        args=arguments,
        train_dataset=train,
        eval_dataset=test if len(test) else None,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=[DivergenceGuard(config.kind), StopOnSignal(config.kind), TrainingProgress(config.kind)],
    )


def conversation_dataset(split: Any, tokenizer: Any, max_length: int) -> tuple[Any, int]:
    """The split's `messages` (user turn, assistant answer) as TRL's collator reads them, without the conversations
    it cannot train on: those whose answer alone fills max_length tokens leave no prompt to answer (the collator
    keeps the last max_length tokens). Returns the dataset and how many were left out."""
    from datasets import Dataset

    kept = []
    for messages in split["messages"]:
        prompt = tokenizer.apply_chat_template(messages[:-1], add_generation_prompt=True, tokenize=False)
        full = tokenizer.apply_chat_template(messages, tokenize=False)
        prompt_tokens = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
        overflow = len(tokenizer(full, add_special_tokens=False)["input_ids"]) - max_length
        if overflow < prompt_tokens:
            kept.append({"messages": messages})
    dataset = Dataset.from_list(kept) if kept else Dataset.from_dict({"messages": []})
    return dataset, len(split) - len(kept)
