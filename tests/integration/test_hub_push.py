"""Both Hub pushes against a real loopback stub of the Hub API (tests/support/hub_server.py): a model folder
(push_folder: create_repo + upload_folder) and a dataset with its card (DatasetDict.push_to_hub + DatasetCard)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from tests.support.hub_server import HubStubServer, use_stub_endpoint

TOKEN = "hf_stub_write_token"


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[HubStubServer]:
    """The stub answering like the Hub (LFS for *.safetensors / *.parquet); Xet off: the stub speaks LFS only."""
    with HubStubServer(tokens={TOKEN}) as server:
        use_stub_endpoint(monkeypatch, server.endpoint)
        yield server


def exported_folder(folder: Path) -> Path:
    """What export_model writes, in miniature: config, safetensors weights, tokenizer config and model card."""
    import torch
    from safetensors.torch import save_file

    from llm_engineering.application.export import ModelCard, render_model_card
    from llm_engineering.domain.model_summary import TrainingDataset

    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"model_type": "llama", "hidden_size": 8, "num_hidden_layers": 1}))
    save_file({"embed.weight": torch.arange(24, dtype=torch.float32).reshape(6, 4)}, str(folder / "model.safetensors"))
    (folder / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 64, "eos_token": "<|im_end|>"}))
    card = ModelCard(
        title="tiny-assistant",
        base_model="HuggingFaceTB/SmolLM2-135M-Instruct",
        method="lora",
        stage="dpo",
        datasets=[TrainingDataset(name="instruction_dataset", version="3", artifact_id="abc123")],
        metrics={"eval_loss": 1.25},
        config={"sft": {"max_steps": 3}},
        merged=True,
    )
    (folder / "README.md").write_text(render_model_card(card))
    return folder


def local_files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def pushed_files(server: HubStubServer, repo_type: str, repo_id: str) -> dict[str, bytes]:
    """The repo's files at main, less the .gitattributes the Hub puts in every new repo."""
    repo = server.repo(repo_type, repo_id)
    assert repo is not None, f"no {repo_type} repo {repo_id} on the stub"
    return {path: data for path, data in repo.files.items() if path != ".gitattributes"}


def test_push_folder_creates_a_private_repo_with_the_folders_exact_files(hub: HubStubServer, tmp_path: Path) -> None:
    from safetensors.torch import load

    from llm_engineering.infrastructure.hub import push_folder

    folder = exported_folder(tmp_path / "tiny-assistant")
    url = push_folder(folder, "stub-user/tiny-assistant", SecretStr(TOKEN), message="run 1")

    assert url == f"{hub.endpoint}/stub-user/tiny-assistant"
    repo = hub.repo("model", "stub-user/tiny-assistant")
    assert repo is not None and repo.private  # private by default
    assert set(repo.authorizations) == {f"Bearer {TOKEN}"}
    assert pushed_files(hub, "model", "stub-user/tiny-assistant") == local_files(folder)
    assert repo.commits[-1].title == "run 1"
    assert "model.safetensors" in repo.commits[-1].lfs and "config.json" not in repo.commits[-1].lfs
    assert load(repo.files["model.safetensors"])["embed.weight"][5, 3].item() == 23.0
    assert hub.count("PUT", r"^/lfs-objects/") == 1  # the weights, through the LFS batch API

    # Next run: same repo (exist_ok), one changed file; the unchanged weights are neither re-sent nor recommitted.
    (folder / "config.json").write_text(json.dumps({"model_type": "llama", "hidden_size": 16}))
    assert push_folder(folder, "stub-user/tiny-assistant", SecretStr(TOKEN), message="run 2") == url
    assert pushed_files(hub, "model", "stub-user/tiny-assistant") == local_files(folder)
    assert [c.title for c in repo.commits] == ["initial commit", "run 1", "run 2"]
    assert repo.commits[-1].paths == ("config.json",)
    assert hub.count("PUT", r"^/lfs-objects/") == 1
    assert repo.private
    assert hub.unhandled == []


