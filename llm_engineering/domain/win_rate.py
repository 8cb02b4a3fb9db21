"""What a pairwise win rate reports, typed: per instruction the two orders' verdicts, and over all of them the
win/tie/loss counts, the win rate with its 95% interval and the judge's position bias."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

Outcome = Literal["win", "tie", "loss", "unjudged"]


class ProductionModel(BaseModel):
    """The model version in the promotion stage, as the win rate loads it: its final stage's trained folder."""

    version: str
    stage: str = Field(description="the training stage that was exported (the version's final policy)")
    model_dir: Path


class WinRateOpponents(BaseModel):
    """What the win rate compares against besides the base model (one step parameter: ZenML validates a model)."""

    production: ProductionModel | None = None
    production_missing: str | None = Field(None, description="why there is no production model to compare with")


class PairOutcome(BaseModel):
    instruction: str
    answer: str  # the evaluated model's
    opponent_answer: str
    # The jury's preference for the evaluated model's answer, shown first and shown second (None: unjudged).
    shown_first: float | None
    shown_second: float | None
    outcome: Outcome


class WinRateResult(BaseModel):
    model: str  # the evaluated model (the final policy stage)
    opponent: str  # "base" or "production"
    opponent_model: str = ""  # what the opponent was: "base", "production version 3"
    skipped: str | None = Field(None, description="why it was not measured (no production version yet, ...)")
    samples: int = 0  # instructions asked
    wins: int = 0
    ties: int = 0
    losses: int = 0
    unjudged: int = 0  # instructions without a verdict in both orders: counted, never guessed
    win_rate: float | None = Field(None, description="(wins + ties / 2) / judged instructions")
    ci_low: float | None = Field(None, description="Wilson 95% interval of the win rate")
    ci_high: float | None = None
    flip_rate: float | None = Field(
        None, description="share of judged instructions whose verdict changes when the two answers swap places"
    )
    first_position_rate: float | None = Field(
        None, description="of the single-order verdicts that are not ties, the share preferring the answer shown "
        "first: 0.5 is no position bias, 1 a judge that always picks the first"
    )  # fmt: skip
    pairs: list[PairOutcome] = []

    @property
    def metric(self) -> str:
        """`win_rate_vs_<opponent>`: the gate metric (promotion.min_metrics)."""
        return f"win_rate_vs_{self.opponent}"

    @property
    def judged(self) -> int:
        return self.wins + self.ties + self.losses

    def metrics(self) -> dict[str, float]:
        """The win rate and its interval, counts and position-bias figures, named `win_rate_vs_<opponent>[_...]`."""
        if self.win_rate is None:
            return {}
        values = {
            "": self.win_rate,
            "_ci_low": self.ci_low,
            "_ci_high": self.ci_high,
            "_wins": self.wins,
            "_ties": self.ties,
            "_losses": self.losses,
            "_unjudged": self.unjudged,
            "_flip_rate": self.flip_rate,
            "_first_position_rate": self.first_position_rate,
        }
        return {f"{self.metric}{suffix}": value for suffix, value in values.items() if value is not None}
