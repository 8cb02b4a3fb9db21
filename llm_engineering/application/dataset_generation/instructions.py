"""Extracts -> instruction-answer pairs, N per extract (one per angle), with one repair retry.

Unlike the Handbook repo, a reply that fails to parse costs one sample, not the batch: it gets a
repair prompt (its own reply quoted back with what was wrong), and if that fails too it is kept
as a `FailedGeneration` with the raw output.
"""

from __future__ import annotations

from dataclasses import dataclass

from llm_engineering.application.dataset_generation.parsing import ParseError, parse_question_answer
from llm_engineering.application.dataset_generation.prompts import render
from llm_engineering.domain.config.dataset_generation import InstructionGenerationConfig, PromptFiles
from llm_engineering.domain.documents import content_hash
from llm_engineering.domain.samples import Extract, FailedGeneration, GeneratedInstructions, InstructionSample
from llm_engineering.infrastructure.llm.base import ChatRequest, ChatResult, LLMProvider


@dataclass
class _Pending:
    extract: Extract
    angle: str
    request: ChatRequest


def instruction_requests(
    extracts: list[Extract], config: InstructionGenerationConfig, prompts: PromptFiles
) -> list[_Pending]:
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
                    angle,
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
        try:
            output.samples.append(_sample(item, _parsed(result, config.output_format)))
        except ParseError as exc:
            if not result.ok:  # the call itself failed after its retries: no reply to repair
                output.failures.append(_failure(item, str(exc), result))
                continue
            repairs.append((item, _repair_request(item, result, str(exc), config, prompts)))
    repaired = provider.generate([r for _, r in repairs], show_progress=show_progress) if repairs else []
    for (item, _), result in zip(repairs, repaired, strict=True):
        try:
            output.samples.append(_sample(item, _parsed(result, config.output_format)))
        except ParseError as exc:
            output.failures.append(_failure(item, f"after repair: {exc}", result))
    return output


def _parsed(result: ChatResult, output_format: str) -> tuple[str, str]:
    if not result.ok:
        raise ParseError(f"LLM call failed: {result.error}")
    return parse_question_answer(result.text, output_format)


def _repair_request(
    item: _Pending, result: ChatResult, problem: str, config: InstructionGenerationConfig, prompts: PromptFiles
) -> ChatRequest:
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


def _failure(item: _Pending, error: str, result: ChatResult) -> FailedGeneration:
    return FailedGeneration(chunk_id=item.extract.chunk_ids[0], task="instruction", error=error, raw_output=result.text)
