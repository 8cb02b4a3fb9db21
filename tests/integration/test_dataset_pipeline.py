"""The feature pipeline's dataset stages end to end, through the shipped OpenAI-compatible variant
config against a loopback server: generation, curation, decontamination, split, versions."""

from __future__ import annotations

import csv
import json
import shutil
from html import escape
from pathlib import Path

import pytest
from zenml.artifacts.utils import load_artifact_visualization
from zenml.client import Client

from llm_engineering.application.exploration.review_import import import_review
from llm_engineering.application.pipeline_runner import load_for, run_pipeline
from llm_engineering.application.run_config import read_yaml
from llm_engineering.domain.config.evolution_stage import MUTATIONS
from tests.conftest import PROJECT_ROOT, SAMPLE_CORPUS, copy_articles
from tests.support.dataset_responder import dataset_responder, first_sentence
from tests.support.openai_server import Fault, OpenAIStubServer

TRUNCATED = "Instruction datasets are lumpy"  # the first sentence of sequence-packing.md, in its questions
ARTICLES = ["lora-in-practice.md", "sequence-packing.md", "chat-templates-matter.md", "llm-as-a-judge.html"]


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return copy_articles(tmp_path / "corpus", *ARTICLES)


def stage_index(config: Path, kind: str) -> int:
    """The index of the first `kind` entry in the config's `datasets.curation.stages`."""
    stages = read_yaml(config)["parameters"]["datasets"]["curation"]["stages"]
    return next(index for index, stage in enumerate(stages) if stage["kind"] == kind)


def overrides(tmp_path: Path, corpus: Path, base_url: str, eval_set: Path) -> list[str]:
    stage = stage_index(PROJECT_ROOT / "configs" / "feature_engineering-openai.yaml", "decontamination")
    judge = stage_index(PROJECT_ROOT / "configs" / "feature_engineering-openai.yaml", "judge")
    return [
        f"datasets.curation.stages.{judge}.jury.members.0.llm.base_url={base_url}",
        f"datasets.curation.stages.{judge}.jury.members.0.llm.cache_dir={tmp_path / 'llm_cache'}",
        f"crawl.sources=[{{name: articles, type: folder, path: '{corpus}'}}]",
        f"qdrant.path={tmp_path / 'qdrant'}",
        f"datasets.llm.base_url={base_url}",
        f"datasets.llm.cache_dir={tmp_path / 'llm_cache'}",
        f"datasets.curation.stages.{stage}.eval_sets=[{{name: planted, path: '{eval_set}'}}]",
        f"datasets.export_jsonl_dir={tmp_path / 'exports'}",
        "embedding.show_progress=false",
    ]


def dataset(name: str):
    return Client().get_artifact_version(name)


