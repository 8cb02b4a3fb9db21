"""Rubrics are prompt files: a YAML front matter naming the dimensions (with their ranges) and the verdict's format,
then the prompt (string.Template: $question, $answer, $reference, $context, and $reference_line / $context_line,
which are empty when the sample has none).

A pairwise rubric (`format: winner_line`, no dimensions) compares two answers, $answer_a and $answer_b, and its verdict
is one `Winner: A`, `Winner: B` or `Winner: tie` line; it is parsed as the preference for answer A (1, 0 or 0.5).

    ---
    format: json                      # json: {"accuracy": 3, "style": 2}; score_line: one `Score: <n>` line
    dimensions:
      accuracy: {min: 1, max: 3}
      style: {min: 1, max: 3, weight: 1}
    ---
    You grade ...

A file without front matter is a single 1-5 `Score:` rubric (the preference judge prompt's historical shape).
Verdicts are parsed strictly: every dimension present, an integer within its range, nothing else guessed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from string import Template
from typing import Literal

import yaml
from pydantic import Field, ValidationError

from llm_engineering.domain.config.base import StrictModel
from llm_engineering.domain.config.dataset_generation import PROMPTS_DIR

RUBRICS_DIR = PROMPTS_DIR / "rubrics"
SHIPPED_RUBRICS: dict[str, Path] = {
    "accuracy_style": RUBRICS_DIR / "accuracy_style.txt",
    "multi_dimension": RUBRICS_DIR / "multi_dimension.txt",
    "reward_score": RUBRICS_DIR / "reward_score.txt",
    "grounded": PROMPTS_DIR / "judge.txt",  # the judge_ranked preference prompt: 1-5, grounded in the extract
    "pairwise": RUBRICS_DIR / "pairwise.txt",  # two answers, one verdict: the win rate's rubric
}
# `Score: 4`, `**Score:** 4`, `score = 4/5`: one line naming the score (markdown emphasis allowed), or a bare number.
_SCORE_LINE = re.compile(r"^[\s*_#>-]*score[\s*_]*[:=]?[\s*_]*(-?\d+)\b", re.IGNORECASE | re.MULTILINE)
# `Winner: A`, `**Winner:** tie`, `winner = b`; or the bare verdict alone.
_WINNER_LINE = re.compile(r"^[\s*_#>-]*winner[\s*_]*[:=]?[\s*_`]*(a|b|tie)\b", re.IGNORECASE | re.MULTILINE)
WINNER_PREFERENCE = {"a": 1.0, "b": 0.0, "tie": 0.5}  # the preference for answer A


class RubricError(ValueError):
    """A rubric that cannot be used: unknown name, missing file, or a front matter that does not describe one."""


class Dimension(StrictModel):
    min: int
    max: int
    weight: float = Field(1.0, ge=0, description="its share of the score; 0 records it without scoring by it")


class RubricHeader(StrictModel):
    format: Literal["json", "score_line", "winner_line"] = "json"
    dimensions: dict[str, Dimension] = Field({}, description="what is scored; none for a pairwise (winner_line) rubric")


@dataclass(frozen=True)
class Rubric:
    name: str
    header: RubricHeader
    template: Template

    @property
    def dimensions(self) -> dict[str, Dimension]:
        return self.header.dimensions

    @property
    def pairwise(self) -> bool:
        return self.header.format == "winner_line"

    def render_pair(self, question: str, answer_a: str, answer_b: str, reference: str = "", context: str = "") -> str:
        return self.render(question, "", reference, context, answer_a=answer_a, answer_b=answer_b)

    def parse_winner(self, text: str) -> float | None:
        """A pairwise verdict as the preference for answer A (1, 0, or 0.5 for a tie); None unless exactly one verdict
        is given (two different ones are no verdict)."""
        found = {match.lower() for match in _WINNER_LINE.findall(text)}
        if not found:
            bare = re.fullmatch(r"[\s*_`]*(a|b|tie)[\s*_`.]*", text, re.IGNORECASE)
            found = {bare.group(1).lower()} if bare else set()
        return WINNER_PREFERENCE[found.pop()] if len(found) == 1 else None

    def render(self, question: str, answer: str, reference: str = "", context: str = "", **answers: str) -> str:
        """The prompt; `answers`: a pairwise rubric's answer_a and answer_b."""
        return self.template.safe_substitute(
            answers,
            question=question,
            answer=answer,
            reference=reference,
            context=context,
            extract=context,  # the grounded rubric's historical name for the source text
            reference_line=f"Reference: {reference}\n" if reference else "",
            context_line=f'Text:\n"""\n{context}\n"""\n' if context else "",
        ).strip()

    def parse(self, text: str) -> dict[str, int] | None:
        """The verdict's value per dimension; None when it is not exactly a verdict of this rubric."""
        if self.header.format == "score_line":
            found = {int(value) for value in _SCORE_LINE.findall(text)} or {
                int(match.group(1)) for match in [re.fullmatch(r"\s*(-?\d+)\s*", text)] if match
            }
            # Two different scores in one verdict are no verdict.
            values: object = {next(iter(self.dimensions)): found.pop()} if len(found) == 1 else None
        else:
            try:
                values = json.loads(text[text.find("{") : text.rfind("}") + 1])
            except ValueError:
                return None
        if not isinstance(values, dict) or set(values) != set(self.dimensions):
            return None
        parsed = {}
        for name, value in values.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
                return None
            spec = self.dimensions[name]
            if not spec.min <= value <= spec.max:
                return None
            parsed[name] = int(value)
        return parsed

    def score(self, values: dict[str, int]) -> float:
        """The weighted mean of the dimensions, each scaled to [0, 1]."""
        weights = {name: spec.weight for name, spec in self.dimensions.items()}
        total = sum(weights.values())
        return (
            sum(
                weights[name] * (values[name] - spec.min) / (spec.max - spec.min)
                for name, spec in self.dimensions.items()
            )
            / total
        )

    @property
    def response_format(self) -> dict | None:
        return {"type": "json_object"} if self.header.format == "json" else None


