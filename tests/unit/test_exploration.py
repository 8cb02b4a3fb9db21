"""Exploration of a dataset version: statistics against hand-computed numbers, the topic map on a planted corpus of
three topics, the too-few-samples and failure paths, and the review sample's CSV round trip."""

from __future__ import annotations

import csv
import random

import pytest
from datasets import Dataset, DatasetDict

from llm_engineering.application.exploration.explore import dataset_rows, explore_dataset
from llm_engineering.application.exploration.report_html import render_exploration
from llm_engineering.application.exploration.review import (
    ReviewFileError,
    read_review,
    remove_rejected,
    write_review_csv,
)
from llm_engineering.application.exploration.statistics import dataset_statistics
from llm_engineering.domain.config.dataset_generation import ExplorationConfig
from llm_engineering.domain.exploration import ReviewVerdicts
from llm_engineering.domain.samples import InstructionSample

TOPICS = {
    topic: words.split()
    for topic, words in (
        ("cooking", "oven bake bread flour yeast garlic onion pasta recipe soup roast spices curry butter dough"),
        ("astronomy", "star galaxy planet telescope orbit nebula comet asteroid moon supernova cosmos eclipse meteor "
         "pulsar quasar"),
        ("football", "goal striker goalkeeper referee penalty midfielder match league stadium offside tackle defender "
         "kickoff corner dribble"),
    )
}  # fmt: skip
FRAMES = ["How does the {} relate to the {}?", "Explain why a {} needs a {}.", "What is the role of the {} in the {}?",
          "Describe the {} and the {}."]  # fmt: skip


def instruction_dataset(train: list[dict], test: list[dict]) -> DatasetDict:
    def full(row: dict, index: int) -> dict:
        return {"sample_id": f"s{index}", "document_id": "d", "chunk_id": "", "source": "articles", **row}

    rows = [full(r, i) for i, r in enumerate(train + test)]
    return DatasetDict({"train": Dataset.from_list(rows[: len(train)]), "test": Dataset.from_list(rows[len(train) :])})


def planted_dataset() -> tuple[DatasetDict, dict[str, str]]:
    """3 x 30 questions, each from two words of one topic's vocabulary; a quarter of each topic in test."""
    rng = random.Random(0)
    train, test, topic_of = [], [], {}
    for topic, words in TOPICS.items():
        for i in range(30):
            first, second = rng.sample(words, 2)
            row = {"instruction": FRAMES[i % 4].format(first, second), "answer": f"The {first} and the {second}.",
                   "source": topic}  # fmt: skip
            (test if i % 4 == 0 else train).append(row)
    dataset = instruction_dataset(train, test)
    for split in dataset:
        topic_of.update(dict(zip(dataset[split]["sample_id"], dataset[split]["source"], strict=True)))
    return dataset, topic_of


@pytest.fixture(scope="module")
def embed():
    from llm_engineering.infrastructure.embedder import Embedder

    return Embedder().encode


def test_statistics_match_hand_computed_numbers():
    dataset = instruction_dataset(
        [{"instruction": "What is the oven", "answer": "The oven bakes bread", "document_id": "d1",
          "score_judge": 0.5},
         {"instruction": "What is the moon?", "answer": "The moon orbits Earth", "document_id": "d1",
          "score_judge": 1.0}],
        [{"instruction": "How do goals count", "answer": "A goal counts once in football", "document_id": "d2",
          "source": "web", "score_judge": None}],
    )  # fmt: skip
    statistics = dataset_statistics(dataset_rows(dataset), "instruction", lambda texts: [len(t.split()) for t in texts],
                                    "whitespace (words)")  # fmt: skip
    assert statistics.samples == 3 and statistics.documents == 2
    assert [(c.name, c.count) for c in statistics.splits] == [("train", 2), ("test", 1)]
    assert [(c.name, c.count) for c in statistics.sources] == [("articles", 2), ("web", 1)]
    assert [(c.name, c.count) for c in statistics.top_documents] == [("d1", 2), ("d2", 1)]
    answers = next(d for d in statistics.lengths if d.field == "answer" and d.group == "all").histogram
    assert (answers.mean, answers.median, answers.maximum, sum(answers.counts)) == (pytest.approx(14 / 3), 4, 6, 3)
    test_answers = next(d for d in statistics.lengths if d.field == "answer" and d.group == "split: test")
    assert test_answers.samples == 1 and test_answers.histogram.mean == 6
    assert {d.group for d in statistics.lengths} == {"all", "split: train", "split: test", "source: articles",
                                                      "source: web"}  # fmt: skip
    instructions = next(d for d in statistics.diversity if d.field == "instruction")
    # what is the oven / what is the moon? / how do goals count: 12 words, 9 distinct (the "?" is no part of a word);
    # 9 bigrams, 7 distinct (what is, is the repeat)
    assert (instructions.words, instructions.vocabulary) == (12, 9)
    assert instructions.distinct_1 == pytest.approx(9 / 12) and instructions.distinct_2 == pytest.approx(7 / 9)
    assert [(c.name, c.count) for c in statistics.opening_phrases] == [("what is the", 2), ("how do goals", 1)]
    (score,) = statistics.scores
    assert score.column == "score_judge" and score.scored == 2 and score.histogram.mean == 0.75


