"""Deterministic answers for the generation prompts, served by the OpenAI stub server.

It plays a well-behaved LLM: grounded question-answer pairs from the extract, a generic answer
without context, and judges that prefer answers taken from the extract (the preference judge's 1-5 score, and the
accuracy_style rubric of a judge curation stage). Markers in the text script misbehaviour: `MALFORMED` answers
without the format once (the repair prompt fixes it), `HOPELESS` never follows the format.
"""

from __future__ import annotations

import json
import re
from typing import Any

from tests.support.openai_server import last_user_message

EXTRACT = re.compile(r'"""\n(.*?)\n"""', re.DOTALL)


def first_sentence(text: str) -> str:
    prose = [line for line in text.splitlines() if line.strip() and not line.startswith(("#", "```", "Author"))]
    return re.split(r"(?<=[.!?])\s", " ".join(prose), maxsplit=1)[0].strip()


def dataset_responder(body: dict[str, Any]) -> str:
    messages = body["messages"]
    prompt = last_user_message(body)
    first = messages[0]["content"]
    extract_match = EXTRACT.search(first)
    extract = extract_match.group(1) if extract_match else ""
    if '{"accuracy": 1-3' in prompt:  # the accuracy_style rubric of a judge curation stage
        answer = prompt.split("Answer:", 1)[1].split("Reply with JSON only", 1)[0].strip()
        grounded = answer and answer in extract
        return json.dumps({"accuracy": 3 if grounded else 1, "style": 3 if grounded else 2})
    if "Grade the answer" in prompt:
        answer = prompt.split("Answer:", 1)[1].split("Grade the answer", 1)[0].strip()
        return "Score: 5" if answer and answer in extract else "Score: 2"
    if "Write the question that the text above answers" in first:
        passage = first.split("\n\nWrite the question", 1)[0]
        return f"Question: What should we know about: {' '.join(passage.split()[:4])}?"
    if "Write one question" in first and extract:  # an instruction prompt, or its repair
        if "HOPELESS" in extract or ("MALFORMED" in extract and len(messages) == 1):
            return "Sure! Here is something about the text."
        angle = re.search(r"could ask (about [^,]+?), then", first)
        sentence = first_sentence(extract)
        question = f"What do we know {angle.group(1) if angle else 'here'}: {sentence[:40]}?"
        if body.get("response_format", {}).get("type") == "json_object":
            return json.dumps({"question": question, "answer": sentence})
        return f"Question: {question}\nAnswer: {sentence}"
    return f"Generally speaking, it depends on many factors ({len(prompt)} characters asked)."
