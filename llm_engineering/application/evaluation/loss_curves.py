"""A PNG of the training/eval loss and the gradient norm per step, from the trainers' log history."""

from __future__ import annotations

import io


def plot_loss_curves(histories: dict[str, list[dict[str, float]]]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")  # no display in steps or containers
    import matplotlib.pyplot as plt

    stages = [stage for stage, history in histories.items() if history]
    figure, axes = plt.subplots(1, max(len(stages), 1), figsize=(5 * max(len(stages), 1), 3.5), squeeze=False)
    for axis, stage in zip(axes[0], stages, strict=False):
        for key, style in (("loss", "-"), ("eval_loss", "o--")):
            points = _points(histories[stage], key)
            if points:
                axis.plot(*zip(*points, strict=True), style, label=key.replace("_", " "))
        norms = _points(histories[stage], "grad_norm")
        if norms:  # its own scale, on the right: spikes show up before the loss moves
            norm_axis = axis.twinx()
            norm_axis.plot(*zip(*norms, strict=True), ":", color="grey", label="grad norm")
            norm_axis.set_ylabel("gradient norm")
            norm_axis.legend(loc="upper center")
        axis.set_title(f"{stage.upper()} loss and gradient norm")
        axis.set_xlabel("step")
        axis.legend()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return buffer.getvalue()


def _points(history: list[dict[str, float]], key: str) -> list[tuple[float, float]]:
    return [(entry["step"], entry[key]) for entry in history if key in entry and "step" in entry]
