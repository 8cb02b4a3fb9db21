"""Scoring (prompt, answer) pairs with a reward model: a local 1-label sequence-classification folder.

The folder a `reward_model` stage writes loads here as is (merged weights, tokenizer with our chat template,
`config.pad_token_id` set). A pair is scored exactly as it was trained: the user turn and the assistant turn
through the folder's chat template, the reward read at the last token. A conversation longer than `max_length`
keeps its last tokens (where the reward is read), as in training.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class RewardModelError(ValueError):
    """A folder that cannot be used as a reward model (missing, not a 1-label sequence classifier, no template)."""


def conversation_ids(tokenizer: Any, prompt: str, answer: str, max_length: int | None = None) -> list[int]:
    """Token ids of the templated user prompt + assistant answer; the last `max_length` of them when longer."""
    ids = list(
        tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}],
            tokenize=True,
            return_dict=True,
        )["input_ids"]
    )
    return ids if max_length is None or len(ids) <= max_length else ids[-max_length:]


def check_reward_model_folder(folder: Path) -> dict:
    """The folder's config.json, after checking it describes a 1-label sequence classifier."""
    folder = Path(folder)
    if not folder.is_dir():
        raise RewardModelError(f"reward model folder {folder} does not exist")
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise RewardModelError(f"reward model folder {folder} has no config.json: it is not a saved model")
    config = json.loads(config_file.read_text())
    architectures = config.get("architectures") or []
    if not any(name.endswith("ForSequenceClassification") for name in architectures):
        raise RewardModelError(
            f"reward model folder {folder} holds a {', '.join(architectures) or 'model of unknown architecture'}, "
            "not a sequence classifier with num_labels=1 (a causal LM scores no answers: train one with a "
            "reward_model stage)"
        )
    labels = len(config["id2label"]) if "id2label" in config else config.get("num_labels", 2)
    if labels != 1:
        raise RewardModelError(
            f"reward model folder {folder} is a sequence classifier with num_labels={labels}; a reward model has "
            "num_labels=1 (one score per answer)"
        )
    return config


class RewardModelScorer:
    """A reward model loaded once; `score` rates answers to prompts, higher is better."""

    def __init__(self, folder: Path, device: str = "cpu", dtype: str = "float32", max_length: int | None = None):
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.folder = Path(folder)
        check_reward_model_folder(self.folder)
        self.tokenizer = AutoTokenizer.from_pretrained(str(self.folder))
        if not self.tokenizer.chat_template:
            raise RewardModelError(
                f"reward model folder {self.folder}: its tokenizer has no chat template, so prompts and answers "
                "cannot be laid out as they were trained"
            )
        self.device = device
        self.model = AutoModelForSequenceClassification.from_pretrained(
            str(self.folder), dtype=getattr(torch, dtype)
        ).to(device)
        self.model.eval()
        text_config = self.model.config.get_text_config()
        if text_config.pad_token_id is None:  # the last-token pooling needs it to skip padding
            if self.tokenizer.pad_token_id is None:
                raise RewardModelError(
                    f"reward model folder {self.folder}: neither model nor tokenizer has a pad token"
                )
            text_config.pad_token_id = self.tokenizer.pad_token_id
        self.pad_token_id = text_config.pad_token_id
        self.max_length = max_length or getattr(text_config, "max_position_embeddings", None)

    def score(self, prompts: list[str], answers: list[str], batch_size: int = 8) -> list[float]:
        """One reward per (prompt, answer) pair, in order."""
        import torch

        if len(prompts) != len(answers):
            raise ValueError(f"score: {len(prompts)} prompts but {len(answers)} answers")
        if batch_size < 1:
            raise ValueError(f"score: batch_size must be >= 1, got {batch_size}")
        rows = [
            conversation_ids(self.tokenizer, prompt, answer, self.max_length)
            for prompt, answer in zip(prompts, answers, strict=True)
        ]
        scores: list[float] = []
        for start in range(0, len(rows), batch_size):
            batch = rows[start : start + batch_size]
            width = max(len(row) for row in batch)
            input_ids = torch.full((len(batch), width), self.pad_token_id, dtype=torch.long)
            attention_mask = torch.zeros((len(batch), width), dtype=torch.long)
            for index, row in enumerate(batch):  # right padding, as TRL's preference collator pads
                input_ids[index, : len(row)] = torch.tensor(row)
                attention_mask[index, : len(row)] = 1
            with torch.no_grad():
                logits = self.model(
                    input_ids=input_ids.to(self.device), attention_mask=attention_mask.to(self.device), use_cache=False
                ).logits
            scores.extend(float(value) for value in logits[:, 0].float().cpu())
        return scores
