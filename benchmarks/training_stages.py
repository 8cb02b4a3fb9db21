"""The training stages on SmolLM2-135M with the sample corpus's datasets: what each one achieves, and what it costs.

Parts (`--parts`, in this order, cheapest first):

- complete_preferences: a preference DatasetDict folder rebuilt from the feature run's own generations, for when its
  preference_dataset is too small (SmolLM2-135M rarely stops within preferences.max_new_tokens, and a pair whose
  rejected answer was cut off is dropped): every pair of the latest `generated_preferences`, kept or dropped as
  'rejected answer truncated', with the cut-off rejected answer trimmed to its last complete sentence (no
  mid-sentence ending to learn from), chosen = the instruction sample's grounded answer, split as the instruction
  dataset (by document). Later parts then use it instead of the artifact.
- reward_model: the reward_model stage of configs/training-rlhf.yaml from the base model; held-out pairwise accuracy
  (target >= 0.8) and its wall time.
- sft: that config's sft stage (the same as configs/training.yaml's), for grpo to start from.
- grpo: from that sft model (or --sft-dir), the config's grpo stage (grounding + reward-model rewards, scored by
  the reward model trained above, or --reward-model-dir): the mean held-out reward of greedy answers before vs
  after (target >= +20% relative), and the held-out loss of the GRPO policy against the SFT model's (target: at
  most 5% worse), measured as the evaluation step measures it; the wall time of each stage.
- pipelines: `llm-engineering run training` of configs/training.yaml (target <= 600 s on 2 cores) and of
  configs/training-rlhf.yaml, each in a fresh data dir (no stage folder to resume from, ZenML cache off): wall time
  and each step's time as ZenML recorded it, with the stage metrics the run logged.

The datasets: the latest `instruction_dataset` / `preference_dataset` artifacts of this ZenML store (what `make
run-feature-pipeline` publishes), or saved DatasetDict folders (--instruction-path / --preference-path).

    make bench-training-stages                       # all parts
    make bench-training-stages ARGS="--parts reward_model --set stages.1.optimization.learning_rate=3e-4"
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from datetime import UTC
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the pipeline's steps and configs, when run as a script

RLHF_CONFIG = ROOT / "configs" / "training-rlhf.yaml"
DEFAULT_CONFIG = ROOT / "configs" / "training.yaml"
REWARD_ACCURACY_TARGET = 0.8
REWARD_GAIN_TARGET = 0.20  # relative: (after - before) / |before|
LOSS_SLACK = 0.05  # GRPO's held-out loss at most 5% above the SFT model's
PIPELINE_SECONDS_TARGET = 600


def load_parameters(path: Path, overrides: list[str]) -> Any:
    from llm_engineering.application.run_config import load_run_config
    from llm_engineering.domain.config.training import TrainingParameters

    return load_run_config(path, TrainingParameters, overrides).parameters


def load_datasets(args: argparse.Namespace) -> tuple[Any, Any, dict[str, str]]:
    """The instruction and preference DatasetDicts, and where each came from."""
    from datasets import load_from_disk

    found, origin = [], {}
    for name, path in (("instruction_dataset", args.instruction_path), ("preference_dataset", args.preference_path)):
        if path is not None:
            found.append(load_from_disk(str(path)))
            origin[name] = f"folder {path}"
            continue
        from llm_engineering.infrastructure.zenml.artifacts import find_artifact_version

        version = find_artifact_version(name, None)
        if version is None:
            raise SystemExit(f"no {name} artifact in this ZenML store: run `make run-feature-pipeline` first")
        found.append(version.load())
        origin[name] = f"artifact {name} version {version.version} ({version.id})"
    return found[0], found[1], origin


SENTENCE_END = re.compile(r"[.!?](?=\s|$)")


def complete_preferences_part(work: Path, results: dict) -> Path:
    from datasets import Dataset, DatasetDict
    from zenml.client import Client

    client = Client()
    generated = client.get_artifact_version("generated_preferences")
    instructions = client.get_artifact_version("instruction_dataset")
    pairs, dataset = generated.load(), instructions.load()
    rows = {row["sample_id"]: (split, row) for split in dataset for row in dataset[split]}
    split_of_document = {row["document_id"]: split for split, row in rows.values()}
    columns = ("sample_id", "prompt", "chosen", "rejected", "document_id", "source", "extract")
    built: dict[str, list[dict]] = {"train": [], "test": []}
    no_sentence = 0
    for pair in pairs.samples:  # complete already
        row = pair.model_dump()
        built[split_of_document.get(pair.document_id, "train")].append({key: row[key] for key in columns})
    for removed in pairs.dropped:
        if removed.reason != "rejected answer truncated" or removed.matched not in rows:
            continue
        split, sample = rows[removed.matched]
        rejected = removed.text.removeprefix(sample["instruction"] + "\n")
        ends = list(SENTENCE_END.finditer(rejected))
        if not ends:
            no_sentence += 1
            continue
        built[split].append(
            {
                "sample_id": removed.sample_id,
                "prompt": sample["instruction"],
                "chosen": sample["answer"],
                "rejected": rejected[: ends[-1].end()].strip(),
                "document_id": sample["document_id"],
                "source": sample["source"],
                "extract": sample["extract"],
            }
        )
    folder = work / "complete_preferences"
    splits = {split: Dataset.from_list(split_rows) for split, split_rows in built.items()}
    DatasetDict(splits).save_to_disk(str(fresh(folder)))
    results["complete_preferences"] = {
        "folder": str(folder),
        "generated_preferences": generated.version,
        "instruction_dataset": instructions.version,
        "kept_by_the_pipeline": len(pairs.samples),
        "rebuilt_from_truncated": sum(len(split_rows) for split_rows in built.values()) - len(pairs.samples),
        "dropped_without_a_complete_sentence": no_sentence,
        "splits": {split: len(rows) for split, rows in built.items()},
    }
    print(f"complete_preferences: {json.dumps(results['complete_preferences'])}", flush=True)
    return folder


def stage_of(parameters: Any, kind: str) -> Any:
    return next(stage for stage in parameters.stages if stage.kind == kind)


def fresh(folder: Path) -> Path:
    """An empty folder: a benchmark run never resumes an earlier one's checkpoints."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return folder