def test_three_planted_topics_make_three_labelled_clusters(embed):
    dataset, topic_of = planted_dataset()
    config = ExplorationConfig(min_cluster_size=10, review_per_cluster=2)
    exploration = explore_dataset(dataset, "instruction_dataset", "1", config, embed)
    topics = exploration.topic_map
    assert exploration.errors == [] and topics.status == "clustered"
    assert len(topics.clusters) == 3 and len(topics.points) == 90
    members = {c.cluster: {topic_of[p.sample_id] for p in topics.points if p.cluster == c.cluster}
               for c in topics.clusters}  # fmt: skip
    assert sorted(next(iter(m)) for m in members.values() if len(m) == 1) == sorted(TOPICS)  # one topic each
    for c in topics.clusters:
        (topic,) = members[c.cluster]
        assert c.terms and set(c.terms) <= set(TOPICS[topic]), (c.label, topic)  # labelled with its planted words
        assert c.size == 30 - len([o for o in topics.outliers if topic_of[o.sample_id] == topic])
        assert c.train + c.test == c.size and c.examples
    # 2 per cluster (and 2 of the outliers, if any), drawn with the seed: the same version gives the same sample
    assert len(exploration.review_sample) == 2 * (3 + bool(topics.outliers))
    again = explore_dataset(dataset, "instruction_dataset", "1", config, embed)
    assert again.topic_map.points == topics.points and again.review_sample == exploration.review_sample
    html = render_exploration(exploration)
    assert "<svg class='map'" in html and "<script" not in html and topics.clusters[0].label in html


def test_too_few_samples_to_cluster_still_reports_statistics():
    def never(texts: list[str]):  # too few samples: nothing is embedded
        raise AssertionError("embedded although there are too few samples to cluster")

    dataset = instruction_dataset([{"instruction": f"Question {i}?", "answer": "An answer."} for i in range(8)],
                                  [{"instruction": "Last question?", "answer": "Yes.", "source": "web"}])  # fmt: skip
    exploration = explore_dataset(dataset, "instruction_dataset", "4", ExplorationConfig(review_per_cluster=3), never)
    assert exploration.topic_map.status == "too_few_samples" and exploration.errors == []
    assert exploration.topic_map.message.startswith("9 samples: too few to cluster")
    assert exploration.statistics.samples == 9 and exploration.statistics.lengths
    # stratified per source when there is no map: 3 of articles, the one of web
    assert sorted(r.stratum for r in exploration.review_sample) == ["source: articles"] * 3 + ["source: web"]
    assert "too few to cluster" in render_exploration(exploration)


def test_a_failing_embedder_is_reported_not_raised():
    def broken(texts: list[str]):
        raise RuntimeError("embedder exploded")

    dataset, _ = planted_dataset()
    exploration = explore_dataset(dataset, "instruction_dataset", "2", ExplorationConfig(), broken)
    assert exploration.topic_map.status == "failed"
    assert exploration.errors == ["topic map failed: RuntimeError: embedder exploded"]
    assert exploration.statistics.samples == 90 and len(exploration.review_sample) == 3 * 5  # per source
    assert "embedder exploded" in render_exploration(exploration)


