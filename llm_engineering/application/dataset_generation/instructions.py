"""Extracts -> instruction-answer pairs, N per extract, with one repair retry.

Two modes. `backtranslation` (Li et al., 2023): the answer is a passage of the source itself, so it
keeps the author's style by construction, and the LLM only writes the question the passage answers,
a task small local models handle. `question_answer`: the LLM writes both, one pair per angle.

Unlike the Handbook repo, a reply that fails to parse costs one sample, not the batch: it gets a
repair prompt (its own reply quoted back with what was wrong), and if that fails too it is kept
as a `FailedGeneration` with the raw output.

A reply cut off by its token budget (finish_reason 'length') is not parsed: its answer (question_answer) or question
(backtranslation) would end mid-sentence and teach exactly that. It is dropped, with the reason and the raw text, and
counted apart from failures (the call worked); repairing it would only hit the same budget.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from llm_engineering.application.dataset_generation.parsing import (
    ParseError,
    parse_question,
    parse_question_answer,
)
from llm_engineering.application.dataset_generation.prompts import render
from llm_engineering.domain.config.dataset_generation import (
    BACKTRANSLATION_QUESTION_TOKENS,
    InstructionGenerationConfig,
    PromptFiles,
)
from llm_engineering.domain.documents import content_hash
from llm_engineering.domain.samples import (
    Extract,
    FailedGeneration,
    GeneratedInstructions,
    InstructionSample,
    RemovedSample,
)
from llm_engineering.infrastructure.llm.base import ChatRequest, ChatResult, LLMProvider

BYLINE = re.compile(r"^(?:\*\*)?(?:author|by)(?:\*\*)?\s*[:\-][^\n]*$", re.IGNORECASE)


@dataclass
class _Pending:
    extract: Extract
    request: ChatRequest
    passage: str | None = None  # backtranslation: the answer, taken from the source


def passages(text: str, max_characters: int, min_characters: int) -> list[str]:
    """Paragraph groups of at most `max_characters` (a fenced code block stays whole), headings dropped."""
    paragraphs: list[str] = []
    open_fence: list[str] = []
    for block in text.split("\n\n"):
        if open_fence:
            open_fence.append(block)
            if block.count("```") % 2:
                paragraphs.append("\n\n".join(open_fence))
                open_fence = []
        elif block.count("```") % 2:
            open_fence = [block]
        elif block.strip() and not block.lstrip().startswith("#") and not BYLINE.match(block.strip()):
            paragraphs.append(block.strip())
    if open_fence:
        paragraphs.append("\n\n".join(open_fence))
    groups: list[str] = []
    current = ""
    for paragraph in paragraphs:
        if current and len(current) + len(paragraph) + 2 > max_characters and len(current) >= min_characters:
            groups.append(current)
            current = ""
        current = f"{current}\n\n{paragraph}" if current else paragraph
    if current:
        groups.append(current)
    return [g for g in groups if min_characters <= len(g) <= max_characters * 2]


def _spread(items: list[str], count: int) -> list[str]:
    """`count` items evenly spread over the list: questions about the whole extract, not its start."""
    if len(items) <= count:
        return items
    step = len(items) / count
    return [items[int(i * step)] for i in range(count)]


def instruction_requests(
    extracts: list[Extract], config: InstructionGenerationConfig, prompts: PromptFiles
) -> list[_Pending]:
    if config.mode == "backtranslation":
        return [
            _Pending(
                extract,
                ChatRequest(
                    messages=[{"role": "user", "content": render(prompts.backtranslation, passage=passage)}],
                    max_new_tokens=min(
                        config.max_new_tokens or BACKTRANSLATION_QUESTION_TOKENS, BACKTRANSLATION_QUESTION_TOKENS
                    ),
                    key=f"{extract.extract_id}:backtranslation:{index}",
                ),
                passage=passage,
            )
            for extract in extracts
            for index, passage in enumerate(
                _spread(
                    passages(extract.text, config.passage_max_characters, config.passage_min_characters),
                    config.pairs_per_extract,
                )
            )
        ]
    template = prompts.instruction_json if config.output_format == "json" else prompts.instruction
    response_format = {"type": "json_object"} if config.output_format == "json" else None
    pending = []
    for extract in extracts:
        for index in range(config.pairs_per_extract):
            angle = config.angles[index % len(config.angles)]
            prompt = render(template, extract=extract.text, angle=angle, author=extract.author or "its author")
            pending.append(
                _Pending(
                    extract,
                    ChatRequest(
                        messages=[{"role": "user", "content": prompt}],
                        response_format=response_format,
                        max_new_tokens=config.max_new_tokens,
                        key=f"{extract.extract_id}:instruction:{index}",
                    ),
                )
            )
    return pending


def generate_instructions(
    extracts: list[Extract],
    provider: LLMProvider,
    config: InstructionGenerationConfig,
    prompts: PromptFiles,
    show_progress: bool = False,
) -> GeneratedInstructions:
    pending = instruction_requests(extracts, config, prompts)
    results = provider.generate([p.request for p in pending], show_progress=show_progress)
    output = GeneratedInstructions(extracts=len(extracts))
    repairs: list[tuple[_Pending, ChatRequest]] = []
    for item, result in zip(pending, results, strict=True):
        if result.ok and result.truncated:
            output.dropped.append(_truncated(item, result))
            continue
        try:
            output.samples.append(_sample(item, _parsed(item, result, config.output_format)))
        except ParseError as exc:
            if not result.ok:  # the call itself failed after its retries: no reply to repair
                output.failures.append(_failure(item, str(exc), result))
                continue
            repairs.append((item, _repair_request(item, result, str(exc), config, prompts)))
    repaired = provider.generate([r for _, r in repairs], show_progress=show_progress) if repairs else []
    for (item, _), result in zip(repairs, repaired, strict=True):
        if result.ok and result.truncated:
            output.dropped.append(_truncated(item, result))
            continue
        try:
            output.samples.append(_sample(item, _parsed(item, result, config.output_format)))
        except ParseError as exc:
            output.failures.append(_failure(item, f"after repair: {exc}", result))
    return output


def _parsed(item: _Pending, result: ChatResult, output_format: str) -> tuple[str, str]:
    if not result.ok:
        raise ParseError(f"LLM call failed: {result.error}")
    if item.passage is not None:
        return parse_question(result.text), item.passage
    return parse_question_answer(result.text, output_format)


def _repair_request(
    item: _Pending, result: ChatResult, problem: str, config: InstructionGenerationConfig, prompts: PromptFiles
) -> ChatRequest:
    if item.passage is not None:
        template = prompts.repair_question
    else:
        template = prompts.repair_json if config.output_format == "json" else prompts.repair
    return item.request.model_copy(
        update={
            "messages": [
                *item.request.messages,
                {"role": "assistant", "content": result.text},
                {"role": "user", "content": render(template, problem=problem)},
            ],
            "key": f"{item.request.key}:repair",
        }
    )


def _sample(item: _Pending, pair: tuple[str, str]) -> InstructionSample:
    question, answer = pair
    return InstructionSample(
        sample_id=content_hash(f"{item.request.key}\n{question}\n{answer}")[:32],
        instruction=question,
        answer=answer,
        document_id=item.extract.document_id,
        chunk_id=item.extract.chunk_ids[0],
        source=item.extract.source,
        extract=item.extract.text,
    )


def _truncated(item: _Pending, result: ChatResult) -> RemovedSample:
    part = "question" if item.passage is not None else "answer"
    return RemovedSample(
        sample_id=content_hash(f"{item.request.key}\n{result.text}")[:32],
        stage="generation:complete_answers",
        reason=f"{part} truncated",
        matched=item.extract.extract_id,
        text=result.text,
    )


def _failure(item: _Pending, error: str, result: ChatResult) -> FailedGeneration:
    return FailedGeneration(chunk_id=item.extract.chunk_ids[0], task="instruction", error=error,
                            raw_output=result.text, cause=result.error_kind or "")  # fmt: skip