def test_openai_variant_builds_curated_versioned_datasets(tmp_path, corpus, data_dir):
    # An evaluation item that quotes what the "LLM" will answer for the LoRA article: it must be caught.
    planted = first_sentence((corpus / "lora-in-practice.md").read_text())
    eval_set = tmp_path / "eval.jsonl"
    eval_set.write_text(json.dumps({"question": "What does LoRA do?", "answer": planted}) + "\n")
    config = PROJECT_ROOT / "configs" / "feature_engineering-openai.yaml"

    with OpenAIStubServer(responder=dataset_responder) as server:
        settings = overrides(tmp_path, corpus, server.base_url, eval_set)
        # Every answer to a question about the packing article's first extract runs out of tokens (finish_reason
        # length): its candidates are never ranked, and its pairs are dropped as `rejected answer truncated`.
        server.always(f": {TRUNCATED}", Fault.truncated())  # the question in answer prompts, not the extract
        # The ZenML store is shared by the session: other tests (training) may have saved an `instruction_dataset`
        # already. The first run starts a fresh lineage instead of appending to theirs; the later runs are incremental.
        first = load_for("feature_engineering", config, [*settings, "datasets.incremental=false"])
        run = run_pipeline("feature_engineering", first)
        assert run.status == "completed"
        first_calls = server.request_count
        assert first_calls > 0
        asked = [r for r in server.requests if "Write one question a reader could ask" in str(r)]  # instructions
        assert asked and all(r["response_format"] == {"type": "json_object"} for r in asked)

        instructions = dataset("instruction_dataset").load()
        preferences = dataset("preference_dataset").load()
        assert set(instructions) == {"train", "test"}
        assert {"instruction", "answer", "messages", "document_id"} <= set(instructions["train"].column_names)
        train_docs, test_docs = set(instructions["train"]["document_id"]), set(instructions["test"]["document_id"])
        assert train_docs and test_docs and not train_docs & test_docs  # split by source document
        assert not set(preferences["train"]["document_id"]) & test_docs  # both datasets agree on the halves
        row = instructions["train"][0]
        assert row["messages"] == [
            {"role": "user", "content": row["instruction"]},
            {"role": "assistant", "content": row["answer"]},
        ]
        assert {"prompt", "chosen", "rejected"} <= set(preferences["train"].column_names)
        assert all(p["chosen"] != p["rejected"] for split in preferences.values() for p in split)
        curated_preferences = dataset("curated_preferences").load()
        truncated = [r for r in curated_preferences.removed if r.reason == "rejected answer truncated"]
        assert truncated and all(TRUNCATED in r.text for r in truncated)
        assert curated_preferences.report.dropped_at_generation == {"rejected answer truncated": len(truncated)}
        assert not [p for split in preferences.values() for p in split if TRUNCATED in p["prompt"]]
        assert sum(len(split) for split in preferences.values()) > 0  # the other articles' pairs are kept

        contaminated = dataset("contaminated_samples").load()
        assert contaminated.samples and all(s.matched == "planted:0" for s in contaminated.samples)
        everything = [r["answer"] for split in instructions.values() for r in split]
        assert planted not in everything  # removed, and kept in the contaminated_samples artifact instead
        metadata = dataset("instruction_dataset").run_metadata
        assert metadata["new_samples"] == len(instructions["train"]) + len(instructions["test"])
        assert any(s.startswith("decontamination:") for s in metadata["stages"])
        # one row per configured curation stage, in the listed order
        listed = first.parameters.datasets.curation.stages
        assert [row.rsplit(": ", 1)[0] for row in metadata["stages"]] == [s.name for s in listed]
        assert (tmp_path / "exports" / "instruction_dataset.train.jsonl").is_file()
        report = dataset("dataset_report").load()
        assert "Decontamination" in report and "planted" in report
        # Each version shows its own report (counts, sample table, stages) in the dashboard, and its metadata says
        # what it holds instead of pandas' empty description of text columns.
        for name, data, first_field in (("instruction_dataset", instructions, "instruction"),
                                        ("preference_dataset", preferences, "prompt")):  # fmt: skip
            version = dataset(name)
            shown = load_artifact_visualization(version, zen_store=Client().zen_store)
            assert shown.type == "html" and f"<h1>{name}</h1>" in shown.value
            assert "<h2>Samples " in shown.value and "<h2>Curation stages</h2>" in shown.value
            assert f"<td>{escape(data['train'][0][first_field])}</td>" in shown.value  # the table's first row
            assert "<td>decontamination</td>" in shown.value and f"<b>{len(data['test'])}</b>test" in shown.value
            assert version.run_metadata["rows"] == {"train": len(data["train"]), "test": len(data["test"])}
            assert version.run_metadata["columns"].split(", ") == sorted(data["train"].column_names)
            assert not {"shape", "dtype", "mean", "std"} & set(version.run_metadata)
        assert "<h2>Chosen vs rejected</h2>" in shown.value and "<th>rejected</th>" in shown.value
        assert "Chosen vs rejected" in report and "<td>rejected answer truncated</td>" in report
        # The jury (LLM judge + embedding relevance) scored every sample that reached it; the scores are columns.
        curated = dataset("curated_instructions").load()
        jury = curated.report.judges["judge"]
        assert jury.judged == jury.samples > 0 and jury.unjudged == 0
        assert [m.name for m in jury.members] == ["gpt", "relevance"] and jury.members[0].calls > 0
        assert all(score >= 0.4 for score in instructions["train"]["score_judge"])
        assert {"score_judge_gpt_accuracy", "score_judge_relevance"} <= set(instructions["train"].column_names)
        assert "Judges" in report and "Krippendorff" in report
        # Evol-Instruct: evolved samples are in the published dataset, each linked to its parent and its mutation, after
        # the dedup, decontamination and judge stages listed after it; the preference dataset says it evolved nothing.
        rows = [r for split in instructions.values() for r in split]
        evolved = [r for r in rows if r["parent_id"] is not None]
        assert evolved and all(r["mutation"] in MUTATIONS and r["generated_answer"] for r in evolved)
        assert not any(r["generated_answer"] or r["mutation"] for r in rows if r["parent_id"] is None)
        known = {r["sample_id"] for r in rows} | {r.sample_id for r in curated.removed}
        assert all(r["parent_id"] in known for r in evolved)  # every parent is in the dataset or removed with a reason
        evolution = curated.report.evolution["evol_instruct"]
        assert 0 < evolution.chosen < evolution.samples and evolution.kept >= len(evolved)
        assert evolution.calls == sum(evolution.by_mutation[m].attempted for m in MUTATIONS) + evolution.kept + sum(
            n for reason, n in evolution.eliminated_by_reason.items() if reason.startswith("answer")
        )  # one call per evolution, one per answer asked for
        assert all(r.matched for r in curated.removed if r.stage == "evol_instruct")
        assert "Evolution: evol_instruct" in report and "none evolved: preference pairs are passed through" in report

        # Each published version has its exploration: an artifact whose dashboard visualization is the report (too few
        # samples here to map topics: the report says so and shows the statistics) and whose review sample is a CSV.
        for name in ("instruction_dataset", "preference_dataset"):
            version = dataset(name)
            explored = dataset(f"{name}_exploration")
            assert version.run_metadata["exploration"] == f"{name}_exploration:{explored.version}"
            exploration = explored.load()
            assert (exploration.dataset, exploration.version) == (name, str(version.version))
            assert exploration.statistics.samples == version.run_metadata["samples"] and not exploration.errors
            shown = load_artifact_visualization(explored, zen_store=Client().zen_store)
            assert shown.type == "html" and f"<h1>{name} version {version.version}: exploration</h1>" in shown.value
            assert "too few to cluster" in shown.value and "<h2>Token lengths" in shown.value
            assert "<script" not in shown.value  # the dashboard's frame runs no script
            review_file = Path(version.run_metadata["review_sample_file"])
            assert review_file.is_file() and review_file == Path(explored.run_metadata["review_sample_file"])
        assert [s.name for s in exploration.statistics.sources] == ["articles"]

        # Nothing changed: no LLM call, and no new version (the latest stays as it is), which the run says.
        published = dataset("instruction_dataset")
        explored = dataset("instruction_dataset_exploration")
        run_pipeline("feature_engineering", load_for("feature_engineering", config, settings))
        assert server.request_count == first_calls
        assert dataset("instruction_dataset").id == published.id
        assert dataset("dataset_publication").load().describe() == [
            "instruction_dataset: no new samples, no new version (the latest stays as it is)",
            "preference_dataset: no new samples, no new version (the latest stays as it is)",
        ]
        assert dataset("instruction_dataset_exploration").id == explored.id  # no new version: nothing to explore

        # A reviewer rejects two samples of the instruction review sample and accepts one; the verdicts are recorded on
        # the version they were drawn from, and importing the same file twice adds nothing.
        review_file = Path(published.run_metadata["review_sample_file"])
        lines = review_file.read_text(encoding="utf-8-sig").splitlines()
        reviewed = tmp_path / "reviewed.csv"
        with review_file.open(encoding="utf-8-sig", newline="") as source, reviewed.open("w", newline="") as target:
            rows = list(csv.DictReader(source))
            assert len(rows) >= 3 and lines[0].endswith("verdict,reason")
            rows[0].update(verdict="reject", reason="off-topic")
            rows[1].update(verdict="reject", reason="wrong answer")
            rows[2].update(verdict="accept")
            writer = csv.DictWriter(target, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        rejected = {rows[0]["sample_id"]: "review: off-topic", rows[1]["sample_id"]: "review: wrong answer"}
        imported = import_review(reviewed)
        assert [(v.dataset, v.version, v.accepted, v.rejected) for v in imported.versions] == [
            ("instruction_dataset", str(published.version), 1, 2)
        ]
        assert imported.new_verdicts == 3 and import_review(reviewed).new_verdicts == 0
        assert dataset("review_verdicts").version == imported.verdicts_version
        recorded = dataset("instruction_dataset").run_metadata
        assert recorded["review"]["rejected"] == 2 and set(recorded["review_rejected"]) == set(rejected)

        # One new article: only its extracts are generated, and the version grows by its samples.
        shutil.copy(SAMPLE_CORPUS / "articles" / "gradient-accumulation.md", corpus / "gradient-accumulation.md")
        run_pipeline("feature_engineering", load_for("feature_engineering", config, settings))
        new_requests = server.requests[first_calls:]
        assert new_requests and all("gradient" in json.dumps(r).lower() for r in new_requests if "Write one" in str(r))
        # evol_instruct curates only the new samples: every answer it asks for is about the new article's extracts
        answers = [r for r in new_requests if r["messages"][0]["content"].startswith("Reference text:")]
        assert answers and all("gradient" in json.dumps(r).lower() for r in answers)
        latest = dataset("instruction_dataset")
        grown = latest.load()
        assert latest.run_metadata["previous_version_samples"] == len(everything)
        # ... without the two samples the reviewer rejected, each counted under its reason in the version's report
        assert sum(len(s) for s in grown.values()) == len(everything) - 2 + latest.run_metadata["new_samples"]
        assert latest.run_metadata["new_samples"] > 0 and latest.run_metadata["reviewed_out"] == 2
        assert not set(rejected) & {i for split in grown.values() for i in split["sample_id"]}
        shown = load_artifact_visualization(latest, zen_store=Client().zen_store).value
        review_row = shown[shown.index("<td>review</td>") :].split("</tr>")[0]  # the curation stages' last row
        assert "review: off-topic: 1" in review_row and "review: wrong answer: 1" in review_row
        assert dataset("instruction_dataset_exploration").load().version == str(latest.version)
        # lineage: the publishing step read the previous dataset version
        producer = Client().get_run_step(latest.producer_step_run_id)
        assert "previous_instruction_dataset" in producer.inputs


def test_an_empty_split_neither_poisons_the_store_nor_fails_later_runs(tmp_path, corpus, data_dir):
    """The probe: a version whose test split had no rows was saved without a data file; it could not be loaded, and
    every later feature run and preview-data failed with a bare IndexError."""
    from datasets import DatasetDict
    from zenml import save_artifact
    from zenml.integrations.huggingface.materializers.huggingface_datasets_materializer import HFDatasetMaterializer

    from llm_engineering.application.dataset_publication import to_dataset_dict
    from llm_engineering.domain.samples import InstructionSample

    one = InstructionSample(sample_id="s1", instruction="What is LoRA?", answer="A low-rank adapter.",
                            document_id="d1", chunk_id="c1", source="articles")  # fmt: skip
    # A version as the old code wrote it: ZenML's own materializer, `datasets` writing zero shards for `test`.
    poisoned = save_artifact(
        to_dataset_dict([one], [], "instruction"), "instruction_dataset", materializer=HFDatasetMaterializer
    )
    eval_set = tmp_path / "eval.jsonl"
    eval_set.write_text(json.dumps({"question": "q", "answer": "unrelated evaluation answer"}) + "\n")
    config = PROJECT_ROOT / "configs" / "feature_engineering-openai.yaml"
    with OpenAIStubServer(responder=dataset_responder) as server:
        settings = overrides(tmp_path, corpus, server.base_url, eval_set)
        run = run_pipeline("feature_engineering", load_for("feature_engineering", config, settings))
        assert run.status == "completed"
    latest = dataset("instruction_dataset")
    assert latest.id != poisoned.id
    grown = latest.load()
    assert "s1" in grown["train"]["sample_id"]  # the old version's sample carried over: nothing lost
    assert isinstance(Client().get_artifact_version(poisoned.id).load(), DatasetDict)  # and the old one loads now

    # New versions write an empty split loadably, and a version that cannot be loaded is named, with the way past.
    from llm_engineering.infrastructure.zenml.artifacts import BrokenDatasetVersion, check_dataset_version
    from llm_engineering.infrastructure.zenml.dataset_materializer import DatasetVersionMaterializer

    empty_test = save_artifact(
        to_dataset_dict([one], [], "instruction"), "other_dataset", materializer=DatasetVersionMaterializer
    )
    assert len(check_dataset_version(empty_test, "")["test"]) == 0
    (Path(empty_test.uri) / "hf_datasets" / "train" / "dataset_info.json").write_text("{not json")
    with pytest.raises(
        BrokenDatasetVersion, match=r"other_dataset version \d+ \(artifact .*\) cannot be loaded: .*Do this"
    ):
        check_dataset_version(empty_test, "Do this.")
