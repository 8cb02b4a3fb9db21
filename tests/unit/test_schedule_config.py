"""configs/schedule.yaml: validated before the trigger starts; the same timing as a ZenML Schedule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from llm_engineering.application.run_config import ConfigError
from llm_engineering.application.scheduling.orchestrator_schedule import build_zenml_schedule
from llm_engineering.application.scheduling.schedule_config import load_schedule
from llm_engineering.application.scheduling.trigger import seconds_until_next_tick
from llm_engineering.cli import app
from llm_engineering.domain.config.schedule import ScheduleTiming


def write_configs(tmp_path: Path, schedule: dict) -> Path:
    corpus = tmp_path / "corpus"
    corpus.mkdir(exist_ok=True)
    feature = tmp_path / "feature_engineering.yaml"
    sources = [{"name": "articles", "type": "folder", "path": str(corpus)}]
    feature.write_text(yaml.safe_dump({"parameters": {"crawl": {"sources": sources}}}))
    path = tmp_path / "schedule.yaml"
    path.write_text(yaml.safe_dump({"feature_pipeline": {"config": str(feature)}, **schedule}))
    return path


def test_a_valid_schedule_loads_the_feature_config_and_its_watched_sources(tmp_path):
    loaded = load_schedule(write_configs(tmp_path, {"schedule": {"interval_seconds": 5}, "watch": ["articles"]}))
    assert [source.name for source in loaded.watched_sources] == ["articles"]
    assert loaded.config.schedule.describe() == "every 5 s"
    assert loaded.training is None


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        (
            {"schedule": {"cron": "61 * * * *"}},
            "  schedule.cron: Value error, not a valid cron expression: '61 * * * *'",
        ),
        ({"schedule": {"cron": "*/5 * * * *", "interval_seconds": 60}}, "set exactly one of `cron` or"),
        ({"schedule": {}}, "set exactly one of `cron` or `interval_seconds`"),
        ({"schedule": {"interval_seconds": 0}}, "  schedule.interval_seconds: Input should be greater than 0"),
        ({"schedule": {"cron": "* * * * *"}, "every": 5}, "  every: Extra inputs are not permitted"),
        ({"schedule": {"cron": "* * * * *"}, "watch": ["articles", "blog"]}, "  watch: unknown source(s) ['blog']"),
    ],
)
def test_a_bad_schedule_names_the_file_and_field(tmp_path, schedule, message):
    path = write_configs(tmp_path, schedule)
    with pytest.raises(ConfigError) as error:
        load_schedule(path)
    assert str(error.value).startswith(f"{path}: invalid configuration")
    assert message in str(error.value)


def test_the_cli_refuses_a_bad_cron_before_starting(tmp_path):
    path = write_configs(tmp_path, {"schedule": {"cron": "every day"}})
    result = CliRunner().invoke(app, ["schedule", "--config", str(path), "--once"])
    assert result.exit_code == 2
    assert "schedule.cron" in result.output and "not a valid cron expression: 'every day'" in result.output


def test_the_zenml_schedule_carries_the_cron_expression_or_interval():
    assert build_zenml_schedule(ScheduleTiming(cron="*/15 * * * *")).cron_expression == "*/15 * * * *"
    start = datetime(2026, 1, 1, tzinfo=UTC)
    periodic = build_zenml_schedule(ScheduleTiming(interval_seconds=900), start=start)
    assert periodic.interval_second == timedelta(seconds=900) and periodic.start_time == start
    assert periodic.cron_expression is None


def test_next_tick_follows_the_cron_expression_or_the_interval():
    now = datetime(2026, 1, 1, 12, 7, 30, tzinfo=UTC)
    assert seconds_until_next_tick(ScheduleTiming(cron="*/15 * * * *"), now, now) == 450
    started = now - timedelta(seconds=2)
    assert seconds_until_next_tick(ScheduleTiming(interval_seconds=5), started, now) == 3


def test_the_schedule_travels_in_the_zenml_run_config_unchanged(tmp_path):
    from zenml.config.pipeline_run_configuration import PipelineRunConfiguration

    from llm_engineering.application.scheduling.orchestrator_schedule import _with_schedule

    loaded = load_schedule(write_configs(tmp_path, {"schedule": {"interval_seconds": 900}}))
    scheduled = _with_schedule(loaded.feature, build_zenml_schedule(loaded.config.schedule))
    assert loaded.feature.zenml == {}  # the loaded config itself is not modified
    schedule = PipelineRunConfiguration.model_validate(scheduled.zenml).schedule
    assert schedule.interval_second == timedelta(seconds=900) and schedule.start_time is not None
