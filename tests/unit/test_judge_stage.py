"""The `judge` curation stage through `curate`: a loopback LLM judge and the embedding-relevance scorer score every
sample, the scores become dataset columns, thresholds drop with their score, unjudged samples are counted, and a
judge that is down stops the stage instead of deciding the data."""

from __future__ import annotations

import json

import pytest

from llm_engineering.application.dataset_curation import curate
from llm_engineering.application.dataset_publication import from_dataset_dict, to_dataset_dict
from llm_engineering.application.judging.jury import JuryFailed
from llm_engineering.application.run_config import ConfigError
from llm_engineering.domain.config.dataset_generation import DatasetGenerationConfig
from llm_engineering.domain.samples import InstructionSample, PreferenceSample
from tests.support.openai_server import Fault, OpenAIStubServer, last_user_message

QUESTION = "How does LoRA adapt a model?"
GOOD = "LoRA freezes the pretrained weights and learns two small low-rank matrices per adapted layer."
OFF_TOPIC = "Bake the bread at 220 degrees for forty minutes until the crust is golden."


def grader(body: dict) -> str:
    """Accuracy 3 for an answer about LoRA, 1 otherwise; style 2. `GARBLE` in the answer: prose, no verdict."""
    answer = last_user_message(body).split("Answer: ", 1)[1].split("\n", 1)[0]
    if "GARBLE" in answer:
        return "Looks fine to me."
    return json.dumps({"accuracy": 3 if "LoRA" in answer else 1, "style": 2})


def instruction(sample_id: str, answer: str) -> InstructionSample:
    return InstructionSample(sample_id=sample_id, instruction=QUESTION, answer=answer, document_id="d",
                             chunk_id="c", source="s", extract=GOOD)  # fmt: skip


def config(server: OpenAIStubServer, tmp_path, **stage) -> DatasetGenerationConfig:
    llm = {"provider": "openai", "base_url": server.base_url, "model": "judge", "cache_dir": str(tmp_path),
           "max_retries": 0, "backoff_base_s": 0.01}  # fmt: skip
    jury = {"members": [{"kind": "llm", "name": "gpt", "llm": llm}], **stage.pop("jury", {})}
    judge = {"kind": "judge", "jury": jury, **stage}
    return DatasetGenerationConfig.model_validate({"curation": {"stages": [judge]}})


def test_scores_become_columns_and_a_threshold_drops_with_its_score(tmp_path):
    samples = [instruction("good", GOOD), instruction("off", OFF_TOPIC), instruction("garbled", GOOD + " GARBLE")]
    with OpenAIStubServer(responder=grader) as server:
        cfg = config(server, tmp_path, min_score=0.5, jury={"max_unjudged_fraction": 0.5})
        kept, removed, report = curate("instruction_dataset", samples, [], cfg, embed=None)

    assert [s.sample_id for s in kept] == ["good", "garbled"]  # unjudged: kept by default, and counted
    assert kept[0].scores == {"judge": 0.75, "judge_gpt": 0.75, "judge_gpt_accuracy": 3.0, "judge_gpt_style": 2.0}
    assert kept[1].scores == {}
    (off,) = removed
    assert (off.sample_id, off.stage, off.reason, off.score) == ("off", "judge", "judge score below min_score", 0.25)
    jury = report.judges["judge"]
    assert (jury.samples, jury.judged, jury.unjudged) == (3, 2, 1)
    assert jury.members[0].unjudged_by_reason == {"unparseable verdict": 1}
    assert report.stages[0].removed_by_reason == {"judge score below min_score": 1}
    # The grounding extract went to the judge (with_context defaults to true).
    assert all(GOOD in last_user_message(body) for body in server.requests)

    dataset = to_dataset_dict(kept, [], "instruction")
    assert dataset["train"]["score_judge"] == [0.75, None]
    assert dataset["test"].column_names == dataset["train"].column_names  # an empty split has the same columns
    assert from_dataset_dict(dataset, "instruction")["train"] == kept  # the scores come back from the columns


def test_unjudged_samples_can_be_dropped_and_a_judge_that_is_down_stops_the_stage(tmp_path):
    samples = [instruction("good", GOOD), instruction("garbled", GOOD + " GARBLE")]
    with OpenAIStubServer(responder=grader) as server:
        lenient = config(server, tmp_path, unjudged="drop", jury={"max_unjudged_fraction": 0.5})
        kept, removed, _ = curate("d", samples, [], lenient, embed=None)
        assert [s.sample_id for s in kept] == ["good"]
        assert [(r.sample_id, r.reason) for r in removed] == [("garbled", "unjudged")]

        server.always("LoRA", Fault.server_error(503))
        with pytest.raises(JuryFailed, match=r"2 of 2 samples unjudged.*gpt: .*503"):
            curate("d", [instruction("a", GOOD), instruction("b", GOOD + " again")], [], config(server, tmp_path / "x"),
                   embed=None)  # fmt: skip


def test_preference_pairs_are_judged_on_both_answers_and_the_margin_filters(tmp_path):
    def pair(sample_id: str, chosen: str, rejected: str) -> PreferenceSample:
        return PreferenceSample(sample_id=sample_id, prompt=QUESTION, chosen=chosen, rejected=rejected,
                                document_id="d", chunk_id="c", source="s")  # fmt: skip

    pairs = [pair("right-way", GOOD, OFF_TOPIC), pair("backwards", OFF_TOPIC, GOOD)]
    with OpenAIStubServer(responder=grader) as server:
        kept, removed, _ = curate("p", pairs, [], config(server, tmp_path, min_margin=0.0), embed=None)
    assert [s.sample_id for s in kept] == ["right-way"]
    assert kept[0].scores["judge_margin"] == 0.5
    assert (kept[0].scores["judge_chosen"], kept[0].scores["judge_rejected"]) == (0.75, 0.25)
    assert [(r.sample_id, r.reason, r.score) for r in removed] == [
        ("backwards", "chosen does not beat rejected by min_margin", -0.5)
    ]


def test_an_embedding_relevance_member_needs_no_endpoint():
    samples = [instruction("good", GOOD), instruction("off", OFF_TOPIC)]
    cfg = DatasetGenerationConfig.model_validate(
        {
            "curation": {
                "stages": [{"kind": "judge", "jury": {"members": [{"kind": "embedding_relevance", "name": "rel"}]}}]
            }
        }
    )
    kept, _, report = curate("d", samples, [], cfg, embed=None)
    good, off = (s.scores["judge_rel"] for s in kept)
    # MiniLM: the LoRA answer is about the LoRA question (cosine ~0.48); the bread recipe is not (negative: clipped)
    assert good > 0.4 and off == 0.0
    assert kept[1].scores["judge_rel_cosine"] < 0
    assert report.judges["judge"].members[0].kind == "embedding_relevance"


def test_a_wrong_judge_stage_names_the_entry_and_field(tmp_path):
    from llm_engineering.application.run_config import load_run_config
    from llm_engineering.domain.config.feature_engineering import FeatureEngineeringParameters

    path = tmp_path / "feature.yaml"
    path.write_text(
        "parameters:\n  datasets:\n    curation:\n      stages:\n"
        "        - {kind: judge, jury: {members: [{kind: llm, name: a, rubrik: x}]}}\n"
    )
    with pytest.raises(
        ConfigError, match=r"stages\.0\.jury\.members\.0\.llm\.rubrik|stages\.0\.jury\.members\.0\.rubrik"
    ):
        load_run_config(path, FeatureEngineeringParameters)