def test_push_folder_through_the_xet_pipeline_that_production_takes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """With hf_xet installed (a dependency of huggingface_hub 2.4 on x86_64/arm64), upload_folder goes through
    its pipelined multi-commit path; the stub answers "regular" for every file so no Xet transfer is needed."""
    from huggingface_hub.utils._runtime import is_xet_available  # what upload_folder asks

    from llm_engineering.infrastructure.hub import push_folder

    folder = exported_folder(tmp_path / "tiny-assistant")
    with HubStubServer(tokens={TOKEN}, upload_mode="regular") as hub:
        use_stub_endpoint(monkeypatch, hub.endpoint, disable_xet=False)
        assert is_xet_available(), "hf_xet is not installed: this test would take the same path as the one above"
        url = push_folder(folder, "stub-user/public-assistant", SecretStr(TOKEN), private=False, message="run 1")
        repo = hub.repo("model", "stub-user/public-assistant")
        assert repo is not None and not repo.private
        assert url == f"{hub.endpoint}/stub-user/public-assistant"
        assert pushed_files(hub, "model", "stub-user/public-assistant") == local_files(folder)

        push_folder(folder, "stub-user/public-assistant", SecretStr(TOKEN), private=False, message="run 2")
        assert len(repo.commits) == 2  # nothing changed: no empty commit
        assert hub.unhandled == []


def instruction_samples(count: int, offset: int = 0):
    from llm_engineering.domain.samples import InstructionSample

    return [
        InstructionSample(
            sample_id=f"s{i}",
            instruction=f"Explain topic {i} in one sentence.",
            answer=f"Topic {i} is something the pipeline uses — ünïcode included.",
            document_id=f"d{i % 3}",
            chunk_id=f"c{i}",
            source="tests",
            extract=f"extract {i}",
        )
        for i in range(offset, offset + count)
    ]


def parquet_rows(data: bytes) -> list[dict]:
    import pyarrow.parquet as pq

    return pq.read_table(io.BytesIO(data)).to_pylist()


def assert_card_is(pushed: bytes, card: str, splits: dict[str, int]) -> None:
    """Our card's metadata and text, plus the loader metadata datasets generated (configs, dataset_info)."""
    import yaml
    from huggingface_hub import DatasetCard

    front_matter, text = card.removeprefix("---\n").split("\n---\n", 1)
    readme = DatasetCard(pushed.decode())
    metadata = readme.data.to_dict()
    assert {key: metadata[key] for key in yaml.safe_load(front_matter)} == yaml.safe_load(front_matter)
    assert readme.text == text
    assert metadata["configs"] == [
        {"config_name": "default", "data_files": [{"split": s, "path": f"data/{s}-*"} for s in splits]}
    ]
    assert {s["name"]: s["num_examples"] for s in metadata["dataset_info"]["splits"]} == splits


