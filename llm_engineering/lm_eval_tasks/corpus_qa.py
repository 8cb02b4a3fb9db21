"""The `corpus_qa` lm-eval task's data: each evaluation question of `sample_corpus/eval` with four answers to choose
from, its own and three other questions' (seeded), the right one at seeded, balanced positions.

`load_dataset` is the task YAML's `custom_dataset` (lm-eval calls it with the task's metadata); run this module to
rebuild `corpus_qa.jsonl` from the eval set:

    python -m llm_engineering.lm_eval_tasks.corpus_qa [sample_corpus/eval/eval_questions.jsonl]
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any

DATA_FILE = Path(__file__).with_name("corpus_qa.jsonl")
EVAL_SET = Path(__file__).resolve().parents[2] / "sample_corpus" / "eval" / "eval_questions.jsonl"
CHOICES = 4
SEED = 13


def build_docs(eval_items: list[dict[str, str]], seed: int = SEED) -> list[dict[str, Any]]:
    """One multiple-choice doc per item: {question, choices, label}; distractors are other items' answers. The
    right answer's positions are balanced (each as often, in a seeded order): a model that always picks one
    position scores chance, 1/4."""
    rng = random.Random(seed)
    labels = [index % CHOICES for index in range(len(eval_items))]
    rng.shuffle(labels)
    docs = []
    for index, (item, label) in enumerate(zip(eval_items, labels, strict=True)):
        others = [other["answer"] for position, other in enumerate(eval_items) if position != index]
        choices = rng.sample(others, CHOICES - 1)
        choices.insert(label, item["answer"])
        docs.append({"question": item["question"], "choices": choices, "label": label})
    return docs


def load_dataset(**_metadata: Any) -> dict[str, Any]:
    """The task's splits as `datasets` objects (only `test`)."""
    from datasets import Dataset

    rows = [json.loads(line) for line in DATA_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]
    return {"test": Dataset.from_list(rows)}


def main(argv: list[str]) -> None:
    source = Path(argv[0]) if argv else EVAL_SET
    items = [json.loads(line) for line in source.read_text(encoding="utf-8").splitlines() if line.strip()]
    docs = build_docs(items)
    DATA_FILE.write_text("".join(json.dumps(doc, ensure_ascii=False) + "\n" for doc in docs), encoding="utf-8")
    print(f"{DATA_FILE}: {len(docs)} docs from {source}")


if __name__ == "__main__":
    main(sys.argv[1:])
