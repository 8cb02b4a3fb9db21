"""GPU training throughput (issue 4): our SFT path against plain TRL + PEFT, same model, same data, one run.

Prints training tokens/s and peak memory of both arms and the ratios ours/plain (targets: >= 1.5x tokens/s,
<= 0.6x peak memory).

- Model: a randomly initialised Llama (~0.45B parameters: hidden 1024, 24 layers, intermediate 4096, 16 heads)
  with SmolLM2's tokenizer and our ChatML template, saved once to a temp folder; both arms load it from disk.
- Data: one instruction DatasetDict (instruction, answer, messages) of windows of the sample corpus, 100-900
  tokens per conversation (seeded), saved once and loaded by both arms.
- ours: `train_sft` with `configs/training-gpu.yaml`'s first `sft` stage, validated by `TrainingParameters`;
  only max_steps, eval/save/logging steps are overridden (and qlora -> lora, adamw_8bit -> adamw_torch when
  bitsandbytes or CUDA is missing). Backend from `resolve_backend(parameters.backend, ...)`, device from
  `device_for()`.
- plain: TRL `SFTTrainer` + peft `LoraConfig` with the same r/alpha/dropout/target modules, learning rate,
  batch size, gradient accumulation, max_length and steps, on the `messages` column; TRL defaults otherwise
  (no packing, its default gradient checkpointing, bf16 mixed precision on CUDA). The weights are loaded in the
  config's `base_model.dtype`, like ours (TRL alone would load float32 weights).

Each arm trains in its own subprocess, so peak memory is its own: `torch.cuda.max_memory_allocated` at the end
of training (CUDA) or the process's peak RSS (CPU). Tokens are counted the same way in both arms, by a forward
pre-hook on the trained model: the attention mask's sum when the batch has one (padded batches), else every
input id (padding-free packed batches carry no padding). Tokens/s = tokens of the timed steps / their wall time;
the first `--warmup` optimizer steps are excluded.

    make bench-gpu-train [ARGS="--steps 30 --warmup 5"]   # needs a CUDA GPU
    make bench-gpu-train ARGS=--smoke                     # tiny model, 3 steps on CPU: checks the code path
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "training-gpu.yaml"
CORPUS = ROOT / "sample_corpus" / "articles"
TOKENIZER = "bundled:SmolLM2-135M-Instruct"
SPEEDUP_TARGET = 1.5
MEMORY_TARGET = 0.6
ARMS = ("ours", "plain")


@dataclass
class Profile:
    hidden: int
    layers: int
    intermediate: int
    heads: int
    kv_heads: int
    train_samples: int
    test_samples: int
    min_tokens: int
    max_tokens: int
    steps: int
    warmup: int
    dtype: str | None  # None: the config's base_model.dtype
    sft_overrides: dict  # beyond steps/eval/save/logging: smoke only


GPU = Profile(1024, 24, 4096, 16, 16, 2400, 32, 100, 900, 20, 3, None, {})
SMOKE = Profile(
    64, 2, 128, 4, 2, 48, 4, 40, 200, 3, 1, "float32",
    {"max_length": 256, "optimization.per_device_train_batch_size": 2, "optimization.gradient_accumulation_steps": 1},
)  # fmt: skip


# ----------------------------------------------------------------------------------------------- setup (parent)


def sft_parameters(profile: Profile, cuda: bool) -> tuple[dict, list[str]]:
    """The validated `parameters:` of the GPU config with the benchmark's overrides, and notes on each change."""
    from llm_engineering.application.run_config import apply_override, read_yaml
    from llm_engineering.domain.config.training import TrainingParameters

    document = copy.deepcopy(read_yaml(CONFIG))
    raw = document.setdefault("parameters", {})
    # The first sft stage of `stages:` (or the older `sft:` block) is what this benchmark trains.
    stages = raw.get("stages")
    index = next((i for i, stage in enumerate(stages or []) if stage.get("kind") == "sft"), None)
    at = f"stages.{index}" if stages is not None else "sft"
    sft = stages[index] if stages is not None else raw.get("sft", {})
    notes = []
    overrides = {
        f"{at}.optimization.max_steps": profile.steps,
        f"{at}.optimization.eval_steps": None,  # no evaluation inside the timed steps (train_sft evaluates at the end)
        f"{at}.optimization.save_steps": 1_000_000,  # no checkpoint inside the timed steps
        f"{at}.optimization.logging_steps": profile.steps,
    }
    has_bnb = cuda and importlib.util.find_spec("bitsandbytes") is not None
    if sft.get("adapter", {}).get("method") == "qlora" and not has_bnb:
        overrides[f"{at}.adapter.method"] = "lora"
        notes.append("sft.adapter.method qlora -> lora (4-bit QLoRA needs bitsandbytes and CUDA; not both here)")
    if sft.get("optimization", {}).get("optim") in ("adamw_8bit", "paged_adamw_8bit") and not has_bnb:
        overrides[f"{at}.optimization.optim"] = "adamw_torch"
        notes.append("sft.optimization.optim 8-bit -> adamw_torch (needs bitsandbytes and CUDA; not both here)")
    attention = raw.get("base_model", {}).get("attn_implementation", "sdpa")
    if attention.startswith("flash_attention"):
        from llm_engineering.application.training.backends import flash_attention_installed

        if not (cuda and flash_attention_installed(attention)):
            overrides["base_model.attn_implementation"] = "sdpa"
            notes.append(f"base_model.attn_implementation {attention} -> sdpa (not installed here; packing per row)")
    for key, value in profile.sft_overrides.items():
        overrides[f"{at}.{key}"] = value
        notes.append(f"smoke: sft.{key} = {value}")
    if profile.dtype is not None:
        overrides["base_model.dtype"] = profile.dtype
        notes.append(f"smoke: base_model.dtype = {profile.dtype} (CPU)")
    for key, value in overrides.items():
        apply_override(document, key, value)
    parameters = TrainingParameters.model_validate(document["parameters"])
    return parameters.model_dump(mode="json"), notes


