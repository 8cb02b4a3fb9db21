"""The `evol_instruct` curation stage: Evol-Instruct (WizardLM, Xu et al. 2023) on the samples the previous stage kept.

For each round: a seeded share of the samples (round 1) or the previous round's kept evolutions (later rounds) is
evolved, each by `mutations_per_sample` of the configured mutations (a prompt file each), in one batch through the
LLM provider (its retries, concurrency and response cache); the evolved instructions that survive elimination are
answered in a second batch, with the parent's source extract as context. Elimination follows WizardLM's rules:

- the call failed, or its reply was empty or cut off by the token budget (`finish_reason: length`);
- the evolution adds nothing: a normalised copy of the parent, or too close to it (word-set Jaccard at or above
  `max_similarity`, or fewer than `min_new_words` new content words); its score is the Jaccard;
- it copied the prompt instead of following it: a phrase of the mutation prompts (`#Rewritten Instruction#`,
  "given prompt", ...) that the parent did not contain;
- it is not an instruction (neither a question nor an imperative: the model answered the parent instead);
- its answer failed, was cut off, is empty (fewer than `min_answer_words` content words), a refusal, or only repeats
  the instruction (at least `max_answer_overlap` of its content words are the instruction's).

Every eliminated evolution is a `RemovedSample` of the stage (reason, score, `matched`: the parent's id), counted in
the stage's report by reason and mutation. The kept ones are added after the input samples, which all stay. Failed
calls beyond `max_failed_fraction` of the stage's calls stop it (`EvolutionFailed`): an endpoint that is down must not
quietly produce a dataset without its evolutions.

Requests depend only on the sample and the configuration (the same prompt, the LLM's own temperature and seed), so a
rerun is answered by the response cache, and a sample is chosen, or not, by a hash of its id: an incremental run,
which curates only its new samples, evolves exactly those.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from llm_engineering.application.dataset_generation.prompts import render
from llm_engineering.application.quality_filters import content_words, grounding_overlap, reads_as_instruction
from llm_engineering.application.sample_text import normalise_text
from llm_engineering.domain.config.dataset_quality import InstructionFormatParams
from llm_engineering.domain.config.evolution_stage import EvolInstructStage
from llm_engineering.domain.documents import content_hash
from llm_engineering.domain.evolution import EvolutionExample, EvolutionReport, MutationCount
from llm_engineering.domain.samples import InstructionSample, PreferenceSample, RemovedSample
from llm_engineering.infrastructure.llm.base import ChatRequest, ChatResult, LLMProvider

logger = logging.getLogger(__name__)

CALL_FAILED = "call failed"
INSTRUCTION_TRUNCATED = "instruction cut off"
INSTRUCTION_EMPTY = "instruction empty"
INSTRUCTION_RUNS_ON = "instruction runs on"
NOT_AN_INSTRUCTION = "not an instruction"
COPY_OF_PARENT = "copy of its parent"
ADDS_NOTHING = "adds nothing to its parent"
COPIES_PROMPT = "copies the prompt's wording"
ANSWER_FAILED = "answer call failed"
ANSWER_TRUNCATED = "answer cut off"
ANSWER_EMPTY = "answer empty"
ANSWER_REFUSAL = "answer is a refusal"
ANSWER_REPEATS = "answer repeats the instruction"
PREFERENCES_PASSED = (
    "preference pairs are passed through unchanged: evolving a pair would need a new chosen and rejected answer; the "
    "pairs are generated from the curated instruction samples, evolved ones included"
)

# A label the model put before its instruction ("Rewritten instruction:", "**New prompt:**"): stripped, not a leak.
LEADING_LABEL = re.compile(
    r"^\s*[#*]*\s*(?:(?:new|rewritten|evolved|created|harder)\s+)?(?:instruction|prompt|question)\s*[#*]*\s*:\s*\**\s*",
    re.IGNORECASE,
)
# The model went on to answer its own instruction ("Answer:", "The answer to this question is:"): it ends there.
RUN_ON = re.compile(
    r"\n\s*[#*]*\s*(?:(?:the\s+)?answer(?:\s+to\s+(?:this|the)\s+\w+)?(?:\s+is)?|response|solution)\s*[#*]*\s*:",
    re.IGNORECASE,
)
REFUSAL_WINDOW = 200  # refusals open the answer; a phrase later on ("I cannot stress enough") is not one


class EvolutionFailed(RuntimeError):
    """Too many of the stage's LLM calls failed: the message names the stage, the count and the first error."""


