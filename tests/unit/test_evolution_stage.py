"""The `evol_instruct` curation stage through `curate`, against the loopback OpenAI-compatible server playing an LLM
that evolves deterministically (tests/support/dataset_responder.py): every mutation, each elimination rule, lineage
from every evolved sample to its parent, the response cache answering a rerun, the failure budget, preference pairs
passed through, and config errors that name their field."""

from __future__ import annotations

from collections import Counter
from html import escape

import pytest

from llm_engineering.application.dataset_curation import curate
from llm_engineering.application.dataset_publication import from_dataset_dict, to_dataset_dict
from llm_engineering.application.dataset_report import render_dataset_report
from llm_engineering.application.evolution import PREFERENCES_PASSED, EvolutionFailed, choose_samples
from llm_engineering.application.run_config import ConfigError, load_run_config
from llm_engineering.domain.config.dataset_generation import DatasetGenerationConfig
from llm_engineering.domain.config.evolution_stage import MUTATIONS, EvolInstructStage
from llm_engineering.domain.config.feature_engineering import FeatureEngineeringParameters
from llm_engineering.domain.samples import InstructionSample, PreferenceSample
from tests.conftest import copy_articles
from tests.support.dataset_responder import ADDED, dataset_responder
from tests.support.openai_server import Fault, OpenAIStubServer

LORA = ("LoRA freezes the pretrained weights of a model. It learns two small low-rank matrices for each adapted "
        "layer. Only those matrices are trained.")  # fmt: skip
PACKING = "Packing joins short samples into one row. A mask keeps each sample from attending to the others."


def sample(sample_id: str, instruction: str, extract: str = LORA, document_id: str = "lora") -> InstructionSample:
    return InstructionSample(sample_id=sample_id, instruction=instruction, answer=extract.split(". ")[0] + ".",
                             document_id=document_id, chunk_id=f"{document_id}-c", source="articles",
                             extract=extract)  # fmt: skip


def llm(server: OpenAIStubServer, tmp_path) -> dict:
    return {"provider": "openai", "base_url": server.base_url, "model": "evolver", "cache_dir": str(tmp_path / "cache"),
            "max_retries": 0, "backoff_base_s": 0.01}  # fmt: skip


def config(stages: list[dict], datasets_llm: dict | None = None) -> DatasetGenerationConfig:
    return DatasetGenerationConfig.model_validate(
        {"curation": {"stages": stages}, **({"llm": datasets_llm} if datasets_llm else {})}
    )