def test_review_csv_round_trip_removes_exactly_the_rejected(tmp_path):
    dataset = instruction_dataset([{"instruction": f"Question {i}?", "answer": f"Answer {i}."} for i in range(12)], [])
    exploration = explore_dataset(dataset, "instruction_dataset", "3", ExplorationConfig(review_per_cluster=4),
                                  lambda texts: None)  # fmt: skip
    path = write_review_csv(exploration.review_sample, tmp_path / "review.csv")
    with path.open(encoding="utf-8-sig", newline="") as file:
        rows = list(csv.DictReader(file))
    assert list(rows[0])[-2:] == ["verdict", "reason"] and len(rows) == 4
    # the reviewer rejects two, accepts one, leaves one empty
    for row, (verdict, reason) in zip(rows, [("reject", "off-topic"), ("Rejected", "wrong answer"), ("accept", ""),
                                             ("", "")], strict=True):  # fmt: skip
        row.update(verdict=verdict, reason=reason)
    rejected = {rows[0]["sample_id"]: "off-topic", rows[1]["sample_id"]: "wrong answer"}
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    verdicts = ReviewVerdicts().merged(read_review(path))
    assert len(verdicts.verdicts) == 3 and verdicts.rejected("instruction_dataset") == rejected
    assert verdicts.merged(read_review(path)) == verdicts  # importing the same file again changes nothing
    samples = [InstructionSample(sample_id=f"s{i}", instruction="q", answer="a", document_id="d", chunk_id="",
                                 source="articles") for i in range(12)]  # fmt: skip
    kept, removed, count = remove_rejected(samples, verdicts.rejected("instruction_dataset"), "instruction")
    assert len(kept) == 10 and {r.sample_id: r.reason for r in removed} == {
        sample_id: f"review: {reason}" for sample_id, reason in rejected.items()
    }
    assert count is not None and count.removed_by_reason == {"review: off-topic": 1, "review: wrong answer": 1}
    assert remove_rejected(kept, verdicts.rejected("instruction_dataset"), "instruction")[2] is None  # nothing left

    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerow({**rows[0], "verdict": "maybe"})
    with pytest.raises(ReviewFileError, match=r"line 2 .*verdict 'maybe' is not accept or reject"):
        read_review(path)


def test_explore_cli_names_an_unknown_artifact_or_version_and_explores_a_saved_one(tmp_path, monkeypatch):
    import zenml.integrations.huggingface.materializers  # noqa: F401 - a DatasetDict saved as the pipeline saves one
    from typer.testing import CliRunner
    from zenml import save_artifact

    from llm_engineering.cli import app
    from tests.conftest import PROJECT_ROOT

    monkeypatch.chdir(PROJECT_ROOT)  # the default --config, configs/feature_engineering.yaml, as shipped
    missing = CliRunner().invoke(app, ["explore", "no_such_dataset"])
    assert missing.exit_code == 2 and missing.stderr.strip() == (
        "error: no artifact named 'no_such_dataset' (a feature run publishes instruction_dataset and "
        "preference_dataset)"
    )
    dataset = instruction_dataset([{"instruction": f"Question {i}?", "answer": f"Answer {i}."} for i in range(6)],
                                  [{"instruction": "Last?", "answer": "Yes."}])  # fmt: skip
    saved = save_artifact(dataset, "explored_by_hand")
    unknown = CliRunner().invoke(app, ["explore", "explored_by_hand", "--version", "99"])
    assert unknown.exit_code == 2
    assert (
        unknown.stderr.strip() == f"error: explored_by_hand has no version '99' (its latest versions: {saved.version})"
    )
    # saved outside the feature pipeline: explored now (7 samples: statistics only, said so), HTML and CSV written
    output = tmp_path / "report.html"
    shown = CliRunner().invoke(app, ["explore", "explored_by_hand", "-o", str(output)], terminal_width=160)
    assert shown.exit_code == 0, shown.output
    assert f"explored_by_hand version {saved.version}: 7 samples (6 train, 1 test)" in shown.stdout
    assert "topic map: too_few_samples" in shown.stdout and "token lengths" in shown.stdout
    assert output.is_file() and "<h2>Token lengths" in output.read_text()
    assert len(read_review(output.with_suffix(".review.csv"))) == 0  # no verdicts yet
    assert output.with_suffix(".review.csv").read_text(encoding="utf-8-sig").count("\n") == 1 + 5  # 5 per source
    # the reviewed CSV back through `review import`: a bad verdict, then a version that is not there, are one line each
    review = output.with_suffix(".review.csv")
    header, first, second, *_ = review.read_text(encoding="utf-8-sig").splitlines()
    review.write_text("\n".join([header, first[: -len(",,")] + ",maybe,", second]) + "\n", encoding="utf-8")
    bad = CliRunner().invoke(app, ["review", "import", str(review)])
    assert (
        bad.exit_code == 2
        and "line 2 (sample s" in bad.stderr
        and "verdict 'maybe' is not accept or reject" in bad.stderr
    )
    moved = first.replace(f",{saved.version},", ",99,", 1)[: -len(",,")] + ",reject,off-topic"
    review.write_text("\n".join([header, moved]) + "\n", encoding="utf-8")
    unknown = CliRunner().invoke(app, ["review", "import", str(review)])
    assert unknown.exit_code == 2 and "explored_by_hand has no version '99'" in unknown.stderr
    review.write_text("\n".join([header, first[: -len(",,")] + ",reject,off-topic", second]) + "\n", encoding="utf-8")
    imported = CliRunner().invoke(app, ["review", "import", str(review)], terminal_width=160)
    assert imported.exit_code == 0, imported.output
    assert f"explored_by_hand version {saved.version}: 0 accepted, 1 rejected (off-topic: 1)" in imported.stderr