def build_model(folder: Path, profile: Profile, dtype: str, max_length: int, cuda: bool) -> tuple[int, object]:
    """Random Llama + SmolLM2 tokenizer (our chat template), saved to `folder`; returns (parameters, tokenizer)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from llm_engineering.application.training.chat_template import apply_chat_template
    from llm_engineering.infrastructure.causal_lm import load_tokenizer

    tokenizer = apply_chat_template(load_tokenizer(TOKENIZER))
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=profile.hidden,
        intermediate_size=profile.intermediate,
        num_hidden_layers=profile.layers,
        num_attention_heads=profile.heads,
        num_key_value_heads=profile.kv_heads,
        max_position_embeddings=max(2048, max_length),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    with torch.device("cuda" if cuda else "cpu"):
        model = LlamaForCausalLM(config)
    model = model.to(getattr(torch, dtype))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    count = sum(parameter.numel() for parameter in model.parameters())
    del model
    if cuda:
        torch.cuda.empty_cache()
    return count, tokenizer


def corpus_token_stream(tokenizer: object) -> list[int]:
    ids: list[int] = []
    for path in sorted(CORPUS.iterdir()):
        text = path.read_text(encoding="utf-8", errors="ignore")
        if path.suffix == ".html":
            text = re.sub(r"<(script|style)\b.*?</\1>", " ", text, flags=re.S)
            text = re.sub(r"<[^>]+>", " ", text)
        ids.extend(tokenizer(re.sub(r"\s+", " ", text).strip(), add_special_tokens=False)["input_ids"])
    return ids


def build_dataset(folder: Path, tokenizer: object, profile: Profile, seed: int = 0) -> dict:
    """Instruction rows whose templated conversations are about min_tokens..max_tokens long; saved to `folder`."""
    from datasets import Dataset, DatasetDict

    stream = corpus_token_stream(tokenizer)
    rng = random.Random(seed)
    overhead = len(
        tokenizer.apply_chat_template(
            [{"role": "user", "content": ""}, {"role": "assistant", "content": ""}], tokenize=True, return_dict=True
        )["input_ids"]
    )

    def window(length: int) -> str:
        start = rng.randrange(max(1, len(stream) - length))
        return tokenizer.decode(stream[start : start + length]).strip()

    def rows(count: int, offset: int) -> list[dict]:
        result = []
        for index in range(offset, offset + count):
            total = rng.randint(profile.min_tokens, profile.max_tokens) - overhead - 8
            prompt = max(4, int(total * rng.uniform(0.1, 0.4)))
            instruction = f"Continue this passage:\n{window(prompt)}"
            answer = window(max(4, total - prompt))
            result.append(
                {
                    "sample_id": f"b{index}",
                    "instruction": instruction,
                    "answer": answer,
                    "messages": [{"role": "user", "content": instruction}, {"role": "assistant", "content": answer}],
                }
            )
        return result

    dataset = DatasetDict(
        {
            "train": Dataset.from_list(rows(profile.train_samples, 0)),
            "test": Dataset.from_list(rows(profile.test_samples, 100_000)),
        }
    )
    dataset.save_to_disk(str(folder))
    lengths = [
        len(tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True)["input_ids"])
        for messages in dataset["train"]["messages"]
    ]
    return {"min": min(lengths), "mean": sum(lengths) / len(lengths), "max": max(lengths)}


# ------------------------------------------------------------------------------------------- measuring (worker)


class Meter:
    """Counts training tokens with a forward pre-hook and times optimizer steps warmup+1..max_steps."""

    def __init__(self, warmup: int) -> None:
        import torch

        self.torch = torch
        self.cuda = torch.cuda.is_available()
        self.warmup = warmup
        self.counted = 0  # ints (padding-free batches) ...
        self.counted_on_device = None  # ... and attention-mask sums, kept on the device: no sync per forward
        self.start: tuple[float, int] | None = None
        self.end: tuple[float, int] | None = None
        self.steps = 0
        self.peak_bytes = 0
        self.trl_num_tokens: float | None = None

    def _count(self, module, args, kwargs) -> None:  # noqa: ANN001
        if not module.training:
            return
        mask = kwargs.get("attention_mask")
        ids = kwargs.get("input_ids", args[0] if args else None)
        positions = kwargs.get("position_ids")
        if mask is None and positions is not None and positions.shape[0] > 1:
            # Our row-packed batches (no mask): padding is the run of position 0s that no position 1 follows.
            restarts = positions == 0
            followed_by_restart = self.torch.cat([restarts[:, 1:], self.torch.ones_like(restarts[:, :1])], dim=1)
            mask = ~(restarts & followed_by_restart)
        if mask is not None:
            total = mask.sum()
            self.counted_on_device = total if self.counted_on_device is None else self.counted_on_device + total
        elif ids is not None:
            self.counted += ids.numel()

    @property
    def tokens(self) -> int:
        on_device = 0 if self.counted_on_device is None else int(self.counted_on_device.item())
        return self.counted + on_device

    def _now(self) -> float:
        if self.cuda:
            self.torch.cuda.synchronize()
        return time.perf_counter()

    def callback(self):  # noqa: ANN201 - a transformers TrainerCallback
        from transformers import TrainerCallback

        meter = self

        class MeterCallback(TrainerCallback):
            def on_train_begin(self, args, state, control, model=None, **kwargs):  # noqa: ANN001, ANN003, ANN201
                model.register_forward_pre_hook(meter._count, with_kwargs=True)
                if meter.warmup == 0:
                    meter.start = (meter._now(), meter.tokens)

            def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001, ANN003, ANN201
                if state.global_step == meter.warmup:
                    meter.start = (meter._now(), meter.tokens)
                if state.global_step == state.max_steps:
                    meter.end = (meter._now(), meter.tokens)
                    meter.steps = state.global_step - meter.warmup

            def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001, ANN003, ANN201
                if logs and "num_tokens" in logs:
                    meter.trl_num_tokens = float(logs["num_tokens"])

            def on_train_end(self, args, state, control, **kwargs):  # noqa: ANN001, ANN003, ANN201
                meter.peak_bytes = meter.peak()

        return MeterCallback

    def peak(self) -> int:
        if self.cuda:
            return int(self.torch.cuda.max_memory_allocated())
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB

    def result(self) -> dict:
        if self.start is None or self.end is None or self.end[1] <= self.start[1]:
            raise RuntimeError(f"no timed steps: start {self.start}, end {self.end}, tokens {self.tokens}")
        seconds = self.end[0] - self.start[0]
        tokens = self.end[1] - self.start[1]
        return {
            "tokens_per_s": tokens / seconds,
            "timed_tokens": tokens,
            "timed_seconds": seconds,
            "timed_steps": self.steps,
            "total_tokens": self.tokens,
            "trl_num_tokens": self.trl_num_tokens,
            "peak_bytes": self.peak_bytes or self.peak(),
        }


def install_meter(warmup: int) -> Meter:
    """Every Trainer built in this process gets the meter's callback (train_sft builds its own trainer)."""
    import transformers.trainer

    meter = Meter(warmup)
    transformers.trainer.DEFAULT_CALLBACKS.append(meter.callback())
    return meter


