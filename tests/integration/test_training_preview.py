"""`llm-engineering preview-data` on a local dataset folder: loss tokens are the assistant's answer only."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from llm_engineering.cli import app
from tests.integration.conftest import make_instruction_dataset, make_preference_dataset


def write_preview_config(tmp_path: Path, tiny_model_dir: Path, sft: dict) -> Path:
    """Local instruction/preference datasets and a training YAML over the tiny model with this `sft` block."""
    make_instruction_dataset().save_to_disk(str(tmp_path / "instruction"))
    make_preference_dataset().save_to_disk(str(tmp_path / "preference"))
    datasets = {name: {"path": str(tmp_path / name)} for name in ("instruction", "preference")}
    parameters = {"datasets": datasets, "base_model": {"name": str(tiny_model_dir)}, "sft": sft}
    config = tmp_path / "training.yaml"
    config.write_text(yaml.safe_dump({"parameters": parameters}))
    return config


def test_preview_data_marks_the_answer_as_loss_tokens(tmp_path: Path, tiny_model_dir: Path) -> None:
    from transformers import AutoTokenizer

    from llm_engineering.application.training.chat_template import apply_chat_template
    from llm_engineering.application.training.data_preparation import tokenize_conversation
    from llm_engineering.application.training.data_preview import render_sample

    config = write_preview_config(tmp_path, tiny_model_dir, {"max_length": 128})

    result = CliRunner().invoke(app, ["preview-data", "--config", str(config), "-n", "2"])

    assert result.exit_code == 0, result.output
    assert result.output.count("carry loss (highlighted)") == 2
    assert "Explain Qdrant in one sentence (case 0)." in result.output

    tokenizer = apply_chat_template(AutoTokenizer.from_pretrained(str(tiny_model_dir)))
    messages = make_instruction_dataset()["train"][0]["messages"]
    row = tokenize_conversation(tokenizer, messages, 128, assistant_only=True)
    text = render_sample(tokenizer, row["input_ids"], row["labels"])
    loss_text = "".join(span_text for span_text, style in _styled(text) if "bold" in style)
    assert loss_text == messages[1]["content"] + "<|im_end|>"
    assert "train split: 12 samples" in result.output
    assert "truncated at sft.max_length=128: 0" in result.output
    assert "dropped (no loss token left after truncation): 0" in result.output
    assert "packing:" not in result.output
    packed = CliRunner().invoke(app, ["preview-data", "--config", str(config), "-n", "0", "--set", "sft.packing=true"])
    assert packed.exit_code == 0, packed.output
    assert "packing: 12 samples in " in packed.output


def test_preview_data_counts_what_max_length_cuts_and_how_packing_fills_rows(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    from transformers import AutoTokenizer

    from llm_engineering.application.training.chat_template import apply_chat_template
    from llm_engineering.application.training.data_preparation import IGNORE_INDEX, tokenize_conversation

    max_length = 20
    config = write_preview_config(tmp_path, tiny_model_dir, {"max_length": max_length, "packing": True})
    tokenizer = apply_chat_template(AutoTokenizer.from_pretrained(str(tiny_model_dir)))
    whole = [
        tokenize_conversation(tokenizer, messages, 10_000, assistant_only=True)
        for messages in make_instruction_dataset()["train"]["messages"]
    ]
    truncated = sum(1 for row in whole if len(row["input_ids"]) > max_length)
    dropped = sum(1 for row in whole if all(label == IGNORE_INDEX for label in row["labels"][:max_length]))
    assert 0 < dropped < 12  # some prompts alone fill max_length, some leave room for part of the answer

    result = CliRunner().invoke(app, ["preview-data", "--config", str(config), "-n", "1"])

    assert result.exit_code == 0, result.output
    assert f"truncated at sft.max_length={max_length}: {truncated}" in result.output
    assert f"dropped (no loss token left after truncation): {dropped}" in result.output
    assert f"packing: {12 - dropped} samples in " in result.output


def _styled(text):  # noqa: ANN001, ANN202 - (substring, style) pairs of a rich Text
    return [(text.plain[span.start : span.end], str(span.style)) for span in text.spans]