def test_every_mutation_evolves_each_sample_linked_to_its_parent_and_a_rerun_is_answered_by_the_cache(tmp_path):
    parents = [sample("lora", "How does LoRA adapt a model?"),
               sample("packing", "Why pack short samples together?", PACKING, "packing")]  # fmt: skip
    stages = [{"kind": "evol_instruct", "mutations_per_sample": len(MUTATIONS)}, {"kind": "exact_dedup"}]
    with OpenAIStubServer(responder=dataset_responder) as server:
        cfg = config(stages, datasets_llm=llm(server, tmp_path))  # no stage llm: the pipeline's datasets.llm
        kept, removed, report = curate("instruction_dataset", parents, [], cfg, embed=None)
        first_calls = server.request_count

        assert removed == [] and first_calls == 20  # 10 evolutions, 10 answers
        assert kept[:2] == parents  # the parents stay, first
        children = kept[2:]
        by_id = {p.sample_id: p for p in parents}
        assert sorted((c.parent_id, c.mutation) for c in children) == sorted((p, m) for p in by_id for m in MUTATIONS)
        for child in children:
            parent = by_id[child.parent_id]
            assert ADDED[child.mutation] in child.instruction and child.generated_answer
            if child.mutation != "in_breadth":  # in depth: the parent's instruction, made harder
                assert parent.instruction in child.instruction
            assert child.answer == parent.extract.split(". ")[1] + ("" if parent is parents[1] else ".")
            assert (child.document_id, child.chunk_id, child.extract) == (
                parent.document_id, parent.chunk_id, parent.extract,
            )  # fmt: skip
        assert len({c.sample_id for c in children}) == 10
        # The answer prompt carried the parent's extract; concretize and in_breadth prompts did too.
        with_context = [b for b in server.requests if 'Reference text:\n"""' in b["messages"][0]["content"]]
        assert len(with_context) == 10 + 4 and all(LORA in str(b) or PACKING in str(b) for b in with_context)

        evolution = report.evolution["evol_instruct"]
        assert (evolution.samples, evolution.chosen, evolution.attempted, evolution.kept) == (2, 2, 10, 10)
        assert {m: (c.attempted, c.kept) for m, c in evolution.by_mutation.items()} == dict.fromkeys(MUTATIONS, (2, 2))
        assert (evolution.calls, evolution.cached, evolution.failed_calls) == (20, 0, 0)
        assert [e.mutation for e in evolution.examples] == sorted(MUTATIONS, key=[c.mutation for c in children].index)
        stage, dedup = report.stages
        assert (stage.stage, stage.samples_in, stage.samples_out, stage.added) == ("evol_instruct", 2, 12, 10)
        assert (dedup.samples_in, dedup.samples_out) == (12, 12)  # the evolved samples went on to the next stage

        # Lineage as dataset columns, read back from them.
        dataset = to_dataset_dict(kept, [], "instruction")
        assert {"parent_id", "mutation", "generated_answer"} <= set(dataset["train"].column_names)
        assert dataset["train"]["parent_id"][:2] == [None, None] and dataset["train"]["generated_answer"][2]
        assert from_dataset_dict(dataset, "instruction")["train"] == kept
        html = render_dataset_report(report, dataset, "instruction")
        assert "<h2>Evolution: evol_instruct</h2>" in html and "10 evolutions, <b>10</b> kept" in html
        assert all(f"<tr><td>{m}</td><td>2</td><td>2</td><td>0</td></tr>" in html for m in MUTATIONS)
        assert f"{escape(parents[0].instruction)}\n→ <b>" in html  # a parent -> child example
        assert "10 of 12 samples, after the stages that followed" in html

        # A rerun: the same requests, every one answered by the response cache.
        again, _, rerun = curate("instruction_dataset", parents, [], cfg, embed=None)
        assert server.request_count == first_calls
        assert again == kept
        assert (rerun.evolution["evol_instruct"].calls, rerun.evolution["evol_instruct"].cached) == (0, 20)


def test_elimination_drops_copies_leaks_failures_cut_offs_and_refusals_each_with_its_reason(tmp_path):
    parents = [
        sample("good", "How does LoRA adapt a model?"),
        sample("copy", "What does LoRA freeze? COPYCAT"),
        sample("tweak", "What does LoRA train? TWEAK"),
        sample("leak", "Which matrices does LoRA learn? LEAKY"),
        sample("refuse", "Why is LoRA cheap to train? REFUSE"),
        sample("long", "Where does LoRA add its matrices? LONGWINDED"),
        sample("cut", "When is LoRA a good choice? TRUNCQ"),
        sample("broken", "Who introduced LoRA? BROKEN"),
        sample("statement", "What is a LoRA adapter? STATEMENT"),
        sample("runon", "How small are LoRA matrices? RUNON"),
        sample("parrot", "How is LoRA initialised? PARROT"),
    ]
    with OpenAIStubServer(responder=dataset_responder) as server:
        server.always("TRUNCQ", Fault.truncated())  # the evolved instruction runs out of tokens
        server.always("CUTOFF", Fault.truncated())  # only the long one's answer request carries CUTOFF
        server.always("BROKEN", Fault.server_error(503))
        stage = {
            "kind": "evol_instruct",
            "name": "evolve",
            "mutations": ["add_constraints"],
            "llm": llm(server, tmp_path),
        }
        kept, removed, report = curate("instruction_dataset", parents, [], config([stage]), embed=None)

    assert kept[: len(parents)] == parents
    (child,) = kept[len(parents) :]
    assert (child.parent_id, child.mutation) == ("good", "add_constraints")
    reasons = {r.matched: (r.stage, r.reason, r.score) for r in removed}
    assert reasons == {
        "copy": ("evolve", "copy of its parent", 1.0),
        "tweak": ("evolve", "adds nothing to its parent", 0.8333),  # 5 of its 6 words are the parent's
        "leak": ("evolve", "copies the prompt's wording", None),
        "refuse": ("evolve", "answer is a refusal", None),
        "long": ("evolve", "answer cut off", None),
        "cut": ("evolve", "instruction cut off", None),
        "broken": ("evolve", "call failed", None),
        "statement": ("evolve", "not an instruction", None),
        "runon": ("evolve", "copy of its parent", 1.0),  # its own answer cut off, the parent is all that is left
        "parrot": ("evolve", "answer repeats the instruction", 1.0),
    }
    assert next(r for r in removed if r.matched == "refuse").text.endswith("I cannot help with that request.")
    evolution = report.evolution["evolve"]
    assert (evolution.attempted, evolution.kept, evolution.failed_calls) == (11, 1, 1)
    assert evolution.eliminated_by_reason == dict(Counter(reason for _, reason, _ in reasons.values()))
    assert evolution.by_mutation["add_constraints"].eliminated_by_reason == evolution.eliminated_by_reason
    assert report.stages[0].removed_by_reason == evolution.eliminated_by_reason
    assert (report.stages[0].samples_out, report.stages[0].added) == (len(parents) + 1, 1)


