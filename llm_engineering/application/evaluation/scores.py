"""The evaluation report's data: one row of scores per model, rendered as a markdown table."""

from __future__ import annotations

from pydantic import BaseModel

from llm_engineering.application.evaluation.lm_eval_harness import LmEvalScore
from llm_engineering.domain.judging import JuryReport
from llm_engineering.domain.win_rate import WinRateResult

COLUMNS = {
    "eval_loss": "held-out loss",
    "perplexity": "perplexity",
    "rouge_l": "ROUGE-L",
    "reward_accuracy": "reward accuracy",
    "reward_margin": "reward margin",
    "reward_accuracy_length_controlled": "reward accuracy, length-controlled",
    "judge_score": "judge score (0-1)",
    "judge_accuracy": "judge accuracy (1-3)",
    "judge_style": "judge style (1-3)",
    "judge_unjudged": "answers the judge left unscored",
}


class ModelScores(BaseModel):
    model: str  # "base" or a stage name
    kind: str = "base"  # the stage kind ("base" for the base model)
    eval_loss: float | None = None  # None for a reward model, which is not a language model
    perplexity: float | None = None
    rouge_l: float | None = None
    reward_accuracy: float | None = None  # against the model it was trained from
    reward_margin: float | None = None
    # On the pairs where both answers are complete and of similar length (rewards.length_controlled_pairs).
    reward_accuracy_length_controlled: float | None = None
    judge_score: float | None = None  # the jury's mean score of this model's answers, in [0, 1]
    judge_accuracy: float | None = None  # the accuracy_style rubric's mean accuracy, where a judge uses it
    judge_style: float | None = None
    judge_unjudged: int | None = None  # answers fewer than the quorum of judges scored: counted, never guessed
    judge_dimensions: dict[str, float] = {}  # "<member>_<dimension>" -> its mean over this model's answers
    lm_eval: list[LmEvalScore] = []  # lm-evaluation-harness scores of this model (evaluation.lm_eval.tasks)
    lm_eval_seconds: float | None = None  # lm-eval's wall time on this model

    def metric_values(self) -> dict[str, float]:
        """Its measured COLUMNS, then its lm-eval scores as `lm_eval/<task>/<metric>`."""
        values = {key: getattr(self, key) for key in COLUMNS if getattr(self, key) is not None}
        return values | {f"{LM_EVAL_PREFIX}{score.name}": score.value for score in self.lm_eval}


LM_EVAL_PREFIX = "lm_eval/"
WIN_RATE_SUFFIXES = ("ci_low", "ci_high", "wins", "ties", "losses", "unjudged", "flip_rate", "first_position_rate")


def column_label(key: str) -> str:
    return COLUMNS.get(key, key)


def shown_columns(rows: list[dict[str, float]]) -> list[str]:
    """The metric keys any row has: COLUMNS in their order, then the lm-eval scores in first-seen order."""
    keys = [key for key in COLUMNS if any(key in row for row in rows)]
    return keys + list(dict.fromkeys(key for row in rows for key in row if key.startswith(LM_EVAL_PREFIX)))


class GeneratedAnswer(BaseModel):
    model: str
    instruction: str
    reference: str
    answer: str


class EvaluationReport(BaseModel):
    scores: list[ModelScores]
    answers: list[GeneratedAnswer] = []
    reward_reference: dict[str, str] = {}  # model -> the reference its implicit rewards are measured against
    reward_beta: dict[str, float] = {}  # model -> the beta of its implicit reward (its own, for aligned stages)
    loss_samples: int
    preference_pairs: int
    length_controlled_pairs: int = 0  # of preference_pairs, those both complete and within 1.5x in length
    judge: JuryReport | None = None  # the jury over every model's answers: agreement, usage, unjudged
    win_rates: list[WinRateResult] = []  # the final model against each opponent (evaluation.win_rate)

    def of(self, model: str) -> ModelScores | None:
        return next((row for row in self.scores if row.model == model), None)

    def final(self) -> ModelScores:
        """The last policy model evaluated (a reward model trained last is not what gets exported)."""
        return [row for row in self.scores if row.eval_loss is not None][-1]

    def metrics(self) -> dict[str, float]:
        """Flat `<model>_<metric>` numbers for metadata and trackers; the final model's also unprefixed."""
        flat: dict[str, float] = {}
        for row in self.scores:
            flat.update({f"{row.model}_{key}": value for key, value in row.metric_values().items()})
        flat.update(self.final().metric_values())
        for result in self.win_rates:
            flat.update(result.metrics())
        return flat

    def waived_gates(self) -> dict[str, str]:
        """Win-rate metrics that could not be measured for a reason that is no fault of the model (no production
        version yet): promotion does not count a gate on them as unmet."""
        waived: dict[str, str] = {}
        for result in self.win_rates:
            if result.skipped is not None:
                names = [result.metric] + [f"{result.metric}_{suffix}" for suffix in WIN_RATE_SUFFIXES]
                waived.update(dict.fromkeys(names, result.skipped))
        return waived