@dataclass
class Evolved:
    kept: list[InstructionSample | PreferenceSample]  # the input samples, then the kept evolutions
    removed: list[RemovedSample]  # the eliminated evolutions
    removed_by_reason: dict[str, int]
    report: EvolutionReport


@dataclass
class _Candidate:
    parent: InstructionSample
    mutation: str
    round: int
    instruction: str = ""


def _unit(*parts: object) -> float:
    """A number in [0, 1) from the parts: seeded choices that depend on nothing else (not on the batch)."""
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def choose_samples(samples: Sequence[InstructionSample], stage: EvolInstructStage) -> list[InstructionSample]:
    """Each sample with probability `fraction`, by a hash of the seed and its id; then at most `max_samples` (the
    lowest hashes). Input order is kept."""
    chosen = [s for s in samples if _unit(stage.seed, "sample", s.sample_id) < stage.fraction]
    if stage.max_samples is not None and len(chosen) > stage.max_samples:
        ranked = sorted(chosen, key=lambda s: _unit(stage.seed, "sample", s.sample_id))
        keep = {s.sample_id for s in ranked[: stage.max_samples]}
        chosen = [s for s in chosen if s.sample_id in keep]
    return chosen


def choose_mutations(sample: InstructionSample, round_number: int, stage: EvolInstructStage) -> list[str]:
    """`mutations_per_sample` distinct mutations for this sample in this round, seeded."""
    ranked = sorted(stage.mutations, key=lambda m: _unit(stage.seed, "mutation", sample.sample_id, round_number, m))
    return ranked[: stage.mutations_per_sample]


def _context(extract: str) -> str:
    return f'Reference text:\n"""\n{extract}\n"""\n\n' if extract.strip() else ""


def mutation_request(candidate: _Candidate, stage: EvolInstructStage) -> ChatRequest:
    parent = candidate.parent
    prompt = render(getattr(stage.prompts, candidate.mutation), instruction=parent.instruction,
                    context=_context(parent.extract))  # fmt: skip
    return ChatRequest(
        messages=[{"role": "user", "content": prompt}],
        max_new_tokens=stage.instruction_max_new_tokens,
        key=f"{parent.sample_id}:evolve:{candidate.round}:{candidate.mutation}",
    )


def answer_request(candidate: _Candidate, stage: EvolInstructStage) -> ChatRequest:
    extract = candidate.parent.extract.strip()
    if stage.answer_with_context and extract:
        prompt = render(stage.prompts.answer, instruction=candidate.instruction, extract=extract)
    else:
        prompt = render(stage.prompts.answer_without_context, instruction=candidate.instruction)
    return ChatRequest(
        messages=[{"role": "user", "content": prompt}],
        max_new_tokens=stage.max_new_tokens,
        key=f"{candidate.parent.sample_id}:evolve:{candidate.round}:{candidate.mutation}:answer",
    )


def parse_instruction(text: str) -> str:
    """The evolved instruction in a reply: a leading label stripped, anything from an `Answer:` line on cut, and
    surrounding quotes removed."""
    body = LEADING_LABEL.sub("", text.strip(), count=1)
    run_on = RUN_ON.search(body)
    body = body[: run_on.start()] if run_on else body
    return body.strip().strip("\"'“”`").strip()


def jaccard(first: str, second: str) -> float:
    a, b = set(normalise_text(first).split()), set(normalise_text(second).split())
    return len(a & b) / len(a | b) if a | b else 1.0


