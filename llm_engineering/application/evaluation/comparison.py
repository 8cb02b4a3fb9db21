"""Evaluate the base model and every trained stage side by side on the held-out splits; one model in memory at a
time."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llm_engineering.application.evaluation.likelihood import held_out_loss
from llm_engineering.application.evaluation.lm_eval_harness import check_tasks, run_lm_eval
from llm_engineering.application.evaluation.rewards import (
    accuracy_on,
    completion_rows,
    length_controlled_pairs,
    reward_accuracy_and_margin,
    reward_margins,
    sequence_log_probs,
)
from llm_engineering.application.evaluation.rouge import generate_answers, rouge_l
from llm_engineering.application.evaluation.scores import EvaluationReport, GeneratedAnswer, ModelScores
from llm_engineering.application.evaluation.win_rate import judge_win_rate
from llm_engineering.application.training.data_preparation import build_sft_dataset, cap
from llm_engineering.domain.config.training import BaseModelConfig, EvaluationConfig, StagePlan
from llm_engineering.domain.training import TrainedStage
from llm_engineering.domain.win_rate import WinRateOpponents, WinRateResult
from llm_engineering.infrastructure.causal_lm import load_base_model, load_trained_model

if TYPE_CHECKING:
    from llm_engineering.application.judging.jury import Jury

DEFAULT_BETA = 0.1  # the implicit reward's beta for stages without their own (DPO's default)


def implicit_reward_beta(stage: Any) -> float:
    """A stage's KL strength, which scales its implicit reward: DPO/KTO/ORPO's and GRPO/RLOO's `beta`. A distill
    stage's `beta` interpolates the divergence it minimises instead, so it gets the default, as SFT does."""
    if stage is None or stage.kind == "distill":
        return DEFAULT_BETA
    return getattr(stage, "beta", DEFAULT_BETA)


def evaluate_models(
    stages: list[TrainedStage],
    plan: StagePlan,
    instruction_dataset: Any,
    preference_dataset: Any | None,
    base_model: BaseModelConfig,
    config: EvaluationConfig,
    *,
    device: str = "cpu",
    jury: Jury | None = None,
    opponents: WinRateOpponents | None = None,
) -> EvaluationReport:
    """The base model and every stage that ran, in order. Each policy model's implicit reward is measured against the
    model it started from (an aligned stage's own reference); a reward model reports its own pairwise accuracy. With
    `evaluation.win_rate`, the final policy's answers are judged against the base model's and the production
    model's (`opponents`)."""
    from transformers import AutoTokenizer

    if config.lm_eval.enabled:
        check_tasks(config.lm_eval)  # an unknown or uncached task fails here, before any model loads
    configs = {stage.name: stage for stage in plan.stages}
    policies = [stage for stage in stages if stage.policy]
    tokenizer = AutoTokenizer.from_pretrained(str(policies[0].model_dir))  # our chat template, as trained
    loss_length = next((c.max_length for c in plan.stages if c.kind == "sft"), 384)
    pair_length = next((c.max_length for c in plan.stages if c.kind in ("dpo", "kto", "orpo")), loss_length)
    loss_split = cap(instruction_dataset["test"], config.loss_samples)
    loss_rows = list(build_sft_dataset(loss_split, tokenizer, loss_length, True, "test"))
    generation_split = cap(instruction_dataset["test"], config.generation_samples)
    pairs = cap(preference_dataset["test"], config.preference_samples) if preference_dataset is not None else []
    chosen_rows, rejected_rows = completion_rows(tokenizer, pairs, pair_length) if len(pairs) else ([], [])
    controlled = length_controlled_pairs(pairs["chosen"], pairs["rejected"]) if len(pairs) else []
    pad_id, batch = tokenizer.pad_token_id, config.batch_size
    final = plan.final_policy()
    win_split = cap(instruction_dataset["test"], config.win_rate.samples) if config.win_rate.enabled else None
    win_tokens = config.win_rate.max_new_tokens or config.max_new_tokens
    win_answers: dict[str, list[str]] = {}  # "base" and the final policy's answers to the win-rate instructions

    scores: list[ModelScores] = []
    answers: list[GeneratedAnswer] = []
    log_probs: dict[str, tuple[list[float], list[float]]] = {}
    references: dict[str, str] = {}
    betas: dict[str, float] = {}
    for stage in [None, *stages]:
        name = "base" if stage is None else stage.name
        if stage is not None and not stage.policy:
            scores.append(
                ModelScores(
                    model=name, kind=stage.kind, reward_accuracy=stage.result.metrics.get("reward_accuracy"),
                    reward_margin=stage.result.metrics.get("reward_margin"),
                )
            )  # fmt: skip
            continue
        model = (
            load_base_model(base_model.name, base_model.dtype, device, base_model.attn_implementation)
            if stage is None
            else load_trained_model(
                stage.model_dir, base_model.dtype, device, attn_implementation=base_model.attn_implementation
            )
        )
        loss, perplexity = held_out_loss(model, loss_rows, pad_id, batch)
        row = ModelScores(
            model=name, kind="base" if stage is None else stage.kind, eval_loss=loss, perplexity=perplexity
        )
        if config.lm_eval.enabled:
            row.lm_eval, row.lm_eval_seconds = run_lm_eval(model, tokenizer, config.lm_eval)
        if win_split is not None and name in ("base", final):
            win_answers[name] = generate_answers(model, tokenizer, win_split["messages"], win_tokens)
        if len(generation_split):
            generated = generate_answers(model, tokenizer, generation_split["messages"], config.max_new_tokens)
            row.rouge_l = rouge_l(generated, generation_split["answer"])
            answers += [
                GeneratedAnswer(model=name, instruction=instruction, reference=reference, answer=answer)
                for instruction, reference, answer in zip(
                    generation_split["instruction"], generation_split["answer"], generated, strict=True
                )
            ]
            if jury is not None:
                judge_answers(jury, row, generation_split, generated[: config.judge.samples])
        if len(pairs):
            log_probs[name] = (
                sequence_log_probs(model, chosen_rows, pad_id, batch),
                sequence_log_probs(model, rejected_rows, pad_id, batch),
            )
            if stage is not None and stage.started_from in log_probs:
                references[name] = stage.started_from
                betas[name] = implicit_reward_beta(configs.get(name))
                row.reward_accuracy, row.reward_margin = reward_accuracy_and_margin(
                    log_probs[name], log_probs[stage.started_from], betas[name]
                )
                margins = reward_margins(log_probs[name], log_probs[stage.started_from], betas[name])
                row.reward_accuracy_length_controlled = accuracy_on(margins, controlled)
        scores.append(row)
        del model
    win_rates = (
        win_rates_of(jury, config, stages, final, win_split, win_answers, opponents or WinRateOpponents(), device)
        if win_split is not None
        else []
    )
    return EvaluationReport(
        scores=scores,
        answers=answers,
        reward_reference=references,
        reward_beta=betas,
        loss_samples=len(loss_rows),
        preference_pairs=len(pairs),
        length_controlled_pairs=len(controlled),
        judge=jury.report() if jury is not None else None,
        win_rates=win_rates,
    )


