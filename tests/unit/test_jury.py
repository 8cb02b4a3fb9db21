"""The judge component: strict rubric parsing, a jury of two loopback endpoints that disagree on purpose (the
aggregation and the agreement figures are exact), unjudged samples counted and the failure budget enforced."""

from __future__ import annotations

import json

import pytest

from llm_engineering.application.judging.agreement import krippendorff_alpha, pairwise_spearman
from llm_engineering.application.judging.jury import Jury, JuryFailed
from llm_engineering.application.judging.members import JudgeItem
from llm_engineering.application.judging.rubrics import RubricError, load_rubric
from llm_engineering.domain.config.judging import JuryConfig
from tests.support.openai_server import OpenAIStubServer, last_user_message

ITEMS = [JudgeItem(question=f"Question {n}?", answer=f"answer-{n}", key=f"s{n}") for n in (1, 2, 3)]


def grader(reverse: bool):
    """Accuracy and style both n for `answer-n` (or 4 - n when reverse); `answer-garbled` gets prose."""

    def respond(body: dict) -> str:
        answer = last_user_message(body).split("Answer: ", 1)[1].split("\n", 1)[0]
        if answer == "answer-garbled":
            return "It reads well, I would say."
        n = int(answer.rsplit("-", 1)[1])
        value = 4 - n if reverse else n
        return json.dumps({"accuracy": value, "style": value})

    return respond


def llm_member(name: str, server: OpenAIStubServer, tmp_path, **extra) -> dict:
    return {
        "kind": "llm",
        "name": name,
        "rubric": "accuracy_style",
        "llm": {
            "provider": "openai",
            "base_url": server.base_url,
            "model": name,
            "cache_dir": str(tmp_path),
            "backoff_base_s": 0.01,
            "max_retries": 0,
            "cost_per_million_input_tokens": 1000.0,
        },  # fmt: skip
        **extra,
    }


@pytest.fixture
def servers():
    with OpenAIStubServer(responder=grader(reverse=False)) as up, OpenAIStubServer(responder=grader(True)) as down:
        yield up, down


@pytest.mark.parametrize(
    ("aggregate", "expected"),
    [("mean", [0.5, 0.5, 0.5]), ("median", [0.5, 0.5, 0.5]), ("majority", [0.5, 1.0, 0.5])],
)
def test_two_disagreeing_judges_aggregate_exactly_and_report_their_disagreement(servers, tmp_path, aggregate, expected):
    up, down = servers
    config = JuryConfig(
        members=[llm_member("up", up, tmp_path), llm_member("down", down, tmp_path)], aggregate=aggregate
    )
    jury = Jury(config)
    verdicts = jury.judge(ITEMS)

    assert [v.score for v in verdicts] == expected
    assert [v.members["up"].score for v in verdicts] == [0.0, 0.5, 1.0]  # (n - 1) / (3 - 1), both dimensions
    assert [v.members["down"].dimensions for v in verdicts][0] == {"accuracy": 3.0, "style": 3.0}
    assert verdicts[0].columns("judge") == {
        "judge": expected[0], "judge_up": 0.0, "judge_up_accuracy": 1.0, "judge_up_style": 1.0,
        "judge_down": 1.0, "judge_down_accuracy": 3.0, "judge_down_style": 3.0,
    }  # fmt: skip
    report = jury.report()
    assert report.pairwise_spearman == {"up|down": pytest.approx(-1.0)}
    # Interval alpha by hand: units {0,1}, {.5,.5}, {1,0}: D_o = (2 + 0 + 2) / 6, D_e = 12 / 30.
    assert report.krippendorff_alpha == pytest.approx(1 - (4 / 6) / (12 / 30))
    assert (report.samples, report.judged, report.unjudged) == (3, 3, 0)
    up_row = report.members[0]
    assert (up_row.name, up_row.kind, up_row.judged, up_row.calls, up_row.cached) == ("up", "llm", 3, 3, 0)
    prompt_tokens = sum(len(last_user_message(body).split()) for body in up.requests)
    assert up_row.prompt_tokens == prompt_tokens
    assert up_row.cost_usd == pytest.approx(prompt_tokens * 1000 / 1e6)
    assert up_row.cost_per_1k_samples_usd == pytest.approx(up_row.cost_usd / 3 * 1000)
    assert all(body["response_format"] == {"type": "json_object"} for body in up.requests)


def test_a_rerun_is_answered_by_the_cache(servers, tmp_path):
    up, down = servers
    config = JuryConfig(members=[llm_member("up", up, tmp_path)])
    Jury(config).judge(ITEMS)
    again = Jury(config)
    assert [v.score for v in again.judge(ITEMS)] == [0.0, 0.5, 1.0]
    assert up.request_count == 3  # nothing asked twice
    assert (again.report().members[0].calls, again.report().members[0].cached) == (0, 3)


def test_an_unparseable_verdict_is_unjudged_and_counted_and_the_budget_stops_a_broken_judge(servers, tmp_path):
    up, down = servers
    items = [*ITEMS, JudgeItem(question="Q?", answer="answer-garbled", key="g")]
    config = JuryConfig(members=[llm_member("up", up, tmp_path), llm_member("down", down, tmp_path)], quorum=1,
                        max_unjudged_fraction=0.25)  # fmt: skip
    jury = Jury(config)
    verdicts = jury.judge(items)
    assert verdicts[3].score is None and verdicts[3].members == {"up": None, "down": None}
    report = jury.report()
    assert (report.judged, report.unjudged) == (3, 1)
    assert report.members[0].unjudged_by_reason == {"unparseable verdict": 1}
    assert "It reads well" in report.members[0].first_error

    strict = Jury(config.model_copy(update={"max_unjudged_fraction": 0.2}))
    with pytest.raises(JuryFailed, match=r"1 of 4 samples unjudged.*up: verdict 'It reads well"):
        strict.judge(items)


