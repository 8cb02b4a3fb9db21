"""What a validated config runs with (`llm-engineering validate --show`): every value with the defaults filled in
and the `--set` overrides applied, and where each per-task generation setting comes from."""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import BaseModel

from llm_engineering.domain.config.curation_stages import JudgeStage
from llm_engineering.domain.config.dataset_generation import BACKTRANSLATION_QUESTION_TOKENS, DatasetGenerationConfig
from llm_engineering.domain.config.evolution_stage import EvolInstructStage
from llm_engineering.domain.config.judging import LlmMember


def effective_values(parameters: BaseModel) -> dict[str, Any]:
    """`{"parameters": ...}` as the pipeline receives them; a per-task setting left out shows the value it takes."""
    values = parameters.model_dump(mode="json")
    datasets = getattr(parameters, "datasets", None)
    if isinstance(datasets, DatasetGenerationConfig):
        for field, value, _ in datasets.generation_settings():
            task, name = field.split(".", 1)
            values["datasets"][task][name] = value
    return {"parameters": values}


def generation_setting_lines(parameters: BaseModel) -> list[str]:
    """`datasets.<field> = <value>   <where it comes from>` for each LLM token budget of the feature pipeline: the
    tasks (a value left out comes from datasets.llm), evol_instruct stages and LLM judges (their own fields)."""
    datasets = getattr(parameters, "datasets", None)
    if not isinstance(datasets, DatasetGenerationConfig):
        return []
    rows = [
        (f"datasets.{field} = {value}", f"from datasets.{source}")
        for field, value, source in datasets.generation_settings()
    ]
    if datasets.instructions.mode == "backtranslation":
        cap = BACKTRANSLATION_QUESTION_TOKENS
        rows[0] = (rows[0][0], f"{rows[0][1]}; backtranslation questions take at most {cap}")
    if datasets.preferences.strategy == "judge_ranked" and datasets.preferences.jury is None:
        rows.append(("datasets.preferences judge verdicts = 8 tokens", "built in (the default judge: prompts.judge)"))
    juries = [("preferences.jury", datasets.preferences.jury)] if datasets.preferences.jury else []
    for index, stage in enumerate(datasets.curation.stages):
        where = f"curation.stages.{index}"
        if isinstance(stage, EvolInstructStage):
            llm = "its own llm" if stage.llm is not None else "datasets.llm"
            for name in ("instruction_max_new_tokens", "max_new_tokens"):
                rows.append(
                    (f"datasets.{where}.{name} = {getattr(stage, name)}", f"the stage's own (answered by {llm})")
                )
        elif isinstance(stage, JudgeStage):
            juries.append((f"{where}.jury", stage.jury))
    for where, jury in juries:
        for index, member in enumerate(jury.members):
            if isinstance(member, LlmMember):
                if member.max_new_tokens is not None:
                    rows.append((f"datasets.{where}.members.{index}.max_new_tokens = {member.max_new_tokens}",
                                 "the member's own (overrides its llm.max_new_tokens)"))  # fmt: skip
                else:
                    rows.append((f"datasets.{where}.members.{index}.max_new_tokens = {member.llm.max_new_tokens}",
                                 "from its llm.max_new_tokens (max_new_tokens not set)"))  # fmt: skip
    width = max(len(setting) for setting, _ in rows)
    return [f"{setting:<{width}}   {source}" for setting, source in rows]


def render_effective(parameters: BaseModel) -> str:
    """The effective values as YAML, then the generation settings' precedence."""
    text = yaml.safe_dump(effective_values(parameters), sort_keys=False, allow_unicode=True, width=120)
    lines = generation_setting_lines(parameters)
    if lines:
        text += (
            "\n# token budgets: a per-task value (datasets.instructions.*, datasets.preferences.*) overrides\n"
            "# datasets.llm's when it is set; left out, the task takes datasets.llm's. Stages and judges have\n"
            "# their own.\n"
        )
        text += "".join(f"#   {line}\n" for line in lines)
    return text