def instruction_elimination(
    parent: str, result: ChatResult, stage: EvolInstructStage
) -> tuple[str, str | None, float | None]:
    """(the evolved instruction, why it is eliminated or None, the score that decided it)."""
    rules = stage.elimination
    if not result.ok:
        return "", CALL_FAILED, None
    instruction = parse_instruction(result.text)
    if result.truncated:
        return instruction, INSTRUCTION_TRUNCATED, None
    if not content_words(instruction, 1):
        return instruction, INSTRUCTION_EMPTY, None
    if len(instruction.split()) > rules.max_instruction_words:
        return instruction, INSTRUCTION_RUNS_ON, float(len(instruction.split()))
    if normalise_text(instruction) == normalise_text(parent):
        return instruction, COPY_OF_PARENT, 1.0
    if rules.require_instruction_format and not reads_as_instruction(instruction, InstructionFormatParams()):
        return instruction, NOT_AN_INSTRUCTION, None
    lowered, parent_lowered = _lowered(instruction), _lowered(parent)
    if any(_lowered(p) in lowered and _lowered(p) not in parent_lowered for p in rules.prompt_wording):
        return instruction, COPIES_PROMPT, None
    similarity = round(jaccard(instruction, parent), 4)
    new_words = set(content_words(instruction, 1)) - set(content_words(parent, 1))
    if similarity >= rules.max_similarity or len(new_words) < rules.min_new_words:
        return instruction, ADDS_NOTHING, similarity
    return instruction, None, None


def answer_elimination(
    instruction: str, result: ChatResult, stage: EvolInstructStage
) -> tuple[str | None, float | None]:
    """(why the answer is eliminated or None, the score that decided it)."""
    rules = stage.elimination
    if not result.ok:
        return ANSWER_FAILED, None
    if result.truncated:
        return ANSWER_TRUNCATED, None
    if len(content_words(result.text, 1)) < rules.min_answer_words:
        return ANSWER_EMPTY, None
    opening = _lowered(result.text)[:REFUSAL_WINDOW]
    if any(_lowered(phrase) in opening for phrase in rules.refusals):
        return ANSWER_REFUSAL, None
    repeated = grounding_overlap(result.text, instruction)  # share of the answer's content words in the instruction
    if repeated is not None and repeated >= rules.max_answer_overlap:
        return ANSWER_REPEATS, round(repeated, 4)
    return None, None


def _lowered(text: str) -> str:
    return " ".join(text.lower().replace("’", "'").split())


def _child_id(candidate: _Candidate, answer: str) -> str:
    parent = candidate.parent
    return content_hash(f"{parent.sample_id}\n{candidate.mutation}\n{candidate.instruction}\n{answer}")[:32]


def _child(candidate: _Candidate, answer: str) -> InstructionSample:
    parent = candidate.parent
    return InstructionSample(
        sample_id=_child_id(candidate, answer),
        instruction=candidate.instruction,
        answer=answer,
        document_id=parent.document_id,  # the parent's document: the split keeps both on the same side
        chunk_id=parent.chunk_id,
        source=parent.source,
        extract=parent.extract,
        parent_id=parent.sample_id,
        mutation=candidate.mutation,
        generated_answer=True,
    )


class _Tally:
    """Counts per mutation and reason, the removed evolutions and the failed calls, across rounds."""

    def __init__(self, stage: EvolInstructStage):
        self.stage = stage
        self.name = stage.name or stage.default_name
        self.by_mutation = {m: MutationCount() for m in stage.mutations}
        self.removed: list[RemovedSample] = []
        self.calls = 0
        self.failed = 0
        self.first_error: str | None = None

    def called(self, results: list[ChatResult]) -> None:
        self.calls += len(results)
        for result in results:
            if not result.ok:
                self.failed += 1
                self.first_error = self.first_error or result.error

    def eliminate(self, candidate: _Candidate, reason: str, score: float | None, answer: str = "") -> None:
        counts = self.by_mutation[candidate.mutation].eliminated_by_reason
        counts[reason] = counts.get(reason, 0) + 1
        self.removed.append(
            RemovedSample(
                sample_id=_child_id(candidate, answer),
                stage=self.name,
                reason=reason,
                score=score,
                matched=candidate.parent.sample_id,
                text=f"{candidate.instruction}\n{answer}".strip(),
            )
        )

    def check_budget(self) -> None:
        if self.calls and self.failed / self.calls > self.stage.max_failed_fraction:
            raise EvolutionFailed(
                f"{self.name}: {self.failed} of {self.calls} evolution calls failed, more than max_failed_fraction "
                f"{self.stage.max_failed_fraction} (first error: {self.first_error}); fix the LLM (the stage's `llm`, "
                "default `datasets.llm`) or raise the stage's max_failed_fraction"
            )


