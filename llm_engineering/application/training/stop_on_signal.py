"""Stop a training stage at the end of the step it is in once SIGTERM / Ctrl-C arrived (`llm-engineering run`
records the signal), with that step saved as a checkpoint, so the rerun resumes from it (checkpoints.py).

ZenML's own signal handler usually interrupts the step at once (the rerun then resumes from the last scheduled
checkpoint); this callback is the floor under it: wherever that interruption was swallowed, the stage still stops
within one optimizer step.
"""

from __future__ import annotations

from typing import Any

from transformers import TrainerCallback

from llm_engineering.infrastructure.interruption import raise_if_stop_requested, stop_requested


class StopOnSignal(TrainerCallback):
    def __init__(self, stage: str) -> None:
        self.stage = stage
        self._saving_to_stop = False

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        raise_if_stop_requested(f"{self.stage} training before step {state.global_step + 1}")

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if stop_requested():  # keep this step: the Trainer saves a checkpoint next, then on_save stops the stage
            control.should_save = True
            self._saving_to_stop = True

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self._saving_to_stop:
            raise_if_stop_requested(
                f"{self.stage} training after step {state.global_step} (saved as checkpoint-{state.global_step})"
            )
