"""Evol-Instruct on the sample corpus: the share of evolutions kept, and instruction complexity and diversity before and
after the `evol_instruct` curation stage.

    make bench-evolution [ARGS="--llm local --articles 6 --samples 12"]
    .venv/bin/python benchmarks/evolution.py --llm stub        # the loopback server's deterministic evolver

1. Seed samples: `--samples` extracts (seeded) of the first `--articles` sample_corpus articles (paragraph groups of up
   to 750 characters), one question each written by the same LLM in backtranslation mode (the default pipeline's
   generation: the answer is the passage).
2. The `evol_instruct` stage through `run_stages`, exactly as curation runs it: every mutation listed, each seed
   evolved once (`mutations_per_sample: 1`, so the mutations are spread by the seeded hash), answers with the extract.
3. Measured, for the seeds ("before"), the seeds plus the kept evolutions ("after": what the next stage receives) and
   the kept evolutions alone:
   - complexity: mean instruction length in words, and mean "constraint cues" per instruction (at most / at least /
     exactly / must / only / without / including / compare / step / first ... then / why / example / a number /
     trade-off / limit: the requirements an instruction places on its answer);
   - diversity: distinct 1-/2-/3-grams over all instructions (count and share of all n-grams), and the mean pairwise
     embedding distance (1 - cosine, the bundled MiniLM).
   Then the stage is run again: every request is answered by the response cache (the calls must be 0).

`--llm stub` measures the machinery (its evolutions are scripted: the complexity numbers say what the script adds,
not what a model does); `--llm local` is the bundled SmolLM2-135M-Instruct, greedy, on CPU (small counts: minutes);
`--llm openai --base-url URL --model NAME` any OpenAI-compatible endpoint.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CUES = re.compile(
    r"\b(?:at most|at least|no more than|exactly|must|only|without|including|include|compare|comparing|versus|vs|"
    r"steps?|step by step|first|then|finally|why|example|examples|trade-?offs?|limits?|limitations?|specific|"
    r"\d+(?:\.\d+)?)\b",
    re.IGNORECASE,
)


def seed_extracts(articles: int, max_characters: int = 1500) -> list:
    from llm_engineering.application.dataset_generation.instructions import passages
    from llm_engineering.domain.documents import content_hash
    from llm_engineering.domain.samples import Extract

    extracts = []
    for path in sorted((ROOT / "sample_corpus" / "articles").glob("*.md"))[:articles]:
        document = content_hash(path.name)[:16]
        for index, text in enumerate(passages(path.read_text(encoding="utf-8"), max_characters // 2, 200)):
            extracts.append(
                Extract(
                    extract_id=f"{document}-{index}",
                    document_id=document,
                    chunk_ids=[f"{document}-{index}"],
                    source="articles",
                    location=path.name,
                    text=text,
                )  # fmt: skip
            )
    return extracts


def constraint_cues(text: str) -> int:
    return len(CUES.findall(text))


def distinct(instructions: list[str], n: int) -> tuple[int, float]:
    grams: list[tuple[str, ...]] = []
    for text in instructions:
        words = re.findall(r"\w+", text.lower())
        grams += [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    return len(set(grams)), (len(set(grams)) / len(grams) if grams else 0.0)


def mean_distance(instructions: list[str]) -> float:
    from llm_engineering.infrastructure.embedder import Embedder

    if len(instructions) < 2:
        return 0.0
    vectors = Embedder().encode(instructions)
    total = vectors.sum(axis=0)
    n = len(instructions)
    mean_cosine = (float(total @ total) - n) / (n * (n - 1))  # normalised vectors: the off-diagonal mean
    return 1.0 - mean_cosine


def measure(name: str, instructions: list[str]) -> dict:
    words = [len(text.split()) for text in instructions]
    row = {
        "set": name,
        "n": len(instructions),
        "words": sum(words) / len(words) if words else 0.0,
        "cues": sum(map(constraint_cues, instructions)) / len(instructions) if instructions else 0.0,
        "distance": mean_distance(instructions),
    }
    for n in (1, 2, 3):
        row[f"d{n}"], row[f"d{n}_share"] = distinct(instructions, n)
    return row


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--llm", choices=("stub", "local", "openai"), default="stub")
    parser.add_argument("--base-url", default=None)
    parser.add_argument("--model", default=None)
    parser.add_argument("--articles", type=int, default=6, help="sample_corpus .md articles the seeds come from")
    parser.add_argument("--samples", type=int, default=12, help="seed samples evolved")
    parser.add_argument("--max-new-tokens", type=int, default=256, help="each evolved answer's budget")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache-dir", type=Path, default=None, help="the LLM response cache (default: a fresh one)")
    args = parser.parse_args()

    from llm_engineering.application.dataset_curation import CurationContext, run_stages
    from llm_engineering.application.dataset_generation.instructions import generate_instructions
    from llm_engineering.domain.config.curation_stages import CurationConfig
    from llm_engineering.domain.config.dataset_generation import InstructionGenerationConfig, PromptFiles
    from llm_engineering.domain.config.evolution_stage import MUTATIONS
    from llm_engineering.domain.config.llm import LLMConfig
    from llm_engineering.infrastructure.llm.factory import build_provider

    workdir = Path(tempfile.mkdtemp(prefix="bench-evolution-"))
    cache = args.cache_dir or workdir / "cache"
    server = None
    if args.llm == "stub":
        from tests.support.dataset_responder import dataset_responder
        from tests.support.openai_server import OpenAIStubServer

        server = OpenAIStubServer(responder=dataset_responder)
        server.start()
        llm = LLMConfig(provider="openai", base_url=server.base_url, model="stub", cache_dir=cache)
    elif args.llm == "openai":
        llm = LLMConfig(provider="openai", base_url=args.base_url, model=args.model or "gpt-4o-mini",
                        cache_dir=cache)  # fmt: skip
    else:
        llm = LLMConfig(model=args.model or "bundled:SmolLM2-135M-Instruct", batch_size=8, cache_dir=cache)
    try:
        started = time.perf_counter()
        extracts = seed_extracts(args.articles)
        chosen = random.Random(args.seed).sample(extracts, min(args.samples, len(extracts)))  # one question each
        one_each = InstructionGenerationConfig(pairs_per_extract=1)
        seeds = generate_instructions(chosen, build_provider(llm), one_each, PromptFiles()).samples
        print(f"{len(seeds)} seed samples from {len(chosen)} of {len(extracts)} extracts of {args.articles} articles "
              f"({args.llm}), {time.perf_counter() - started:.0f} s")  # fmt: skip

        stage = {"kind": "evol_instruct", "mutations": list(MUTATIONS), "fraction": 1.0, "seed": args.seed,
                 "max_new_tokens": args.max_new_tokens}  # fmt: skip
        stages = CurationConfig.model_validate({"stages": [stage]}).stages
        started = time.perf_counter()
        outcome = run_stages(seeds, stages, CurationContext(llm=llm))
        seconds = time.perf_counter() - started
        report = outcome.evolutions["evol_instruct"]
        started = time.perf_counter()
        rerun = run_stages(seeds, stages, CurationContext(llm=llm)).evolutions["evol_instruct"]
        rerun_seconds = time.perf_counter() - started
    finally:
        if server is not None:
            server.stop()

    evolved = [s for s in outcome.kept if s.parent_id is not None]
    print(f"\nevolutions: {report.attempted}, kept {report.kept} ({report.kept / max(report.attempted, 1):.0%}), "
          f"{seconds:.0f} s ({report.calls} calls, {report.completion_tokens} completion tokens); rerun: "
          f"{rerun.calls} calls, {rerun.cached} cached, {rerun_seconds:.1f} s")  # fmt: skip
    print("eliminated:", dict(Counter(report.eliminated_by_reason).most_common()) or "none")
    print("per mutation (attempted / kept):",
          {m: f"{c.attempted}/{c.kept}" for m, c in report.by_mutation.items()})  # fmt: skip

    rows = [measure("before (seeds)", [s.instruction for s in seeds]),
            measure("after (seeds + kept)", [s.instruction for s in outcome.kept]),
            measure("kept evolutions", [s.instruction for s in evolved])]  # fmt: skip
    print(f"\n{'set':<22}{'n':>4}{'words':>8}{'cues':>7}{'distinct 1/2/3-grams (share)':>42}{'emb dist':>10}")
    for row in rows:
        grams = " / ".join(f"{row[f'd{n}']} ({row[f'd{n}_share']:.2f})" for n in (1, 2, 3))
        print(
            f"{row['set']:<22}{row['n']:>4}{row['words']:>8.1f}{row['cues']:>7.2f}{grams:>42}{row['distance']:>10.3f}"
        )
    before, kept = rows[0], rows[2]
    if kept["n"]:
        print(f"\nratio kept evolutions / seeds: words {kept['words'] / before['words']:.2f}x, constraint cues "
              f"{kept['cues'] / max(before['cues'], 1e-9):.2f}x; after / before: distinct 2-grams "
              f"{rows[1]['d2'] / max(before['d2'], 1):.2f}x, embedding distance "
              f"{rows[1]['distance'] / max(before['distance'], 1e-9):.2f}x")  # fmt: skip
    shown: set[str] = set()
    for removed in outcome.removed:  # one eliminated evolution per reason
        if removed.reason not in shown:
            shown.add(removed.reason)
            print(f"\neliminated, {removed.reason} (score {removed.score}): {removed.text[:300]!r}")
    for example in report.examples[:5]:
        print(f"\n[{example.mutation}] {example.parent_instruction}\n  -> {example.instruction}\n  answer: "
              f"{example.answer[:200]}")  # fmt: skip
    return 0 if rerun.calls == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
