"""Can the judges tell a good sample from a bad one? ROC-AUC of each jury member and of the jury, side by side.

    make bench-quality [ARGS="--articles 8 --limit 60"]

1. Runs the feature pipeline (the default config: local SmolLM2, backtranslation) on a subset of sample_corpus in a
   fresh data dir and ZenML store, and takes the published instruction dataset's samples as the "good" ones (they are
   what the pipeline keeps today: some are themselves poor, so AUC has a ceiling below 1).
2. Builds a labelled set: every good sample, plus one corrupted copy of each per corruption:
   - swapped: the answer of another sample (another document where there is one);
   - other_document: a passage of another document as the answer;
   - truncated: the answer cut at 40% of its words, mid-sentence;
   - repetition: the answer's first words looped (degenerate generation).
3. Scores every sample with each member (their `kind`s: an LLM judge with the Handbook's accuracy/style rubric and one
   with the 1-5 grounded rubric, both the local SmolLM2; embedding relevance; instruction-following difficulty;
   a reward model folder with --reward-model) and the jury (their mean, median and majority), through the same
   `Jury` the judge curation stage uses, and prints ROC-AUC (good = 1), unjudged counts, seconds and $ per 1k samples.
   An unjudged sample gets the member's median score for the AUC, and is counted.
4. Calibrates the jury's weights (application/judging/calibration.py) on half the labelled set and reads its ROC-AUC on
   the other half, against the best single member on that half: the weights to put in the jury's YAML.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "feature_engineering.yaml"
CORRUPTIONS = ("swapped", "other_document", "truncated", "repetition")


def build_samples(workdir: Path, articles: int) -> list:
    corpus = workdir / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    for path in sorted((ROOT / "sample_corpus" / "articles").iterdir())[:articles]:
        shutil.copy(path, corpus / path.name)
    cli = Path(sys.executable).with_name("llm-engineering")
    settings = [f"crawl.sources=[{{name: articles, type: folder, path: '{corpus}'}}]", f"qdrant.path={workdir / 'q'}"]
    started = time.perf_counter()
    log = workdir / "feature_pipeline.log"
    command = [
        str(cli),
        "run",
        "feature_engineering",
        "--config",
        str(CONFIG),
        *sum((["--set", s] for s in settings), []),
    ]
    with log.open("w") as output:
        completed = subprocess.run(command, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT)
    if completed.returncode != 0:
        raise SystemExit(f"the feature pipeline failed (exit {completed.returncode}):\n{log.read_text()[-3000:]}")
    print(f"feature pipeline on {articles} articles: {time.perf_counter() - started:.0f} s")
    return stored_samples()


def stored_samples() -> list:
    """The latest instruction_dataset version in the ZenML store (ZENML_CONFIG_PATH)."""
    from zenml.client import Client

    from llm_engineering.application.dataset_publication import from_dataset_dict

    dataset = Client().get_artifact_version("instruction_dataset").load()
    return [s for split in from_dataset_dict(dataset, "instruction").values() for s in split]


def corrupt(samples: list, seed: int) -> list[tuple[object, int, str]]:
    """(sample, label, corruption) rows: every good sample and one copy per corruption."""
    from llm_engineering.application.judging.members import JudgeItem

    rng = random.Random(seed)
    rows: list[tuple[object, int, str]] = []
    for sample in samples:
        item = JudgeItem(
            question=sample.instruction, answer=sample.answer, context=sample.extract, key=sample.sample_id
        )
        rows.append((item, 1, "good"))
        others = [s for s in samples if s.document_id != sample.document_id] or [s for s in samples if s is not sample]
        other = rng.choice(others)
        words = sample.answer.split()
        bad = {
            "swapped": other.answer,
            "other_document": other.extract[: max(len(sample.answer), 200)],
            "truncated": " ".join(words[: max(2, int(len(words) * 0.4))]),
            "repetition": " ".join((words[:4] or ["the"]) * 12),
        }
        for name, answer in bad.items():
            rows.append((JudgeItem(item.question, answer, context=item.context, key=f"{item.key}:{name}"), 0, name))
    return rows


def members(reward_model: Path | None) -> list[dict]:
    local = {"temperature": 0.0, "max_new_tokens": 48, "batch_size": 8}
    listed = [
        {"kind": "llm", "name": "smollm2_accuracy_style", "rubric": "accuracy_style", "llm": local},
        {"kind": "llm", "name": "smollm2_grounded", "rubric": "grounded", "max_new_tokens": 8, "llm": local},
        {"kind": "embedding_relevance", "name": "embedding_relevance"},
        {"kind": "instruction_following_difficulty", "name": "ifd"},
        {"kind": "well_formed", "name": "well_formed"},
    ]
    if reward_model is not None:
        listed.append({"kind": "reward_model", "name": "reward_model", "folder": str(reward_model)})
    return listed


def auc(labels: list[int], scores: list[float | None]) -> tuple[float, int]:
    from sklearn.metrics import roc_auc_score

    known = sorted(s for s in scores if s is not None)
    neutral = known[len(known) // 2] if known else 0.5
    filled = [neutral if s is None else s for s in scores]
    return float(roc_auc_score(labels, filled)), sum(s is None for s in scores)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--articles", type=int, default=8, help="sample_corpus articles the pipeline generates from")
    parser.add_argument("--limit", type=int, default=60, help="good samples used (each gets 4 corrupted copies)")
    parser.add_argument("--reward-model", type=Path, default=None, help="a reward model folder to add as a member")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--members", default=None, help="comma-separated member names to run (default: all), e.g. "
        "embedding_relevance,ifd for the cheap scorers only"
    )  # fmt: skip
    parser.add_argument(
        "--workdir", type=Path, default=None, help="keep the data dir, ZenML store and LLM cache here (a rerun reuses "
        "them: no repeated generation); default: a temp folder, removed afterwards"
    )  # fmt: skip
    parser.add_argument(
        "--samples-from-store", action="store_true", help="skip the feature run: take the latest instruction_dataset "
        "of the store in --workdir (e.g. a `make run-feature-pipeline` store)"
    )  # fmt: skip
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-quality-"))
    os.environ.update(
        LLM_ENGINEERING_DATA_DIR=str(workdir / "data"), ZENML_CONFIG_PATH=str(workdir / "zenml"),
        ZENML_ANALYTICS_OPT_IN="false",
    )  # fmt: skip
    if (ROOT / "data" / "models").is_dir() and not (workdir / "data" / "models").exists():
        shutil.copytree(ROOT / "data" / "models", workdir / "data" / "models")
    from llm_engineering.application.judging.calibration import cross_validated
    from llm_engineering.application.judging.jury import Jury
    from llm_engineering.domain.config.judging import JuryConfig

    samples = stored_samples() if args.samples_from_store else build_samples(workdir, args.articles)
    random.Random(args.seed).shuffle(samples)
    rows = corrupt(samples[: args.limit], args.seed)
    items, labels = [row[0] for row in rows], [row[1] for row in rows]
    chosen = members(args.reward_model)
    if args.members:
        chosen = [m for m in chosen if m["name"] in args.members.split(",")]
    config = JuryConfig(members=chosen, quorum=1, max_unjudged_fraction=1.0)
    jury = Jury(config)
    verdicts = jury.judge(items, check=False)
    report = jury.report()
    per_member = {
        m.name: [v.members[m.name].score if v.members[m.name] else None for v in verdicts] for m in jury.members
    }

    good = sum(labels)
    print(f"\n## Judges on {good} good samples + {len(rows) - good} corrupted copies\n")
    print("| scorer | kind | ROC-AUC | unjudged | seconds per 1k samples | $ per 1k samples |")
    print("|---|---|---:|---:|---:|---:|")
    best = 0.0
    for member in report.members:
        value, unjudged = auc(labels, per_member[member.name])
        best = max(best, value)
        seconds = member.seconds / len(rows) * 1000
        print(f"| {member.name} | {member.kind} | {value:.3f} | {unjudged} | {seconds:.0f} | "
              f"{member.cost_per_1k_samples_usd:.4f} |")  # fmt: skip
    for aggregate in ("mean", "median", "majority"):
        combined = Jury(config.model_copy(update={"aggregate": aggregate}), members=jury.members)
        scores = [combined.aggregate(v.members) for v in verdicts]  # the same verdicts, combined another way
        value, unjudged = auc(labels, scores)
        mark = "PASS" if value >= best else "MISS"
        print(f"| jury ({aggregate}) | jury | {value:.3f} | {unjudged} | – | – |  {mark} vs best member {best:.3f}")
    # Weights fit on half the labelled set, read on the other half (a good sample and its 4 copies stay together).
    folds = [index // (1 + len(CORRUPTIONS)) % 2 for index in range(len(rows))]
    calibration = cross_validated(labels, per_member, folds)
    mark = "PASS" if calibration.heldout_jury_auc >= calibration.heldout_best_member_auc else "MISS"
    print(f"| jury (mean, calibrated weights) | jury | {calibration.heldout_jury_auc:.3f} held out | – | – | – |  "
          f"{mark} vs best member held out {calibration.heldout_best_member_auc:.3f}")  # fmt: skip
    fitted = ", ".join(f"{m.name}: {m.weight:g}" for m in calibration.members)
    print(f"\ncalibrated weights (fit on all {len(rows)} labels; `weight:` per member, 0: leave it out): {fitted}")
    print("\nper corruption (ROC-AUC of good vs that corruption):\n")
    print("| scorer | " + " | ".join(CORRUPTIONS) + " |\n|---|" + "---:|" * len(CORRUPTIONS))
    kinds = [row[2] for row in rows]
    for name, scores in {**per_member, "jury (mean)": [v.score for v in verdicts]}.items():
        cells = []
        for corruption in CORRUPTIONS:
            chosen = [i for i, k in enumerate(kinds) if k in ("good", corruption)]
            cells.append(f"{auc([labels[i] for i in chosen], [scores[i] for i in chosen])[0]:.3f}")
        print(f"| {name} | " + " | ".join(cells) + " |")
    alpha = report.krippendorff_alpha
    pairs = ", ".join(f"{k} {v if v is None else round(v, 2)}" for k, v in report.pairwise_spearman.items())
    print(f"\nagreement: Krippendorff's alpha {alpha if alpha is None else round(alpha, 3)}; Spearman {pairs}")
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
