"""An optional LLM judge (any OpenAI-compatible endpoint) scoring accuracy and style from 1 to 3."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field

JUDGE_PROMPT = """You grade an assistant's answer against a reference answer.
Instruction: {instruction}
Reference: {reference}
Answer: {answer}
Reply with JSON only: {{"accuracy": 1-3, "style": 1-3}} where accuracy 3 = factually matches the reference,
1 = wrong or off-topic; style 3 = clear and concise like a blog post, 1 = rambling or robotic."""


class JudgeScore(BaseModel):
    accuracy: int = Field(ge=1, le=3)
    style: int = Field(ge=1, le=3)


def judge_answers(
    client: Any, model: str, instructions: list[str], references: list[str], answers: list[str]
) -> tuple[float, float]:
    """Mean accuracy and style; `client` is an `openai.OpenAI` (or compatible) instance."""
    scores = []
    for instruction, reference, answer in zip(instructions, references, answers, strict=True):
        response = client.chat.completions.create(
            model=model,
            temperature=0,
            messages=[
                {
                    "role": "user",
                    "content": JUDGE_PROMPT.format(instruction=instruction, reference=reference, answer=answer),
                }
            ],
        )
        text = response.choices[0].message.content or ""
        scores.append(JudgeScore.model_validate(json.loads(text[text.find("{") : text.rfind("}") + 1])))
    count = max(len(scores), 1)
    return sum(s.accuracy for s in scores) / count, sum(s.style for s in scores) / count
