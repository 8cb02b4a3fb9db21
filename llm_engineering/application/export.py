"""Export the final model (adapter merged into the base, or the adapter alone) with tokenizer and model card."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from llm_engineering.application.gguf_export import export_gguf
from llm_engineering.domain.config.gguf_export import GgufExportConfig
from llm_engineering.domain.config.training import MERGEABLE_METHODS
from llm_engineering.domain.model_summary import GgufFile, TrainingDataset
from llm_engineering.infrastructure.causal_lm import (
    TRAINING_INFO,
    TrainingInfo,
    load_trained_model,
    read_training_info,
)


def merges(info: TrainingInfo, merge_for_export: bool) -> bool:
    """The one place that decides whether an export merges the adapter into the base weights."""
    return info.is_adapter and merge_for_export and info.method in MERGEABLE_METHODS


class StageSummary(BaseModel):
    """One trained stage as the model card lists it."""

    name: str
    kind: str
    started_from: str
    metrics: dict[str, float]


class ModelCard(BaseModel):
    title: str
    base_model: str
    method: str
    stage: str
    stages: list[StageSummary] = []
    datasets: list[TrainingDataset]
    metrics: dict[str, float]
    config: dict[str, Any]
    run_id: str | None = None
    merged: bool
    lineage: str = Field("", description="markdown: datasets -> chunks -> documents -> sources")
    gguf: list[GgufFile] = Field([], description="the GGUF files in the folder (export.gguf)")


def export_model(
    trained_dir: Path, target: Path, merge: bool, card: ModelCard, gguf: GgufExportConfig | None = None
) -> tuple[Path, ModelCard]:
    """Writes `target` afresh: weights (merged) or adapter, tokenizer, training_info.json, the GGUF files when
    `gguf` is enabled, README.md (the card, with the GGUF files listed). Returns the folder and that card.

    Written into a hidden sibling folder first and swapped in whole: an export that fails or is killed half-way
    leaves the folder that was there as it was."""
    info = read_training_info(trained_dir)
    partial = target.with_name(f".{target.name}.partial")
    if partial.exists():  # left by an export that was killed
        shutil.rmtree(partial)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        card = _write_export(trained_dir, partial, info, merge, card, gguf)
        _swap_in(partial, target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return target, card


def _write_export(
    trained_dir: Path, folder: Path, info: TrainingInfo, merge: bool, card: ModelCard, gguf: GgufExportConfig | None
) -> ModelCard:
    if merges(info, merge):
        from transformers import AutoTokenizer

        merged = load_trained_model(trained_dir).merge_and_unload()
        merged.save_pretrained(str(folder), safe_serialization=True)
        AutoTokenizer.from_pretrained(str(trained_dir)).save_pretrained(str(folder))
        (folder / TRAINING_INFO).write_text(json.dumps({**info.model_dump(), "is_adapter": False}, indent=2))
    else:
        shutil.copytree(trained_dir, folder, ignore=shutil.ignore_patterns("training_args.bin", "README.md"))
    if gguf is not None and gguf.enabled:
        card = card.model_copy(update={"gguf": export_gguf(folder, card.title, gguf)})
    (folder / "README.md").write_text(render_model_card(card))
    return card


def _swap_in(partial: Path, target: Path) -> None:
    """`partial` renamed to `target`; what was at `target` is removed only once the new folder is in place."""
    replaced = target.with_name(f".{target.name}.replaced")
    if replaced.exists():
        shutil.rmtree(replaced)
    if target.exists():
        target.rename(replaced)
    partial.rename(target)
    shutil.rmtree(replaced, ignore_errors=True)


CARD_STAGE_METRICS = ("eval_loss", "reward_accuracy", "reward_margin", "heldout_reward_after", "last_train_loss")


def render_model_card(card: ModelCard) -> str:
    metrics = "\n".join(f"| {key} | {value:.4f} |" for key, value in sorted(card.metrics.items()))
    datasets = "\n".join(f"- {dataset.describe()}" for dataset in card.datasets)
    weights = "merged full weights" if card.merged else ("full weights" if card.method == "full" else "PEFT adapter")
    stages = "\n".join(
        f"| {stage.name} | {stage.kind} | {stage.started_from} | "
        + ", ".join(f"{key} {value:.4f}" for key, value in sorted(stage.metrics.items()) if key in CARD_STAGE_METRICS)
        + " |"
        for stage in card.stages
    )
    gguf = "\n".join(
        f"| `{f.file}` | {f.quantization} | {f.size_bytes / 2**20:.1f} MiB | `{f.sha256}` |" for f in card.gguf
    )
    gguf_section = (
        "\n## GGUF (llama.cpp, Ollama, LM Studio)\nConverted by llama.cpp's own `convert_hf_to_gguf.py` (k-quants by "
        "its quantizer) from the merged weights; the chat template travels in the file's metadata. Serve the first "
        "with `llm-engineering serve`, or run any with `llama-server -m <file>`.\n\n"
        f"| file | quantization | size | sha256 |\n|---|---|---|---|\n{gguf}\n"
        if card.gguf
        else ""
    )
    not_evaluated = "Not evaluated (evaluation.enabled: false)."
    metrics_table = f"| metric | value |\n|---|---|\n{metrics}" if metrics else not_evaluated
    return f"""---
base_model: {card.base_model}
library_name: {"transformers" if card.merged or card.method == "full" else "peft"}
tags: [llm-engineering, {card.method}, {card.stage}{", gguf" if card.gguf else ""}]
---

# {card.title}

Fine-tuned from **{card.base_model}** with **{card.method}** (`{card.stage}` is the last stage); this folder
holds {weights}, the tokenizer and its ChatML chat template (the one used in training).

## Stages
| stage | kind | started from | trainer's held-out metrics |
|---|---|---|---|
{stages}

## Training data
{datasets}
{f"{chr(10)}### Lineage{chr(10)}{chr(10)}{card.lineage}{chr(10)}" if card.lineage else ""}
{gguf_section}
## Metrics (held-out)
{metrics_table}

## Run
ZenML pipeline run: `{card.run_id or "n/a"}`

## Configuration
```json
{json.dumps(card.config, indent=2, default=str)}
```
"""
