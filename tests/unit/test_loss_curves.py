from llm_engineering.application.evaluation.loss_curves import plot_loss_curves

SFT = [
    {"step": 1, "loss": 3.1, "grad_norm": 2.5},
    {"step": 2, "loss": 2.7, "grad_norm": 1.9},
    {"step": 2, "eval_loss": 2.9},
]


def test_the_plot_draws_loss_eval_loss_and_gradient_norm_per_stage() -> None:
    with_norm = plot_loss_curves({"sft": SFT, "dpo": [{"step": 1, "loss": 0.69, "grad_norm": 0.4}]})
    without_norm = plot_loss_curves(
        {"sft": [{k: v for k, v in e.items() if k != "grad_norm"} for e in SFT], "dpo": [{"step": 1, "loss": 0.69}]}
    )
    assert with_norm.startswith(b"\x89PNG") and without_norm.startswith(b"\x89PNG")
    assert with_norm != without_norm
    assert plot_loss_curves({"sft": [], "dpo": []}).startswith(b"\x89PNG")  # nothing logged yet: an empty figure


def test_a_short_runs_single_points_are_drawn_with_markers() -> None:
    """A stage that logged one loss (and one reward) at one step: a line alone would be invisible."""
    import matplotlib.pyplot as plt

    from llm_engineering.application.evaluation.loss_curves import loss_figure

    history = [{"step": 1, "loss": 0.69, "rewards/length/mean": -3.0}, {"step": 1, "eval_loss": 0.7}]
    figure = loss_figure({"sft": [], "grpo": history})
    try:
        (axis,) = figure.axes  # the stage without a history has no axis
        drawn = {line.get_label(): line for line in axis.lines}
        assert set(drawn) == {"loss", "eval loss", "length reward"}
        for label, line in drawn.items():
            assert len(line.get_xydata()) == 1, label
            assert line.get_marker() not in (None, "", "None", " ") and line.get_markersize() >= 4, label
    finally:
        plt.close(figure)
