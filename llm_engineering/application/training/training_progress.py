"""A progress line for every training stage: steps done out of the stage's total, seconds per step, time left and the
last logged loss (infrastructure/progress.py: a bar on a terminal, a line every 30 s when piped or captured, one line at
the end). TrainingArguments keep `disable_tqdm: True`: transformers' own bar would redraw into a pipe and into ZenML's
stored step logs, where stderr is filed as ERROR."""

from __future__ import annotations

from typing import Any

from transformers import TrainerCallback

from llm_engineering.infrastructure.progress import Progress


class TrainingProgress(TrainerCallback):
    def __init__(self, stage: str) -> None:
        self.stage = stage
        self.progress: Progress | None = None

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.progress is None:
            self.progress = self._start(state)  # here, not on_train_begin: a resumed state is loaded after it

    def _start(self, state: Any) -> Progress | None:
        if not state.is_world_process_zero:
            return None
        # A resumed run starts at its checkpoint's step: those steps count as done, not towards the speed.
        return Progress(state.max_steps, f"training {self.stage}", "step", done=state.global_step,
                        done_as="before the checkpoint it resumed from")  # fmt: skip

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.progress is not None:
            self.progress.update(state.global_step - self.progress.n)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kwargs: Any) -> None:
        if self.progress is None or not logs:
            return
        if "loss" in logs:
            self.progress.set_postfix(f"loss {float(logs['loss']):.4g}")
        self.progress.clear()  # transformers prints the logs next (PrinterCallback), on a line of their own

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        progress = self.progress or self._start(state)  # no step left to train: the summary says so
        if progress is not None:
            progress.close()
        self.progress = None
