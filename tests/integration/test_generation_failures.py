"""Generation that fails says why, in a real ZenML run of the shipped OpenAI variant config: a server that answers
500 with a body for one article and closes the connection for the other fails the instruction step on its failure
budget, and the causes are verbatim in the error, the run summary and the artifact the failed step kept."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console
from zenml.client import Client

from llm_engineering.application.pipeline_runner import load_for, run_pipeline
from llm_engineering.application.run_summary import print_run_summary
from tests.conftest import PROJECT_ROOT, copy_articles
from tests.support.openai_server import Fault, OpenAIStubServer

OUT_OF_MEMORY = "CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 23.69 GiB total capacity)"
SERVER_ERROR = f"LLM call failed: HTTP 500: {OUT_OF_MEMORY}"
CLOSED = "LLM call failed: connection error: RemoteProtocolError: Server disconnected without sending a response."


def test_a_step_failed_on_its_budget_keeps_its_failures_with_their_causes(tmp_path: Path, data_dir: Path) -> None:
    corpus = copy_articles(tmp_path / "corpus", "lora-in-practice.md", "sequence-packing.md")
    config = PROJECT_ROOT / "configs" / "feature_engineering-openai.yaml"
    with OpenAIStubServer() as server:
        # Every instruction prompt names its article's author: one article's calls get a 500, the other's a hang-up.
        server.always("written by Maya Lindqvist", Fault.server_error(500, body=OUT_OF_MEMORY))
        server.always("written by Daniel Weiss", Fault.disconnect())
        settings = [
            f"crawl.sources=[{{name: articles, type: folder, path: '{corpus}'}}]",
            f"qdrant.path={tmp_path / 'qdrant'}",
            f"datasets.llm.base_url={server.base_url}",
            f"datasets.llm.cache_dir={tmp_path / 'llm_cache'}",
            "datasets.llm.max_retries=0",  # each cause once, at once
            "embedding.show_progress=false",
        ]
        with pytest.raises(RuntimeError, match=r"failure in step\(s\): generate_instruction_samples"):
            run_pipeline("feature_engineering", load_for("feature_engineering", config, settings))
        sent = server.request_count
        # The shipped YAML leaves instructions.max_new_tokens out: the requests carry datasets.llm's 400.
        assert {body["max_tokens"] for body in server.requests} == {400}

    run = Client().list_pipeline_runs(sort_by="desc:created", size=1)[0]
    step = run.steps["generate_instruction_samples"]
    assert step.status == "failed"
    # The failed step's output: every generation it attempted, each failure with its cause verbatim.
    [kept] = step.outputs["instruction_generation_failures"]
    generated = kept.load()
    assert not generated.samples and len(generated.failures) == sent
    errors = {failure.error for failure in generated.failures}
    assert errors == {SERVER_ERROR, CLOSED}
    assert {failure.kind for failure in generated.failures} == {
        "LLM call failed: HTTP 500",
        "LLM call failed: connection error",
    }
    # ...as the dashboard shows it (the artifact's markdown report), and in the step's metadata.
    [report] = [v for v in kept.visualizations if v.uri.endswith("report.md")]
    text = Path(report.uri).read_text()
    assert OUT_OF_MEMORY in text and "Server disconnected without sending a response." in text
    assert step.run_metadata["failed"] == sent and set(step.run_metadata["failed_by_reason"]) == {
        "LLM call failed: HTTP 500",
        "LLM call failed: connection error",
    }
    # The error names the causes, quotes the first and says where the failures are.
    assert step.exception_info is not None
    message = step.exception_info.message
    assert f"{sent} of {sent} generations failed (> max_failed_fraction 50%); most common: " in message
    assert "LLM call failed: HTTP 500 (6)" in message and "LLM call failed: connection error (6)" in message
    assert f"first: {SERVER_ERROR}" in message or f"first: {CLOSED}" in message
    assert f"kept in artifact instruction_generation_failures:{kept.version}" in message
    # The run summary: the failed step's kept output and its top causes, the first quoted.
    console = Console(record=True, width=200)
    print_run_summary(Client().get_pipeline_run(run.id), console)
    summary = " ".join(console.export_text().split())
    assert f"failures: generate_instruction_samples: {sent} failed: LLM call failed: " in summary
    assert f"; first: {SERVER_ERROR}" in summary or f"; first: {CLOSED}" in summary
    assert f"instruction_generation_failures:{kept.version}" in summary  # the failed step's outputs column
