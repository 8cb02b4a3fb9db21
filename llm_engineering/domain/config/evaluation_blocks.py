"""Two blocks of the training pipeline's `evaluation:`: standard benchmarks through lm-evaluation-harness
(`lm_eval`), and a pairwise win rate of the final model against the base and the production model (`win_rate`).

    evaluation:
      lm_eval:
        tasks: [corpus_qa]          # shipped in llm_engineering/lm_eval_tasks/, or any lm-eval task cached here
        limit: null                 # docs per task (null: all)
      win_rate:
        samples: 16                 # held-out instructions; 0: no win rate
        against: [base, production]

Their metrics (`lm_eval/<task>/<metric>`, `win_rate_vs_<opponent>`) are promotion gates like any other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from llm_engineering.domain.config.base import StrictModel, repeated


class LmEvalConfig(StrictModel):
    """lm-evaluation-harness on every evaluated model (the base and each trained policy stage), on the model already
    in memory. A task is a name lm-eval knows: one shipped in `llm_engineering/lm_eval_tasks/` (`corpus_qa`), one in
    `include_path`, or one of lm-eval's own whose dataset is already in the local Hugging Face cache (checked by
    `llm-engineering validate` before any model loads; offline, an uncached one is refused)."""

    tasks: list[str] = Field([], description="lm-eval task (or group) names; empty: no lm-eval")
    include_path: list[Path] = Field([], description="more folders of lm-eval task YAMLs (lm-eval's include_path)")
    limit: int | None = Field(None, gt=0, description="docs per task (the first ones); null: every doc")
    num_fewshot: int | None = Field(None, ge=0, description="few-shot examples per prompt; null: the task's own")
    batch_size: int = Field(8, gt=0, description="requests per forward pass")
    apply_chat_template: bool = Field(False, description="wrap each prompt in the tokenizer's chat template")
    bootstrap_iters: int = Field(
        1000, ge=0, description="bootstrap resamples for the stderr of metrics without a closed form; 0: no stderr"
    )
    seed: int = Field(1234, description="lm-eval's random, numpy, torch and few-shot seed")

    @field_validator("tasks")
    @classmethod
    def _distinct_tasks(cls, tasks: list[str]) -> list[str]:
        twice = repeated(tasks)
        if twice:
            raise ValueError(f"tasks listed twice: {twice}")
        return tasks

    @field_validator("include_path")
    @classmethod
    def _folders_exist(cls, folders: list[Path]) -> list[Path]:
        missing = [str(folder) for folder in folders if not folder.is_dir()]
        if missing:
            raise ValueError(f"not a folder of task YAMLs: {missing}")
        return folders

    @property
    def enabled(self) -> bool:
        return bool(self.tasks)


WinRateOpponent = Literal["base", "production"]


class WinRateConfig(StrictModel):
    """The final policy's answers against another model's, on the same held-out instructions, judged by the
    evaluation's jury in both orders (position swap). Per instruction, the final model's preference averaged over
    the two orders decides: above 0.5 a win, below a loss, 0.5 a tie. The win rate counts a tie as half a win; its
    95% interval is Wilson's. LLM members compare the two answers in one prompt (their `pairwise_rubric`); the other
    members score each answer alone and prefer the higher score."""

    samples: int = Field(0, ge=0, description="held-out instructions (test split) answered by both; 0: no win rate")
    against: list[WinRateOpponent] = Field(
        ["base", "production"],
        min_length=1,
        description="base: the base model; production: the model version in promotion.stage (skipped while none)",
    )
    max_new_tokens: int | None = Field(None, gt=0, description="tokens per answer; null: evaluation.max_new_tokens")
    tie_margin: float = Field(
        0.0, ge=0, le=1, description="members that score answers alone: a score difference up to this is a tie"
    )

    @field_validator("against")
    @classmethod
    def _distinct_opponents(cls, against: list[str]) -> list[str]:
        twice = repeated(against)
        if twice:
            raise ValueError(f"opponents listed twice: {twice}")
        return against

    @property
    def enabled(self) -> bool:
        return self.samples > 0
