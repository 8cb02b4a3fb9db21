"""Instruction samples -> preference pairs (prompt, chosen, rejected), by one of two strategies.

- extract_vs_generated: chosen is the answer grounded in the extract; rejected is the model's own
  answer to the same question without the extract, asked for about as many words as the chosen one
  (`match_chosen_length`), so that the pair differs in grounding, not in length.
- judge_ranked: k candidate answers (the grounded one plus k-1 written in different styles without
  the extract) are scored by a judge or jury (default: the generation LLM, 1-5 grounded in the extract); best vs
  worst, ties are reported, not guessed.
- reward_ranked: the same candidates, ranked by a reward model's score.

Every answer generated here must be complete: it ended on the model's own stop within its token budget. A cut-off
one (finish_reason 'length') would teach DPO "complete beats truncated" instead of "grounded beats ungrounded", so
it is never ranked, and a pair left without a complete rejected answer is dropped (`rejected answer truncated`),
counted in `dropped` (not a generation failure: the call worked), never silently.
"""

from __future__ import annotations

from collections import Counter

from llm_engineering.application.dataset_generation.prompts import render
from llm_engineering.application.judging.jury import Jury
from llm_engineering.application.judging.members import JudgeItem, LlmJudge
from llm_engineering.application.judging.rubrics import load_rubric
from llm_engineering.domain.config.dataset_generation import PreferenceGenerationConfig, PromptFiles
from llm_engineering.domain.config.judging import JuryConfig, LlmMember
from llm_engineering.domain.documents import content_hash
from llm_engineering.domain.samples import (
    FailedGeneration,
    GeneratedPreferences,
    InstructionSample,
    PreferenceSample,
    RemovedSample,
)
from llm_engineering.infrastructure.llm.base import ChatRequest, ChatResult, LLMProvider

CANDIDATE_STYLES = ["", "Answer in one short sentence.", "Answer in detail.", "Answer as simply as you can."]
REJECTED_TRUNCATED = "rejected answer truncated"


def _normalised(text: str) -> str:
    return " ".join(text.lower().split())


def length_target(answer: str) -> str:
    """'Answer in about N words.': the chosen answer's word count, rounded to ten (a small model follows a round
    number; SmolLM2-135M stopped on its own for 12 of 12 questions asked for about 50 words, 3 of 12 unasked)."""
    return f"Answer in about {max(10, round(len(answer.split()) / 10) * 10)} words."


def _answer_request(sample: InstructionSample, style: str, index: int, config: PreferenceGenerationConfig,
                    prompts: PromptFiles, temperature: float | None) -> ChatRequest:  # fmt: skip
    prompt = render(prompts.answer_without_context, question=sample.instruction)
    return ChatRequest(
        messages=[{"role": "user", "content": f"{prompt}\n\n{style}".strip()}],
        max_new_tokens=config.max_new_tokens,
        temperature=temperature,
        key=f"{sample.sample_id}:answer:{index}",
    )


def _generate_with_retry(provider: LLMProvider, requests: list[ChatRequest], show_progress: bool) -> list[ChatResult]:
    """Free-text answers have no format to repair; an empty one gets one more sampled try."""
    results = provider.generate(requests, show_progress=show_progress)
    retry = [i for i, r in enumerate(results) if r.ok and not r.text.strip()]
    if retry:
        again = provider.generate(
            [requests[i].model_copy(update={"temperature": 0.7, "key": requests[i].key + ":retry"}) for i in retry]
        )
        for i, result in zip(retry, again, strict=True):
            results[i] = result
    return results


def _pair(sample: InstructionSample, chosen: str, rejected: str, strategy: str) -> PreferenceSample:
    return PreferenceSample(
        sample_id=content_hash(f"{sample.sample_id}\n{chosen}\n{rejected}")[:32],
        prompt=sample.instruction,
        chosen=chosen,
        rejected=rejected,
        document_id=sample.document_id,
        chunk_id=sample.chunk_id,
        source=sample.source,
        extract=sample.extract,
        strategy=strategy,
    )


def _truncated(sample: InstructionSample, chosen: str, rejected: str, strategy: str) -> RemovedSample:
    pair = _pair(sample, chosen, rejected, strategy)
    return RemovedSample(
        sample_id=pair.sample_id,
        stage="generation:complete_answers",
        reason=REJECTED_TRUNCATED,
        matched=sample.sample_id,
        text=f"{sample.instruction}\n{rejected}",
    )


def _failure(sample: InstructionSample, error: str, raw: str = "", cause: str | None = None) -> FailedGeneration:
    return FailedGeneration(chunk_id=sample.chunk_id, task="preference", error=error, raw_output=raw,
                            cause=cause or "")  # fmt: skip