def test_failed_calls_past_the_budget_stop_the_stage_and_a_rerun_evolves_everything(tmp_path):
    parents = [sample("a", "How does LoRA adapt a model?"), sample("b", "What does LoRA train?")]
    with OpenAIStubServer(responder=dataset_responder) as server:
        stage = {"kind": "evol_instruct", "mutations": ["deepen"], "llm": llm(server, tmp_path)}
        server.always("LoRA", Fault.server_error(503))
        with pytest.raises(
            EvolutionFailed,
            match=r"^evol_instruct: 2 of 2 evolution calls failed, more than max_failed_fraction 0\.5 \(first error: "
            r".*503.*\); fix the LLM \(the stage's `llm`, default `datasets.llm`\) or raise the stage's "
            r"max_failed_fraction$",
        ):
            curate("instruction_dataset", parents, [], config([stage]), embed=None)
        server.reset()  # the endpoint is back: nothing was cached from the failures, so every evolution is made now
        kept, removed, _ = curate("instruction_dataset", parents, [], config([stage]), embed=None)
    assert removed == [] and [c.parent_id for c in kept[2:]] == ["a", "b"]


def test_a_seeded_share_is_chosen_per_sample_whatever_the_batch_and_rounds_evolve_evolutions(tmp_path):
    many = [sample(f"s{i}", f"Question {i} about LoRA?") for i in range(40)]
    half = EvolInstructStage(kind="evol_instruct", fraction=0.5, seed=3)
    chosen = {s.sample_id for s in choose_samples(many, half)}
    assert 10 < len(chosen) < 30
    # An incremental run curates only its new samples: each is chosen exactly as it would be in the whole batch.
    assert {s.sample_id for s in choose_samples(many[25:], half)} == chosen & {s.sample_id for s in many[25:]}
    capped = EvolInstructStage(kind="evol_instruct", fraction=0.5, seed=3, max_samples=4)
    assert {s.sample_id for s in choose_samples(many, capped)} < chosen and len(choose_samples(many, capped)) == 4

    with OpenAIStubServer(responder=dataset_responder) as server:
        stage = {"kind": "evol_instruct", "mutations": ["add_constraints", "deepen"], "rounds": 2,
                 "llm": llm(server, tmp_path)}  # fmt: skip
        kept, _, report = curate("d", many[:1], [], config([stage]), embed=None)
    first, second = kept[1:]
    assert first.parent_id == "s0" and second.parent_id == first.sample_id  # round 2 evolved round 1's evolution
    assert first.instruction in second.instruction or ADDED["deepen"] in second.instruction
    assert report.evolution["evol_instruct"].examples[1].round == 2


