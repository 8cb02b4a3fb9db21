"""Generated samples -> curated samples: the configured curation stages, in order; then the leak-free split
into train and test.

`datasets.curation.stages` lists the stages; `STAGE_RUNNERS` maps each kind to the function that runs it. A runner
takes the samples the previous stage kept and returns what it keeps, each removal as a `RemovedSample` (the stage's
name, the reason and, where the stage measures one, a score) and its removals by reason (filter, dedup or
contamination method). The report keeps one `StageCount` per stage that ran, in order. Dedup stages also dedup against
the previous dataset version, whose samples are never removed. An augmentation stage (evol_instruct) keeps every
sample it receives and adds its own (counted as the StageCount's `added`); its removals are the evolutions it
eliminated.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from llm_engineering.application.dataset_split import split_by_document
from llm_engineering.application.decontamination import decontaminate
from llm_engineering.application.dedup import EmbedFunction, deduplicate
from llm_engineering.application.quality_filters import run_filter
from llm_engineering.application.sample_text import Sample
from llm_engineering.domain.config.curation_stages import (
    FILTER_KINDS,
    STAGE_MODELS,
    CurationStageBase,
    DecontaminationStage,
    EvolInstructStage,
    ExactDedupStage,
    JudgeStage,
    MinhashDedupStage,
    SemanticDedupStage,
)
from llm_engineering.domain.config.dataset_generation import DatasetGenerationConfig
from llm_engineering.domain.config.dataset_quality import (
    DedupConfig,
    ExactDedupConfig,
    MinHashConfig,
    SemanticDedupConfig,
)
from llm_engineering.domain.config.llm import LLMConfig
from llm_engineering.domain.evolution import EvolutionReport
from llm_engineering.domain.judging import JuryReport
from llm_engineering.domain.llm_usage import UsageReport
from llm_engineering.domain.samples import CurationReport, FailedGeneration, RemovedSample, StageCount
from llm_engineering.infrastructure.execution import ExecutionEngine

RANKING_JURY = "preference ranking"  # the report's name for the jury that ranked the preference candidates


@dataclass
class CurationContext:
    """What stages need besides the samples: the embedder (semantic dedup, embedding decontamination), the previous
    version (dedup) and the pipeline's LLM (evol_instruct's default)."""

    embed: EmbedFunction | None = None
    previous: Sequence[Any] = ()
    device: str = "cpu"  # where judge stages run their models (reward model, IFD, embeddings)
    llm: LLMConfig | None = None  # `datasets.llm`: an evol_instruct stage without its own `llm` uses it
    engine: ExecutionEngine | None = None  # where dedup's MinHash and neighbour search compute (`execution:`)


@dataclass
class StageOutcome:
    kept: list[Any]
    removed: list[RemovedSample]
    removed_by_reason: dict[str, int]
    contamination: dict[str, dict[str, int]] = field(default_factory=dict)  # eval set -> method -> removed
    jury: JuryReport | None = None  # a judge stage's
    evolution: EvolutionReport | None = None  # an evol_instruct stage's
    added: int = 0  # samples the stage added (evol_instruct); `removed` are then the evolutions it eliminated


StageRunner = Callable[[list[Any], Any, CurationContext], StageOutcome]


def _filter(samples: list[Any], stage: Any, _context: CurationContext) -> StageOutcome:
    kept, removed = run_filter(samples, stage.kind, stage, stage.name)
    return StageOutcome(kept, removed, {stage.kind: len(removed)})


def _dedup(method: str) -> StageRunner:
    """One dedup method, against the previous version too; the others switched off."""

    def run(samples: list[Any], stage: Any, context: CurationContext) -> StageOutcome:
        off = {"exact": ExactDedupConfig(enabled=False), "minhash": MinHashConfig(enabled=False),
               "semantic": SemanticDedupConfig(enabled=False)}  # fmt: skip
        if isinstance(stage, ExactDedupStage):
            off["exact"] = ExactDedupConfig()
        elif isinstance(stage, MinhashDedupStage):
            off["minhash"] = MinHashConfig.model_validate(stage.model_dump(include=set(MinHashConfig.model_fields)))
        elif isinstance(stage, SemanticDedupStage):
            params = stage.model_dump(include=set(SemanticDedupConfig.model_fields))
            off["semantic"] = SemanticDedupConfig.model_validate(params)
        kept, removed, report = deduplicate(
            samples, DedupConfig(**off), embed=context.embed, previous=context.previous, engine=context.engine
        )
        return StageOutcome(kept, _renamed(removed, f"dedup:{method}", stage.name), report.removed_by_method)

    return run


def _decontaminate(samples: list[Any], stage: DecontaminationStage, context: CurationContext) -> StageOutcome:
    kept, removed, report = decontaminate(samples, stage, embed=context.embed)  # embed: the embedding method
    per_set = {eval_set.name: eval_set.removed_by_method for eval_set in report.eval_sets}
    return StageOutcome(kept, _renamed(removed, "decontamination", stage.name), report.removed_by_method, per_set)


def _judge(samples: list[Any], stage: JudgeStage, context: CurationContext) -> StageOutcome:
    from llm_engineering.application.judging.curation import judge_samples
    from llm_engineering.application.judging.jury import Jury

    judged = judge_samples(samples, stage, Jury(stage.jury, device=context.device))
    return StageOutcome(judged.kept, judged.removed, judged.removed_by_reason, jury=judged.report)


def _evolve(samples: list[Any], stage: EvolInstructStage, context: CurationContext) -> StageOutcome:
    from llm_engineering.application.evolution import evolve
    from llm_engineering.infrastructure.llm.factory import build_provider

    provider = build_provider(stage.llm or context.llm or LLMConfig())
    evolved = evolve(samples, stage, provider, show_progress=True)  # minutes with a local model: show them
    added = len(evolved.kept) - len(samples)
    return StageOutcome(evolved.kept, evolved.removed, evolved.removed_by_reason, evolution=evolved.report, added=added)


def _renamed(removed: list[RemovedSample], default: str, name: str) -> list[RemovedSample]:
    """`dedup:minhash` -> the stage's own name; `decontamination:ngram` keeps its method after the name."""
    if name == default:
        return removed
    return [r.model_copy(update={"stage": name + r.stage.removeprefix(default)}) for r in removed]


