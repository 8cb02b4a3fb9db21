"""A pairwise win rate: the evaluated model's answers against an opponent's on the same held-out instructions, each
pair judged by the jury twice, the answers swapped (position swap).

Per instruction, the model's preference averaged over the two orders decides: above 0.5 a win, below a loss, exactly
0.5 a tie (so a judge that always picks the first answer gives only ties: it cannot decide anything). The win rate
counts a tie as half a win; its 95% interval is Wilson's score interval over the judged instructions, ties as half a
success. Position bias is reported as measured: how often the verdict flips when the answers swap, and the share of
single-order verdicts (ties aside) that prefer whichever answer is shown first.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from llm_engineering.application.judging.members import JudgePair
from llm_engineering.domain.win_rate import Outcome, PairOutcome, WinRateResult

if TYPE_CHECKING:
    from llm_engineering.application.judging.jury import Jury

Z_95 = 1.959963984540054


def wilson_interval(successes: float, trials: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson's score interval for a proportion successes / trials (successes may be fractional: ties count half)."""
    if trials <= 0:
        return 0.0, 1.0
    share = successes / trials
    denominator = 1 + z * z / trials
    centre = (share + z * z / (2 * trials)) / denominator
    spread = z * math.sqrt(share * (1 - share) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - spread), min(1.0, centre + spread)


def outcome_of(preference: float) -> Outcome:
    return "win" if preference > 0.5 else "loss" if preference < 0.5 else "tie"


def judge_win_rate(
    jury: Jury,
    instructions: Sequence[str],
    references: Sequence[str],
    answers: Sequence[str],
    opponent_answers: Sequence[str],
    *,
    model: str,
    opponent: str,
    opponent_model: str = "",
    tie_margin: float = 0.0,
) -> WinRateResult:
    """`answers` (the evaluated model's) against `opponent_answers`, one instruction at a time, in both orders."""
    count = len(instructions)
    label = f"win_rate:{model}:{opponent}"
    shown_first = [
        JudgePair(q, a, b, ref, key=f"{label}:{i}:first")
        for i, (q, ref, a, b) in enumerate(zip(instructions, references, answers, opponent_answers, strict=True))
    ]
    shown_second = [JudgePair(p.question, p.second, p.first, p.reference, key=f"{label}:{i}:second")
                    for i, p in enumerate(shown_first)]  # fmt: skip
    verdicts = jury.compare([*shown_first, *shown_second], tie_margin=tie_margin)
    first_order = [v.score for v in verdicts[:count]]  # the preference for the answer shown first: ours
    second_order = [v.score for v in verdicts[count:]]  # ... shown first: the opponent's

    pairs: list[PairOutcome] = []
    flips = 0
    for index in range(count):
        ours_first = first_order[index]
        ours_second = None if second_order[index] is None else 1.0 - second_order[index]
        if ours_first is None or ours_second is None:
            result: Outcome = "unjudged"
        else:
            result = outcome_of((ours_first + ours_second) / 2)
            flips += outcome_of(ours_first) != outcome_of(ours_second)
        pairs.append(
            PairOutcome(
                instruction=instructions[index], answer=answers[index], opponent_answer=opponent_answers[index],
                shown_first=ours_first, shown_second=ours_second, outcome=result,
            )
        )  # fmt: skip
    wins, ties, losses = (sum(p.outcome == kind for p in pairs) for kind in ("win", "tie", "loss"))
    judged = wins + ties + losses
    decided = [p for p in [*first_order, *second_order] if p is not None and p != 0.5]
    summary = WinRateResult(
        model=model, opponent=opponent, opponent_model=opponent_model or opponent, samples=count,
        wins=wins, ties=ties, losses=losses, unjudged=count - judged, pairs=pairs,
        first_position_rate=sum(p > 0.5 for p in decided) / len(decided) if decided else None,
    )  # fmt: skip
    if judged:
        summary.win_rate = (wins + ties / 2) / judged
        summary.ci_low, summary.ci_high = wilson_interval(wins + ties / 2, judged)
        summary.flip_rate = flips / judged
    return summary