def load_rubric(name_or_path: str | Path) -> Rubric:
    path = SHIPPED_RUBRICS.get(str(name_or_path)) or Path(name_or_path)
    if not path.is_file():
        raise RubricError(
            f"rubric {str(name_or_path)!r}: neither a shipped rubric ({', '.join(SHIPPED_RUBRICS)}) nor an existing "
            "file"
        )
    return _load(str(path.resolve()), path.stat().st_mtime)


@lru_cache(maxsize=32)
def _load(path: str, _mtime: float) -> Rubric:
    text = Path(path).read_text(encoding="utf-8")
    name = next((key for key, shipped in SHIPPED_RUBRICS.items() if str(shipped.resolve()) == path), path)
    if not text.startswith("---\n"):
        header = RubricHeader(format="score_line", dimensions={"score": Dimension(min=1, max=5)})
        return Rubric(name, header, Template(text))
    front, separator, body = text[4:].partition("\n---\n")
    if not separator:
        raise RubricError(f"rubric {path}: its front matter has no closing '---' line")
    try:
        header = RubricHeader.model_validate(yaml.safe_load(front) or {})
    except (yaml.YAMLError, ValidationError) as error:
        raise RubricError(f"rubric {path}: bad front matter: {error}") from error
    if header.format == "winner_line":
        if header.dimensions:
            raise RubricError(f"rubric {path}: a winner_line (pairwise) rubric has no dimensions")
        return Rubric(name, header, Template(body))
    if not header.dimensions:
        raise RubricError(f"rubric {path}: its front matter names no dimensions")
    for dimension, spec in header.dimensions.items():
        if spec.max <= spec.min:
            raise RubricError(f"rubric {path}: dimension {dimension!r} needs max > min")
    if header.format == "score_line" and len(header.dimensions) != 1:
        raise RubricError(f"rubric {path}: format score_line has exactly one dimension")
    if not sum(spec.weight for spec in header.dimensions.values()):
        raise RubricError(f"rubric {path}: every dimension has weight 0, so nothing is scored")
    return Rubric(name, header, Template(body))