def evolve(
    samples: Sequence[InstructionSample | PreferenceSample],
    stage: EvolInstructStage,
    provider: LLMProvider,
    show_progress: bool = False,
) -> Evolved:
    report = EvolutionReport(samples=len(samples), rounds=stage.rounds)
    if any(isinstance(s, PreferenceSample) for s in samples):
        report.skipped = PREFERENCES_PASSED
        return Evolved(list(samples), [], {}, report)
    instructions = [s for s in samples if isinstance(s, InstructionSample)]
    tally = _Tally(stage)
    parents = choose_samples(instructions, stage)
    report.chosen = len(parents)
    children: list[InstructionSample] = []
    examples: list[EvolutionExample] = []
    for round_number in range(1, stage.rounds + 1):
        if not parents:
            break
        candidates = [
            _Candidate(parent, mutation, round_number)
            for parent in parents
            for mutation in choose_mutations(parent, round_number, stage)
        ]
        for candidate in candidates:
            tally.by_mutation[candidate.mutation].attempted += 1
        results = provider.generate([mutation_request(c, stage) for c in candidates], show_progress=show_progress)
        tally.called(results)
        answerable = []
        for candidate, result in zip(candidates, results, strict=True):
            candidate.instruction, reason, score = instruction_elimination(candidate.parent.instruction, result, stage)
            if reason is None:
                answerable.append(candidate)
            else:
                tally.eliminate(candidate, reason, score)
        requests = [answer_request(c, stage) for c in answerable]
        answers = provider.generate(requests, show_progress=show_progress) if requests else []
        tally.called(answers)
        kept_this_round = []
        for candidate, result in zip(answerable, answers, strict=True):
            reason, score = answer_elimination(candidate.instruction, result, stage)
            answer = result.text.strip()
            if reason is not None:
                tally.eliminate(candidate, reason, score, answer)
                continue
            child = _child(candidate, answer)
            kept_this_round.append(child)
            tally.by_mutation[candidate.mutation].kept += 1
            examples.append(
                EvolutionExample(mutation=candidate.mutation, round=round_number, parent_id=candidate.parent.sample_id,
                                 parent_instruction=candidate.parent.instruction, instruction=child.instruction,
                                 answer=answer)
            )  # fmt: skip
        logger.info(
            "%s round %d: %d evolutions of %d samples, %d kept", tally.name, round_number, len(candidates),
            len(parents), len(kept_this_round),
        )  # fmt: skip
        tally.check_budget()
        children += kept_this_round
        parents = kept_this_round
    usage = provider.usage()
    report.attempted = sum(c.attempted for c in tally.by_mutation.values())
    report.kept = len(children)
    report.eliminated_by_reason = dict(Counter(r.reason for r in tally.removed))
    report.by_mutation = tally.by_mutation
    report.calls, report.cached, report.failed_calls = usage.calls, usage.cached, tally.failed
    report.prompt_tokens, report.completion_tokens = usage.prompt_tokens, usage.completion_tokens
    report.cost_usd = usage.cost_usd
    report.examples = _examples(examples, stage.examples)
    return Evolved([*samples, *children], tally.removed, report.eliminated_by_reason, report)


def _examples(kept: list[EvolutionExample], count: int) -> list[EvolutionExample]:
    """One per mutation first (in the order they came), then more, up to `count`."""
    first: dict[str, EvolutionExample] = {}
    for example in kept:
        first.setdefault(example.mutation, example)
    chosen = list(first.values())[:count]
    chosen += [e for e in kept if e not in chosen][: count - len(chosen)]
    return chosen
