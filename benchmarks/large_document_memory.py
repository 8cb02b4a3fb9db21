"""Peak memory and wall time of cleaning and of chunking one large document: the code before the bounded-memory
change (d5b0c29) against the working tree, side by side in one run.

    make bench-memory [ARGS="--size-mb 10 --skip-old"]      # default: 50 MB, both sides, about 3 minutes on 2 cores

The document is the blocks (paragraphs, headings, lists, whole fenced code blocks) of sample_corpus/articles/*.md,
shuffled with a fixed seed and repeated until it is --size-mb megabytes of UTF-8. Each phase runs as the pipeline's
steps do, in a fresh process per phase and implementation: it loads the bundled MiniLM tokenizer
(`Embedder().tokenizer()`, the baseline), reads its input (the raw file for `clean`, the cleaned text for `chunk`),
resets the peak, then cleans or chunks. The figure is the peak RSS (VmHWM) above the baseline, so the input held
in memory counts, and it is given as a multiple of the input's UTF-8 size. The old modules come from git
(`git show d5b0c29:<path>`) at run time. Both sides must give the same cleaned text and redaction counts, and the
same chunks (index, token count, content hash, text): the run says whether they did and fails if not.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import inspect
import json
import random
import re
import subprocess
import sys
import tempfile
import time
import types
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASE_COMMIT = "d5b0c29"
MODULES = {"cleaning": "llm_engineering/application/cleaning.py", "chunking": "llm_engineering/application/chunking.py"}
TARGET_RATIO = 5.0
MB = 1_000_000


def corpus_blocks() -> list[str]:
    """Blank-line separated blocks of the sample articles; a fenced code block stays one block."""
    blocks: list[str] = []
    for path in sorted((ROOT / "sample_corpus" / "articles").glob("*.md")):
        current: list[str] = []
        in_code = False
        for line in path.read_text(encoding="utf-8").split("\n"):
            if re.match(r"^(```|~~~)", line.strip()):
                in_code = not in_code
            if not line.strip() and not in_code:
                if current:
                    blocks.append("\n".join(current))
                current = []
            else:
                current.append(line)
        if current:
            blocks.append("\n".join(current))
    return blocks


def build_document(size_mb: float, seed: int) -> str:
    rng = random.Random(seed)
    blocks = corpus_blocks()
    target = int(size_mb * MB)
    parts: list[str] = []
    size = 0
    while size < target:
        rng.shuffle(blocks)
        for block in blocks:
            parts.append(block)
            size += len(block.encode("utf-8")) + 2
            if size >= target:
                break
    return "\n\n".join(parts) + "\n"


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _peak_kb() -> int:
    return _status_kb("VmHWM")


def _reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := current RSS (Linux >= 4.0)


def _load(which: str) -> tuple[types.ModuleType, types.ModuleType]:
    if which == "new":
        from llm_engineering.application import chunking, cleaning

        return cleaning, chunking
    loaded = []
    for name, path in MODULES.items():
        source = subprocess.run(
            ["git", "show", f"{BASE_COMMIT}:{path}"], cwd=ROOT, check=True, capture_output=True, text=True
        ).stdout
        module = types.ModuleType(f"old_{name}")
        module.__file__ = f"{BASE_COMMIT}:{path}"
        sys.modules[module.__name__] = module  # dataclasses look their module up
        exec(compile(source, module.__file__, "exec"), module.__dict__)
        loaded.append(module)
    return loaded[0], loaded[1]


def _baseline(which: str) -> tuple[types.ModuleType, types.ModuleType, object, int]:
    from llm_engineering.infrastructure.embedder import Embedder

    cleaning, chunking = _load(which)
    tokenizer = Embedder().tokenizer()
    tokenizer.count(["warm the tokenizer up."])
    gc.collect()
    _reset_peak()
    return cleaning, chunking, tokenizer, _peak_kb()


def measure_clean(which: str, source: Path, cleaned_path: Path) -> dict:
    """In this (fresh) process: baseline with the tokenizer loaded, read the raw document, then clean it."""
    from llm_engineering.domain.config.feature_engineering import CleaningConfig
    from llm_engineering.domain.documents import RawDocument

    cleaning, _, _, baseline = _baseline(which)
    data = source.read_bytes()
    digest = hashlib.sha256(data).hexdigest()  # = content_hash(content), without a second encoded copy
    content = data.decode("utf-8")
    del data
    raw = RawDocument(
        source="bench", kind="folder", location=str(source), key="bench:large.md", fetched_at=datetime.now(UTC),
        format="markdown", content=content, content_hash=digest,
    )  # fmt: skip
    held = sys.getsizeof(content)
    del content
    gc.collect()
    _reset_peak()  # reading the file (bytes + text) is the crawler's cost, not cleaning's
    start = _peak_kb()
    started = time.perf_counter()
    text, redactions = cleaning.clean_text(raw, CleaningConfig())
    seconds = time.perf_counter() - started
    peak, end = _peak_kb(), _status_kb("VmRSS")  # the output is still alive at `end`
    cleaned_path.write_text(text, encoding="utf-8")
    output = hashlib.sha256(f"{sorted(redactions.items())}\n{text}".encode()).hexdigest()
    return {"baseline_kb": baseline, "start_kb": start, "peak_kb": peak, "end_kb": end, "seconds": seconds,
            "input_held": held,
            "items": len(text), "output_sha256": output}  # fmt: skip


def measure_chunk(which: str, cleaned_path: Path) -> dict:
    """In this (fresh) process: baseline with the tokenizer loaded, read the cleaned document, then chunk it."""
    from llm_engineering.domain.config.feature_engineering import ChunkingConfig
    from llm_engineering.domain.documents import CleanedDocument

    _, chunking, tokenizer, baseline = _baseline(which)
    text = cleaned_path.read_text(encoding="utf-8")
    document = CleanedDocument(
        document_id="bench-document", source="bench", kind="folder", location=str(cleaned_path), key="bench:large.md",
        fetched_at=datetime.now(UTC), format="markdown", text=text, content_hash="raw-hash",
    )  # fmt: skip
    held = sys.getsizeof(text)
    del text
    gc.collect()
    _reset_peak()
    start = _peak_kb()
    extra = ["bench-fingerprint"] if len(inspect.signature(chunking.chunk_document).parameters) == 4 else []
    started = time.perf_counter()
    chunks = chunking.chunk_document(document, ChunkingConfig(), tokenizer, *extra)
    seconds = time.perf_counter() - started
    peak, end = _peak_kb(), _status_kb("VmRSS")  # the output is still alive at `end`
    digest = hashlib.sha256()
    for chunk in chunks:  # content_hash covers document id, index and text; chunk_id also has the fingerprint
        digest.update(f"{chunk.chunk_index}\t{chunk.token_count}\t{chunk.content_hash}\t{chunk.text}\n".encode())
    return {"baseline_kb": baseline, "start_kb": start, "peak_kb": peak, "end_kb": end, "seconds": seconds,
            "input_held": held,
            "items": len(chunks), "output_sha256": digest.hexdigest()}  # fmt: skip


def run_child(which: str, phase: str, source: Path, cleaned: Path) -> dict:
    completed = subprocess.run(
        [sys.executable, __file__, "--child", which, "--phase", phase, "--input", source, "--cleaned", cleaned],
        cwd=ROOT, check=True, capture_output=True, text=True,
    )  # fmt: skip
    return {"which": which, "phase": phase, **json.loads(completed.stdout.strip().splitlines()[-1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=float, default=50.0, help="size of the document in MB of UTF-8")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-old", action="store_true", help="measure only the working tree's code")
    parser.add_argument("--child", choices=["old", "new"], help=argparse.SUPPRESS)
    parser.add_argument("--phase", choices=["clean", "chunk"], help=argparse.SUPPRESS)
    parser.add_argument("--input", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--cleaned", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.phase == "clean":
            result = measure_clean(args.child, args.input, args.cleaned)
        else:
            result = measure_chunk(args.child, args.cleaned)
        print(json.dumps(result))
        return

    implementations = ["new"] if args.skip_old else ["old", "new"]
    results: list[dict] = []
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "large.md"
        source.write_text(build_document(args.size_mb, args.seed), encoding="utf-8")
        sizes = {"clean": source.stat().st_size}
        print(
            f"document: {sizes['clean'] / MB:.1f} MB of UTF-8, seed {args.seed}; each row is a fresh process",
            flush=True,
        )
        for which in implementations:
            cleaned = Path(folder) / f"cleaned-{which}.md"
            results.append(run_child(which, "clean", source, cleaned))
            sizes["chunk"] = cleaned.stat().st_size
            results.append(run_child(which, "chunk", source, cleaned))

    print()
    print(
        "| phase | code | input MB (UTF-8) | peak RSS above baseline, MB | x input | input str, MB "
        "| RSS kept after, MB | seconds |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in sorted(results, key=lambda r: (r["phase"] != "clean", r["which"] != "old")):
        above = (r["peak_kb"] - r["baseline_kb"]) * 1024 / MB
        r["ratio"] = above * MB / sizes[r["phase"]]
        label = f"before ({BASE_COMMIT})" if r["which"] == "old" else "now"
        unit = "characters" if r["phase"] == "clean" else "chunks"
        output = (r["end_kb"] - r["start_kb"]) * 1024 / MB
        print(
            f"| {r['phase']} | {label} | {sizes[r['phase']] / MB:.1f} | {above:.0f} | {r['ratio']:.1f} | "
            f"{r['input_held'] / MB:.0f} | {output:.0f} ({r['items']:,} {unit}) | {r['seconds']:.1f} |"
        )
    baseline = results[-1]["baseline_kb"] / 1024
    print(f"\nbaseline RSS (tokenizer loaded): {baseline:.0f} MiB. input str: its size in memory (2 bytes a character")
    print("once it holds one non-Latin-1 character). RSS kept after: RSS after the call minus before, the output alive")
    print("(plus whatever the allocator did not give back).")
    worst = max(r["ratio"] for r in results if r["which"] == "new")
    print(f"worst phase now: peak above baseline = {worst:.1f}x the input (target <= {TARGET_RATIO:.0f}x)")
    if args.skip_old:
        return
    same = True
    for phase in ("clean", "chunk"):
        old, new = (next(r for r in results if r["phase"] == phase and r["which"] == w) for w in ("old", "new"))
        print(
            f"{phase}: ratio now/before, peak above baseline {new['ratio'] / old['ratio']:.3f}, "
            f"wall time {new['seconds'] / old['seconds']:.2f}; identical output: "
            f"{'yes' if old['output_sha256'] == new['output_sha256'] else 'NO'}"
        )
        same = same and old["output_sha256"] == new["output_sha256"]
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