def run_ours(spec: dict, meter: Meter, output_dir: Path) -> dict:
    from datasets import load_from_disk

    from llm_engineering.application.training.backends import device_for, resolve_backend
    from llm_engineering.application.training.packing import packs_padding_free
    from llm_engineering.application.training.sft import train_sft
    from llm_engineering.domain.config.training import BaseModelConfig, TrainingParameters

    parameters = TrainingParameters.model_validate(spec["parameters"])
    sft = parameters.first_sft
    attention = parameters.base_model.attn_implementation
    backend = resolve_backend(
        parameters.backend, sft.adapter.method, {"sft": sft.optimization.optim}, attn_implementation=attention
    )
    device = device_for()
    base_model = BaseModelConfig(
        name=spec["model_dir"], dtype=parameters.base_model.dtype, attn_implementation=attention
    )
    train_sft(
        load_from_disk(spec["data_dir"]), base_model, sft, output_dir, backend=backend, device=device, report_to=[]
    )
    row_packed = sft.packing and not packs_padding_free(attention, backend)
    return {
        "backend": backend,
        "device": device,
        "method": sft.adapter.method,
        "packing": ("per row, " if row_packed else "padding-free, ") + attention if sft.packing else False,
        "row_packed": row_packed,
        "gradient_checkpointing": sft.optimization.gradient_checkpointing,
        "optim": sft.optimization.optim,
    }


