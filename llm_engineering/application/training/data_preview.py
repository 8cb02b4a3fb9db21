"""`llm-engineering preview-data`: a few training samples as the model sees them, loss tokens highlighted."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.text import Text

from llm_engineering.application.training.chat_template import apply_chat_template
from llm_engineering.application.training.data_preparation import (
    IGNORE_INDEX,
    INSTRUCTION_COLUMNS,
    build_sft_dataset,
    check_dataset,
    load_local_dataset,
)
from llm_engineering.domain.config.training import DatasetInput, TrainingParameters
from llm_engineering.infrastructure.causal_lm import load_tokenizer


def load_dataset_input(source: DatasetInput) -> Any:
    if source.path is not None:
        return load_local_dataset(source.path)
    import zenml.integrations.huggingface.materializers  # noqa: F401 - the DatasetDict materializer
    from zenml.client import Client

    return Client().get_artifact_version(source.artifact, source.version).load()


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


def preview_training_data(parameters: TrainingParameters, count: int, console: Console) -> None:
    dataset = load_dataset_input(parameters.datasets.instruction)
    check_dataset(dataset, INSTRUCTION_COLUMNS, "instruction_dataset")
    tokenizer = apply_chat_template(load_tokenizer(parameters.base_model.name))
    sample = dataset["train"].select(range(min(count, len(dataset["train"]))))
    rows = build_sft_dataset(sample, tokenizer, parameters.sft.max_length, parameters.sft.assistant_only_loss)
    for index, row in enumerate(rows):
        loss_tokens = sum(1 for label in row["labels"] if label != IGNORE_INDEX)
        console.rule(f"sample {index}: {len(row['input_ids'])} tokens, {loss_tokens} carry loss (highlighted)")
        console.print(render_sample(tokenizer, row["input_ids"], row["labels"]))
