"""The pairwise win rate through the real jury against loopback OpenAI-compatible judges: a judge that always picks
the first answer shown decides nothing (all ties, win rate 0.5, position bias 1); one that always recognises the
better answer gives 1.0 with an interval clear of 0.5; a member without a pairwise rubric compares its own scores."""

from __future__ import annotations

import json

import pytest

from llm_engineering.application.evaluation.win_rate import judge_win_rate, wilson_interval
from llm_engineering.application.judging.jury import Jury
from llm_engineering.application.judging.rubrics import RubricError, load_rubric
from llm_engineering.domain.config.judging import JuryConfig
from tests.support.openai_server import OpenAIStubServer, last_user_message

INSTRUCTIONS = [f"Explain topic {n} in one sentence." for n in range(8)]
REFERENCES = [f"Topic {n} is a tool we use." for n in range(8)]
OURS = [f"good: topic {n} is a tool in our pipeline." for n in range(8)]
THEIRS = [f"bad: I do not know topic {n}." for n in range(8)]


def shown(body: dict) -> tuple[str, str]:
    prompt = last_user_message(body)
    first = prompt.split("Answer A: ", 1)[1].split("\n", 1)[0]
    second = prompt.split("Answer B: ", 1)[1].split("\n", 1)[0]
    return first, second


def always_first(body: dict) -> str:
    return "Winner: A"


def knows_better(body: dict) -> str:
    first, second = shown(body)
    return "Winner: A" if first.startswith("good") else "**Winner:** B" if second.startswith("good") else "Winner: tie"


def member(name: str, server: OpenAIStubServer, tmp_path, **extra) -> dict:
    llm = {"provider": "openai", "base_url": server.base_url, "model": name, "cache_dir": str(tmp_path / name),
           "max_retries": 0, "backoff_base_s": 0.01}  # fmt: skip
    return {"kind": "llm", "name": name, "llm": llm, **extra}


def win_rate(jury: Jury, **extra):
    return judge_win_rate(jury, INSTRUCTIONS, REFERENCES, OURS, THEIRS, model="dpo", opponent="base", **extra)


def test_a_judge_that_always_picks_the_first_answer_shows_full_position_bias_and_decides_nothing(tmp_path):
    with OpenAIStubServer(responder=always_first) as server:
        result = win_rate(Jury(JuryConfig(members=[member("first", server, tmp_path)])))
        assert server.request_count == 16  # 8 instructions, both orders
        prompts = [last_user_message(body) for body in server.requests]
    assert (result.wins, result.ties, result.losses, result.unjudged) == (0, 8, 0, 0)
    assert result.win_rate == 0.5 and result.ci_low < 0.5 < result.ci_high
    assert result.first_position_rate == 1.0 and result.flip_rate == 1.0  # the verdict follows the position
    assert {p.outcome for p in result.pairs} == {"tie"} and result.pairs[0].shown_first == 1.0
    assert result.pairs[0].shown_second == 0.0
    assert any(f"Answer A: {OURS[0]}\nAnswer B: {THEIRS[0]}" in p for p in prompts)  # both orders were asked
    assert any(f"Answer A: {THEIRS[0]}\nAnswer B: {OURS[0]}" in p for p in prompts)
    assert all("Reference: " in p for p in prompts)
    assert result.metrics()["win_rate_vs_base"] == 0.5
    assert result.metrics()["win_rate_vs_base_first_position_rate"] == 1.0


def test_a_judge_that_prefers_the_better_answer_wins_it_all_with_an_interval_clear_of_a_half(tmp_path):
    with OpenAIStubServer(responder=knows_better) as server:
        result = win_rate(Jury(JuryConfig(members=[member("fair", server, tmp_path)])))
    assert (result.wins, result.ties, result.losses) == (8, 0, 0)
    assert result.win_rate == 1.0 and result.ci_high == 1.0
    assert result.ci_low == pytest.approx(8 / (8 + 1.959963984540054**2))  # Wilson at p = 1: n / (n + z^2)
    assert result.ci_low > 0.5
    assert result.first_position_rate == 0.5 and result.flip_rate == 0.0  # no position bias
    assert result.metrics() == {
        "win_rate_vs_base": 1.0, "win_rate_vs_base_ci_low": result.ci_low, "win_rate_vs_base_ci_high": 1.0,
        "win_rate_vs_base_wins": 8, "win_rate_vs_base_ties": 0, "win_rate_vs_base_losses": 0,
        "win_rate_vs_base_unjudged": 0, "win_rate_vs_base_flip_rate": 0.0,
        "win_rate_vs_base_first_position_rate": 0.5,
    }  # fmt: skip


