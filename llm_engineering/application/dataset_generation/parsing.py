"""Parse and validate LLM output. Small models drift from formats, so parsing is forgiving about
layout (markdown bold, extra lines) and strict about content (both fields present and non-empty)."""

from __future__ import annotations

import json
import re

# "Question:", "**Question:**", "1. Question -", "Q:"; labels may share a line with their text.
QUESTION_LABEL = re.compile(r"(?:(?i:question)|Q)\s*\**\s*[:\-]\s*\**\s*")
ANSWER_LABEL = re.compile(r"(?:(?i:answer)|A)\s*\**\s*[:\-]\s*\**\s*")
JSON_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


class ParseError(ValueError):
    """The message says what was wrong; it is quoted back to the model in the repair prompt."""


def parse_question_answer(text: str, output_format: str = "text") -> tuple[str, str]:
    if not text.strip():
        raise ParseError("the reply was empty")
    if output_format == "json":
        return _parse_json_pair(text)
    question_label = QUESTION_LABEL.search(text)
    answer_label = ANSWER_LABEL.search(text, question_label.end()) if question_label else None
    if question_label is None or answer_label is None:
        raise ParseError("missing a 'Question:' line followed by an 'Answer:' line")
    next_question = QUESTION_LABEL.search(text, answer_label.end())
    question = text[question_label.end() : answer_label.start()]
    answer = text[answer_label.end() : next_question.start() if next_question else len(text)]
    return _validated(_tidy(question), _tidy(answer))


def _tidy(text: str) -> str:
    return text.strip().strip("*#").strip()


def _parse_json_pair(text: str) -> tuple[str, str]:
    found = JSON_OBJECT.search(text)
    if found is None:
        raise ParseError("no JSON object found")
    try:
        data = json.loads(found.group(0))
    except json.JSONDecodeError as exc:
        raise ParseError(f"invalid JSON: {exc.msg}") from exc
    if not isinstance(data, dict):
        raise ParseError("the JSON is not an object")
    return _validated(str(data.get("question", "")).strip(), str(data.get("answer", "")).strip())


def _validated(question: str, answer: str) -> tuple[str, str]:
    if not question:
        raise ParseError("the question is empty")
    if not answer:
        raise ParseError("the answer is empty")
    if _words(answer) == _words(question) or _words(answer).startswith(_words(question)):
        raise ParseError("the answer only repeats the question")
    return question, answer


def _words(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def parse_question(text: str) -> str:
    """One question, labelled or not; the first line is taken when the model runs on."""
    if not text.strip():
        raise ParseError("the reply was empty")
    label = QUESTION_LABEL.search(text)
    body = text[label.end() :] if label else text
    answer_label = ANSWER_LABEL.search(body)
    body = body[: answer_label.start()] if answer_label else body
    question = _tidy(next((line for line in body.splitlines() if line.strip()), ""))
    if not question:
        raise ParseError("the question is empty")
    if len(question) > 300:
        raise ParseError("the question is over 300 characters")
    return question