def test_preference_pairs_pass_through_unchanged_and_the_report_says_so(tmp_path):
    pair = PreferenceSample(sample_id="p", prompt="How does LoRA adapt a model?", chosen=LORA, rejected="No idea.",
                            document_id="lora", chunk_id="c", source="s", extract=LORA)  # fmt: skip
    with OpenAIStubServer(responder=dataset_responder) as server:
        stage = {"kind": "evol_instruct", "llm": llm(server, tmp_path)}
        kept, removed, report = curate("preference_dataset", [pair], [], config([stage]), embed=None)
        assert server.request_count == 0
    assert (kept, removed) == ([pair], [])
    assert report.evolution["evol_instruct"].skipped == PREFERENCES_PASSED
    html = render_dataset_report(report, to_dataset_dict([pair], [], "preference"), "preference")
    assert f"1 received, none evolved: {PREFERENCES_PASSED}" in html


def test_the_grounding_filter_skips_generated_answers_unless_told_to_check_them():
    parent = sample("parent", "How does LoRA adapt a model?")
    evolved = sample("child", "Compare LoRA with full fine-tuning in cost and quality.").model_copy(
        update={
            "answer": "Full fine-tuning updates every weight and needs far more memory and optimizer state.",
            "parent_id": "parent",
            "mutation": "deepen",
            "generated_answer": True,
        }  # fmt: skip
    )
    default = config([{"kind": "grounding", "min_overlap": 0.5}])
    kept, removed, _ = curate("d", [parent, evolved], [], default, embed=None)
    assert kept == [parent, evolved] and removed == []
    check = config([{"kind": "grounding", "min_overlap": 0.5, "generated_answers": "check"}])
    kept, removed, _ = curate("d", [parent, evolved], [], check, embed=None)
    assert kept == [parent] and [(r.sample_id, r.stage) for r in removed] == [("child", "filter:grounding")]


@pytest.mark.parametrize(
    ("stage", "field", "message"),
    [
        ("{kind: evol_instruct, mutations: [shuffle]}", r"stages\.1\.mutations\.0", "should be 'add_constraints'"),
        ("{kind: evol_instruct, rounds: 0}", r"stages\.1\.rounds", "greater than or equal to 1"),
        ("{kind: evol_instruct, round: 2}", r"stages\.1\.round", "Extra inputs are not permitted"),
        ("{kind: evol_instruct, mutations: [deepen, deepen]}", r"stages\.1\.mutations", "listed twice: deepen"),
        ("{kind: evol_instruct, mutations: [deepen], mutations_per_sample: 2}", r"stages\.1",
         "mutations_per_sample 2 is more than the 1 mutation"),
        ("{kind: evol_instruct, elimination: {max_similarity: 2}}", r"stages\.1\.elimination\.max_similarity",
         "less than or equal to 1"),
    ],
)  # fmt: skip
def test_a_wrong_evolution_stage_names_the_entry_and_its_field(tmp_path, stage, field, message):
    path = tmp_path / "feature.yaml"
    stages = f"        - {{kind: length}}\n        - {stage}\n"
    path.write_text(f"parameters:\n  datasets:\n    curation:\n      stages:\n{stages}")
    with pytest.raises(ConfigError, match=rf"parameters\.datasets\.curation\.{field}: .*{message}"):
        load_run_config(path, FeatureEngineeringParameters)


def test_validate_checks_the_stage_llm_like_the_pipeline_llm(tmp_path):
    corpus = copy_articles(tmp_path / "corpus", "rag-basics.md")
    path = tmp_path / "feature.yaml"
    path.write_text(
        f"parameters:\n  crawl: {{sources: [{{name: docs, type: folder, path: '{corpus}'}}]}}\n"
        "  datasets:\n    curation:\n      stages:\n        - {kind: evol_instruct, llm: {model: 'bundled:nope'}}\n"
    )
    with pytest.raises(ConfigError) as info:
        load_run_config(path, FeatureEngineeringParameters)
    assert str(info.value).endswith(
        "  parameters.datasets.curation.stages.0.llm.model: unknown bundled model 'bundled:nope'; known: "
        "bundled:SmolLM2-135M-Instruct"
    )
