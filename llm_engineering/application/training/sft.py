"""Supervised fine-tuning with TRL's SFTTrainer + PEFT (or unsloth), on our tokenization."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llm_engineering.application.training.backends import Backend
from llm_engineering.application.training.chat_template import apply_chat_template
from llm_engineering.application.training.checkpoints import train_from_last_checkpoint
from llm_engineering.application.training.data_preparation import build_sft_dataset, cap
from llm_engineering.application.training.divergence import DivergenceGuard
from llm_engineering.application.training.packing import RowPackedCollator, pack_rows, packs_padding_free
from llm_engineering.application.training.peft_methods import build_peft_config
from llm_engineering.application.training.stop_on_signal import StopOnSignal
from llm_engineering.application.training.trainer_arguments import (
    final_metrics,
    log_history_of,
    save_final,
    shared_arguments,
)
from llm_engineering.application.training.training_progress import TrainingProgress
from llm_engineering.domain.config.training import BaseModelConfig, SftConfig
from llm_engineering.domain.training import StageResult
from llm_engineering.infrastructure.causal_lm import TrainingInfo, load_base_model, load_tokenizer

FINAL_FOLDER = "final"


def train_sft(
    instruction_dataset: Any,
    base_model: BaseModelConfig,
    config: SftConfig,
    output_dir: Path,
    *,
    max_train_samples: int | None = None,
    backend: Backend = "trl",
    device: str = "cpu",
    report_to: list[str] | None = None,
) -> StageResult:
    tokenizer = apply_chat_template(load_tokenizer(base_model.name))
    limit = max_train_samples
    train = build_sft_dataset(
        cap(instruction_dataset["train"], limit), tokenizer, config.max_length, config.assistant_only_loss
    )
    test = build_sft_dataset(
        instruction_dataset["test"], tokenizer, config.max_length, config.assistant_only_loss, "test"
    )
    model, peft_config = _model_and_adapter(base_model, config, tokenizer, backend, device)
    samples = len(train)
    trl_packs = config.packing and packs_padding_free(base_model.attn_implementation, backend)
    row_packed = config.packing and not trl_packs
    if row_packed:
        train = pack_rows(train, config.max_length)

    from trl import SFTConfig, SFTTrainer

    arguments = SFTConfig(
        **shared_arguments(config.optimization, output_dir, device, report_to or []),
        max_length=config.max_length,
        packing=trl_packs,
        eval_packing=False,  # held-out loss per sample, as the evaluation step measures it
        # Our labels already mask everything but the assistant's tokens (see data_preparation).
        assistant_only_loss=False,
        completion_only_loss=False,
    )
    trainer = SFTTrainer(
        model=model,
        args=arguments,
        train_dataset=train,
        eval_dataset=test,
        processing_class=tokenizer,
        peft_config=peft_config,
        data_collator=RowPackedCollator(tokenizer.pad_token_id) if row_packed else None,
        callbacks=[DivergenceGuard("sft"), StopOnSignal("sft"), TrainingProgress("sft")],
    )
    resume = train_from_last_checkpoint(trainer, output_dir, config.resume_from_checkpoint)
    metrics = final_metrics(trainer)
    final = output_dir / FINAL_FOLDER
    trainer.save_model(str(final))  # every process calls it (FSDP gathers the weights); rank 0 writes
    info = TrainingInfo(stage="sft", method=config.adapter.method, base_model=base_model.name,
                        is_adapter=carries_adapter(trainer.model, peft_config))  # fmt: skip
    save_final(final, tokenizer, info)
    metrics.update({"train_samples": samples, "train_rows": len(trainer.train_dataset), "test_samples": len(test)})
    return StageResult(model_dir=final, metrics=metrics, log_history=log_history_of(trainer), resumed_from=resume)


def carries_adapter(model: Any, peft_config: Any | None) -> bool:
    """Whether the trained model is an adapter on a base: TRL wraps it when given a PEFT config, and unsloth (or any
    caller) may hand over a model it wrapped already. Export merges, and DPO continues, only what is recorded here."""
    return peft_config is not None or hasattr(model, "peft_config")


def _model_and_adapter(
    base_model: BaseModelConfig, config: SftConfig, tokenizer: Any, backend: Backend, device: str
) -> tuple:
    """The model to train and the PEFT config TRL should wrap it with (None: already wrapped, or full)."""
    adapter = config.adapter
    if backend == "unsloth":
        from llm_engineering.application.training.unsloth_backend import load_unsloth_model

        model = load_unsloth_model(base_model, config)
        _fit_embeddings(model, tokenizer)
        return model, None
    if adapter.method == "qlora":
        model = _load_4bit(base_model.name, base_model.attn_implementation)
    else:
        model = load_base_model(base_model.name, base_model.dtype, device, base_model.attn_implementation)
    _fit_embeddings(model, tokenizer)
    return model, build_peft_config(adapter)


def _fit_embeddings(model: Any, tokenizer: Any) -> None:
    """Our chat template may add tokens: the embedding matrix must cover them, whichever backend loaded the model."""
    if model.get_input_embeddings().num_embeddings < len(tokenizer):
        model.resize_token_embeddings(len(tokenizer))


def _load_4bit(name: str, attn_implementation: str) -> Any:
    import torch
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    from llm_engineering.infrastructure.base_model import resolve_base_model

    quantization = BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_compute_dtype=torch.bfloat16,
        bnb_4bit_use_double_quant=True,
    )
    return AutoModelForCausalLM.from_pretrained(
        resolve_base_model(name), quantization_config=quantization, attn_implementation=attn_implementation
    )
