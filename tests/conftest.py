"""Test isolation: every session gets its own ZenML store and data dir; nothing touches the network."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

_SESSION_ROOT = Path(tempfile.mkdtemp(prefix="llm-engineering-tests-"))
# Set before anything imports zenml, so the user's own store is never touched.
os.environ["ZENML_CONFIG_PATH"] = str(_SESSION_ROOT / "zenml")
os.environ["ZENML_ANALYTICS_OPT_IN"] = "false"
os.environ["ZENML_LOGGING_VERBOSITY"] = "WARN"
os.environ["ZENML_ENABLE_RICH_TRACEBACK"] = "false"
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ["COMET_START_ONLINE"] = "false"
os.environ["COMET_ERROR_TRACKING_ENABLE"] = "false"
os.environ["COMET_OFFLINE_DIRECTORY"] = str(_SESSION_ROOT / "comet")
os.environ["LLM_ENGINEERING_DATA_DIR"] = str(_SESSION_ROOT / "data")  # never a developer's own

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_CORPUS = PROJECT_ROOT / "sample_corpus"


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """Session-wide data dir: converted models and caches are built once per test session."""
    return Path(os.environ["LLM_ENGINEERING_DATA_DIR"])


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh data dir for one test (its own Qdrant folder, caches)."""
    folder = tmp_path / "data"
    monkeypatch.setenv("LLM_ENGINEERING_DATA_DIR", str(folder))
    return folder


def copy_articles(folder: Path, *names: str) -> Path:
    """A small corpus for one test: the named sample articles copied into `folder`."""
    import shutil

    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(SAMPLE_CORPUS / "articles" / name, folder / name)
    return folder


def write_feature_config(folder: Path, sources: list[dict], **crawl: object) -> Path:
    """A small feature-pipeline config for tests: crawl -> embed into a Qdrant folder of its own, no datasets
    (tests/integration/test_dataset_pipeline.py covers those), fast HTTP settings; `crawl` adds crawl keys."""
    import yaml

    parameters = {
        "crawl": {
            "sources": sources,
            "http": {"timeout_s": 2, "politeness_delay_s": 0, "retries": 1, "backoff_s": 0.01},
            **crawl,
        },
        "datasets": {"enabled": False},
        "chunking": {"chunk_size": 128, "chunk_overlap": 16},
        "embedding": {"show_progress": False},
        "qdrant": {"path": str(folder / "qdrant"), "collection": "chunks"},
    }
    path = folder / "feature_engineering.yaml"
    path.write_text(yaml.safe_dump({"parameters": parameters}))
    return path