def generate_preferences(
    samples: list[InstructionSample],
    provider: LLMProvider,
    config: PreferenceGenerationConfig,
    prompts: PromptFiles,
    show_progress: bool = False,
) -> GeneratedPreferences:
    if config.strategy in ("judge_ranked", "reward_ranked"):
        return _judge_ranked(samples, provider, config, prompts, show_progress)
    output = GeneratedPreferences()
    requests = [
        _answer_request(s, length_target(s.answer) if config.match_chosen_length else "", 0, config, prompts, None)
        for s in samples
    ]
    for sample, result in zip(samples, _generate_with_retry(provider, requests, show_progress), strict=True):
        if result.ok and result.text.strip():
            output.answers_generated += 1
            output.answers_truncated += result.truncated
        if not result.ok or not result.text.strip():
            error = f"LLM call failed: {result.error}" if result.error else "empty answer after retry"
            output.failures.append(_failure(sample, error, result.text, result.error_kind))
        elif result.truncated:
            output.dropped.append(_truncated(sample, sample.answer, result.text.strip(), config.strategy))
        elif _normalised(result.text) == _normalised(sample.answer):
            output.failures.append(_failure(sample, "rejected answer equals the chosen one", result.text))
        else:
            output.samples.append(_pair(sample, sample.answer, result.text.strip(), config.strategy))
    return output


def _ranking_jury(provider: LLMProvider, config: PreferenceGenerationConfig, prompts: PromptFiles) -> Jury:
    """The configured jury, or the historical judge: the generation LLM with the `prompts.judge` rubric."""
    configured = config.ranking_jury()
    if configured is not None:
        return Jury(configured)
    member = LlmMember(kind="llm", name="judge", max_new_tokens=8)
    judge = LlmJudge(member, provider=provider, rubric=load_rubric(prompts.judge))
    return Jury(JuryConfig(members=[member]), members=[judge])


def _judge_ranked(
    samples: list[InstructionSample],
    provider: LLMProvider,
    config: PreferenceGenerationConfig,
    prompts: PromptFiles,
    show_progress: bool,
) -> GeneratedPreferences:
    """k candidates per question (the grounded answer and k-1 sampled ones), ranked by the jury: best vs worst.
    A candidate the jury could not score is left out of the ranking, never guessed; a question left with fewer than
    two scored candidates, or with a tie, is a failure of that sample (counted by the generation failure budget)."""
    output = GeneratedPreferences()
    styles = [CANDIDATE_STYLES[i % len(CANDIDATE_STYLES)] for i in range(1, config.candidates)]
    requests = [
        _answer_request(s, style, i + 1, config, prompts, config.candidate_temperature)
        for s in samples
        for i, style in enumerate(styles)
    ]
    generated = _generate_with_retry(provider, requests, show_progress)
    candidates: list[list[str]] = []
    cut_off: dict[int, str] = {}  # sample index -> a truncated candidate (for the dropped pair's record)
    for index, sample in enumerate(samples):
        mine = generated[index * len(styles) : (index + 1) * len(styles)]
        own = [r for r in mine if r.ok and r.text.strip()]
        output.answers_generated += len(own)
        output.answers_truncated += sum(r.truncated for r in own)
        if any(r.truncated for r in own):
            cut_off[index] = next(r.text.strip() for r in own if r.truncated)
        answers = [sample.answer] + [r.text.strip() for r in own if not r.truncated]  # a cut-off one is never ranked
        candidates.append([a for a in dict.fromkeys(answers) if a])
        if len(candidates[-1]) < 2 and index in cut_off:  # nothing complete left to rank against the grounded one
            output.dropped.append(_truncated(sample, sample.answer, cut_off[index], config.strategy))
            candidates[-1] = []  # not judged
        elif len(candidates[-1]) < 2 and (failed := next((r for r in mine if not r.ok), None)) is not None:
            # Nothing to rank the grounded answer against because the calls for the others failed: say why.
            output.failures.append(_failure(sample, f"LLM call failed: {failed.error}", cause=failed.error_kind))
            candidates[-1] = []  # not judged
    jury = _ranking_jury(provider, config, prompts)
    items = [
        JudgeItem(
            question=s.instruction, answer=answer, context=s.extract, key=f"{s.sample_id}:{content_hash(answer)[:12]}"
        )
        for s, answers in zip(samples, candidates, strict=True)
        for answer in answers
    ]
    verdicts = iter(jury.judge(items, show_progress=show_progress, check=False))
    for sample, answers in zip(samples, candidates, strict=True):
        if not answers:  # dropped or failed above: no candidate to rank against the grounded one
            continue
        given = [(answer, next(verdicts)) for answer in answers]
        scored = [(verdict.score, answer) for answer, verdict in given if verdict.score is not None]
        if len(scored) < 2:
            # What the judge said about each candidate it could not score: its verdict as written, or the call's error.
            unscored = [(i, why) for i, (_, v) in enumerate(given, 1) if v.score is None for why in v.unjudged.items()]
            raw = "\n".join(f"candidate {i} ({member}, {why.reason}): {why.detail}" for i, (member, why) in unscored)
            causes = Counter(why.reason for _, (_, why) in unscored)
            output.failures.append(_failure(sample, f"judge scored {len(scored)} of {len(answers)} candidates", raw,
                                            ", ".join(causes) or None))  # fmt: skip
            continue
        scored.sort(key=lambda pair: pair[0], reverse=True)
        (best_score, best), (worst_score, worst) = scored[0], scored[-1]
        if best_score == worst_score:
            output.failures.append(_failure(sample, f"no preference: every candidate scored {best_score:g}"))
            continue
        output.samples.append(_pair(sample, best, worst, config.strategy))
    output.ranking = jury.report()
    return output