STAGE_RUNNERS: dict[str, StageRunner] = {
    **dict.fromkeys(FILTER_KINDS, _filter),
    "exact_dedup": _dedup("exact"),
    "minhash_dedup": _dedup("minhash"),
    "semantic_dedup": _dedup("semantic"),
    "decontamination": _decontaminate,
    "judge": _judge,
    "evol_instruct": _evolve,
}
if set(STAGE_RUNNERS) != set(STAGE_MODELS):  # the config's kinds and this registry must not drift apart
    raise RuntimeError(f"curation stage registry mismatch: {sorted(set(STAGE_RUNNERS) ^ set(STAGE_MODELS))}")


@dataclass
class StagesOutcome:
    kept: list[Any]
    removed: list[RemovedSample]
    counts: list[StageCount]  # one per stage that ran, in order
    contamination: dict[str, dict[str, int]]  # eval set -> method -> removed
    judges: dict[str, JuryReport]  # judge stage name -> its jury's report
    evolutions: dict[str, EvolutionReport] = field(default_factory=dict)  # evol_instruct stage name -> its report


def run_stages(
    samples: Sequence[Sample], stages: Sequence[CurationStageBase], context: CurationContext
) -> StagesOutcome:
    current = list(samples)
    removed: list[RemovedSample] = []
    counts: list[StageCount] = []
    contamination: dict[str, Counter[str]] = {}
    judges: dict[str, JuryReport] = {}
    evolutions: dict[str, EvolutionReport] = {}
    for stage in stages:
        if not stage.enabled:
            continue
        name = stage.name or stage.default_name
        outcome = STAGE_RUNNERS[stage.kind](current, stage, context)  # type: ignore[attr-defined]
        counts.append(_stage(name, current, outcome.kept, outcome.removed_by_reason, outcome.added))
        for eval_set, by_method in outcome.contamination.items():
            contamination.setdefault(eval_set, Counter()).update(by_method)
        if outcome.jury is not None:
            judges[name] = outcome.jury
        if outcome.evolution is not None:
            evolutions[name] = outcome.evolution
        removed += outcome.removed
        current = outcome.kept
    contaminated = {name: _nonzero(dict(c)) for name, c in contamination.items()}
    return StagesOutcome(current, removed, counts, contaminated, judges, evolutions)


def curate(
    name: str,
    generated: Sequence[Sample],
    failures: Sequence[FailedGeneration],
    config: DatasetGenerationConfig,
    embed: EmbedFunction | None,
    previous: Sequence[Sample] = (),
    usage: UsageReport | None = None,
    dropped: Sequence[RemovedSample] = (),
    answers_generated: int = 0,
    answers_truncated: int = 0,
    ranking: JuryReport | None = None,
    engine: ExecutionEngine | None = None,
) -> tuple[list[Sample], list[RemovedSample], CurationReport]:
    """`dropped`: what generation already dropped (a truncated answer), counted in the report and kept with the
    removed samples; `ranking`: the jury that ranked preference candidates, reported beside the judge stages."""
    report = CurationReport(
        dataset=name,
        previous_version_samples=len(previous),
        generation_failures=len(failures),
        failures_by_reason=dict(Counter(f.kind for f in failures)),
        usage=usage,
        dropped_at_generation=dict(Counter(r.reason for r in dropped)),
        answers_generated=answers_generated,
        answers_truncated=answers_truncated,
    )
    context = CurationContext(embed=embed, previous=previous, llm=config.llm, engine=engine)
    outcome = run_stages(generated, config.curation.stages, context)
    report.stages, report.decontamination = outcome.counts, outcome.contamination
    report.judges = {**({RANKING_JURY: ranking} if ranking is not None else {}), **outcome.judges}
    report.evolution = outcome.evolutions
    report.new_samples = len(outcome.kept)
    return outcome.kept, [*dropped, *outcome.removed], report


def assign_splits(
    samples: Sequence[Sample], known: dict[str, str], test_fraction: float, seed: int
) -> tuple[list[Sample], list[Sample], dict[str, str]]:
    """Documents already assigned (earlier versions, the instruction dataset) keep their half; new
    documents are split by `split_by_document`. Returns (train, test, the updated assignment)."""
    assignment = dict(known)
    unknown = [s for s in samples if s.document_id not in assignment]
    if unknown:
        new_train, new_test = split_by_document(unknown, test_fraction, seed)
        assignment.update({s.document_id: "train" for s in new_train})
        assignment.update({s.document_id: "test" for s in new_test})
    train = [s for s in samples if assignment[s.document_id] == "train"]
    test = [s for s in samples if assignment[s.document_id] == "test"]
    return train, test, assignment


def _nonzero(counts: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in counts.items() if v}


def _stage(
    name: str, before: Sequence[Sample], after: Sequence[Sample], counts: dict[str, int], added: int = 0
) -> StageCount:
    return StageCount(stage=name, samples_in=len(before), samples_out=len(after), removed_by_reason=_nonzero(counts),
                      added=added)  # fmt: skip
