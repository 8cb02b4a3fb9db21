"""Curation as a list of stages: the default list is today's fixed order, the legacy blocks become that list, every
stage kind has one runner, and a wrong kind or parameter names its entry and field."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import yaml

from llm_engineering.application.dataset_curation import STAGE_RUNNERS, curate
from llm_engineering.application.decontamination import decontaminate
from llm_engineering.application.dedup import deduplicate
from llm_engineering.application.quality_filters import apply_filters
from llm_engineering.application.run_config import ConfigError, load_run_config
from llm_engineering.domain.config.curation_stages import STAGE_MODELS, DecontaminationStage, JudgeStage, default_stages
from llm_engineering.domain.config.dataset_generation import DatasetGenerationConfig
from llm_engineering.domain.config.dataset_quality import (
    DecontaminationConfig,
    DedupConfig,
    EvalSetConfig,
    QualityFilterConfig,
    SemanticDedupConfig,
)
from llm_engineering.domain.config.feature_engineering import FeatureEngineeringParameters
from llm_engineering.domain.samples import InstructionSample, RemovedSample
from llm_engineering.infrastructure.embedder import Embedder
from tests.conftest import PROJECT_ROOT, copy_articles

EXTRACT = "LoRA freezes the pretrained weights and learns two small low-rank matrices for each adapted layer."
GOOD = "LoRA freezes the pretrained weights and learns two small low-rank matrices per adapted layer."
WORDS = [f"word{i}" for i in range(300)]
SHIPPED_EVAL_SET = "sample_corpus/eval/eval_questions.jsonl"  # relative, as in the shipped configs
LEAK = "The capital of Freedonia is Fredville, a small port town on the northern coast of the island."


def sample(sample_id: str, instruction: str = "How does LoRA work?", answer: str = GOOD, extract: str = EXTRACT,
           document_id: str = "d") -> InstructionSample:  # fmt: skip
    return InstructionSample(sample_id=sample_id, instruction=instruction, answer=answer, extract=extract,
                             document_id=document_id, chunk_id="c", source="s")  # fmt: skip


def prose(seed: int) -> str:
    return " ".join(random.Random(seed).choices(WORDS, k=50)) + "."


def samples() -> tuple[list[InstructionSample], list[InstructionSample]]:
    """(new samples, the previous version): one of each removal, duplicates within and across versions."""
    near = prose(1).split()
    near[7] = "edited"
    new = [
        sample("good"),
        sample("too-short", answer="Low rank."),
        sample("statement", instruction="LoRA is a fine-tuning method."),
        sample("ungrounded", answer="Quantum chromodynamics describes quarks, gluons and colour confinement forces."),
        sample("context", instruction="What does the text above say about LoRA?"),
        sample("topic", "Explain the first topic.", prose(1), extract=prose(1), document_id="t"),
        sample("exact-copy", "explain the FIRST topic", prose(1).upper(), extract=prose(1), document_id="t"),
        sample("near-copy", "Explain the first topic.", " ".join(near), extract=prose(1), document_id="t"),
        sample("seen-before", "Explain the old topic.", prose(2), extract=prose(2), document_id="o"),
        sample("leaked", "What is the capital of Freedonia?", LEAK, extract=LEAK, document_id="l"),
        sample("paraphrase", "How does LoRA work?", GOOD.replace("learns", "trains"), document_id="p"),
    ]
    previous = [sample("old", "Explain the old topic.", prose(2), extract=prose(2), document_id="o")]
    return new, previous


@pytest.fixture
def eval_set(tmp_path: Path) -> EvalSetConfig:
    path = tmp_path / "eval.jsonl"
    path.write_text(json.dumps({"question": "Capital?", "answer": LEAK}) + "\n")
    return EvalSetConfig(name="held_out", path=path)


def removal(r: RemovedSample) -> tuple:
    return (r.sample_id, r.stage, r.reason, r.matched, r.score)


def test_the_default_list_gives_exactly_the_old_fixed_order_results(eval_set):
    """Quality filters, then dedup (also against the previous version), then decontamination, as `curate` did
    before stages: the same kept samples in the same order, the same removals with the same reasons."""
    new, previous = samples()
    quality, dedup = QualityFilterConfig(), DedupConfig(semantic=SemanticDedupConfig(enabled=True, threshold=0.9))
    decontamination = DecontaminationConfig(eval_sets=[eval_set])
    embed = Embedder().encode
    # the old fixed order, step by step
    filtered, removed_filters, _ = apply_filters(new, quality)
    deduplicated, removed_dedup, _ = deduplicate(filtered, dedup, embed=embed, previous=previous)
    old_kept, removed_contamination, _ = decontaminate(deduplicated, decontamination)
    old_removed = removed_filters + removed_dedup + removed_contamination
    # the same blocks through the (legacy) config, and the default list plus the same two stages
    config = DatasetGenerationConfig(quality_filters=quality, dedup=dedup, decontamination=decontamination)
    listed = DatasetGenerationConfig.model_validate(
        {"curation": {"stages": [
            *(stage.model_dump() for stage in default_stages()),
            {"kind": "semantic_dedup", "threshold": 0.9},
            {"kind": "decontamination", "eval_sets": [eval_set.model_dump()]},
        ]}}
    )  # fmt: skip
    assert listed.curation == config.curation

    kept, removed, report = curate("instruction_dataset", new, [], listed, embed, previous=previous)
    assert [s.sample_id for s in kept] == [s.sample_id for s in old_kept] == ["good", "topic"]
    assert sorted(map(removal, removed)) == sorted(map(removal, old_removed))
    assert {r.sample_id: r.stage for r in removed} == {
        "too-short": "filter:length", "statement": "filter:instruction_format", "ungrounded": "filter:grounding",
        "context": "filter:context_reference", "exact-copy": "dedup:exact", "near-copy": "dedup:minhash",
        "seen-before": "dedup:exact", "paraphrase": "dedup:semantic", "leaked": "decontamination:exact",
    }  # fmt: skip
    # one row per stage that ran, in order, each fed what the previous kept
    assert [s.stage for s in report.stages] == [s.name for s in listed.curation.stages]
    assert all(a.samples_out == b.samples_in for a, b in zip(report.stages, report.stages[1:], strict=False))
    assert (report.stages[0].samples_in, report.stages[-1].samples_out, report.new_samples) == (11, 2, 2)
    assert report.stages[5].removed_by_reason == {"grounding": 1}
    assert report.decontamination == {"held_out": {"exact": 1}}
    # a block's score: what it measured
    scores = {r.sample_id: r.score for r in removed}
    assert scores["ungrounded"] is not None and scores["ungrounded"] < 0.3
    assert scores["exact-copy"] == 1.0 and 0.7 <= scores["near-copy"] < 1 and scores["too-short"] is None

    # the plain default (no blocks at all) is today's default: every filter, exact and MinHash dedup
    assert [s.kind for s in DatasetGenerationConfig().curation.stages] == [
        "length", "instruction_format", "template_markers", "code_fences", "excluded_phrases", "grounding",
        "repetition", "context_reference", "exact_dedup", "minhash_dedup",
    ]  # fmt: skip


def test_stages_run_in_the_listed_order_under_their_own_names():
    new, previous = samples()
    config = DatasetGenerationConfig.model_validate(
        {"curation": {"stages": [
            {"kind": "exact_dedup", "name": "copies"},
            {"kind": "grounding", "min_overlap": 0.9},
            {"kind": "minhash_dedup", "enabled": False},
            {"kind": "length", "unit": "words", "instruction": {"min": 2}, "answer": {"min": 3}},
        ]}}
    )  # fmt: skip
    kept, removed, report = curate("instruction_dataset", new, [], config, None, previous=previous)
    assert [s.stage for s in report.stages] == ["copies", "filter:grounding", "filter:length"]  # disabled: not run
    assert {r.sample_id: r.stage for r in removed if r.stage == "copies"} == {"exact-copy": "copies",
                                                                             "seen-before": "copies"}  # fmt: skip
    assert "near-copy" in [s.sample_id for s in kept]  # MinHash was switched off
    assert len(kept) + len(removed) == len(new)  # nothing lost


def test_one_runner_per_stage_kind_and_every_filter_is_a_kind():
    assert set(STAGE_RUNNERS) == set(STAGE_MODELS)
    assert set(QualityFilterConfig().model_dump()["filters"][0]) == {"name", "params"}
    assert {spec.name for spec in QualityFilterConfig().filters} <= set(STAGE_MODELS)


def test_the_legacy_blocks_become_the_equivalent_list_and_both_shapes_are_refused():
    legacy = DatasetGenerationConfig.model_validate(
        {
            "quality_filters": {"filters": [{"name": "length"}, {"name": "grounding", "params": {"min_overlap": 0.3}}]},
            "dedup": {"minhash": {"threshold": 0.8}, "semantic": {"enabled": True, "threshold": 0.95}},
        }
    )
    assert [(s.kind, s.name) for s in legacy.curation.stages] == [
        ("length", "filter:length"), ("grounding", "filter:grounding"), ("exact_dedup", "dedup:exact"),
        ("minhash_dedup", "dedup:minhash"), ("semantic_dedup", "dedup:semantic"),
    ]  # fmt: skip
    assert legacy.curation.stages[1].min_overlap == 0.3 and legacy.curation.stages[3].threshold == 0.8
    # stored by ZenML (defaults dropped, legacy blocks excluded) and read back: the same list
    for stored in (legacy.model_dump(mode="json", exclude_defaults=True), legacy.model_dump(exclude_unset=True)):
        assert set(stored) == {"curation"}
        assert DatasetGenerationConfig.model_validate(stored).curation == legacy.curation
    legacy.incremental = False  # validated again on assignment: still the list it made, no "both" error
    assert len(legacy.curation.stages) == 5

    with pytest.raises(ValueError, match=r"give either `curation.stages:` or the older `dedup:` block\(s\), not both"):
        DatasetGenerationConfig.model_validate({"curation": {"stages": []}, "dedup": {}})


def test_the_shipped_list_is_what_the_old_shipped_blocks_meant():
    document = yaml.safe_load((PROJECT_ROOT / "configs" / "feature_engineering.yaml").read_text())
    shipped = DatasetGenerationConfig.model_validate(document["parameters"]["datasets"])
    old_blocks = {
        "quality_filters": {"filters": [
            {"name": "length"}, {"name": "instruction_format"}, {"name": "template_markers"}, {"name": "code_fences"},
            {"name": "excluded_phrases"}, {"name": "grounding", "params": {"min_overlap": 0.3}}, {"name": "repetition"},
            {"name": "context_reference"},
        ]},
        "dedup": {"exact": {"enabled": True}, "minhash": {"enabled": True, "num_perm": 128, "threshold": 0.7,
                  "shingle_size": 5}, "semantic": {"enabled": True, "threshold": 0.95}},
        "decontamination": {"eval_sets": [{"name": "eval_questions", "path": SHIPPED_EVAL_SET}],
                            "ngram": {"n": 13}, "paraphrase_minhash": {"enabled": True, "threshold": 0.4}},
    }  # fmt: skip
    legacy = DatasetGenerationConfig.model_validate(old_blocks).curation
    # The old blocks' list, then the question-answer relevance judge that the old blocks had no way to say.
    assert shipped.curation.model_copy(update={"stages": shipped.curation.stages[:-1]}) == legacy
    relevance = shipped.curation.stages[-1]
    assert isinstance(relevance, JudgeStage) and relevance.name == "relevance" and relevance.min_score == 0.25
    assert [member.kind for member in relevance.jury.members] == ["embedding_relevance"]
    (where, stage), = shipped.decontamination_stages()  # fmt: skip
    assert where == "curation.stages.11" and isinstance(stage, DecontaminationStage)


@pytest.mark.parametrize(
    ("stage", "message"),
    [
        ({"kind": "profanity"}, "parameters.datasets.curation.stages.3.kind: unknown stage kind 'profanity'; "
                                "known kinds: length, instruction_format, template_markers"),
        ({"min_overlap": 0.3}, "parameters.datasets.curation.stages.3.kind: every stage needs a kind, one of: length"),
        ({"kind": "grounding", "treshold": 0.3}, "parameters.datasets.curation.stages.3.treshold: Extra inputs are "
                                                 "not permitted"),
        ({"kind": "minhash_dedup", "num_perm": 100, "bands": 7},
         "parameters.datasets.curation.stages.3: Value error, bands (7) must divide num_perm (100)"),
        ({"kind": "length", "name": "dedup:exact"}, "parameters.datasets.curation: Value error, stages: names must be "
                                                    "unique, used twice: dedup:exact"),
    ],
)  # fmt: skip
def test_a_wrong_stage_names_its_entry_and_field(tmp_path, stage, message):
    corpus = copy_articles(tmp_path / "corpus", "rag-basics.md")
    stages = [{"kind": "length"}, {"kind": "exact_dedup"}, {"kind": "grounding"}, stage]
    parameters = {"crawl": {"sources": [{"name": "docs", "type": "folder", "path": str(corpus)}]},
                  "datasets": {"curation": {"stages": stages}}}  # fmt: skip
    config = tmp_path / "feature_engineering.yaml"
    config.write_text(yaml.safe_dump({"parameters": parameters}))
    with pytest.raises(ConfigError) as error:
        load_run_config(config, FeatureEngineeringParameters)
    assert message in str(error.value)
    assert str(error.value).startswith(f"{config}: invalid configuration")


def test_an_eval_set_problem_is_named_where_the_stage_is_listed(tmp_path):
    corpus = copy_articles(tmp_path / "corpus", "rag-basics.md")
    eval_path = tmp_path / "eval.jsonl"
    eval_path.write_text('{"question": "no comma" "answer": "x"}\n')
    stages = [{"kind": "exact_dedup"},
              {"kind": "decontamination", "eval_sets": [{"name": "e", "path": str(eval_path)}]}]  # fmt: skip
    parameters = {"crawl": {"sources": [{"name": "docs", "type": "folder", "path": str(corpus)}]},
                  "datasets": {"curation": {"stages": stages}}}  # fmt: skip
    config = tmp_path / "feature_engineering.yaml"
    config.write_text(yaml.safe_dump({"parameters": parameters}))
    with pytest.raises(ConfigError) as error:
        load_run_config(config, FeatureEngineeringParameters)
    problem = f"  parameters.datasets.curation.stages.1.eval_sets.0: {eval_path} line 1: not valid JSON"
    assert problem in str(error.value)
