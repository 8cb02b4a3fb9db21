"""Does training help? Runs the training pipeline on the default config (needs the feature pipeline's datasets)
and prints: held-out loss SFT/base (target <= 0.8), DPO reward accuracy on held-out pairs (target >= 0.75),
and the pipeline's wall time.

    make run-feature-pipeline && make bench-efficacy
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "training.yaml"
LOSS_RATIO_TARGET = 0.8
REWARD_ACCURACY_TARGET = 0.75


def main() -> int:
    import yaml
    from zenml.client import Client

    cli = Path(sys.executable).with_name("llm-engineering")
    started = time.perf_counter()
    completed = subprocess.run([str(cli), "run", "training", "--config", str(CONFIG), "--no-cache"], cwd=ROOT)
    wall_s = time.perf_counter() - started
    if completed.returncode != 0:
        print(f"training pipeline failed (exit {completed.returncode}) after {wall_s:.0f}s")
        return completed.returncode
    model_name = yaml.safe_load(CONFIG.read_text())["model"]["name"]
    metrics = Client().get_model_version(model_name).run_metadata
    loss_ratio = metrics["sft_eval_loss"] / metrics["base_eval_loss"]
    accuracy = metrics.get("dpo_reward_accuracy")
    print(
        f"held-out loss  base {metrics['base_eval_loss']:.4f}  sft {metrics['sft_eval_loss']:.4f}  "
        f"dpo {metrics.get('dpo_eval_loss', float('nan')):.4f}"
    )
    print(
        f"SFT/base held-out loss ratio: {loss_ratio:.3f} (target <= {LOSS_RATIO_TARGET}) "
        f"{'PASS' if loss_ratio <= LOSS_RATIO_TARGET else 'MISS'}"
    )
    if accuracy is not None:
        print(
            f"DPO reward accuracy vs SFT: {accuracy:.3f} (target >= {REWARD_ACCURACY_TARGET}) "
            f"{'PASS' if accuracy >= REWARD_ACCURACY_TARGET else 'MISS'}; margin {metrics['dpo_reward_margin']:.4f}"
        )
    print(f"training pipeline wall time: {wall_s:.0f}s (target <= 600s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
