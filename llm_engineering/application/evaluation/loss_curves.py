"""A PNG of the training/eval loss per step, from the trainers' log history."""

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
            points = [(entry["step"], entry[key]) for entry in histories[stage] if key in entry and "step" in entry]
            if points:
                axis.plot(*zip(*points, strict=True), style, label=key.replace("_", " "))
        axis.set_title(f"{stage.upper()} loss")
        axis.set_xlabel("step")
        axis.legend()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return buffer.getvalue()
