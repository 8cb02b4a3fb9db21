"""lm-eval and the pairwise win rate as the training pipeline measures them: the shipped `corpus_qa` task on the base,
SFT and DPO models side by side with lm-eval's wall time per model, and the win rate of DPO against the base model
judged by the local SmolLM2 judge (or by an OpenAI-compatible peer endpoint, `--judge-url`), both orders.

It runs, in its own ZenML store and data dir under --workdir (kept: a rerun reuses the feature datasets):
1. `llm-engineering run feature_engineering -c configs/feature_engineering.yaml`, unless the store has datasets;
2. `llm-engineering run training` of configs/training.yaml with `evaluation.lm_eval.tasks: [corpus_qa]` and
   `evaluation.win_rate: {samples: N, against: [base]}` and the judge;
then prints the evaluation report's lm-eval rows and win rate, and writes them as JSON.

    make bench-evaluation                                   # feature + training, local judge, 8 instructions
    make bench-evaluation ARGS="--samples 16 --judge-url http://127.0.0.1:8080/v1 --judge-model qwen"
    make bench-evaluation ARGS="--set stages.0.optimization.max_steps=10"      # a shorter SFT on a busy box
    make bench-evaluation ARGS="--feature-set datasets.extracts.max_extracts=40"   # fewer generated samples
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FEATURE_CONFIG = ROOT / "configs" / "feature_engineering.yaml"
TRAINING_CONFIG = ROOT / "configs" / "training.yaml"


def training_config(work: Path, args: argparse.Namespace) -> Path:
    document = yaml.safe_load(TRAINING_CONFIG.read_text())
    evaluation = document["parameters"].setdefault("evaluation", {})
    evaluation["lm_eval"] = {"tasks": ["corpus_qa"], "limit": args.limit}
    evaluation["win_rate"] = {"samples": args.samples, "against": ["base"]}
    if args.judge_url:
        llm = {"provider": "openai", "base_url": args.judge_url, "model": args.judge_model, "temperature": 0.0}
        member = {"kind": "llm", "name": "peer", "llm": llm, "max_new_tokens": 32}
    else:
        member = {"kind": "llm", "name": "local", "max_new_tokens": 32}  # the bundled SmolLM2-135M
    evaluation["judge"] = {"jury": {"members": [member], "max_unjudged_fraction": 1.0}, "samples": args.judge_samples}
    document["parameters"]["tracking"] = {"comet": False}
    path = work / "training-evaluation.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def run(command: list[str], environment: dict[str, str]) -> float:
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=ROOT, env=environment)
    seconds = time.perf_counter() - started
    if completed.returncode != 0:
        raise SystemExit(f"{' '.join(command[3:5])} failed (exit {completed.returncode}) after {seconds:.0f} s")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=ROOT / "data" / "bench-evaluation")
    parser.add_argument("--samples", type=int, default=8, help="held-out instructions for the win rate")
    parser.add_argument("--limit", type=int, default=None, help="corpus_qa docs per model (default: all 12)")
    parser.add_argument("--judge-samples", type=int, default=2, help="answers per model the judge scores alone")
    parser.add_argument("--judge-url", default=None, help="an OpenAI-compatible judge instead of the local one")
    parser.add_argument("--judge-model", default="judge")
    parser.add_argument("--set", action="append", default=[], help="a training --set override; repeatable")
    parser.add_argument("--feature-set", action="append", default=[], help="a feature --set override; repeatable")
    args = parser.parse_args()

    work = args.workdir.resolve()
    (work / "data").mkdir(parents=True, exist_ok=True)
    environment = {
        **os.environ,
        "ZENML_CONFIG_PATH": str(work / "zenml"),
        "LLM_ENGINEERING_DATA_DIR": str(work / "data"),
        "ZENML_ANALYTICS_OPT_IN": "false",
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
    }
    os.environ.update(environment)  # this process reads the same store
    models = ROOT / "data" / "models"
    if models.is_dir() and not (work / "data" / "models").exists():
        (work / "data" / "models").symlink_to(models, target_is_directory=True)  # the converted SmolLM2, reused
    from zenml.client import Client

    cli = [sys.executable, "-m", "llm_engineering.cli"]  # this tree's code (a copy of the repository runs its own)
    results: dict[str, Any] = {"load_before": os.getloadavg()}
    if not Client().list_artifact_versions(artifact="instruction_dataset", size=1).items:
        feature = [*cli, "run", "feature_engineering", "-c", str(FEATURE_CONFIG)]
        for override in args.feature_set:
            feature += ["--set", override]
        results["feature_seconds"] = run(feature, environment)
        results["feature_overrides"] = args.feature_set
    command = [*cli, "run", "training", "-c", str(training_config(work, args)), "--no-cache"]
    for override in args.set:
        command += ["--set", override]
    results["training_seconds"] = run(command, environment)
    results["training_overrides"] = args.set
    results["load_after"] = os.getloadavg()

    run_ = Client().get_pipeline("training").last_run
    report = run_.steps["evaluate_models"].outputs["evaluation_report"][0].load()
    step = run_.steps["evaluate_models"]
    results["evaluate_models_seconds"] = (step.end_time - step.start_time).total_seconds()
    results["run"] = run_.name
    seconds = results["evaluate_models_seconds"]
    print(f"\ntraining run {run_.name}: {results['training_seconds']:.0f} s; evaluate_models {seconds:.0f} s; "
          f"load {results['load_before']} -> {results['load_after']}")  # fmt: skip
    print("\n| model | held-out loss | corpus_qa acc | acc_norm | lm-eval wall s |\n|---|---|---|---|---|")
    results["models"] = []
    for row in report.scores:
        scores = {score.metric: score for score in row.lm_eval}
        if not scores:
            continue
        acc, norm = scores["acc"], scores["acc_norm"]
        print(f"| {row.model} | {row.eval_loss:.4f} | {acc.value:.3f} ± {acc.stderr or 0:.3f} | {norm.value:.3f} | "
              f"{row.lm_eval_seconds:.1f} |")  # fmt: skip
        lm_eval = [score.model_dump() for score in row.lm_eval]
        results["models"].append(
            {"model": row.model, "eval_loss": row.eval_loss, "lm_eval": lm_eval, "lm_eval_seconds": row.lm_eval_seconds}
        )
    for result in report.win_rates:
        print(f"\nwin rate {result.model} vs {result.opponent_model}: {result.wins}/{result.ties}/{result.losses} "
              f"(win/tie/loss), {result.unjudged} unjudged; win rate {result.win_rate} "
              f"[{result.ci_low}, {result.ci_high}]; flips on swap {result.flip_rate}; first-position preference "
              f"{result.first_position_rate}")  # fmt: skip
    results["win_rates"] = [result.model_dump(exclude={"pairs"}) for result in report.win_rates]
    results["judge"] = report.judge.model_dump() if report.judge is not None else None
    out = work / "results.json"
    out.write_text(json.dumps(results, indent=2, default=str))
    print(f"\nwritten: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
