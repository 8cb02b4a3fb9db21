"""`llm-engineering` explains itself: its help names the pipelines, and every bad input is one `error:` line on
stderr naming the fix, with exit status 2 and no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from llm_engineering.cli import app
from tests.conftest import PROJECT_ROOT


@pytest.fixture(autouse=True)
def in_the_project_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(PROJECT_ROOT)  # as the shipped configs spell their paths (configs/..., sample_corpus/...)


def invoke(*args: str):  # noqa: ANN201 - click's Result
    return CliRunner().invoke(app, list(args))


def error_line(result) -> str:  # noqa: ANN001
    """The one line the CLI printed on stderr, after checking that it exited 2 with nothing else there."""
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)  # no traceback
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    return lines[0]


@pytest.fixture
def feature_config(tmp_path: Path) -> Path:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.md").write_text("# A\n\nSome text about retrieval.\n")
    sources = [{"name": "docs", "type": "folder", "path": str(corpus)}]
    path = tmp_path / "feature_engineering.yaml"
    path.write_text(yaml.safe_dump({"parameters": {"crawl": {"sources": sources}, "chunking": {"chunk_size": 200}}}))
    return path


@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "chunking.chunk_size.tokens=1",  # through a scalar (was a TypeError)
            "--set 'chunking.chunk_size.tokens=1': parameters.chunking.chunk_size is a single value (200), not a "
            "mapping, so it has no key 'tokens'; set parameters.chunking.chunk_size=<value> instead",
        ),
        (
            "crawl.sources.docs.path=elsewhere",  # a list indexed by name (was a ValueError)
            "--set 'crawl.sources.docs.path=elsewhere': parameters.crawl.sources is a list (1 entry), indexed by "
            "number, not 'docs'; use a number from 0 to 0",
        ),
        (
            "crawl.sources.3.path=elsewhere",  # past the end of the list (was an IndexError)
            "--set 'crawl.sources.3.path=elsewhere': parameters.crawl.sources has 1 entry; index 3 is out of range, "
            "use a number from 0 to 0",
        ),
        (
            "chunking.chunk_size",
            "--set 'chunking.chunk_size': expected dotted.key=value, e.g. --set chunking.chunk_size=256",
        ),
    ],
)
def test_a_set_that_cannot_apply_is_one_line_naming_the_fix(feature_config, command, override, message):
    args = ["validate", str(feature_config)] if command == "validate" else ["run", "feature_engineering", "-c"]
    if command == "run":
        args.append(str(feature_config))
    assert error_line(invoke(*args, "--set", override)) == f"error: {feature_config}: {message}"


def test_an_unknown_pipeline_lists_the_known_ones(feature_config):
    assert error_line(invoke("run", "featur_engineering", "-c", str(feature_config))) == (
        "error: unknown pipeline 'featur_engineering'; choose one of: feature_engineering, training"
    )
    assert error_line(invoke("run", "schedule", "-c", "configs/schedule.yaml")) == (
        "error: unknown pipeline 'schedule'; choose one of: feature_engineering, training (a schedule config runs "
        "with `llm-engineering schedule --config configs/schedule.yaml`)"
    )
    assert error_line(invoke("validate", str(feature_config), "--pipeline", "trainin")) == (
        "error: unknown pipeline 'trainin'; choose one of: feature_engineering, schedule, training"
    )
    unnamed = feature_config.rename(feature_config.with_name("mine.yaml"))
    assert error_line(invoke("validate", str(unnamed))) == (
        f"error: {unnamed}: cannot tell the pipeline from the file name; pass --pipeline (feature_engineering, "
        "schedule, training)"
    )


def test_a_file_that_is_not_a_yaml_config_is_one_line(tmp_path):
    binary = tmp_path / "model.yaml"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe")  # was a UnicodeDecodeError
    missing = tmp_path / "nowhere.yaml"
    broken = tmp_path / "broken.yaml"
    broken.write_text("parameters:\n  chunking: {chunk_size: 200\n  crawl: {}\n")
    listed = tmp_path / "listed.yaml"
    listed.write_text("- chunking\n- crawl\n")
    cases = {
        binary: "not a text file (byte 0 is not UTF-8); pass a YAML configuration file",
        missing: "configuration file not found; check the path (the shipped configs are in configs/)",
        broken: "line 3, column 8: not valid YAML: expected ',' or '}', but got ':' (while parsing a flow mapping "
        "at line 2); fix the syntax there",
        listed: "the top level must be a mapping of `key: value` lines, not a list",
        tmp_path: f"is a folder, not a configuration file; pass a YAML file such as {tmp_path}/<name>.yaml",
    }
    for path, message in cases.items():
        assert error_line(invoke("validate", str(path), "--pipeline", "training")) == f"error: {path}: {message}"
        assert error_line(invoke("run", "training", "-c", str(path))) == f"error: {path}: {message}"


def test_validate_applies_set_like_run(feature_config):
    ok = invoke("validate", str(feature_config), "--set", "chunking.chunk_size=120", "--set", "crawl.sources.0.name=d")
    assert ok.exit_code == 0, ok.output
    assert ok.stderr.strip() == f"ok {feature_config} is a valid feature_engineering config"
    # The override reaches the validation: an invalid value fails with the field, as in the file itself.
    bad = invoke("validate", str(feature_config), "--set", "chunking.chunk_size=0")
    assert bad.exit_code == 2
    assert bad.stderr.splitlines() == [
        f"error: {feature_config}: invalid configuration",
        "  parameters.chunking.chunk_size: Input should be greater than 8",
    ]


def test_validate_reads_a_schedule_config_with_its_own_model(tmp_path, feature_config):
    schedule = tmp_path / "nightly.yaml"  # not named schedule*.yaml: only --pipeline says what it is
    schedule.write_text(
        yaml.safe_dump({"schedule": {"cron": "0 3 * * *"}, "feature_pipeline": {"config": str(feature_config)}})
    )
    ok = invoke("validate", str(schedule), "--pipeline", "schedule")  # was KeyError: unknown pipeline 'schedule'
    assert ok.exit_code == 0, ok.output
    assert ok.stderr.strip() == f"ok {schedule} is a valid schedule config"
    shipped = invoke("validate", "configs/schedule.yaml", "--pipeline", "schedule")
    assert shipped.exit_code == 0 and "ok configs/schedule.yaml is a valid schedule config" in shipped.stderr

    # --set on a schedule config is relative to its top level, checked by ScheduleConfig.
    bad_cron = invoke("validate", str(schedule), "--pipeline", "schedule", "--set", "schedule.cron=0 25 * * *")
    assert bad_cron.exit_code == 2
    assert bad_cron.stderr.splitlines() == [
        f"error: {schedule}: invalid configuration",
        "  schedule.cron: Value error, not a valid cron expression: '0 25 * * *' (expected five fields, e.g. "
        "'*/15 * * * *')",
    ]
    unknown = invoke("validate", str(schedule), "--pipeline", "schedule", "--set", "watch=[blog]")
    assert unknown.stderr.splitlines() == [
        f"error: {schedule}: invalid configuration",
        f"  watch: unknown source(s) ['blog']; {feature_config} defines ['docs']",
    ]
    both = invoke("validate", str(schedule), "--pipeline", "schedule", "--set", "schedule.interval_seconds=60")
    assert "  schedule: Value error, set exactly one of `cron` or `interval_seconds`" in both.stderr
    through = invoke("validate", str(schedule), "--pipeline", "schedule", "--set", "schedule.cron.hour=3")
    assert error_line(through) == (
        f"error: {schedule}: --set 'schedule.cron.hour=3': schedule.cron is a single value ('0 3 * * *'), not a "
        "mapping, so it has no key 'hour'; set schedule.cron=<value> instead"
    )


def test_run_help_lists_each_pipeline_with_one_line():
    result = CliRunner().invoke(app, ["run", "--help"], env={"COLUMNS": "100"})
    assert result.exit_code == 0
    lines = [line.strip() for line in result.output.splitlines()]
    assert "Pipelines:" in lines
    listed = lines[lines.index("Pipelines:") + 1 : lines.index("Pipelines:") + 3]
    assert listed == [
        "feature_engineering  crawl, clean, chunk, embed into Qdrant; curate datasets",
        "training             fine-tune on them (SFT, DPO, ...); evaluate, register",
    ]


def test_the_top_level_help_describes_the_tool_and_shows_examples():
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0
    assert "the one entry point every Make target calls" not in result.output
    assert "Turn your documents into a fine-tuned, evaluated LLM" in result.output
    lines = [line.strip() for line in result.output.splitlines()]
    examples = lines[lines.index("Examples:") + 1 :]
    assert examples[:3] == [
        "llm-engineering validate configs/feature_engineering.yaml",
        "llm-engineering run feature_engineering -c configs/feature_engineering.yaml",
        "llm-engineering validate configs/training.yaml --set stages.0.adapter.r=8",
    ]
    # The examples work as written (the validating ones, here; run is tested by the pipeline tests).
    for example in examples[:3]:
        if example.startswith("llm-engineering validate"):
            ran = CliRunner().invoke(app, example.split()[1:])
            assert ran.exit_code == 0, ran.output
    validate_help = CliRunner().invoke(app, ["validate", "--help"], env={"COLUMNS": "200"}).output
    assert "Check a config without running anything" in validate_help and "--set" in validate_help
    assert "watch=[articles]" in validate_help  # shown literally, not eaten as rich markup


def test_validate_show_prints_the_effective_values_and_where_the_budgets_come_from():
    config = "configs/feature_engineering-openai.yaml"
    result = invoke("validate", config, "--show", "--set", "datasets.llm.max_new_tokens=350")
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [f"ok {config} is a valid feature_engineering config"]
    shown = yaml.safe_load(result.stdout)["parameters"]
    datasets = shown["datasets"]
    assert datasets["llm"]["max_new_tokens"] == 350  # the --set override
    assert datasets["instructions"]["max_new_tokens"] == 350  # left out in the YAML: the llm block's
    assert datasets["preferences"]["max_new_tokens"] == 300  # set in the YAML: its own
    assert datasets["llm"]["adaptive_concurrency"] is True and datasets["llm"]["timeout_s"] == 60  # defaults filled
    budgets = [" ".join(line.split()) for line in result.stdout.splitlines() if line.startswith("#   datasets.")]
    assert budgets[:2] == [
        "# datasets.instructions.max_new_tokens = 350 "
        "from datasets.llm.max_new_tokens (instructions.max_new_tokens not set)",
        "# datasets.preferences.max_new_tokens = 300 "
        "from datasets.preferences.max_new_tokens (overrides llm.max_new_tokens)",
    ]
    assert any("jury.members.0.max_new_tokens = 32 the member's own" in line for line in budgets)

    plain = invoke("validate", config)
    assert plain.exit_code == 0 and plain.stdout == ""  # without --show: the ok line only
