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
