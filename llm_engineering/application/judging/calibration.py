"""Jury weights from a labelled set: which members to trust, and how much.

An equal-weight mean of a strong and a weak member is worse than the strong one alone (bench-quality: embedding
relevance 0.848 ROC-AUC, IFD 0.642, their mean 0.814). Given samples labelled good (1) or bad (0) and each member's
scores of them, `fit_weights` searches the weight simplex on a grid for the weighted mean (the jury's `mean`
aggregate, skipping a member's missing score as the jury does) with the highest ROC-AUC; a member whose best weight
is 0 is left out. The weights go into the jury's YAML (`weight:` per member). Fit on one part of the labels and read
the AUC on another (`cross_validated`): on the labels it was fit on, the jury matches its best member by
construction (that member alone is a point of the grid).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from pydantic import BaseModel, Field


class MemberSkill(BaseModel):
    name: str
    auc: float = Field(description="ROC-AUC of the member alone (good = 1)")
    weight: float = Field(description="its weight in the fitted jury mean; 0: left out")


class Calibration(BaseModel):
    members: list[MemberSkill]
    jury_auc: float = Field(description="ROC-AUC of the weighted mean, on the labels it was fit on")
    heldout_jury_auc: float | None = Field(None, description="the same on labels it was not fit on, when given")
    heldout_best_member_auc: float | None = None

    def weights(self) -> dict[str, float]:
        return {m.name: m.weight for m in self.members if m.weight > 0}


def roc_auc(labels: Sequence[int], scores: Sequence[float | None]) -> float:
    """ROC-AUC, a missing score counted as the median of the known ones (neither good nor bad evidence)."""
    from sklearn.metrics import roc_auc_score

    known = sorted(s for s in scores if s is not None)
    neutral = known[len(known) // 2] if known else 0.5
    return float(roc_auc_score(list(labels), [neutral if s is None else s for s in scores]))


def weighted_mean(scores: dict[str, list[float | None]], weights: dict[str, float]) -> list[float | None]:
    """Per sample, as the jury's mean aggregate: the weighted mean of the members that scored it."""
    count = len(next(iter(scores.values())))
    combined: list[float | None] = []
    for index in range(count):
        given = [(weights[name], s[index]) for name, s in scores.items() if weights.get(name) and s[index] is not None]
        total = sum(w for w, _ in given)
        combined.append(sum(w * s for w, s in given) / total if total else None)  # type: ignore[operator]
    return combined


def _simplex(members: int, steps: int) -> list[tuple[int, ...]]:
    return [c for c in itertools.product(range(steps + 1), repeat=members) if sum(c) == steps]


def fit_weights(labels: Sequence[int], scores: dict[str, list[float | None]], steps: int = 10) -> Calibration:
    """The grid point (weights in multiples of 1/steps, summing to 1) with the highest ROC-AUC; on a tie the one
    closest to equal weights, so that a member is only left out when it does not help."""
    names = list(scores)
    equal = 1 / len(names)
    best: tuple[float, float, tuple[int, ...]] | None = None
    for point in _simplex(len(names), steps):
        weights = {name: units / steps for name, units in zip(names, point, strict=True)}
        auc = roc_auc(labels, weighted_mean(scores, weights))
        spread = sum(abs(w - equal) for w in weights.values())
        if best is None or (round(auc, 9), -spread) > (round(best[0], 9), -best[1]):
            best = (auc, spread, point)
    assert best is not None
    return Calibration(
        members=[
            MemberSkill(name=name, auc=roc_auc(labels, scores[name]), weight=units / steps)
            for name, units in zip(names, best[2], strict=True)
        ],
        jury_auc=best[0],
    )


def cross_validated(labels: Sequence[int], scores: dict[str, list[float | None]], folds: Sequence[int],
                    steps: int = 10) -> Calibration:  # fmt: skip
    """Weights fit on every fold but one, the AUC read on that one, for each fold: the held-out AUCs of the fitted
    jury and of the best single member (chosen on the fitting folds too), averaged over the folds. The returned
    weights are fit on all the labels."""
    jury, member = [], []
    for fold in sorted(set(folds)):
        fit = [i for i, f in enumerate(folds) if f != fold]
        held = [i for i, f in enumerate(folds) if f == fold]
        calibration = fit_weights([labels[i] for i in fit], {n: [s[i] for i in fit] for n, s in scores.items()}, steps)
        held_scores = {n: [s[i] for i in held] for n, s in scores.items()}
        held_labels = [labels[i] for i in held]
        jury.append(roc_auc(held_labels, weighted_mean(held_scores, calibration.weights())))
        strongest = max(calibration.members, key=lambda m: m.auc).name
        member.append(roc_auc(held_labels, held_scores[strongest]))
    overall = fit_weights(labels, scores, steps)
    overall.heldout_jury_auc = sum(jury) / len(jury)
    overall.heldout_best_member_auc = sum(member) / len(member)
    return overall
