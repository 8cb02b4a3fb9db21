"""Evaluate base, SFT and DPO side by side on the held-out splits; one model in memory at a time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llm_engineering.application.evaluation.judge import judge_answers
from llm_engineering.application.evaluation.likelihood import held_out_loss
from llm_engineering.application.evaluation.rewards import (
    completion_rows,
    reward_accuracy_and_margin,
    sequence_log_probs,
)
from llm_engineering.application.evaluation.rouge import generate_answers, rouge_l
from llm_engineering.application.evaluation.scores import EvaluationReport, GeneratedAnswer, ModelScores
from llm_engineering.application.training.data_preparation import build_sft_dataset, cap
from llm_engineering.domain.config.training import BaseModelConfig, EvaluationConfig
from llm_engineering.infrastructure.causal_lm import load_base_model, load_trained_model
from llm_engineering.infrastructure.llm.base import LLMProvider

# Each model's implicit reward is measured against the model it was trained from (DPO's own reference).
REWARD_REFERENCE = {"sft": "base", "dpo": "sft"}


def evaluate_models(
    models: dict[str, Path | None],
    instruction_dataset: Any,
    preference_dataset: Any,
    base_model: BaseModelConfig,
    config: EvaluationConfig,
    *,
    sft_max_length: int,
    dpo_max_length: int,
    beta: float,
    device: str = "cpu",
    judge: LLMProvider | None = None,
) -> EvaluationReport:
    """`models`: {"sft": folder, "dpo": folder or None}; the base model comes from the config."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(models["sft"]))  # our chat template, as trained
    loss_split = cap(instruction_dataset["test"], config.loss_samples)
    loss_rows = list(build_sft_dataset(loss_split, tokenizer, sft_max_length, True, "test"))
    generation_split = cap(instruction_dataset["test"], config.generation_samples)
    pairs = cap(preference_dataset["test"], config.preference_samples)
    chosen_rows, rejected_rows = completion_rows(tokenizer, pairs, dpo_max_length)
    pad_id, batch = tokenizer.pad_token_id, config.batch_size

    scores: list[ModelScores] = []
    answers: list[GeneratedAnswer] = []
    log_probs: dict[str, tuple[list[float], list[float]]] = {}
    for name in ("base", "sft", "dpo"):
        if name != "base" and models.get(name) is None:
            continue
        model = (
            load_base_model(base_model.name, base_model.dtype, device, base_model.attn_implementation)
            if name == "base"
            else load_trained_model(
                models[name], base_model.dtype, device, attn_implementation=base_model.attn_implementation
            )
        )
        loss, perplexity = held_out_loss(model, loss_rows, pad_id, batch)
        row = ModelScores(model=name, eval_loss=loss, perplexity=perplexity)
        if len(generation_split):
            generated = generate_answers(model, tokenizer, generation_split["messages"], config.max_new_tokens)
            row.rouge_l = rouge_l(generated, generation_split["answer"])
            answers += [
                GeneratedAnswer(model=name, instruction=instruction, reference=reference, answer=answer)
                for instruction, reference, answer in zip(
                    generation_split["instruction"], generation_split["answer"], generated, strict=True
                )
            ]
            if judge is not None:
                judged = min(config.judge.samples, len(generated))
                verdict = judge_answers(
                    judge,
                    generation_split["instruction"][:judged],
                    generation_split["answer"][:judged],
                    generated[:judged],
                )
                row.judge_accuracy, row.judge_style = verdict.accuracy, verdict.style
                row.judge_unjudged = verdict.unjudged
        log_probs[name] = (
            sequence_log_probs(model, chosen_rows, pad_id, batch),
            sequence_log_probs(model, rejected_rows, pad_id, batch),
        )
        if name in REWARD_REFERENCE:
            row.reward_accuracy, row.reward_margin = reward_accuracy_and_margin(
                log_probs[name], log_probs[REWARD_REFERENCE[name]], beta
            )
        scores.append(row)
        del model
    return EvaluationReport(
        scores=scores,
        answers=answers,
        reward_reference={name: REWARD_REFERENCE[name] for name in log_probs if name in REWARD_REFERENCE},
        beta=beta,
        loss_samples=len(loss_rows),
        preference_pairs=len(pairs),
    )
