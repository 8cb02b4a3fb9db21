"""Held-out loss/perplexity and sequence log-probabilities, both over the assistant's tokens only."""

from __future__ import annotations

import math
from typing import Any

from llm_engineering.application.training.data_preparation import IGNORE_INDEX


def _padded_batch(rows: list[dict], pad_id: int) -> tuple[Any, Any, Any]:
    import torch

    width = max(len(row["input_ids"]) for row in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long)
    attention = torch.zeros((len(rows), width), dtype=torch.long)
    for index, row in enumerate(rows):
        length = len(row["input_ids"])
        input_ids[index, :length] = torch.tensor(row["input_ids"])
        labels[index, :length] = torch.tensor(row["labels"])
        attention[index, :length] = 1
    return input_ids, labels, attention


def token_log_probs(model: Any, rows: list[dict], pad_id: int, batch_size: int) -> list[tuple[float, int]]:
    """Per row: (sum of log p over label tokens, number of label tokens)."""
    import torch

    device = next(model.parameters()).device
    results: list[tuple[float, int]] = []
    model.eval()
    with torch.no_grad():
        for start in range(0, len(rows), batch_size):
            input_ids, labels, attention = _padded_batch(rows[start : start + batch_size], pad_id)
            logits = model(input_ids=input_ids.to(device), attention_mask=attention.to(device)).logits.float()
            shifted_labels = labels[:, 1:].to(device)
            log_probs = torch.log_softmax(logits[:, :-1], dim=-1)
            mask = shifted_labels != IGNORE_INDEX
            picked = log_probs.gather(-1, shifted_labels.clamp(min=0).unsqueeze(-1)).squeeze(-1) * mask
            results += [(float(s), int(n)) for s, n in zip(picked.sum(-1), mask.sum(-1), strict=True)]
    return results


def held_out_loss(model: Any, rows: list[dict], pad_id: int, batch_size: int) -> tuple[float, float]:
    """Mean token negative log-likelihood over all label tokens, and its perplexity."""
    scored = token_log_probs(model, rows, pad_id, batch_size)
    total_log_prob = sum(log_prob for log_prob, _ in scored)
    tokens = sum(count for _, count in scored)
    loss = -total_log_prob / max(tokens, 1)
    return loss, math.exp(min(loss, 50.0))