def win_rates_of(
    jury: Jury | None,
    config: EvaluationConfig,
    stages: list[TrainedStage],
    final: str,
    split: Any,
    answers: dict[str, list[str]],
    opponents: WinRateOpponents,
    device: str,
) -> list[WinRateResult]:
    """The final policy against each of `win_rate.against`; the production model is loaded here, after the others."""
    from transformers import AutoTokenizer

    if jury is None:
        raise ValueError("evaluation.win_rate needs a judge: set evaluation.judge.base_url or evaluation.judge.jury")
    results = []
    final_dir = next(stage.model_dir for stage in stages if stage.name == final)
    for opponent in config.win_rate.against:
        opponent_model = "base"
        if opponent == "production":
            production = opponents.production
            skipped = opponents.production_missing or "no production model version"
            if production is not None and production.model_dir.resolve() == final_dir.resolve():
                skipped = f"production version {production.version} is this very model (the same trained folder)"
                production = None
            if production is None:
                results.append(WinRateResult(model=final, opponent=opponent, skipped=skipped))
                continue
            model = load_trained_model(production.model_dir, device=device)
            production_tokenizer = AutoTokenizer.from_pretrained(str(production.model_dir))
            tokens = config.win_rate.max_new_tokens or config.max_new_tokens
            answers[opponent] = generate_answers(model, production_tokenizer, split["messages"], tokens)
            opponent_model = f"production version {production.version} ({production.stage})"
            del model
        results.append(
            judge_win_rate(
                jury, split["instruction"], split["answer"], answers[final], answers[opponent], model=final,
                opponent=opponent, opponent_model=opponent_model, tie_margin=config.win_rate.tie_margin,
            )
        )  # fmt: skip
    return results


def judge_answers(jury: Jury, row: ModelScores, split: Any, answers: list[str]) -> None:
    """The jury's scores of one model's answers (against the reference answers) into its row: the mean score, the
    mean of each member's dimensions, and the answers left unjudged."""
    from llm_engineering.application.judging.members import JudgeItem

    questions, references = split["instruction"][: len(answers)], split["answer"][: len(answers)]
    items = [
        JudgeItem(question=question, answer=answer, reference=reference, key=f"{row.model}:{index}")
        for index, (question, reference, answer) in enumerate(zip(questions, references, answers, strict=True))
    ]
    verdicts = jury.judge(items, check=False)  # an unjudged answer is counted in the row, not a failed evaluation
    scored = [v.score for v in verdicts if v.score is not None]
    row.judge_unjudged = len(verdicts) - len(scored)
    row.judge_score = sum(scored) / len(scored) if scored else None
    columns: dict[str, list[float]] = {}
    for verdict in verdicts:
        for member, given in verdict.members.items():
            for dimension, value in given.dimensions.items() if given is not None else ():
                columns.setdefault(f"{member}_{dimension}", []).append(value)
    row.judge_dimensions = {name: sum(values) / len(values) for name, values in columns.items()}
    for name, values in columns.items():  # the Handbook rubric's two figures, as promotion gates name them
        if name.endswith("_accuracy") and row.judge_accuracy is None:
            row.judge_accuracy = sum(values) / len(values)
        if name.endswith("_style") and row.judge_style is None:
            row.judge_style = sum(values) / len(values)
