"""ZenML Model Control Plane: metadata on the run's model version, and promotion when it beats production."""

from __future__ import annotations

from pydantic import BaseModel


class PromotionDecision(BaseModel):
    promoted: bool
    metric: str
    candidate: float | None
    production: float | None
    reason: str


def unmet_gates(
    metrics: dict[str, float],
    minimums: dict[str, float],
    maximums: dict[str, float],
    waived: dict[str, str] | None = None,
) -> list[str]:
    """Why the candidate may not be promoted whatever production scores; a gate on an unmeasured metric fails,
    unless `waived` says why it cannot be measured (metric -> reason: a win rate against a production model while
    there is none yet)."""
    gates = [(name, bound, "at least") for name, bound in minimums.items()]
    gates += [(name, bound, "at most") for name, bound in maximums.items()]
    unmet = []
    for name, bound, needed in gates:
        value = metrics.get(name)
        if value is None and name in (waived or {}):
            continue
        if value is None:
            unmet.append(f"{name} not measured (needs {needed} {bound})")
        elif (value < bound) if needed == "at least" else (value > bound):
            unmet.append(f"{name} {value:.4f} (needs {needed} {bound})")
    return unmet


def decide_promotion(
    metric: str,
    candidate: float | None,
    production: float | None,
    lower_is_better: bool,
    unmet: list[str] | None = None,
) -> PromotionDecision:
    if unmet:
        return PromotionDecision(
            promoted=False, metric=metric, candidate=candidate, production=production,
            reason="gates not met: " + "; ".join(unmet),
        )  # fmt: skip
    if candidate is None:
        return PromotionDecision(
            promoted=False, metric=metric, candidate=None, production=production, reason=f"no {metric} measured"
        )
    if production is None:
        return PromotionDecision(
            promoted=True, metric=metric, candidate=candidate, production=None, reason="no production version yet"
        )
    better = candidate < production if lower_is_better else candidate > production
    comparison = "beats" if better else "does not beat"
    return PromotionDecision(
        promoted=better,
        metric=metric,
        candidate=candidate,
        production=production,
        reason=f"{metric} {candidate:.4f} {comparison} production's {production:.4f}",
    )


def production_metric(model_name: str, metric: str, stage: str) -> float | None:
    """The metric recorded on the model version currently in `stage`, if any."""
    from zenml.client import Client

    try:
        version = Client().get_model_version(model_name, stage)
    except KeyError:
        return None
    value = version.run_metadata.get(metric)
    return float(value) if isinstance(value, (int, float)) else None
