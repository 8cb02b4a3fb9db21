"""One of the processes `accelerate launch` starts for a distributed stage (see distributed.py): it trains the stage
with the same code as one process does, and rank 0 writes what the step returns."""

from __future__ import annotations

import sys
from pathlib import Path

from llm_engineering.application.training.distributed import LaunchSpec
from llm_engineering.application.training.stages import StageInputs, run_stage
from llm_engineering.infrastructure.distributed import device_of_this_process, die_with_parent, is_main_process


def main(spec_path: str) -> None:
    from datasets import load_from_disk

    die_with_parent()  # the launcher

    spec = LaunchSpec.model_validate_json(Path(spec_path).read_text())
    inputs = StageInputs(
        instruction_dataset=load_from_disk(str(spec.instruction_dataset)) if spec.instruction_dataset else None,
        preference_dataset=load_from_disk(str(spec.preference_dataset)) if spec.preference_dataset else None,
        base_model=spec.base_model,
        backend=spec.backend,  # type: ignore[arg-type] - a Backend, as the step resolved it
        device=device_of_this_process(spec.device),
        max_train_samples=spec.max_train_samples,
        report_to=spec.report_to,
        reward_model=spec.reward_model,
        teacher=spec.teacher,
    )
    trained = run_stage(spec.stage.stage, spec.start, inputs, spec.output_dir)
    if is_main_process():
        spec.result.write_text(trained.model_dump_json())


if __name__ == "__main__":
    main(sys.argv[1])
