"""How much the members of a jury agree: Krippendorff's alpha (interval metric, missing scores allowed) over all
members, and Spearman's rank correlation for each pair of members on the samples both scored.

No maintained library we already depend on has Krippendorff's alpha, so it is written out here (the textbook
coincidence-free form for the interval metric); Spearman is scipy's."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations


def krippendorff_alpha(scores: Sequence[Sequence[float | None]]) -> float | None:
    """Interval alpha of `scores[member][sample]`; None where it is undefined (fewer than two pairable values, or no
    variation at all). 1 is perfect agreement, 0 what chance gives, below 0 systematic disagreement."""
    units = [[row[i] for row in scores if row[i] is not None] for i in range(len(scores[0]) if scores else 0)]
    units = [values for values in units if len(values) >= 2]  # a sample only one member scored pairs with nothing
    pooled = [value for values in units for value in values]
    n = len(pooled)
    if n < 2:
        return None
    observed = sum(
        sum((a - b) ** 2 for a in values for b in values) / (len(values) - 1) for values in units
    ) / n  # fmt: skip
    expected = sum((a - b) ** 2 for a in pooled for b in pooled) / (n * (n - 1))
    if expected == 0:
        return None
    return 1 - observed / expected


def spearman(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Spearman's rho (scipy; ties get average ranks); None with fewer than two samples or a constant side."""
    if len(a) < 2 or len(set(a)) < 2 or len(set(b)) < 2:
        return None
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def pairwise_spearman(names: Sequence[str], scores: Sequence[Sequence[float | None]]) -> dict[str, float | None]:
    """`"a|b" -> rho` for each pair of members, on the samples both scored."""
    result: dict[str, float | None] = {}
    for (i, first), (j, second) in combinations(enumerate(names), 2):
        both = [(x, y) for x, y in zip(scores[i], scores[j], strict=True) if x is not None and y is not None]
        result[f"{first}|{second}"] = spearman([x for x, _ in both], [y for _, y in both])
    return result
