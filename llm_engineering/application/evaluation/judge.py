"""An optional LLM judge (any OpenAI-compatible endpoint) scoring accuracy and style from 1 to 3.

It goes through our `LLMProvider`, so it gets the same retries (429 with Retry-After, 5xx, timeouts),
bounded concurrency and response cache as dataset generation. A verdict that cannot be parsed is
counted as unjudged, never guessed.
"""

from __future__ import annotations

import json

from pydantic import BaseModel, Field, ValidationError

from llm_engineering.infrastructure.llm.base import ChatRequest, LLMProvider

JUDGE_PROMPT = """You grade an assistant's answer against a reference answer.
Instruction: {instruction}
Reference: {reference}
Answer: {answer}
Reply with JSON only: {{"accuracy": 1-3, "style": 1-3}} where accuracy 3 = factually matches the reference,
1 = wrong or off-topic; style 3 = clear and concise like a blog post, 1 = rambling or robotic."""


class JudgeScore(BaseModel):
    accuracy: int = Field(ge=1, le=3)
    style: int = Field(ge=1, le=3)


class JudgeResult(BaseModel):
    accuracy: float | None = None
    style: float | None = None
    judged: int = 0
    unjudged: int = 0


def parse_verdict(text: str) -> JudgeScore | None:
    try:
        return JudgeScore.model_validate(json.loads(text[text.find("{") : text.rfind("}") + 1]))
    except (ValueError, ValidationError):
        return None


def judge_answers(
    provider: LLMProvider, instructions: list[str], references: list[str], answers: list[str]
) -> JudgeResult:
    requests = [
        ChatRequest(
            messages=[{"role": "user", "content": JUDGE_PROMPT.format(instruction=i, reference=r, answer=a)}],
            response_format={"type": "json_object"},
            temperature=0.0,
            max_new_tokens=32,
            key=f"judge:{index}",
        )
        for index, (i, r, a) in enumerate(zip(instructions, references, answers, strict=True))
    ]
    verdicts = [parse_verdict(result.text) if result.ok else None for result in provider.generate(requests)]
    scores = [v for v in verdicts if v is not None]
    if not scores:
        return JudgeResult(unjudged=len(verdicts))
    return JudgeResult(
        accuracy=sum(s.accuracy for s in scores) / len(scores),
        style=sum(s.style for s in scores) / len(scores),
        judged=len(scores),
        unjudged=len(verdicts) - len(scores),
    )
