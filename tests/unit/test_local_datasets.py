"""Local training datasets in the shapes people have: converted to our columns on loading, or refused by `validate`
(naming the field, the split, the row) with the accepted shapes listed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from datasets import Dataset, DatasetDict

from llm_engineering.application.run_config import ConfigError, load_run_config
from llm_engineering.application.training.data_preparation import DatasetError
from llm_engineering.application.training.local_datasets import (
    accepted_shapes,
    load_local_dataset,
    read_local_dataset,
    to_training_columns,
)
from llm_engineering.domain.config.training import TrainingParameters

USER = {"role": "user", "content": "What is LoRA?"}
ANSWER = {"role": "assistant", "content": "Low-rank adapters."}
WORSE = {"role": "assistant", "content": "No idea."}
OURS = {"instruction": "What is LoRA?", "answer": "Low-rank adapters.", "messages": [USER, ANSWER]}


def both_splits(row: dict) -> DatasetDict:
    return DatasetDict({"train": Dataset.from_list([row]), "test": Dataset.from_list([row])})


def converted(row: dict, kind: str) -> tuple[dict, str]:
    dataset, shapes = to_training_columns(both_splits(row), kind, "data")
    return dataset["train"][0], shapes["train"]


@pytest.mark.parametrize(
    ("row", "shape"),
    [
        ({"instruction": "What is LoRA?", "answer": "Low-rank adapters."}, "instruction + answer"),
        ({"prompt": "What is LoRA?", "response": "Low-rank adapters."}, "prompt + response"),
        ({"question": "What is LoRA?", "answer": "Low-rank adapters."}, "question + answer"),
        ({"prompt": "What is LoRA?", "completion": "Low-rank adapters."}, "prompt + completion"),
        ({"prompt": [USER], "completion": [ANSWER]}, "prompt + completion"),
        ({"messages": [USER, ANSWER]}, "messages"),
        ({"instruction": "What is LoRA?", "input": "", "output": "Low-rank adapters."}, "instruction + output"),
        (
            {
                "conversations": [
                    {"from": "human", "value": "What is LoRA?"},
                    {"from": "gpt", "value": "Low-rank adapters."},
                ]
            },
            "conversations",
        ),
    ],
)
def test_each_instruction_shape_becomes_instruction_answer_and_messages(row: dict, shape: str) -> None:
    values, found = converted({**row, "document_id": "d1"}, "instruction")
    assert {key: values[key] for key in OURS} == OURS
    assert values["document_id"] == "d1"  # other columns are kept
    assert found.startswith(shape)


def test_our_own_columns_are_left_as_they_are_and_alpaca_input_joins_the_instruction() -> None:
    values, found = converted(OURS, "instruction")
    assert values == OURS and found == "instruction + answer + messages (ours)"
    values, _ = converted({"instruction": "Summarise.", "input": "A long text.", "output": "Short."}, "instruction")
    assert values["instruction"] == "Summarise.\n\nA long text."
    assert values["messages"] == [{"role": "user", "content": "Summarise.\n\nA long text."},
                                  {"role": "assistant", "content": "Short."}]  # fmt: skip


def test_a_multi_turn_conversation_keeps_every_turn_and_answers_the_last_user_message() -> None:
    system = {"role": "system", "content": "Be brief."}
    follow_up = {"role": "user", "content": "And DoRA?"}
    final = {"role": "assistant", "content": "Weight-decomposed LoRA."}
    values, _ = converted({"messages": [system, USER, ANSWER, follow_up, final]}, "instruction")
    assert (values["instruction"], values["answer"]) == ("And DoRA?", "Weight-decomposed LoRA.")
    assert values["messages"] == [system, USER, ANSWER, follow_up, final]


@pytest.mark.parametrize(
    ("row", "shape"),
    [
        ({"prompt": "What is LoRA?", "chosen": "Low-rank adapters.", "rejected": "No idea."}, "prompt + chosen"),
        ({"instruction": "What is LoRA?", "chosen": "Low-rank adapters.", "rejected": "No idea."}, "instruction +"),
        ({"question": "What is LoRA?", "chosen": "Low-rank adapters.", "rejected": "No idea."}, "question +"),
        ({"prompt": [USER], "chosen": [ANSWER], "rejected": [WORSE]}, "prompt + chosen"),  # TRL, explicit prompt
        ({"chosen": [USER, ANSWER], "rejected": [USER, WORSE]}, "chosen + rejected as message lists"),  # implicit
    ],
)
def test_each_preference_shape_becomes_prompt_chosen_rejected_strings(row: dict, shape: str) -> None:
    values, found = converted(row, "preference")
    assert {key: values[key] for key in ("prompt", "chosen", "rejected")} == {
        "prompt": "What is LoRA?", "chosen": "Low-rank adapters.", "rejected": "No idea."
    }  # fmt: skip
    assert found.startswith(shape)


@pytest.mark.parametrize(
    ("row", "kind", "error"),
    [
        ({"instruction": "q", "answer": None}, "instruction",
         "data, train split, row 0 (instruction + answer): answer is empty (null), not a string"),
        ({"messages": [USER]}, "instruction",
         "data, train split, row 0 (messages): messages ends with a user message, not the assistant's answer"),
        ({"messages": [{"role": "tool", "content": "x"}, ANSWER]}, "instruction",
         "data, train split, row 0 (messages): messages[0] has role 'tool'; known roles: system, user, assistant "
         "(human, gpt)"),
        ({"chosen": [USER, ANSWER], "rejected": [{"role": "user", "content": "Other?"}, WORSE]}, "preference",
         "data, train split, row 0 (chosen + rejected as message lists sharing the user prompt): chosen and rejected "
         "differ before their final answer: they must share the prompt"),
        ({"prompt": [{"role": "system", "content": "Be brief."}, USER], "chosen": "a", "rejected": "b"}, "preference",
         "data, train split, row 0 (prompt + chosen + rejected): prompt has the turns ['system', 'user']; a preference "
         "prompt is one user message"),
    ],
)  # fmt: skip
def test_a_row_that_cannot_be_converted_is_named_with_its_split_and_index(row: dict, kind: str, error: str) -> None:
    with pytest.raises(DatasetError) as info:
        to_training_columns(both_splits(row), kind, "data")
    assert str(info.value) == error


def test_columns_of_no_accepted_shape_list_the_shapes_and_a_swapped_dataset_is_pointed_out() -> None:
    with pytest.raises(DatasetError) as info:
        to_training_columns(both_splits({"text": "x", "label": 1}), "instruction", "data")
    assert str(info.value) == (
        "data, train split: columns ['text', 'label'] are none of the accepted instruction shapes: "
        + accepted_shapes("instruction")
    )
    pairs = {"prompt": "What is LoRA?", "chosen": "Low-rank adapters.", "rejected": "No idea."}
    with pytest.raises(DatasetError, match=r"\(they are a preference dataset's: is it under datasets.preference\?\)"):
        to_training_columns(both_splits(pairs), "instruction", "data")


def write_jsonl(folder: Path, rows: dict[str, list[dict]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for split, split_rows in rows.items():
        (folder / f"{split}.jsonl").write_text("".join(json.dumps(row) + "\n" for row in split_rows))
    return folder


def test_folders_load_as_jsonl_or_save_to_disk_and_their_faults_are_named(tmp_path: Path) -> None:
    natural = {"instruction": "What is LoRA?", "answer": "Low-rank adapters."}
    jsonl = write_jsonl(tmp_path / "jsonl", {"train": [natural, natural], "test": [natural]})
    dataset, shapes = load_local_dataset(jsonl, "instruction")
    assert (len(dataset["train"]), len(dataset["test"])) == (2, 1)
    assert dataset["test"][0]["messages"] == [USER, ANSWER] and shapes["test"] == "instruction + answer"
    saved = tmp_path / "saved"
    both_splits(natural).save_to_disk(str(saved))
    before = sorted(path.name for path in saved.rglob("*"))
    assert load_local_dataset(saved, "instruction")[0]["train"][0]["messages"] == [USER, ANSWER]
    assert sorted(path.name for path in saved.rglob("*")) == before  # no cache files written into the user's folder

    only_train = write_jsonl(tmp_path / "only_train", {"train": [natural]})
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "train.jsonl").write_text(json.dumps(natural) + "\n{oops\n")
    (tmp_path / "bad" / "test.jsonl").write_text(json.dumps(natural) + "\n")
    Dataset.from_list([natural]).save_to_disk(str(tmp_path / "no_splits"))
    DatasetDict({"train": Dataset.from_list([natural]), "validation": Dataset.from_list([natural])}).save_to_disk(
        str(tmp_path / "validation")
    )
    empty = write_jsonl(tmp_path / "empty", {"train": [natural], "test": []})
    for folder, error in [
        (only_train, f"{only_train} has ['train.jsonl'] but no ['test.jsonl']: both splits are needed"),
        (tmp_path / "bad", f"{tmp_path / 'bad' / 'train.jsonl'} line 2: not valid JSON"),
        (tmp_path / "no_splits", f"{tmp_path / 'no_splits'} holds one Dataset without splits"),
        (tmp_path / "validation", f"{tmp_path / 'validation'}: missing split(s) ['test']; has ['train', 'validation']"),
        (empty, f"{empty}, test split is empty"),
        (tmp_path / "jsonl" / "train.jsonl", f"{tmp_path / 'jsonl' / 'train.jsonl'} is a file, not a dataset folder"),
        (tmp_path, f"{tmp_path} is neither a folder saved with DatasetDict.save_to_disk nor one with train.jsonl"),
    ]:
        with pytest.raises(DatasetError) as info:
            load_local_dataset(folder, "instruction")
        assert str(info.value).startswith(error), folder
    assert read_local_dataset(saved)["train"].column_names == ["instruction", "answer"]  # read as it is


def test_validate_refuses_a_local_dataset_it_cannot_convert_naming_the_field_and_the_shapes(tmp_path: Path) -> None:
    questions = write_jsonl(tmp_path / "questions", {split: [{"q": "What is LoRA?", "a": "Adapters."}]
                                                     for split in ("train", "test")})  # fmt: skip
    pairs = write_jsonl(tmp_path / "pairs", {split: [{"instruction": "What is LoRA?", "chosen": "Adapters.",
                                                      "rejected": None}] for split in ("train", "test")})  # fmt: skip
    config = tmp_path / "training.yaml"
    datasets = {"instruction": {"path": str(questions)}, "preference": {"path": str(pairs)}}
    config.write_text(yaml.safe_dump({"parameters": {"datasets": datasets}}))
    with pytest.raises(ConfigError) as info:
        load_run_config(config, TrainingParameters)
    assert str(info.value).splitlines() == [
        f"{config}: invalid configuration",
        f"  parameters.datasets.instruction.path: {questions}, train split: columns ['q', 'a'] are none of the "
        f"accepted instruction shapes: {accepted_shapes('instruction')}",
        f"  parameters.datasets.preference.path: {pairs}, train split, row 0 (instruction + chosen + rejected): "
        "rejected is empty (null), not a string or a list of messages",
    ]

    # The natural shapes pass validate as they are.
    write_jsonl(questions, {split: [{"instruction": "What is LoRA?", "answer": "Adapters."}]
                            for split in ("train", "test")})  # fmt: skip
    write_jsonl(pairs, {split: [{"instruction": "What is LoRA?", "chosen": "Adapters.", "rejected": "No idea."}]
                        for split in ("train", "test")})  # fmt: skip
    assert load_run_config(config, TrainingParameters).parameters.datasets.instruction.path == questions
