"""lm-evaluation-harness on a model already in memory, and the check that its tasks can run here before any model
loads.

A task runs offline when its data is local: a shipped task (`llm_engineering/lm_eval_tasks/`, which reads a file of
this repository), one with local data files, or a Hub dataset already in the Hugging Face cache. While
HF_HUB_OFFLINE or HF_DATASETS_OFFLINE is set, any other task would fail a minute into the run, after the models
trained; `task_problems` names it first. Scores come back typed: `LmEvalScore` per (task, metric, filter), named
`lm_eval/<task>/<metric>` in reports and promotion gates (`<metric>_<filter>` for a filter other than lm-eval's
default `none`).
"""

from __future__ import annotations

import difflib
import logging
import os
import time
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from llm_engineering.domain.config.evaluation_blocks import LmEvalConfig

SHIPPED_TASKS_DIR = Path(__file__).resolve().parents[2] / "lm_eval_tasks"
PACKAGED_BUILDERS = {"json", "csv", "parquet", "text", "arrow", "pandas"}  # datasets' builders for local files
_TRUE = {"1", "ON", "YES", "TRUE"}


class LmEvalTaskError(ValueError):
    """lm-eval tasks that cannot run here: `problems` pairs each task's index in `evaluation.lm_eval.tasks` with why."""

    def __init__(self, problems: list[tuple[int, str]]):
        self.problems = problems
        super().__init__("; ".join(f"evaluation.lm_eval.tasks.{index}: {problem}" for index, problem in problems))


class LmEvalScore(BaseModel):
    task: str
    metric: str  # lm-eval's metric name (acc, acc_norm, exact_match, ...)
    filter: str = "none"  # lm-eval's filter pipeline the metric was computed after
    value: float
    stderr: float | None = None
    samples: int = Field(0, description="docs scored (after `limit`)")

    @property
    def name(self) -> str:
        """`<task>/<metric>`: what `lm_eval/` prefixes in report metrics and promotion gates."""
        metric = self.metric if self.filter == "none" else f"{self.metric}_{self.filter}"
        return f"{self.task}/{metric}"


def datasets_offline() -> bool:
    return any(os.environ.get(name, "").upper() in _TRUE for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


def include_paths(config: LmEvalConfig) -> tuple[str, ...]:
    return (str(SHIPPED_TASKS_DIR), *(str(path) for path in config.include_path))


@lru_cache(maxsize=4)
def task_manager(paths: tuple[str, ...], defaults: bool) -> Any:
    """lm-eval's task index over our folders (and its own ~15k task YAMLs with `defaults`: seconds to build)."""
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=list(paths), include_defaults=defaults)


def manager_for(config: LmEvalConfig) -> Any:
    """The smallest index that knows every configured task: ours alone unless a task is lm-eval's own."""
    paths = include_paths(config)
    local = task_manager(paths, False)
    if all(task in local.task_index for task in config.tasks):
        return local
    return task_manager(paths, True)


