"""The `judge` curation stage: every sample scored by the stage's jury, the scores written into the sample (dataset
columns), and, with a threshold, the low scorers removed with their score.

Instruction samples are judged on (instruction, answer); preference pairs on both (prompt, chosen) and
(prompt, rejected), so the margin between them is measured too. The source extract goes along as context when the
stage says so. A sample left unjudged is kept or dropped as configured, and counted either way.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from llm_engineering.application.judging.jury import Jury, JuryVerdict
from llm_engineering.application.judging.members import JudgeItem
from llm_engineering.domain.config.curation_stages import JudgeStage
from llm_engineering.domain.judging import JuryReport
from llm_engineering.domain.samples import InstructionSample, PreferenceSample, RemovedSample

UNJUDGED = "unjudged"
BELOW_SCORE = "judge score below min_score"
BELOW_MARGIN = "chosen does not beat rejected by min_margin"


@dataclass
class JudgedSamples:
    kept: list
    removed: list[RemovedSample]
    removed_by_reason: dict[str, int]
    report: JuryReport


def _item(sample: InstructionSample | PreferenceSample, answer: str, side: str, stage: JudgeStage) -> JudgeItem:
    question = sample.instruction if isinstance(sample, InstructionSample) else sample.prompt
    context = sample.extract if stage.with_context else ""
    return JudgeItem(question=question, answer=answer, context=context, key=f"{sample.sample_id}{side}")


def judge_samples(
    samples: Sequence[InstructionSample | PreferenceSample], stage: JudgeStage, jury: Jury | None = None
) -> JudgedSamples:
    jury = jury or Jury(stage.jury)
    name = stage.name or stage.default_name
    pairs = bool(samples) and isinstance(samples[0], PreferenceSample)
    if pairs:
        items = [_item(s, s.chosen, ":chosen", stage) for s in samples]
        items += [_item(s, s.rejected, ":rejected", stage) for s in samples]
    else:
        items = [_item(s, s.answer, "", stage) for s in samples]  # type: ignore[union-attr]
    verdicts = jury.judge(items, check=False)
    jury.check([v.score for v in verdicts])  # the budget counts answers, as the members' calls do
    kept, removed = [], []
    for index, sample in enumerate(samples):
        chosen = verdicts[index]
        rejected: JuryVerdict | None = verdicts[len(samples) + index] if pairs else None
        scores = _columns(name, chosen, rejected)
        scored = sample.model_copy(update={"scores": {**sample.scores, **scores}})
        reason, value = _removal(stage, chosen, rejected)
        if reason is None:
            kept.append(scored)
        else:
            removed.append(
                RemovedSample(
                    sample_id=sample.sample_id,
                    stage=name,
                    reason=reason,
                    score=value,
                    text=f"{items[index].question}\n{items[index].answer}",
                )
            )
    return JudgedSamples(kept, removed, dict(Counter(r.reason for r in removed)), jury.report())


def _columns(name: str, chosen: JuryVerdict, rejected: JuryVerdict | None) -> dict[str, float]:
    if rejected is None:
        return chosen.columns(name)
    columns = {**chosen.columns(f"{name}_chosen"), **rejected.columns(f"{name}_rejected")}
    if chosen.score is not None and rejected.score is not None:
        columns[f"{name}_margin"] = round(chosen.score - rejected.score, 6)
    return columns


def _removal(stage: JudgeStage, chosen: JuryVerdict, rejected: JuryVerdict | None) -> tuple[str | None, float | None]:
    """Why a sample goes (None: it stays), and the score that decided it."""
    unjudged = chosen.score is None or (
        rejected is not None and stage.min_margin is not None and rejected.score is None
    )
    if unjudged:
        return (UNJUDGED, None) if stage.unjudged == "drop" else (None, None)
    if stage.min_score is not None and chosen.score < stage.min_score:  # type: ignore[operator]
        return BELOW_SCORE, chosen.score
    if rejected is not None and stage.min_margin is not None:
        margin = chosen.score - rejected.score  # type: ignore[operator]
        if margin < stage.min_margin:
            return BELOW_MARGIN, margin
    return None, None