CPU_SECONDS: dict[str, float] = {}  # label -> CPU seconds of this process (all threads), beside the wall time


def timed(label: str, function: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    """The result and the wall time; the CPU time goes to CPU_SECONDS (on a shared machine the wall time is an upper
    bound, and CPU seconds / 2 a rough floor for a quiet 2-core one)."""
    started, cpu_started = time.perf_counter(), time.process_time()
    result = function(*args, **kwargs)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    CPU_SECONDS[label] = cpu
    print(f"[{label}] {seconds:.1f} s wall, {cpu:.1f} s CPU, load average {os.getloadavg()[0]:.1f}", flush=True)
    return result, seconds


def held_out_loss_of(model_dir: Path, instruction_dataset: Any, parameters: Any) -> float:
    """The evaluation step's held-out loss (assistant tokens of the first `evaluation.loss_samples` test samples,
    the sft stage's max_length)."""
    from transformers import AutoTokenizer

    from llm_engineering.application.evaluation.likelihood import held_out_loss
    from llm_engineering.application.training.data_preparation import build_sft_dataset, cap
    from llm_engineering.infrastructure.causal_lm import load_trained_model

    evaluation, base = parameters.evaluation, parameters.base_model
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    split = cap(instruction_dataset["test"], evaluation.loss_samples)
    rows = list(build_sft_dataset(split, tokenizer, stage_of(parameters, "sft").max_length, True, "test"))
    model = load_trained_model(model_dir, base.dtype, "cpu", attn_implementation=base.attn_implementation)
    return held_out_loss(model, rows, tokenizer.pad_token_id, evaluation.batch_size)[0]


def reward_model_part(parameters: Any, preferences: Any, work: Path, results: dict) -> Path:
    from llm_engineering.application.training.reward_model import train_reward_model

    stage, base = stage_of(parameters, "reward_model"), parameters.base_model
    trained, seconds = timed(
        "reward_model", train_reward_model, base.name, preferences, base, stage, fresh(work / "reward_model")
    )
    metrics = trained.metrics
    accuracy = metrics["reward_accuracy"]
    results["reward_model"] = {
        "seconds": seconds,
        "reward_accuracy": accuracy,
        "reward_margin": metrics["reward_margin"],
        "train_pairs": metrics["train_pairs"],
        "test_pairs": metrics["test_pairs"],
        "steps": stage.optimization.max_steps,
        "learning_rate": stage.optimization.learning_rate,
        "adapter": stage.adapter.model_dump(include={"method", "r", "alpha"}),
    }
    verdict = "PASS" if accuracy >= REWARD_ACCURACY_TARGET else "MISS"
    print(
        f"reward model held-out pairwise accuracy: {accuracy:.3f} on {metrics['test_pairs']} pairs "
        f"(target >= {REWARD_ACCURACY_TARGET}) {verdict}; margin {metrics['reward_margin']:.3f}; "
        f"{metrics['train_pairs']} train pairs; {seconds:.0f} s",
        flush=True,
    )
    return trained.model_dir


def sft_part(parameters: Any, instructions: Any, work: Path, results: dict) -> Path:
    from llm_engineering.application.training.sft import train_sft

    stage, base = stage_of(parameters, "sft"), parameters.base_model
    sft, seconds = timed("sft", train_sft, instructions, base, stage, fresh(work / "sft"), backend="trl")
    results["sft"] = {"seconds": seconds, "model_dir": str(sft.model_dir), "eval_loss": sft.metrics["eval_loss"]}
    return sft.model_dir


def grpo_part(
    parameters: Any, instructions: Any, work: Path, reward_model_dir: Path, sft_dir: Path | None, results: dict
) -> None:
    from llm_engineering.application.training.online_rl import train_online_rl

    base = parameters.base_model
    if sft_dir is None:
        sft_dir = sft_part(parameters, instructions, work, results)
    grpo_stage = stage_of(parameters, "grpo")
    grpo, grpo_seconds = timed(
        "grpo", train_online_rl, sft_dir, instructions, base, grpo_stage, fresh(work / "grpo"),
        reward_context={"reward_model_dir": str(reward_model_dir)},
    )  # fmt: skip
    metrics = grpo.metrics
    before, after = metrics["heldout_reward_before"], metrics["heldout_reward_after"]
    gain = (after - before) / abs(before) if before else float("inf")
    (sft_loss, _), (grpo_loss, _) = (
        timed("held-out loss sft", held_out_loss_of, sft_dir, instructions, parameters),
        timed("held-out loss grpo", held_out_loss_of, grpo.model_dir, instructions, parameters),
    )
    rewards = [spec.name for spec in grpo_stage.rewards]
    results["grpo"] = {
        "sft_dir": str(sft_dir),
        "grpo_seconds": grpo_seconds,
        "rewards": {spec.name: spec.weight for spec in grpo_stage.rewards},
        "heldout_prompts": metrics["heldout_prompts"],
        "heldout_reward_before": before,
        "heldout_reward_after": after,
        "relative_gain": gain,
        **{
            f"heldout_{name}_{when}": metrics[f"heldout_{name}_{when}"]
            for name in rewards
            for when in ("before", "after")
        },
        "sft_heldout_loss": sft_loss,
        "grpo_heldout_loss": grpo_loss,
        "steps": grpo_stage.optimization.max_steps,
        "learning_rate": grpo_stage.optimization.learning_rate,
        "num_generations": grpo_stage.num_generations,
        "max_completion_length": grpo_stage.max_completion_length,
    }
    per_reward = ", ".join(
        f"{name} {metrics[f'heldout_{name}_before']:.3f} -> {metrics[f'heldout_{name}_after']:.3f}" for name in rewards
    )
    print(
        f"GRPO mean held-out reward (weighted, {int(metrics['heldout_prompts'])} prompts, greedy): {before:.4f} -> "
        f"{after:.4f}, {gain:+.1%} (target >= +{REWARD_GAIN_TARGET:.0%}) "
        f"{'PASS' if gain >= REWARD_GAIN_TARGET else 'MISS'}; per reward: {per_reward}",
        flush=True,
    )
    ratio = grpo_loss / sft_loss
    print(
        f"held-out loss SFT {sft_loss:.4f}, GRPO {grpo_loss:.4f}: GRPO/SFT {ratio:.3f} (target <= {1 + LOSS_SLACK}) "
        f"{'PASS' if ratio <= 1 + LOSS_SLACK else 'MISS'}",
        flush=True,
    )


def pipeline_part(config: Path, overrides: list[str], work: Path, results: dict) -> None:
    """One `llm-engineering run training` in a fresh data dir (the converted base model linked in)."""
    from zenml.client import Client

    from llm_engineering.infrastructure.base_model import smollm2_folder

    data_dir = fresh(work / f"pipeline-{config.stem}" / "data")
    models = smollm2_folder().parent  # converted once, in the user's data dir
    (data_dir / "models").symlink_to(models, target_is_directory=True)
    environment = {**os.environ, "LLM_ENGINEERING_DATA_DIR": str(data_dir)}
    cli = Path(sys.executable).with_name("llm-engineering")
    command = [str(cli), "run", "training", "--config", str(config), "--no-cache"]
    for override in overrides:
        command += ["--set", override]
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=ROOT, env=environment)
    seconds = time.perf_counter() - started
    entry: dict[str, Any] = {"seconds": seconds, "exit_code": completed.returncode, "command": " ".join(command[1:])}
    results.setdefault("pipelines", {})[config.name] = entry
    if completed.returncode != 0:
        print(f"{config.name}: failed (exit {completed.returncode}) after {seconds:.0f} s", flush=True)
        return
    run = Client().get_pipeline("training").last_run
    entry["run"] = run.name
    entry["steps"] = {
        name: (step.end_time - step.start_time).total_seconds()
        for name, step in run.steps.items()
        if step.start_time is not None and step.end_time is not None
    }
    entry["metrics"] = {
        key: value
        for name, step in run.steps.items()
        if name.startswith("train_")
        for key, value in step.run_metadata.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }
    steps = ", ".join(f"{name} {value:.0f} s" for name, value in entry["steps"].items())
    target = f" (target <= {PIPELINE_SECONDS_TARGET} s)" if config == DEFAULT_CONFIG else ""
    print(f"{config.name}: {seconds:.0f} s wall time{target}; steps: {steps}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--parts", default="reward_model,sft,grpo,pipelines", help="comma-separated: complete_preferences, "
        "reward_model, sft, grpo, pipelines"
    )  # fmt: skip
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="override in the rlhf config")
    parser.add_argument("--instruction-path", type=Path, help="a saved instruction DatasetDict instead of the artifact")
    parser.add_argument("--preference-path", type=Path, help="a saved preference DatasetDict instead of the artifact")
    parser.add_argument("--sft-dir", type=Path, help="grpo: start from this trained sft folder instead of training one")
    parser.add_argument("--reward-model-dir", type=Path, help="grpo: this reward model folder instead of training one")
    parser.add_argument("--pipelines", default=f"{DEFAULT_CONFIG.name},{RLHF_CONFIG.name}", help="configs/ files")
    parser.add_argument("--work-dir", type=Path, help="default: <data dir>/benchmarks/training_stages")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    from datetime import datetime

    from llm_engineering.settings import get_settings

    parts = [part.strip() for part in args.parts.split(",") if part.strip()]
    work = args.work_dir or get_settings().path("benchmarks", "training_stages")
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average": os.getloadavg(),
        "cpus": os.cpu_count(),
        "overrides": args.overrides,
    }
    if "complete_preferences" in parts:
        args.preference_path = complete_preferences_part(work, results)
    if {"reward_model", "sft", "grpo"} & set(parts):
        parameters = load_parameters(RLHF_CONFIG, args.overrides)
        instructions, preferences, origin = load_datasets(args)
        results["datasets"] = {
            **origin,
            "instruction_splits": {split: len(instructions[split]) for split in instructions},
            "preference_splits": {split: len(preferences[split]) for split in preferences},
        }
        print(f"datasets: {json.dumps(results['datasets'])}", flush=True)
        reward_model_dir = args.reward_model_dir
        if "reward_model" in parts or ("grpo" in parts and reward_model_dir is None):
            reward_model_dir = reward_model_part(parameters, preferences, work, results)
        sft_dir = args.sft_dir
        if "sft" in parts:
            sft_dir = sft_part(parameters, instructions, work, results)
        if "grpo" in parts:
            grpo_part(parameters, instructions, work, reward_model_dir, sft_dir, results)
    if "pipelines" in parts:
        # A preference folder (complete_preferences, --preference-path) replaces the artifact there too.
        overrides = [f"datasets.preference={{path: {args.preference_path}}}"] if args.preference_path else []
        for name in args.pipelines.split(","):
            pipeline_part(ROOT / "configs" / name.strip(), overrides, work, results)
    results["cpu_seconds"] = CPU_SECONDS
    results["load_average_after"] = os.getloadavg()
    print(json.dumps(results, indent=2, default=str))
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
