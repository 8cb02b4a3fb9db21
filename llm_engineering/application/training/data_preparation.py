"""Check the instruction/preference datasets and tokenize them with our chat template.

We tokenize SFT data ourselves (input_ids + labels, -100 outside the assistant's tokens) instead of letting
TRL do it, so that preview-data, the max_length check, training and the held-out loss share one tokenization.
"""

from __future__ import annotations

from typing import Any

INSTRUCTION_COLUMNS = ("instruction", "answer", "messages")
PREFERENCE_COLUMNS = ("prompt", "chosen", "rejected")
SPLITS = ("train", "test")
IGNORE_INDEX = -100


class DatasetError(ValueError):
    """A dataset cannot be trained on; raised before any training starts."""


def check_dataset(dataset: Any, required: tuple[str, ...], name: str) -> None:
    """Both splits present and non-empty, with the columns we train on."""
    missing_splits = [split for split in SPLITS if split not in dataset]
    if missing_splits:
        raise DatasetError(f"{name}: missing split(s) {missing_splits}; has {sorted(dataset)}")
    for split in SPLITS:
        columns = dataset[split].column_names
        missing = [column for column in required if column not in columns]
        if missing:
            raise DatasetError(f"{name}[{split}]: missing column(s) {missing}; has {columns}")
        if len(dataset[split]) == 0:
            raise DatasetError(f"{name}[{split}] is empty")


def tokenize_conversation(
    tokenizer: Any, messages: list[dict[str, str]], max_length: int, assistant_only: bool
) -> dict:
    """input_ids and labels of one conversation, truncated to max_length (keeping the start)."""
    encoded = tokenizer.apply_chat_template(
        messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    input_ids = list(encoded["input_ids"])[:max_length]
    mask = list(encoded["assistant_masks"])[:max_length]
    labels = [
        token if (bit or not assistant_only) else IGNORE_INDEX for token, bit in zip(input_ids, mask, strict=True)
    ]
    return {"input_ids": input_ids, "labels": labels}


def build_sft_dataset(split: Any, tokenizer: Any, max_length: int, assistant_only: bool, name: str = "train") -> Any:
    """Tokenized split; samples left without any loss token by truncation are dropped, all of them is an error."""
    from datasets import Dataset

    rows = [tokenize_conversation(tokenizer, messages, max_length, assistant_only) for messages in split["messages"]]
    kept = [row for row in rows if loss_tokens(row["labels"])]
    if not kept:
        raise truncated_away(split, tokenizer, max_length, name)
    return Dataset.from_list(kept)


def loss_tokens(labels: list[int]) -> int:
    return sum(1 for label in labels if label != IGNORE_INDEX)


def truncated_away(split: Any, tokenizer: Any, max_length: int, name: str) -> DatasetError:
    """The error for a split whose every completion max_length cuts off, with the shortest prompt's length."""
    shortest_prompt = min(_first_loss_position(tokenizer, messages) for messages in split["messages"])
    return DatasetError(
        f"sft.max_length={max_length} truncates away every completion in the {name} split "
        f"({len(split)} samples): the shortest prompt alone is {shortest_prompt} tokens; raise sft.max_length"
    )


def _first_loss_position(tokenizer: Any, messages: list[dict[str, str]]) -> int:
    row = tokenize_conversation(tokenizer, messages, 1_000_000, assistant_only=True)
    return next((i for i, label in enumerate(row["labels"]) if label != IGNORE_INDEX), len(row["labels"]))


def to_conversational_preferences(split: Any) -> Any:
    """prompt/chosen/rejected strings -> TRL's conversational preference format (our template applies)."""
    return split.map(
        lambda row: {
            "prompt": [{"role": "user", "content": row["prompt"]}],
            "chosen": [{"role": "assistant", "content": row["chosen"]}],
            "rejected": [{"role": "assistant", "content": row["rejected"]}],
        },
        remove_columns=split.column_names,
    )


def prompt_and_completion_ids(tokenizer: Any, prompt: str, completion: str, max_length: int) -> tuple[list, list]:
    """Token ids of the templated prompt and of the completion that follows it, truncated to max_length."""
    prompt_ids = tokenizer.apply_chat_template(
        [{"role": "user", "content": prompt}], tokenize=True, add_generation_prompt=True, return_dict=True
    )["input_ids"]
    full_ids = tokenizer.apply_chat_template(
        [{"role": "user", "content": prompt}, {"role": "assistant", "content": completion}],
        tokenize=True,
        return_dict=True,
    )["input_ids"]
    prompt_ids, full_ids = list(prompt_ids), list(full_ids)[:max_length]
    return prompt_ids, full_ids[len(prompt_ids) :]


def check_preference_lengths(split: Any, tokenizer: Any, max_length: int) -> None:
    """Every pair whose prompt fills max_length has no completion left to compare."""
    usable = sum(
        1
        for prompt, chosen in zip(split["prompt"], split["chosen"], strict=True)
        if prompt_and_completion_ids(tokenizer, prompt, chosen, max_length)[1]
    )
    if usable == 0:
        raise DatasetError(
            f"dpo.max_length={max_length} truncates away every completion in the preference train split "
            f"({len(split)} pairs); raise dpo.max_length"
        )


def cap(split: Any, limit: int | None) -> Any:
    return split if limit is None or len(split) <= limit else split.select(range(limit))