def render_markdown(report: EvaluationReport) -> str:
    values = [row.metric_values() for row in report.scores]
    shown = shown_columns(values)
    lines = [
        "# Evaluation: " + " vs ".join(row.model for row in report.scores),
        "",
        f"Held-out loss on {report.loss_samples} instruction test samples (assistant tokens only); "
        f"implicit rewards beta*(log p_model - log p_reference) on {report.preference_pairs} held-out preference "
        f"pairs ({report.length_controlled_pairs} with both answers complete and within 1.5x in length: the "
        "length-controlled accuracy); a reward model's accuracy is its own score of chosen over rejected.",
        "",
        "| model | " + " | ".join(column_label(key) for key in shown) + " |",
        "|---|" + "---|" * len(shown),
    ]
    for row, row_values in zip(report.scores, values, strict=True):
        stderrs = {f"{LM_EVAL_PREFIX}{score.name}": score.stderr for score in row.lm_eval}
        cells = [_cell(row_values.get(key)) + _stderr(stderrs.get(key)) for key in shown]
        lines.append(f"| {row.model} ({row.kind}) | " + " | ".join(cells) + " |")
    timed = [row for row in report.scores if row.lm_eval_seconds is not None]
    if timed:
        first = next(row for row in timed if row.lm_eval)
        docs = ", ".join(f"{task} {count} docs" for task, count in {s.task: s.samples for s in first.lm_eval}.items())
        seconds = ", ".join(f"{row.model} {row.lm_eval_seconds:.1f} s" for row in timed)
        lines += ["", f"lm-evaluation-harness ({docs}; ± its standard error): {seconds}"]
    if report.reward_reference:
        references = ", ".join(
            f"{m} vs {ref} (beta {report.reward_beta.get(m, 0.0)})" for m, ref in report.reward_reference.items()
        )
        lines += ["", "Reward reference: " + references]
    if report.judge is not None:
        jury = report.judge
        members = ", ".join(f"{m.name} ({m.kind}, {m.judged} judged)" for m in jury.members)
        agreement = (
            f"; Krippendorff's alpha {_cell(jury.krippendorff_alpha)}" if jury.krippendorff_alpha is not None else ""
        )
        lines += ["", f"Judges: {jury.aggregate} of {members}; {jury.unjudged} answers unjudged{agreement}"]
    if report.win_rates:
        header = "| model | against | win / tie / loss | unjudged | win rate | 95% CI (Wilson) | verdict flips on swap "
        lines += [
            "",
            "## Win rate (pairwise, both orders)",
            "",
            header + "| prefers the first shown |",
            "|---" * 8 + "|",
        ]
        for result in report.win_rates:
            if result.skipped is not None:
                lines.append(f"| {result.model} | {result.opponent} | not measured: {result.skipped} |" + " |" * 5)
                continue
            interval = "—" if result.ci_low is None else f"{result.ci_low:.3f}–{result.ci_high:.3f}"
            lines.append(
                f"| {result.model} | {result.opponent_model} | {result.wins} / {result.ties} / {result.losses} | "
                f"{result.unjudged} | {_cell(result.win_rate)} | {interval} | {_cell(result.flip_rate)} | "
                f"{_cell(result.first_position_rate)} |"
            )
    if report.answers:
        lines += ["", "## Sample answers (greedy)", ""]
        for answer in report.answers:
            lines.append(f"- **{answer.model}** — _{answer.instruction[:120]}_ → {answer.answer[:300]!r}")
    return "\n".join(lines) + "\n"


def _stderr(value: float | None) -> str:
    return "" if value is None else f" ± {value:.4f}"


def _cell(value: float | None) -> str:
    if value is None:
        return "—"
    return str(value) if isinstance(value, int) else f"{value:.4f}"