def run_plain(spec: dict, meter: Meter, output_dir: Path) -> dict:
    import torch
    from datasets import load_from_disk
    from peft import LoraConfig, TaskType
    from trl import SFTConfig, SFTTrainer

    from llm_engineering.domain.config.training import TrainingParameters

    parameters = TrainingParameters.model_validate(spec["parameters"])
    sft = parameters.first_sft
    adapter, optimization = sft.adapter, sft.optimization
    cuda = torch.cuda.is_available()
    arguments = SFTConfig(
        output_dir=str(output_dir),
        learning_rate=optimization.learning_rate,
        per_device_train_batch_size=optimization.per_device_train_batch_size,
        gradient_accumulation_steps=optimization.gradient_accumulation_steps,
        max_length=sft.max_length,
        max_steps=optimization.max_steps,
        logging_steps=optimization.logging_steps,
        save_strategy="no",
        seed=optimization.seed,
        bf16=cuda,
        use_cpu=not cuda,
        model_init_kwargs={"dtype": parameters.base_model.dtype},
        report_to=[],
        disable_tqdm=True,
    )
    peft_config = LoraConfig(
        task_type=TaskType.CAUSAL_LM,
        r=adapter.r,
        lora_alpha=adapter.alpha,
        lora_dropout=adapter.dropout,
        target_modules=adapter.target_modules,
    )
    train = load_from_disk(spec["data_dir"])["train"].select_columns(["messages"])
    trainer = SFTTrainer(model=spec["model_dir"], args=arguments, train_dataset=train, peft_config=peft_config)
    trainer.train()
    return {
        "backend": "trl (plain)",
        "device": "cuda" if cuda else "cpu",
        "method": "lora",
        "packing": arguments.packing,
        "gradient_checkpointing": arguments.gradient_checkpointing,
        "optim": str(getattr(arguments.optim, "value", arguments.optim)),
    }