def test_a_quorum_of_one_scores_what_the_other_member_missed(tmp_path):
    def half_down(body: dict) -> str:
        if "answer-2" in last_user_message(body):
            return "no idea"
        return grader(reverse=False)(body)

    with OpenAIStubServer(responder=grader(False)) as up, OpenAIStubServer(responder=half_down) as flaky:
        members = [llm_member("up", up, tmp_path), llm_member("flaky", flaky, tmp_path, weight=3.0)]
        everyone = Jury(JuryConfig(members=members, max_unjudged_fraction=1.0)).judge(ITEMS)
        one = Jury(JuryConfig(members=members, quorum=1)).judge(ITEMS)
    assert [v.score for v in everyone] == [0.0, None, 1.0]  # both must score by default
    assert [v.score for v in one] == [0.0, 0.5, 1.0]  # weights only matter where both scored: here they agree


def test_rubric_parsing_is_strict():
    rubric = load_rubric("accuracy_style")
    assert rubric.parse('Sure: {"accuracy": 3, "style": 1}') == {"accuracy": 3, "style": 1}
    assert rubric.score({"accuracy": 3, "style": 1}) == 0.5
    for garbage in ['{"accuracy": 4, "style": 1}', '{"accuracy": 3}', '{"accuracy": 3, "style": 1, "x": 1}',
                    '{"accuracy": 2.5, "style": 1}', '{"accuracy": true, "style": 1}', "accuracy 3", ""]:  # fmt: skip
        assert rubric.parse(garbage) is None, garbage
    grounded = load_rubric("grounded")  # the preference judge prompt: a 1-5 `Score:` line
    assert grounded.parse("Score: 4") == {"score": 4} and grounded.parse("Score: 6") is None
    assert grounded.parse(" 2 ") == {"score": 2} and grounded.parse("**Score:** 5\nGood.") == {"score": 5}
    assert grounded.parse("Score: 2\nScore: 4") is None  # two verdicts are none
    assert grounded.parse("I like it") is None
    multi = load_rubric("multi_dimension")
    verdict = {"helpfulness": 4, "correctness": 4, "coherence": 4, "complexity": 0, "verbosity": 4}
    assert multi.score(verdict) == pytest.approx(0.75)  # verbosity has weight 0: recorded, not scored


def test_bad_rubric_files_name_the_problem(tmp_path):
    with pytest.raises(RubricError, match="neither a shipped rubric"):
        load_rubric("accuracy_styl")
    bad = tmp_path / "bad.txt"
    bad.write_text("---\nformat: score_line\ndimensions: {a: {min: 1, max: 3}, b: {min: 1, max: 3}}\n---\n$answer")
    with pytest.raises(RubricError, match="exactly one dimension"):
        load_rubric(bad)
    bad.write_text("---\ndimensions: {a: {min: 3, max: 3}}\n---\n$answer")
    with pytest.raises(RubricError, match="needs max > min"):
        load_rubric(bad)


def test_jury_config_errors_name_the_field():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=r"members\.0\.llm\.rubricc|rubricc"):
        JuryConfig.model_validate({"members": [{"kind": "llm", "name": "a", "rubricc": "x"}]})
    with pytest.raises(ValidationError, match="member names must be distinct"):
        JuryConfig.model_validate({"members": [{"kind": "embedding_relevance", "name": "a"}] * 2})
    with pytest.raises(ValidationError, match="quorum 3 is more than the 1 members"):
        JuryConfig.model_validate({"members": [{"kind": "embedding_relevance", "name": "a"}], "quorum": 3})


def test_agreement_edge_cases():
    assert krippendorff_alpha([[0.2, 0.4, 0.9], [0.2, 0.4, 0.9]]) == 1.0
    assert krippendorff_alpha([[0.5, 0.5], [0.5, 0.5]]) is None  # no variation: undefined
    assert krippendorff_alpha([[0.1, None], [None, 0.9]]) is None  # nothing pairable
    assert pairwise_spearman(["a", "b"], [[0.1, 0.2, None], [0.3, 0.9, 0.1]]) == {"a|b": pytest.approx(1.0)}


def test_well_formed_scores_a_cut_off_answer_and_a_loop_below_a_finished_one():
    jury = Jury(JuryConfig.model_validate({"members": [{"kind": "well_formed", "name": "form"}]}))
    finished = "Prompts are versioned like code. Each change gets a review and a tag."
    cut_off = "Prompts are versioned like code. Each change gets a review and"
    loop = " ".join(["the model repeats the same words"] * 6) + "."
    verdicts = jury.judge([JudgeItem("How are prompts versioned?", answer) for answer in (finished, cut_off, loop, "")])
    scores = [verdict.members["form"] for verdict in verdicts]
    assert scores[0].dimensions == {"complete": 1.0, "distinct": 1.0} and scores[0].score == 1.0
    assert scores[1].dimensions == {"complete": 0.0, "distinct": 1.0} and scores[1].score == 0.5
    # 6 loops of 6 words: 36 words, 34 3-grams, of which the 6 distinct ones of one loop (they wrap around).
    assert scores[2].dimensions == {"complete": 1.0, "distinct": 6 / 34}
    assert scores[3].dimensions == {"complete": 0.0, "distinct": 1.0}  # an empty answer is not finished