def task_problems(config: LmEvalConfig) -> list[tuple[int, str]]:
    """(index in `tasks`, why it cannot run here) for each task that is unknown, or whose data would need a
    download while offline. Reads task YAMLs and the cache folders only."""
    manager = manager_for(config)
    index = manager.task_index
    offline = datasets_offline()
    problems = []
    for position, name in enumerate(config.tasks):
        if name not in index:
            close = difflib.get_close_matches(name, manager.all_tasks, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            problems.append(
                (
                    position,
                    f"unknown lm-eval task {name!r}: not shipped ({', '.join(shipped_tasks())}), not in "
                    f"evaluation.lm_eval.include_path, nor one of lm-eval's {len(manager.all_tasks)} tasks{hint}",
                )
            )
            continue
        if not offline:
            continue  # online, lm-eval downloads what it needs
        missing = sorted({dataset for dataset in _remote_datasets(name, index, set()) if not _cached(dataset)})
        if missing:
            problems.append(
                (
                    position,
                    f"lm-eval task {name!r} needs {', '.join(missing)} from the Hugging Face Hub, which is not in the "
                    f"local cache while HF_HUB_OFFLINE/HF_DATASETS_OFFLINE is set: download it once online (run the "
                    f"task with lm-eval), or use a shipped task ({', '.join(shipped_tasks())})",
                )
            )
    return problems


def check_tasks(config: LmEvalConfig) -> None:
    """Raises LmEvalTaskError naming each task that cannot run here."""
    problems = task_problems(config)
    if problems:
        raise LmEvalTaskError(problems)


def shipped_tasks() -> list[str]:
    return sorted(task_manager((str(SHIPPED_TASKS_DIR),), False).all_tasks)


def _remote_datasets(name: str, index: dict, seen: set[str]) -> Iterator[str]:
    """The Hub dataset ids a task, group or tag reads (nothing for local data)."""
    if name in seen or name not in index:
        return
    seen.add(name)
    entry = index[name]
    kind = entry.kind.name
    if kind == "TAG":
        for member in sorted(entry.tags):
            yield from _remote_datasets(member, index, seen)
        return
    config = entry.cfg or {}
    if kind == "GROUP":
        members = config.get("task", [])
        for member in members if isinstance(members, list) else [members]:
            if isinstance(member, str):
                yield from _remote_datasets(member, index, seen)
            elif isinstance(member, dict) and "task" in member:
                nested = member["task"]
                if isinstance(nested, str) and nested in index and len(member) == 1:
                    yield from _remote_datasets(nested, index, seen)
                else:
                    yield from _leaf_dataset({**(index[nested].cfg or {}), **member} if nested in index else member)
        return
    yield from _leaf_dataset(config)


def _leaf_dataset(config: dict) -> Iterator[str]:
    if config.get("custom_dataset") is not None or "class" in config:
        return  # a function of the task's own reads its data (ours read files of this repository)
    path = config.get("dataset_path")
    if not isinstance(path, str) or path in PACKAGED_BUILDERS or Path(path).expanduser().is_dir():
        return
    name = config.get("dataset_name")
    yield f"{path} ({name})" if name else path


def _cached(dataset: str) -> bool:
    """Whether `owner/name (config)` is in the datasets cache (prepared) or the Hub cache (downloaded files)."""
    from datasets import config as datasets_config
    from huggingface_hub import constants

    repo, _, rest = dataset.partition(" (")
    name = rest.rstrip(")") or None
    prepared = Path(datasets_config.HF_DATASETS_CACHE) / repo.replace("/", "___")
    if prepared.is_dir() and (name is None or (prepared / name).is_dir()):
        return True
    snapshots = Path(constants.HF_HUB_CACHE) / f"datasets--{repo.replace('/', '--')}" / "snapshots"
    return snapshots.is_dir() and any(snapshots.iterdir())


def run_lm_eval(model: Any, tokenizer: Any, config: LmEvalConfig) -> tuple[list[LmEvalScore], float]:
    """Every configured task on `model` (a loaded causal LM or PEFT model), through lm-eval's HFLM wrapper: the
    scores and the wall time in seconds."""
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM

    started = time.perf_counter()
    logging.getLogger("lm_eval").setLevel(logging.ERROR)  # its warnings about a model passed in, on every model
    model.eval()
    harness_model = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=config.batch_size)
    output = simple_evaluate(
        model=harness_model,
        tasks=list(config.tasks),
        num_fewshot=config.num_fewshot,
        limit=config.limit,
        task_manager=manager_for(config),
        log_samples=False,
        bootstrap_iters=config.bootstrap_iters,
        apply_chat_template=config.apply_chat_template,
        random_seed=config.seed,
        numpy_random_seed=config.seed,
        torch_random_seed=config.seed,
        fewshot_random_seed=config.seed,
        verbosity="ERROR",
    )
    return scores_of(output), time.perf_counter() - started


def scores_of(output: dict[str, Any]) -> list[LmEvalScore]:
    """lm-eval's `results` (`{"task": {"acc,none": 0.5, "acc_stderr,none": 0.1, ...}}`) as typed scores."""
    counts = output.get("n-samples", {})
    scores = []
    for task, values in output["results"].items():
        samples = int(counts.get(task, {}).get("effective", 0))
        for key, value in values.items():
            metric, comma, filter_name = key.partition(",")
            if not comma or "_stderr" in metric or isinstance(value, bool) or not isinstance(value, int | float):
                continue
            stderr = values.get(f"{metric}_stderr,{filter_name}")
            scores.append(
                LmEvalScore(
                    task=task,
                    metric=metric,
                    filter=filter_name,
                    value=float(value),
                    stderr=float(stderr) if isinstance(stderr, int | float) else None,
                    samples=samples,
                )
            )
    return scores