def worker(arm: str, spec_path: Path) -> None:
    spec = json.loads(spec_path.read_text())
    meter = install_meter(spec["warmup"])
    output_dir = Path(spec["work_dir"]) / f"out-{arm}"
    info = (run_ours if arm == "ours" else run_plain)(spec, meter, output_dir)
    result = {**info, **meter.result()}
    if meter.cuda:
        result["device_name"] = meter.torch.cuda.get_device_name()
    (Path(spec["work_dir"]) / f"result-{arm}.json").write_text(json.dumps(result))


# -------------------------------------------------------------------------------------------------- reporting


def gib(value: float) -> str:
    return f"{value / 2**30:.2f} GiB"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def report(results: dict[str, dict], context: dict) -> None:
    ours, plain = results["ours"], results["plain"]
    memory_kind = "CUDA max_memory_allocated" if context["cuda"] else "peak process RSS"
    print()
    print(f"device: {context['device']}")
    print(
        f"model: random Llama, {context['parameters'] / 1e6:.0f}M parameters (hidden {context['hidden']}, "
        f"{context['layers']} layers), {context['base_dtype']} weights"
    )
    lengths = context["lengths"]
    print(
        f"data: {context['train_samples']} train conversations, {lengths['min']}-{lengths['max']} tokens "
        f"(mean {lengths['mean']:.0f}); max_length {context['max_length']}, batch {context['batch']} x "
        f"grad-accum {context['grad_accum']}, {context['steps']} steps, first {context['warmup']} not timed"
    )
    for note in context["notes"]:
        print(f"note: {note}")
    print()
    print(
        f"| arm | backend | method | packing | grad. ckpt | optim | tokens/s | peak memory ({memory_kind}) "
        "| timed tokens | timed s |"
    )
    print("|---|---|---|---|---|---|---:|---:|---:|---:|")
    for arm in ARMS:
        row = results[arm]
        print(
            f"| {arm} | {row['backend']} | {row['method']} | {row['packing']} | {row['gradient_checkpointing']} | "
            f"{row['optim']} | {row['tokens_per_s']:,.0f} | "
            f"{gib(row['peak_bytes'])} | {row['timed_tokens']:,} | {row['timed_seconds']:.2f} |"
        )
    speedup = ours["tokens_per_s"] / plain["tokens_per_s"]
    memory = ours["peak_bytes"] / plain["peak_bytes"]
    print()
    print(f"tokens/s ours/plain: {speedup:.2f}x (target >= {SPEEDUP_TARGET}x) {verdict(speedup >= SPEEDUP_TARGET)}")
    print(f"peak memory ours/plain: {memory:.2f}x (target <= {MEMORY_TARGET}x) {verdict(memory <= MEMORY_TARGET)}")
    for arm in ARMS:
        row = results[arm]
        if row.get("trl_num_tokens") is not None:
            print(
                f"check {arm}: tokens counted by the hook over all steps {row['total_tokens']:,}, "
                f"TRL's num_tokens {row['trl_num_tokens']:,.0f}"
                + (" (TRL counts one row's width per batch of row-packed rows)" if row.get("row_packed") else "")
            )
    if context["smoke"]:
        print("\nsmoke run (tiny model on CPU): checks the code path only; these numbers are not the benchmark.")


