from llm_engineering.infrastructure.model_registry import decide_promotion, unmet_gates


def test_the_metric_decides_once_the_gates_pass() -> None:
    assert decide_promotion("eval_loss", 3.2, None, True).promoted  # nothing in production yet
    assert decide_promotion("eval_loss", 3.2, 3.3, True).promoted
    assert not decide_promotion("eval_loss", 3.4, 3.3, True).promoted
    assert decide_promotion("reward_accuracy", 0.9, 0.8, False).promoted
    assert not decide_promotion("eval_loss", None, 3.3, True).promoted


def test_an_unmet_gate_blocks_promotion_even_with_a_better_metric() -> None:
    metrics = {"eval_loss": 3.24, "reward_accuracy": 0.0, "perplexity": 25.0}
    unmet = unmet_gates(metrics, {"reward_accuracy": 0.75}, {"perplexity": 30.0})
    assert unmet == ["reward_accuracy 0.0000 (needs at least 0.75)"]

    decision = decide_promotion("eval_loss", 3.24, 3.25, True, unmet)
    assert not decision.promoted
    assert decision.reason == "gates not met: reward_accuracy 0.0000 (needs at least 0.75)"


def test_gates_on_bounds_and_unmeasured_metrics() -> None:
    assert unmet_gates({"reward_accuracy": 0.75}, {"reward_accuracy": 0.75}, {}) == []  # the bound itself passes
    assert unmet_gates({"perplexity": 31.0}, {}, {"perplexity": 30.0}) == ["perplexity 31.0000 (needs at most 30.0)"]
    assert unmet_gates({}, {"judge_accuracy": 2.0}, {}) == ["judge_accuracy not measured (needs at least 2.0)"]


def _report(win_rate: float, acc: float):
    from llm_engineering.application.evaluation.lm_eval_harness import LmEvalScore
    from llm_engineering.application.evaluation.scores import EvaluationReport, ModelScores
    from llm_engineering.domain.win_rate import WinRateResult

    scores = [
        ModelScores(model="base", eval_loss=3.5, lm_eval=[LmEvalScore(task="corpus_qa", metric="acc", value=0.25)]),
        ModelScores(model="dpo", kind="dpo", eval_loss=3.2, lm_eval=[LmEvalScore(task="corpus_qa", metric="acc",
                                                                                 value=acc, samples=12)]),
    ]  # fmt: skip
    win_rates = [
        WinRateResult(model="dpo", opponent="base", wins=6, ties=0, losses=2, win_rate=win_rate, ci_low=0.4,
                      ci_high=0.9, flip_rate=0.25, first_position_rate=0.6),
        WinRateResult(model="dpo", opponent="production", skipped="no production version of tiny yet"),
    ]  # fmt: skip
    return EvaluationReport(scores=scores, loss_samples=4, preference_pairs=0, win_rates=win_rates)


def test_gates_on_a_win_rate_and_an_lm_eval_score_and_a_production_win_rate_waived_while_there_is_none() -> None:
    report = _report(win_rate=0.75, acc=0.5)
    metrics = report.metrics()
    assert metrics["win_rate_vs_base"] == 0.75 and metrics["win_rate_vs_base_ci_low"] == 0.4
    assert metrics["lm_eval/corpus_qa/acc"] == 0.5 and metrics["base_lm_eval/corpus_qa/acc"] == 0.25
    assert not any(key.startswith("win_rate_vs_production") for key in metrics)
    gates = {"win_rate_vs_base": 0.6, "lm_eval/corpus_qa/acc": 0.4, "win_rate_vs_production": 0.5}
    assert unmet_gates(metrics, gates, {}, waived=report.waived_gates()) == []
    assert decide_promotion("eval_loss", 3.2, None, True, []).reason == "no production version yet"
    # Without the waiver (a production version exists, its win rate unmeasured), the gate fails as unmeasured.
    assert unmet_gates(metrics, gates, {}) == ["win_rate_vs_production not measured (needs at least 0.5)"]

    worse = _report(win_rate=0.55, acc=0.25)
    unmet = unmet_gates(worse.metrics(), gates, {}, waived=worse.waived_gates())
    assert unmet == [
        "win_rate_vs_base 0.5500 (needs at least 0.6)", "lm_eval/corpus_qa/acc 0.2500 (needs at least 0.4)"
    ]  # fmt: skip
    decision = decide_promotion("eval_loss", 3.2, 3.3, True, unmet)
    assert not decision.promoted and decision.reason.startswith("gates not met: win_rate_vs_base 0.5500")
    assert unmet_gates(worse.metrics(), {"win_rate_vs_base_ci_low": 0.5}, {}) == [
        "win_rate_vs_base_ci_low 0.4000 (needs at least 0.5)"
    ]  # a stricter gate: the interval's lower end must clear a coin flip
