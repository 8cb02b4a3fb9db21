"""Stop a training stage whose loss or gradient norm stopped being a number.

transformers' Trainer, by default, logs a NaN/inf loss as the mean of the earlier ones (`logging_nan_inf_filter`)
and trains on: the run "finishes", and evaluation and export get a broken model. We turn that filter off
(trainer_arguments.py) and fail the stage at the first log line that is not finite, naming the knob to turn.
"""

from __future__ import annotations

import math
from typing import Any

from transformers import TrainerCallback

WATCHED = ("loss", "grad_norm")


class TrainingDivergedError(RuntimeError):
    """A stage's loss or gradient norm became NaN or infinite."""


class DivergenceGuard(TrainerCallback):
    def __init__(self, stage: str) -> None:
        self.stage = stage

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, float] | None = None, **kwargs: Any) -> None:
        bad = {key: value for key, value in (logs or {}).items() if key in WATCHED and not math.isfinite(value)}
        if bad:
            values = ", ".join(f"{key} {value}" for key, value in bad.items())
            raise TrainingDivergedError(
                f"{self.stage} diverged at step {state.global_step}: {values}; lower "
                f"{self.stage}.optimization.learning_rate (now {args.learning_rate}) or max_grad_norm, or check the "
                "base model's dtype (float16 overflows more easily than bfloat16 or float32)"
            )
