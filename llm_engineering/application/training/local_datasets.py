"""Local training datasets (`datasets.instruction.path` / `datasets.preference.path`): read a folder, and convert the
common column shapes to the columns training reads.

Training reads `instruction`, `answer` and `messages` (a list of `{role, content}`, ending with the assistant's
answer) from an instruction dataset, and `prompt`, `chosen`, `rejected` (strings) from a preference dataset: the
columns the feature pipeline publishes. A local folder may use any shape below; each split is converted on loading
(the load step of the training run, `validate`, `preview-data`), and every other column is kept.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from llm_engineering.application.training.data_preparation import SPLITS, DatasetError

Kind = Literal["instruction", "preference"]
ROLES = {"system": "system", "user": "user", "assistant": "assistant", "human": "user", "gpt": "assistant"}


class RowError(ValueError):
    """One row cannot be converted; the caller adds the split and the row index."""


@dataclass(frozen=True)
class Shape:
    """Columns a split must have, in a form users know, and how one row becomes ours."""

    name: str
    columns: tuple[str, ...]
    convert: Callable[[dict[str, Any]], dict[str, Any]] | None  # None: already our columns


# ---------------------------------------------------------------- rows


def _text(value: Any, column: str) -> str:
    if not isinstance(value, str):
        raise RowError(f"{column} is {_kind_of(value)}, not a string")
    return value


def _kind_of(value: Any) -> str:
    return "empty (null)" if value is None else f"a {type(value).__name__}"


def _messages(value: Any, column: str) -> list[dict[str, str]]:
    """A list of {role, content} (or ShareGPT's {from, value}), roles system/user/assistant (human/gpt)."""
    if not isinstance(value, list) or not value:
        raise RowError(f"{column} is {_kind_of(value) if value != [] else 'an empty list'}, not a list of messages")
    messages = []
    for index, message in enumerate(value):
        if not isinstance(message, dict):
            raise RowError(f"{column}[{index}] is {_kind_of(message)}, not a {{role, content}} message")
        role = message.get("role", message.get("from"))
        content = message.get("content", message.get("value"))
        if role not in ROLES:
            raise RowError(f"{column}[{index}] has role {role!r}; known roles: system, user, assistant (human, gpt)")
        messages.append({"role": ROLES[role], "content": _text(content, f"{column}[{index}].content")})
    return messages


def _conversation(messages: list[dict[str, str]], column: str) -> dict[str, Any]:
    """instruction = the last user turn, answer = the final assistant turn."""
    if messages[-1]["role"] != "assistant":
        raise RowError(f"{column} ends with a {messages[-1]['role']} message, not the assistant's answer")
    users = [message["content"] for message in messages[:-1] if message["role"] == "user"]
    if not users:
        raise RowError(f"{column} has no user message before the assistant's answer")
    return {"instruction": users[-1], "answer": messages[-1]["content"], "messages": messages}


def _pair(instruction: str, answer: str) -> dict[str, Any]:
    messages = [{"role": "user", "content": instruction}, {"role": "assistant", "content": answer}]
    return {"instruction": instruction, "answer": answer, "messages": messages}


def _from_messages(row: dict[str, Any]) -> dict[str, Any]:
    return _conversation(_messages(row["messages"], "messages"), "messages")


def _from_conversations(row: dict[str, Any]) -> dict[str, Any]:
    return _conversation(_messages(row["conversations"], "conversations"), "conversations")


def _from_columns(instruction: str, answer: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def convert(row: dict[str, Any]) -> dict[str, Any]:
        return _pair(_text(row[instruction], instruction), _text(row[answer], answer))

    return convert


def _from_alpaca(row: dict[str, Any]) -> dict[str, Any]:
    instruction = _text(row["instruction"], "instruction")
    extra = row.get("input")
    if extra is not None:
        extra = _text(extra, "input").strip()
    return _pair(f"{instruction}\n\n{extra}" if extra else instruction, _text(row["output"], "output"))


def _from_prompt_completion(row: dict[str, Any]) -> dict[str, Any]:
    """Strings, or TRL's conversational prompt-completion (lists of messages)."""
    prompt, completion = row["prompt"], row["completion"]
    if isinstance(prompt, str) and isinstance(completion, str):
        return _pair(prompt, completion)
    if isinstance(prompt, list) and isinstance(completion, list):
        messages = _messages(prompt, "prompt") + _messages(completion, "completion")
        if len(messages) - len(prompt) != 1:
            raise RowError("completion must be one assistant message")
        return _conversation(messages, "prompt + completion")
    raise RowError(f"prompt is {_kind_of(prompt)} and completion {_kind_of(completion)}: both strings or both lists")


def _prompt_text(value: Any, column: str) -> str:
    """A preference prompt: a string, or one user message (TRL's conversational prompt)."""
    if isinstance(value, str):
        return value
    if not isinstance(value, list):
        raise RowError(f"{column} is {_kind_of(value)}, not a string or a list of messages")
    messages = _messages(value, column)
    if [message["role"] for message in messages] != ["user"]:
        roles = [message["role"] for message in messages]
        raise RowError(f"{column} has the turns {roles}; a preference prompt is one user message")
    return messages[0]["content"]


def _answer_text(value: Any, column: str) -> str:
    """A preference answer: a string, or one assistant message."""
    if isinstance(value, str):
        return value
    if not isinstance(value, list):
        raise RowError(f"{column} is {_kind_of(value)}, not a string or a list of messages")
    messages = _messages(value, column)
    if [message["role"] for message in messages] != ["assistant"]:
        roles = [message["role"] for message in messages]
        raise RowError(f"{column} has the turns {roles}; with a separate prompt it is one assistant message")
    return messages[0]["content"]


def _preference_from(prompt: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def convert(row: dict[str, Any]) -> dict[str, Any]:
        return {
            "prompt": _prompt_text(row[prompt], prompt),
            "chosen": _answer_text(row["chosen"], "chosen"),
            "rejected": _answer_text(row["rejected"], "rejected"),
        }

    return convert


def _preference_implicit_prompt(row: dict[str, Any]) -> dict[str, Any]:
    """TRL's conversational preference with an implicit prompt: chosen and rejected are whole conversations that
    share everything but the final assistant message."""
    chosen, rejected = _messages(row["chosen"], "chosen"), _messages(row["rejected"], "rejected")
    for column, messages in (("chosen", chosen), ("rejected", rejected)):
        if messages[-1]["role"] != "assistant":
            raise RowError(f"{column} ends with a {messages[-1]['role']} message, not the assistant's answer")
    if chosen[:-1] != rejected[:-1]:
        raise RowError("chosen and rejected differ before their final answer: they must share the prompt")
    prompt = chosen[:-1]
    if [message["role"] for message in prompt] != ["user"]:
        roles = [message["role"] for message in prompt]
        raise RowError(f"the prompt before the answers has the turns {roles}; a preference prompt is one user message")
    return {"prompt": prompt[0]["content"], "chosen": chosen[-1]["content"], "rejected": rejected[-1]["content"]}


# ---------------------------------------------------------------- shapes, most specific first

INSTRUCTION_SHAPES = (
    Shape("instruction + answer + messages (ours)", ("instruction", "answer", "messages"), None),
    Shape("messages (a list of {role, content} ending with the assistant's answer)", ("messages",), _from_messages),
    Shape("conversations (ShareGPT: {from, value}, human/gpt)", ("conversations",), _from_conversations),
    Shape("instruction + answer", ("instruction", "answer"), _from_columns("instruction", "answer")),
    Shape("instruction + output (+ input; Alpaca)", ("instruction", "output"), _from_alpaca),
    Shape("prompt + response", ("prompt", "response"), _from_columns("prompt", "response")),
    Shape("prompt + completion (strings or TRL's message lists)", ("prompt", "completion"), _from_prompt_completion),
    Shape("question + answer", ("question", "answer"), _from_columns("question", "answer")),
)
PREFERENCE_SHAPES = (
    Shape(
        "prompt + chosen + rejected (strings, or TRL's message lists)",
        ("prompt", "chosen", "rejected"),
        _preference_from("prompt"),
    ),  # fmt: skip
    Shape("instruction + chosen + rejected", ("instruction", "chosen", "rejected"), _preference_from("instruction")),
    Shape("question + chosen + rejected", ("question", "chosen", "rejected"), _preference_from("question")),
    Shape(
        "chosen + rejected as message lists sharing the user prompt (TRL's implicit prompt)",
        ("chosen", "rejected"),
        _preference_implicit_prompt,
    ),  # fmt: skip
)
SHAPES: dict[str, tuple[Shape, ...]] = {"instruction": INSTRUCTION_SHAPES, "preference": PREFERENCE_SHAPES}
OTHER_KIND: dict[str, str] = {"instruction": "preference", "preference": "instruction"}


def accepted_shapes(kind: Kind) -> str:
    return "; ".join(shape.name for shape in SHAPES[kind])


def shape_of(columns: list[str], kind: Kind) -> Shape | None:
    return next((shape for shape in SHAPES[kind] if set(shape.columns) <= set(columns)), None)


# ---------------------------------------------------------------- datasets


def read_local_dataset(path: Path) -> Any:
    """A `save_to_disk` DatasetDict folder, or a folder with train.jsonl and test.jsonl; DatasetError otherwise."""
    from datasets import Dataset, DatasetDict, load_from_disk

    path = Path(path)
    if not path.is_dir():
        raise DatasetError(f"{path} is {'a file' if path.exists() else 'missing'}, not a dataset folder")
    jsonl = {split: path / f"{split}.jsonl" for split in SPLITS}
    present = [file.name for file in jsonl.values() if file.is_file()]
    if present and len(present) < len(jsonl):
        missing = [file.name for file in jsonl.values() if not file.is_file()]
        raise DatasetError(f"{path} has {present} but no {missing}: both splits are needed")
    if present:
        return DatasetDict({split: Dataset.from_list(_jsonl_rows(file)) for split, file in jsonl.items()})
    try:
        dataset = load_from_disk(str(path))
    except (FileNotFoundError, ValueError) as exc:
        raise DatasetError(
            f"{path} is neither a folder saved with DatasetDict.save_to_disk nor one with train.jsonl and test.jsonl"
        ) from exc
    if not isinstance(dataset, DatasetDict):
        raise DatasetError(f"{path} holds one Dataset without splits: save a DatasetDict with train and test")
    return dataset


def _jsonl_rows(file: Path) -> list[dict[str, Any]]:
    rows = []
    for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{file} line {number}: not valid JSON ({exc})") from exc
        if not isinstance(row, dict):
            raise DatasetError(f"{file} line {number}: {_kind_of(row)}, not a JSON object")
        rows.append(row)
    return rows


def to_training_columns(dataset: Any, kind: Kind, name: str, limit: int | None = None) -> tuple[Any, dict[str, str]]:
    """Both splits converted to our columns (the others kept), and the shape found in each; DatasetError names the
    split, the row and what is wrong, or lists the accepted shapes. `limit`: convert only the first rows (a check)."""
    from datasets import DatasetDict

    missing = [split for split in SPLITS if split not in dataset]
    if missing:
        raise DatasetError(f"{name}: missing split(s) {missing}; has {sorted(dataset)}")
    converted, shapes = {}, {}
    for split in SPLITS:
        table, label = dataset[split], f"{name}, {split} split"
        if len(table) == 0:
            raise DatasetError(f"{label} is empty")
        if limit is not None and len(table) > limit:
            table = table.select(range(limit))
        shape = shape_of(table.column_names, kind)
        if shape is None:
            raise DatasetError(_no_shape(label, table.column_names, kind))
        converted[split], shapes[split] = _convert(table, shape, label), shape.name
    return DatasetDict(converted), shapes


def _no_shape(label: str, columns: list[str], kind: Kind) -> str:
    message = f"{label}: columns {columns} are none of the accepted {kind} shapes: {accepted_shapes(kind)}"
    if shape_of(columns, OTHER_KIND[kind]) is not None:  # type: ignore[arg-type]
        message += f" (they are a {OTHER_KIND[kind]} dataset's: is it under datasets.{OTHER_KIND[kind]}?)"
    return message


def _convert(table: Any, shape: Shape, label: str) -> Any:
    if shape.convert is None:
        return table
    convert = shape.convert

    def row(example: dict[str, Any], index: int) -> dict[str, Any]:
        try:
            return convert(example)
        except RowError as exc:
            raise DatasetError(f"{label}, row {index} ({shape.name.split(' (')[0]}): {exc}") from None

    from datasets.utils import disable_progress_bars, enable_progress_bars, is_progress_bar_enabled

    shown = is_progress_bar_enabled()
    disable_progress_bars()  # a conversion takes seconds; validate's output stays one line per problem
    try:  # in memory: a save_to_disk folder is the user's, map must not write cache files into it
        return table.map(row, with_indices=True, keep_in_memory=True, load_from_cache_file=False)
    finally:
        if shown:
            enable_progress_bars()


def load_local_dataset(path: Path, kind: Kind) -> tuple[Any, dict[str, str]]:
    """The folder's DatasetDict with our training columns, and each split's shape."""
    return to_training_columns(read_local_dataset(path), kind, str(path))
