"""DPO's implicit reward of a model on held-out pairs, computed by us so base, SFT and DPO compare alike.

reward(x, y) = beta * (log p_model(y|x) - log p_reference(y|x)); accuracy is the share of pairs where the
chosen answer's reward beats the rejected one's, margin the mean difference.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llm_engineering.application.evaluation.likelihood import token_log_probs
from llm_engineering.application.sample_text import ends_mid_sentence
from llm_engineering.application.training.data_preparation import IGNORE_INDEX, prompt_and_completion_ids


def completion_rows(tokenizer: Any, pairs: Any, max_length: int) -> tuple[list[dict], list[dict]]:
    """Tokenized (chosen, rejected) rows with labels on the completion only."""
    chosen_rows, rejected_rows = [], []
    for prompt, chosen, rejected in zip(pairs["prompt"], pairs["chosen"], pairs["rejected"], strict=True):
        for completion, rows in ((chosen, chosen_rows), (rejected, rejected_rows)):
            prompt_ids, completion_ids = prompt_and_completion_ids(tokenizer, prompt, completion, max_length)
            prompt_ids = prompt_ids[: max_length - len(completion_ids)]
            rows.append(
                {
                    "input_ids": prompt_ids + completion_ids,
                    "labels": [IGNORE_INDEX] * len(prompt_ids) + completion_ids,
                }
            )
    return chosen_rows, rejected_rows


def sequence_log_probs(model: Any, rows: list[dict], pad_id: int, batch_size: int) -> list[float]:
    return [log_prob for log_prob, _ in token_log_probs(model, rows, pad_id, batch_size)]


def reward_margins(
    policy: tuple[list[float], list[float]], reference: tuple[list[float], list[float]], beta: float
) -> list[float]:
    """Per pair, the chosen answer's implicit reward minus the rejected one's."""
    chosen = [beta * (p - r) for p, r in zip(policy[0], reference[0], strict=True)]
    rejected = [beta * (p - r) for p, r in zip(policy[1], reference[1], strict=True)]
    return [c - r for c, r in zip(chosen, rejected, strict=True)]


def reward_accuracy_and_margin(
    policy: tuple[list[float], list[float]], reference: tuple[list[float], list[float]], beta: float
) -> tuple[float, float]:
    """From (chosen, rejected) log-probs of the policy and of the reference."""
    margins = reward_margins(policy, reference, beta)
    accuracy = sum(1 for margin in margins if margin > 0) / max(len(margins), 1)
    return accuracy, sum(margins) / max(len(margins), 1)


def length_controlled_pairs(chosen: Sequence[str], rejected: Sequence[str], max_ratio: float = 1.5) -> list[int]:
    """Pairs where neither answer looks cut off and the longer has at most `max_ratio` times the other's words: on
    these, preferring the chosen answer cannot be "longer wins" or "complete beats truncated"."""
    kept = []
    for index, (good, bad) in enumerate(zip(chosen, rejected, strict=True)):
        lengths = sorted((len(good.split()), len(bad.split())))
        if (
            lengths[0]
            and lengths[1] <= max_ratio * lengths[0]
            and not (ends_mid_sentence(good) or ends_mid_sentence(bad))
        ):
            kept.append(index)
    return kept


def accuracy_on(margins: Sequence[float], indices: Sequence[int]) -> float | None:
    """The share of the given pairs whose margin is positive; None without any."""
    return sum(margins[i] > 0 for i in indices) / len(indices) if indices else None
