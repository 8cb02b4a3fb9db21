"""`llm-engineering preview-data`: a few training samples as the model sees them, loss tokens highlighted, then
what max_length and packing do to the whole train split (Axolotl prints samples; we also count the losses)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from rich.console import Console
from rich.text import Text

from llm_engineering.application.training.chat_template import apply_chat_template
from llm_engineering.application.training.data_preparation import (
    IGNORE_INDEX,
    INSTRUCTION_COLUMNS,
    check_dataset,
    loss_tokens,
    tokenize_conversation,
    truncated_away,
)
from llm_engineering.application.training.local_datasets import load_local_dataset
from llm_engineering.domain.config.training import DatasetInput, TrainingParameters
from llm_engineering.infrastructure.causal_lm import load_tokenizer


def load_dataset_input(source: DatasetInput) -> Any:
    if source.path is not None:
        return load_local_dataset(source.path, "instruction")[0]
    import zenml.integrations.huggingface.materializers  # noqa: F401 - the DatasetDict materializer
    from zenml.client import Client

    from llm_engineering.infrastructure.zenml.artifacts import (
        PIN_ANOTHER_TRAINING_DATASET,
        BrokenDatasetVersion,
        check_dataset_version,
    )

    version = Client().get_artifact_version(source.artifact, source.version)
    try:
        return check_dataset_version(version, PIN_ANOTHER_TRAINING_DATASET)
    except BrokenDatasetVersion as exc:
        raise ValueError(str(exc)) from exc


def render_sample(tokenizer: Any, input_ids: list[int], labels: list[int]) -> Text:
    """Loss tokens bold green, the rest dim; token boundaries kept visible by alternating shades."""
    text = Text()
    for index, (token, label) in enumerate(zip(input_ids, labels, strict=True)):
        piece = tokenizer.decode([token])
        if label == IGNORE_INDEX:
            text.append(piece, style="dim")
        else:
            text.append(piece, style="bold green" if index % 2 else "bold bright_green underline")
    return text


STATS_SAMPLES = 5_000


class SplitStatistics(BaseModel):
    """The train split as SFT will see it, before any training."""

    samples: int
    counted: int  # the first STATS_SAMPLES
    mean_tokens: float
    max_tokens: int
    truncated: int  # longer than max_length: their end is cut
    dropped: int  # no loss token left after truncation: not trained on
    loss_token_fraction: float  # of the tokens kept
    packed_rows: int | None = None
    packed_fill: float | None = None  # kept tokens / (rows x max_length)


class TokenizedSplit(BaseModel):
    """The first STATS_SAMPLES samples of a split, tokenized once: whole, and as training keeps them."""

    samples: int
    lengths: list[int]  # whole, before truncation
    kept: list[dict[str, list[int]]]  # truncated to max_length, only those with a loss token left


def tokenize_split(split: Any, tokenizer: Any, max_length: int, assistant_only: bool) -> TokenizedSplit:
    """Raises the error training would when max_length leaves no sample a loss token."""
    counted = split.select(range(min(STATS_SAMPLES, len(split))))
    whole = [tokenize_conversation(tokenizer, m, 1_000_000_000, assistant_only) for m in counted["messages"]]
    kept = [
        {"input_ids": row["input_ids"][:max_length], "labels": row["labels"][:max_length]}
        for row in whole
        if loss_tokens(row["labels"][:max_length])
    ]
    if not kept:
        raise truncated_away(counted, tokenizer, max_length, "train")
    return TokenizedSplit(samples=len(split), lengths=[len(row["input_ids"]) for row in whole], kept=kept)


def split_statistics(tokenized: TokenizedSplit, max_length: int, packing: bool) -> SplitStatistics:
    lengths, kept = tokenized.lengths, tokenized.kept
    kept_tokens = sum(len(row["input_ids"]) for row in kept)
    statistics = SplitStatistics(
        samples=tokenized.samples,
        counted=len(lengths),
        mean_tokens=sum(lengths) / max(len(lengths), 1),
        max_tokens=max(lengths, default=0),
        truncated=sum(1 for length in lengths if length > max_length),
        dropped=len(lengths) - len(kept),
        loss_token_fraction=sum(loss_tokens(row["labels"]) for row in kept) / max(kept_tokens, 1),
    )
    if packing:
        from datasets import Dataset

        from llm_engineering.application.training.packing import pack_rows

        statistics.packed_rows = len(pack_rows(Dataset.from_list(kept), max_length))
        statistics.packed_fill = kept_tokens / (statistics.packed_rows * max_length)
    return statistics


def describe_statistics(statistics: SplitStatistics, max_length: int) -> list[str]:
    lines = [
        f"train split: {statistics.samples} samples"
        + (f" (statistics over the first {statistics.counted})" if statistics.counted < statistics.samples else ""),
        f"tokens per sample: mean {statistics.mean_tokens:.0f}, max {statistics.max_tokens}",
        f"truncated at sft.max_length={max_length}: {statistics.truncated}",
        f"dropped (no loss token left after truncation): {statistics.dropped}",
        f"tokens that carry loss: {statistics.loss_token_fraction:.0%} of those kept",
    ]
    if statistics.packed_rows is not None:
        lines.append(
            f"packing: {statistics.counted - statistics.dropped} samples in {statistics.packed_rows} rows, "
            f"{statistics.packed_fill:.0%} full"
        )
    return lines


def preview_training_data(parameters: TrainingParameters, count: int, console: Console) -> None:
    dataset = load_dataset_input(parameters.datasets.instruction)
    check_dataset(dataset, INSTRUCTION_COLUMNS, "instruction_dataset")
    tokenizer = apply_chat_template(load_tokenizer(parameters.base_model.name))
    sft = parameters.first_sft
    tokenized = tokenize_split(dataset["train"], tokenizer, sft.max_length, sft.assistant_only_loss)
    # The first samples that keep a loss token: a sample cut to its prompt alone is not trained on.
    for index, row in enumerate(tokenized.kept[:count]):
        trained = loss_tokens(row["labels"])
        console.rule(f"sample {index}: {len(row['input_ids'])} tokens, {trained} carry loss (highlighted)")
        console.print(render_sample(tokenizer, row["input_ids"], row["labels"]))
    console.rule("what training will see")
    for line in describe_statistics(split_statistics(tokenized, sft.max_length, sft.packing), sft.max_length):
        console.print(line)
