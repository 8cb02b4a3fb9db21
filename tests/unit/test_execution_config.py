"""`execution:` is refused at validation, naming the field, when engine: ray cannot run here."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest
import yaml

from llm_engineering.application.run_config import ConfigError, load_run_config
from llm_engineering.domain.config.feature_engineering import FeatureEngineeringParameters
from tests.conftest import copy_articles


def config_with(tmp_path: Path, execution: dict) -> Path:
    corpus = copy_articles(tmp_path / "corpus", "rag-basics.md")
    parameters = {"crawl": {"sources": [{"name": "docs", "type": "folder", "path": str(corpus)}]},
                  "execution": execution}  # fmt: skip
    path = tmp_path / "feature_engineering.yaml"
    path.write_text(yaml.safe_dump({"parameters": parameters}))
    return path


def error_for(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_run_config(path, FeatureEngineeringParameters)
    return str(info.value)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens once the socket is closed


def test_local_is_the_default_and_ray_without_an_address_starts_its_own():
    assert FeatureEngineeringParameters.model_fields["execution"].default.engine == "local"


def test_an_unreachable_ray_address_is_named(tmp_path):
    port = closed_port()
    config = config_with(tmp_path, {"engine": "ray", "address": f"127.0.0.1:{port}"})
    assert error_for(config) == (
        f"{config}: invalid configuration\n"
        f"  parameters.execution.address: no Ray cluster answers at 127.0.0.1:{port} (Connection refused): start "
        f"one there (`ray start --head --port {port}`), fix the address, or set address: null to start a local Ray "
        "for the run"
    )


def test_ray_not_installed_is_named(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError, as without the extra
    config = config_with(tmp_path, {"engine": "ray"})
    assert error_for(config) == (
        f"{config}: invalid configuration\n"
        "  parameters.execution.engine: ray is not installed: `pip install -e '.[ray]'` (make install does), or use "
        "engine: local"
    )


@pytest.mark.parametrize(
    ("execution", "message"),
    [
        ({"engine": "local", "address": "127.0.0.1:6379"}, "address is only used with engine: ray"),
        ({"engine": "spark"}, "parameters.execution.engine"),
        ({"engine": "ray", "num_workers": 0}, "parameters.execution.num_workers"),
        ({"engine": "ray", "workers": 2}, "parameters.execution.workers"),
    ],
)
def test_bad_execution_values_name_the_field(tmp_path, execution, message):
    assert message in error_for(config_with(tmp_path, execution))