def run_arm(arm: str, spec_path: Path, work_dir: Path, smoke: bool) -> dict | None:
    log = work_dir / f"log-{arm}.txt"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    if smoke:
        env["CUDA_VISIBLE_DEVICES"] = ""  # the smoke run is a CPU check even on a GPU machine
    started = time.perf_counter()
    with log.open("w") as handle:
        completed = subprocess.run(
            [sys.executable, __file__, "--worker", arm, "--spec", str(spec_path)],
            cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT,
        )  # fmt: skip
    print(f"arm {arm}: exit {completed.returncode} after {time.perf_counter() - started:.0f}s")
    if completed.returncode != 0:
        print("".join(log.read_text().splitlines(keepends=True)[-40:]))
        return None
    return json.loads((work_dir / f"result-{arm}.json").read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny model, 3 steps on CPU: checks the code path")
    parser.add_argument("--steps", type=int, help="optimizer steps per arm (default: 20; smoke: 3)")
    parser.add_argument("--warmup", type=int, help="first steps left out of the timing (default: 3; smoke: 1)")
    parser.add_argument("--train-samples", type=int, help="train conversations (default: 2400; smoke: 48)")
    parser.add_argument("--worker", choices=ARMS, help=argparse.SUPPRESS)
    parser.add_argument("--spec", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.spec)
        return 0

    import torch

    if not torch.cuda.is_available() and not args.smoke:
        print("benchmarks/gpu_train.py needs a CUDA GPU (no CUDA device here); nothing measured.")
        print("Run `.venv/bin/python benchmarks/gpu_train.py --smoke` to check the code path on CPU.")
        return 0
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()
    cuda = not args.smoke  # the smoke run trains on CPU, the benchmark on the GPU
    profile = copy.deepcopy(SMOKE if args.smoke else GPU)
    profile.steps = args.steps or profile.steps
    profile.warmup = profile.warmup if args.warmup is None else args.warmup
    profile.train_samples = args.train_samples or profile.train_samples
    if profile.steps <= profile.warmup:
        parser.error("--steps must be larger than --warmup")

    parameters, notes = sft_parameters(profile, cuda)
    notes.insert(0, f"{CONFIG.relative_to(ROOT)}: base_model.name -> the random model's folder for both arms")
    sft = parameters["sft"]
    with tempfile.TemporaryDirectory(prefix="bench-gpu-train-") as temp:
        work_dir = Path(temp)
        model_dir, data_dir = work_dir / "model", work_dir / "data"
        count, tokenizer = build_model(model_dir, profile, parameters["base_model"]["dtype"], sft["max_length"], cuda)
        lengths = build_dataset(data_dir, tokenizer, profile)
        spec = {
            "parameters": parameters,
            "model_dir": str(model_dir),
            "data_dir": str(data_dir),
            "work_dir": str(work_dir),
            "warmup": profile.warmup,
        }
        spec_path = work_dir / "spec.json"
        spec_path.write_text(json.dumps(spec))
        print(f"model {count / 1e6:.1f}M parameters and {profile.train_samples} conversations in {work_dir}")
        results = {}
        for arm in ARMS:
            result = run_arm(arm, spec_path, work_dir, args.smoke)
            if result is None:
                print(f"arm {arm} failed; no comparison")
                return 1
            results[arm] = result
    device = results["ours"].get("device_name") or "CPU (no CUDA)"
    notes.append(
        f"plain loads the weights as {parameters['base_model']['dtype']} like ours (TRL's own default: float32); "
        "its other settings are TRL's defaults"
    )
    report(
        results,
        {
            "device": device,
            "cuda": cuda,
            "parameters": count,
            "hidden": profile.hidden,
            "layers": profile.layers,
            "base_dtype": parameters["base_model"]["dtype"],
            "lengths": lengths,
            "train_samples": profile.train_samples,
            "max_length": sft["max_length"],
            "batch": sft["optimization"]["per_device_train_batch_size"],
            "grad_accum": sft["optimization"]["gradient_accumulation_steps"],
            "steps": profile.steps,
            "warmup": profile.warmup,
            "notes": notes,
            "smoke": args.smoke,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