def test_a_jury_of_a_biased_and_a_fair_judge_and_a_member_comparing_its_own_scores(tmp_path):
    """The biased judge's preference averages with the fair one's; a member without a pairwise rubric scores each
    answer alone with its rubric (accuracy_style), so the order cannot sway it."""

    def grades(body: dict) -> str:
        answer = last_user_message(body).split("Answer: ", 1)[1].split("\n", 1)[0]
        value = 3 if answer.startswith("good") else 1
        return json.dumps({"accuracy": value, "style": value})

    with (
        OpenAIStubServer(responder=always_first) as biased,
        OpenAIStubServer(responder=knows_better) as fair,
        OpenAIStubServer(responder=grades) as scorer,
    ):
        members = [member("biased", biased, tmp_path), member("fair", fair, tmp_path),
                   member("scores", scorer, tmp_path, pairwise_rubric=None)]  # fmt: skip
        result = win_rate(Jury(JuryConfig(members=members)))
        assert scorer.request_count == 16  # 8 of ours, 8 of theirs, each scored alone (no pairwise prompt)
    # Shown first: (1 + 1 + 1) / 3 for us; shown second: (0 + 1 + 1) / 3: a win either way, then no flips.
    assert result.pairs[0].shown_first == 1.0 and result.pairs[0].shown_second == pytest.approx(2 / 3)
    assert (result.wins, result.flip_rate) == (8, 0.0)
    assert result.first_position_rate == 0.5


def test_an_unparseable_pairwise_verdict_is_unjudged_and_counted(tmp_path):
    def shaky(body: dict) -> str:
        first, _ = shown(body)
        return "Both are fine, I think." if "topic 3" in first else knows_better(body)

    with OpenAIStubServer(responder=shaky) as server:
        result = win_rate(Jury(JuryConfig(members=[member("shaky", server, tmp_path)], max_unjudged_fraction=1.0)))
    assert (result.wins, result.unjudged) == (7, 1) and result.win_rate == 1.0
    assert result.pairs[3].outcome == "unjudged" and result.pairs[3].shown_first is None


def test_wilson_interval_and_the_pairwise_rubric():
    low, high = wilson_interval(5, 10)
    assert (round(low, 4), round(high, 4)) == (0.2366, 0.7634)
    rubric = load_rubric("pairwise")
    assert rubric.pairwise and rubric.dimensions == {}
    assert [rubric.parse_winner(t) for t in ["Winner: A", "**Winner:** tie", "winner = b", " B ", "A is better",
                                             "Winner: A\nWinner: B"]] == [1.0, 0.5, 0.0, 0.0, None, None]  # fmt: skip
    with pytest.raises(RubricError, match="compares two answers; set it as pairwise_rubric"):
        Jury(JuryConfig(members=[{"kind": "llm", "name": "j", "rubric": "pairwise"}]))


def test_validate_names_a_rubric_in_the_wrong_slot_and_a_win_rate_without_a_judge(tmp_path):
    import yaml

    from llm_engineering.application.run_config import ConfigError, load_run_config
    from llm_engineering.domain.config.training import TrainingParameters

    members = [{"kind": "llm", "name": "j", "rubric": "pairwise", "pairwise_rubric": "accuracy_style"}]
    path = tmp_path / "training.yaml"
    path.write_text(yaml.safe_dump({"parameters": {"evaluation": {"judge": {"jury": {"members": members}}}}}))
    with pytest.raises(ConfigError) as info:
        load_run_config(path, TrainingParameters)
    assert str(info.value).splitlines()[1:] == [
        "  parameters.evaluation.judge.jury.members.0.rubric: rubric 'pairwise' compares two answers; rubric needs one "
        "answer (e.g. accuracy_style)",
        "  parameters.evaluation.judge.jury.members.0.pairwise_rubric: rubric 'accuracy_style' scores a single answer; "
        "pairwise_rubric needs format: winner_line (e.g. pairwise)",
    ]
    path.write_text(yaml.safe_dump({"parameters": {"evaluation": {"win_rate": {"samples": 8}}}}))
    with pytest.raises(ConfigError, match="win_rate.samples needs a judge: set judge.base_url"):
        load_run_config(path, TrainingParameters)
