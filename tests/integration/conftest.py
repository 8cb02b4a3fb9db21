"""Tiny training fixtures: a randomly initialised 2-layer Llama with SmolLM2's tokenizer, and tiny datasets."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

TOPICS = ["Qdrant", "ZenML", "LoRA", "DPO", "ChatML", "PEFT", "ROUGE", "Comet", "tokenizers", "embeddings"]


def instruction_rows(count: int, offset: int = 0) -> list[dict]:
    rows = []
    for index in range(offset, offset + count):
        topic = TOPICS[index % len(TOPICS)]
        instruction = f"Explain {topic} in one sentence (case {index})."
        answer = f"{topic} is a tool we use in the LLM twin pipeline, case {index}."
        rows.append(
            {
                "sample_id": f"s{index}",
                "instruction": instruction,
                "answer": answer,
                "messages": [{"role": "user", "content": instruction}, {"role": "assistant", "content": answer}],
                "document_id": f"d{index % 3}",
                "source": "tests",
            }
        )
    return rows


def preference_rows(count: int, offset: int = 0) -> list[dict]:
    return [
        {
            "sample_id": f"p{index}",
            "prompt": f"What is {TOPICS[index % len(TOPICS)]}?",
            "chosen": f"{TOPICS[index % len(TOPICS)]} is a tool in our pipeline.",
            "rejected": "I do not know, sorry!!!",
            "document_id": f"d{index % 3}",
            "source": "tests",
        }
        for index in range(offset, offset + count)
    ]


def make_instruction_dataset(train: int = 12, test: int = 4):
    from datasets import Dataset, DatasetDict

    return DatasetDict(
        {"train": Dataset.from_list(instruction_rows(train)), "test": Dataset.from_list(instruction_rows(test, 1000))}
    )


def make_preference_dataset(train: int = 8, test: int = 4):
    from datasets import Dataset, DatasetDict

    return DatasetDict(
        {"train": Dataset.from_list(preference_rows(train)), "test": Dataset.from_list(preference_rows(test, 1000))}
    )


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, hidden-32 Llama with SmolLM2's 49k tokenizer, saved like a hub folder."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from llm_engineering.infrastructure.bundled_models import smollm2_gguf

    folder = tmp_path_factory.mktemp("tiny-llama")
    gguf_folder, gguf_file = smollm2_gguf()
    tokenizer = AutoTokenizer.from_pretrained(gguf_folder, gguf_file=gguf_file)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=True,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def full_weights_stage(tiny_model_dir: Path, folder: Path) -> Path:
    """A trained stage's folder as a full fine-tune leaves it: the weights, tokenizer and training_info.json."""
    shutil.copytree(tiny_model_dir, folder)
    info = {"stage": "sft", "method": "full", "base_model": str(tiny_model_dir), "is_adapter": False}
    (folder / "training_info.json").write_text(json.dumps(info))
    return folder


def gguf_quantizations() -> list[str]:
    from llm_engineering.infrastructure.gguf_quantizer import quantizer_problem

    return ["f16", "q8_0"] + (["q4_0"] if quantizer_problem() is None else [])


@pytest.fixture(scope="session")
def tiny_gguf_export(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201 - (folder, card)
    """The tiny model exported as a full fine-tune would be, with GGUF files (llama.cpp's converter, and its
    quantizer where llama-cpp-python is installed): (export folder, model card)."""
    from llm_engineering.application.export import ModelCard, export_model
    from llm_engineering.domain.config.gguf_export import GgufExportConfig
    from llm_engineering.domain.model_summary import TrainingDataset

    root = tmp_path_factory.mktemp("gguf-export")
    stage = full_weights_stage(tiny_model_dir, root / "sft")
    card = ModelCard(
        title="tiny-assistant", base_model=str(tiny_model_dir), method="full", stage="sft",
        datasets=[TrainingDataset(name="instruction_dataset", version="1", artifact_id="a1")], metrics={}, config={},
        merged=False,
    )  # fmt: skip
    config = GgufExportConfig(enabled=True, quantizations=gguf_quantizations())
    return export_model(stage, root / "export", merge=True, card=card, gguf=config)


@pytest.fixture(scope="session")
def instruction_dataset():
    return make_instruction_dataset()


@pytest.fixture(scope="session")
def preference_dataset():
    return make_preference_dataset()
