"""What a run stopped by SIGTERM / Ctrl-C leaves behind, in words: the steps it completed, the step it stopped in and
what that step kept, and what the next run with the same config picks up - steps reused from ZenML's step cache,
steps that always run again, a training stage's last checkpoint (`llm-engineering run` prints it, run_summary.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# What a long step has stored when it is stopped part way, so that the rerun does not do it again.
KEPT_WHEN_STOPPED = {
    "embed_and_load": "the chunks stored in Qdrant so far are not embedded again",
    "generate_instruction_samples": "the LLM answers received so far are cached and are not asked again",
    "generate_preference_samples": "the LLM answers received so far are cached and are not asked again",
    "curate_instruction_samples": "the judge and evolution answers received so far are cached",
    "curate_preference_samples": "the judge answers received so far are cached",
    "evaluate_models": "the judge answers received so far are cached; the evaluation itself starts again",
}
TRAINING_OUTPUT = "output"  # train_stage's metadata: the stage's folder, recorded when it starts


def describe_stopped_run(run: Any) -> list[str]:
    """Lines for a stopped run (a ZenML PipelineRunResponse with its steps): completed, stopped, and the next run.

    A completed step is surely reused from ZenML's step cache only if its cache is on and every step it reads from is
    reused too. After a step that runs again it is reused only if that step returns the same (ZenML keys the cache on
    the inputs' content where their materializer hashes it): the feature pipeline's crawl is never cached and records
    fetch times, so the steps after it run again, finding their work stored (Qdrant, the LLM cache)."""
    from zenml.enums import ExecutionStatus

    finished = (ExecutionStatus.COMPLETED, ExecutionStatus.CACHED)
    completed = {name: step for name, step in run.steps.items() if step.status in finished}
    stopped = [name for name, step in run.steps.items() if step.status not in finished]
    lines = []
    if completed:
        lines.append("completed: " + ", ".join(
            f"{name} (from the cache)" if step.status == ExecutionStatus.CACHED else name
            for name, step in completed.items()
        ))  # fmt: skip
    for name in stopped:
        lines.append(f"stopped:   {name}: {_kept(name, run.steps[name])}")
    reused: dict[str, bool] = {}

    def is_reused(name: str) -> bool:
        if name not in reused:
            reused[name] = False  # a cycle cannot happen in a DAG; this only guards the recursion
            step = completed.get(name)
            reused[name] = (
                step is not None
                and _cacheable(step, run)
                and all(is_reused(upstream) for upstream in step.spec.upstream_steps)
            )
        return reused[name]

    kept = [name for name in completed if is_reused(name)]
    never_cached = [name for name, step in completed.items() if not _cacheable(step, run)]
    after_them = [name for name in completed if name not in kept and name not in never_cached]
    lead = "next run: "
    if kept:
        lines.append(f"{lead} reuses {', '.join(kept)} from ZenML's step cache while their inputs and settings are "
                     "unchanged (not with --no-cache)")  # fmt: skip
        lead = " " * len(lead)
    if never_cached:
        lines.append(f"{lead} runs {', '.join(never_cached)} again (never cached: they read what may have changed)")
        lead = " " * len(lead)
    if after_them:
        lines.append(f"{lead} reuses {', '.join(after_them)} only if the steps they read from (run again) return the "
                     "same as this time")  # fmt: skip
    return lines


def _cacheable(step: Any, run: Any) -> bool:
    step_setting = step.config.enable_cache
    if step_setting is not None:
        return bool(step_setting)
    run_setting = getattr(run.config, "enable_cache", None)
    return run_setting is None or bool(run_setting)


def _kept(name: str, step: Any) -> str:
    output = (step.run_metadata or {}).get(TRAINING_OUTPUT)
    if name.startswith("train_") and output:
        from llm_engineering.application.training.checkpoints import last_checkpoint

        checkpoint = last_checkpoint(Path(str(output)))
        if checkpoint is None:
            return f"no checkpoint was saved yet; the next run trains it from its first step (in {output})"
        return f"the next run resumes it from {Path(checkpoint).name} ({checkpoint})"
    return KEPT_WHEN_STOPPED.get(name, "nothing of it is kept; the next run runs it again")
