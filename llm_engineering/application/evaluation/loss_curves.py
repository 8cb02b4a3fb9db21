"""A PNG per stage of the training/eval loss, the online-RL rewards and the gradient norm per step, from the trainers'
log history."""

from __future__ import annotations

import io
from typing import Any


def plot_loss_curves(histories: dict[str, list[dict[str, float]]]) -> bytes:
    import matplotlib.pyplot as plt

    figure = loss_figure(histories)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return buffer.getvalue()


def loss_figure(histories: dict[str, list[dict[str, float]]]) -> Any:  # noqa: ANN401 - a matplotlib Figure
    """One axis per stage that logged anything; the caller closes the figure."""
    import matplotlib

    matplotlib.use("Agg")  # no display in steps or containers
    import matplotlib.pyplot as plt

    stages = [stage for stage, history in histories.items() if history]
    figure, axes = plt.subplots(1, max(len(stages), 1), figsize=(5 * max(len(stages), 1), 3.5), squeeze=False)
    for axis, stage in zip(axes[0], stages, strict=False):
        # Online RL logs one mean per reward function (TRL: rewards/<name>/mean): drawn beside the loss.
        rewards = sorted(
            {k for entry in histories[stage] for k in entry if k.startswith("rewards/") and k.endswith("/mean")}
        )
        for key, style in (("loss", ".-"), ("eval_loss", "o--"), *((key, "x-") for key in rewards)):
            points = _points(histories[stage], key)
            if points:  # markers: a short run's single point is still visible
                label = key.removeprefix("rewards/").removesuffix("/mean") + " reward" if key in rewards else key
                axis.plot(*zip(*points, strict=True), style, label=label.replace("_", " "))
        norms = _points(histories[stage], "grad_norm")
        if norms:  # its own scale, on the right: spikes show up before the loss moves
            norm_axis = axis.twinx()
            norm_axis.plot(*zip(*norms, strict=True), ":", color="grey", label="grad norm")
            norm_axis.set_ylabel("gradient norm")
            norm_axis.legend(loc="upper center")
        axis.set_title(f"{stage}: loss{', rewards' if rewards else ''} and gradient norm")
        axis.set_xlabel("step")
        axis.legend()
    figure.tight_layout()
    return figure


def _points(history: list[dict[str, float]], key: str) -> list[tuple[float, float]]:
    return [(entry["step"], entry[key]) for entry in history if key in entry and "step" in entry]