def test_dataset_push_writes_parquet_splits_and_the_card_to_a_private_dataset_repo(hub: HubStubServer) -> None:
    from llm_engineering.application.dataset_publication import dataset_card, push_to_hub, to_dataset_dict
    from llm_engineering.domain.samples import CurationReport, StageCount

    repo_id = "stub-user/llm-twin-instruction"
    dataset = to_dataset_dict(instruction_samples(5), instruction_samples(2, offset=100), "instruction")
    report = CurationReport(
        dataset="instruction", train=5, test=2, stages=[StageCount(stage="filter:length", samples_in=9, samples_out=7)]
    )
    card = dataset_card("instruction_dataset", report, "feature_run_1")

    url = push_to_hub(dataset, repo_id, TOKEN, private=True, card=card)

    assert url == f"{hub.endpoint}/datasets/{repo_id}"
    repo = hub.repo("dataset", repo_id)
    assert repo is not None and repo.private
    assert set(repo.authorizations) == {f"Bearer {TOKEN}"}
    files = pushed_files(hub, "dataset", repo_id)
    train, test = "data/train-00000-of-00001.parquet", "data/test-00000-of-00001.parquet"
    assert set(files) == {"README.md", train, test}
    assert_card_is(files["README.md"], card, {"train": 5, "test": 2})
    assert parquet_rows(files[train]) == dataset["train"].to_list()
    assert parquet_rows(files[test]) == dataset["test"].to_list()
    assert parquet_rows(files[test])[0]["messages"][1] == {"role": "assistant", "content": dataset["test"][0]["answer"]}

    # The next version replaces the splits (datasets reads the pushed card and lists data/ to decide what to drop).
    next_version = to_dataset_dict(instruction_samples(3, offset=10), instruction_samples(1, offset=200), "instruction")
    next_card = dataset_card("instruction_dataset", report.model_copy(update={"train": 3, "test": 1}), "feature_run_2")
    assert push_to_hub(next_version, repo_id, TOKEN, private=True, card=next_card) == url
    files = pushed_files(hub, "dataset", repo_id)
    assert set(files) == {"README.md", train, test}
    assert_card_is(files["README.md"], next_card, {"train": 3, "test": 1})
    assert [row["sample_id"] for row in parquet_rows(files[train])] == ["s10", "s11", "s12"]
    assert [row["sample_id"] for row in parquet_rows(files[test])] == ["s200"]
    assert hub.count("GET", rf"^/datasets/{repo_id}/resolve/[0-9a-f]{{40}}/README.md$") == 1  # the first card, read
    assert hub.unhandled == []


def test_a_rejected_token_fails_both_pushes_loudly_and_writes_nothing(hub: HubStubServer, tmp_path: Path) -> None:
    from huggingface_hub.errors import HfHubHTTPError

    from llm_engineering.application.dataset_publication import push_to_hub, to_dataset_dict
    from llm_engineering.infrastructure.hub import push_folder

    folder = exported_folder(tmp_path / "tiny-assistant")
    with pytest.raises(HfHubHTTPError, match="Invalid credentials in Authorization header") as model_error:
        push_folder(folder, "stub-user/tiny-assistant", SecretStr("hf_revoked"))
    assert model_error.value.response.status_code == 401

    dataset = to_dataset_dict(instruction_samples(2), instruction_samples(1, offset=100), "instruction")
    with pytest.raises(HfHubHTTPError, match="Invalid credentials in Authorization header") as dataset_error:
        push_to_hub(dataset, "stub-user/llm-twin-instruction", "hf_revoked", private=True, card="# card\n")
    assert dataset_error.value.response.status_code == 401

    assert hub.repos == {} and hub.lfs_objects == {}
    assert any(r.authorization == "Bearer hf_revoked" for r in hub.requests)
    assert f"Bearer {TOKEN}" not in {r.authorization for r in hub.requests}
    assert hub.unhandled == []


def test_a_hub_id_base_model_downloads_once_then_loads_offline(
    hub: HubStubServer, tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`base_model.name: owner/repo`: fetched from the Hub (a private repo: HF_TOKEN) into the HF cache, then the
    same name loads from that cache with the Hub unreachable and offline mode on."""
    import torch
    from huggingface_hub import constants

    from llm_engineering.infrastructure.causal_lm import load_base_model, load_tokenizer
    from llm_engineering.infrastructure.hub import push_folder

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "0")
    push_folder(tiny_model_dir, "stub-user/tiny-base", SecretStr(TOKEN))  # private by default
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    online = load_base_model("stub-user/tiny-base")
    assert load_tokenizer("stub-user/tiny-base").chat_template
    assert (tmp_path / "hf-cache" / "models--stub-user--tiny-base").is_dir()

    hub.stop()
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    offline = load_base_model("stub-user/tiny-base")
    for (name, expected), (_, actual) in zip(online.state_dict().items(), offline.state_dict().items(), strict=True):
        assert torch.equal(expected, actual), name
