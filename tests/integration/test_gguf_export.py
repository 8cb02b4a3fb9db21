"""GGUF export through llama.cpp's own converter (and quantizer): the files load back with the safetensors model's
next-token logits, are listed in the model card and pushed to the Hub; a failure leaves no file that looks done."""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
from pathlib import Path

import pytest
from pydantic import SecretStr

from tests.integration.conftest import gguf_quantizations
from tests.support.hub_server import HubStubServer, use_stub_endpoint

PROMPTS = [
    "Explain LoRA in one sentence.",
    "What does the feature pipeline store in Qdrant?",
    "<|im_start|>user\nWhat is DPO?<|im_end|>\n<|im_start|>assistant\n",
]
# Per quantization: the largest logit difference allowed, as a share of the reference logits' largest magnitude, and
# the share of positions whose top-1 token must agree. The tiny random model's logits are nearly flat (|logit| < 1),
# so top-1 is a strict test there; the measured values are in the comments (tolerances leave about 3x room).
TOLERANCES = {
    "f16": (2e-3, 1.0),  # measured 3.1e-4, 32/32 agree
    "q8_0": (3e-2, 0.9),  # measured 7.5e-3, 32/32
    "q4_0": (0.3, 0.75),  # measured 9.7e-2, 31/32
}


def logits(model, tokenizer, prompt: str):  # noqa: ANN001, ANN201 - torch objects
    import torch

    with torch.no_grad():
        return model(**tokenizer(prompt, return_tensors="pt")).logits[0].float()


# Loading a GGUF into transformers parses its 49k-token vocabulary in Python (about 10 s here): f16 in `make test`,
# q8_0 in `make test-slow`; llama.cpp reads all of them below, in a second.
@pytest.mark.parametrize("quantization", ["f16", pytest.param("q8_0", marks=pytest.mark.slow)])
def test_a_gguf_loads_back_in_transformers_with_the_safetensors_models_next_token_logits(
    tiny_gguf_export,
    quantization: str,  # noqa: ANN001
) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, card = tiny_gguf_export
    assert [f.quantization for f in card.gguf] == gguf_quantizations()
    reference = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    for described in [f for f in card.gguf if f.quantization == quantization]:
        max_share, min_agreement = TOLERANCES[described.quantization]
        loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=described.file, dtype=torch.float32)
        worst, agreeing, positions = 0.0, 0, 0
        for prompt in PROMPTS:
            expected, actual = logits(reference, tokenizer, prompt), logits(loaded, tokenizer, prompt)
            assert expected.shape == actual.shape
            worst = max(worst, ((expected - actual).abs().max() / expected.abs().max()).item())
            agreeing += int((expected.argmax(-1) == actual.argmax(-1)).sum())
            positions += expected.shape[0]
        print(f"{described.quantization}: max |diff| {worst:.2e} of max |logit|, top-1 {agreeing}/{positions}")
        assert worst <= max_share, described.quantization
        assert agreeing / positions >= min_agreement, described.quantization


@pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python is not installed")
def test_llama_cpp_reads_each_gguf_with_the_same_tokens_and_logits(tiny_gguf_export) -> None:  # noqa: ANN001
    """What llama.cpp's server will run: its tokenizer from the GGUF gives the Hugging Face tokenizer's ids, and its
    logits over every position are the safetensors model's, within the same tolerances."""
    import numpy as np
    import torch
    from llama_cpp import Llama
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, card = tiny_gguf_export
    reference = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    for described in card.gguf:
        max_share, min_agreement = TOLERANCES[described.quantization]
        llm = Llama(model_path=str(folder / described.file), logits_all=True, n_ctx=128, verbose=False, seed=0)
        try:
            for prompt in PROMPTS:
                ids = tokenizer(prompt).input_ids
                assert llm.tokenize(prompt.encode(), add_bos=False, special=True) == ids
                llm.reset()
                llm.eval(ids)
                actual = np.array(llm.scores[: len(ids)])
                expected = logits(reference, tokenizer, prompt).numpy()
                assert np.abs(expected - actual).max() / np.abs(expected).max() <= max_share, described.quantization
                assert (expected.argmax(-1) == actual.argmax(-1)).mean() >= min_agreement, described.quantization
        finally:
            llm.close()


def test_the_gguf_files_are_complete_and_listed_in_the_model_card(tiny_gguf_export) -> None:  # noqa: ANN001
    import gguf

    folder, card = tiny_gguf_export
    readme = (folder / "README.md").read_text()
    assert "tags: [llm-engineering, full, sft, gguf]" in readme
    for described in card.gguf:
        path = folder / described.file
        assert described.file == f"tiny-assistant-{described.quantization}.gguf"
        assert described.size_bytes == path.stat().st_size
        assert described.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
        size = f"{described.size_bytes / 2**20:.1f} MiB"
        assert f"| `{described.file}` | {described.quantization} | {size} | `{described.sha256}` |" in readme
    reader = gguf.GGUFReader(folder / card.gguf[0].file)  # the gguf package reads what llama.cpp's converter wrote
    assert bytes(reader.fields["general.architecture"].parts[-1]).decode() == "llama"
    template = bytes(reader.fields["tokenizer.chat_template"].parts[-1]).decode()
    assert "<|im_start|>" in template  # the ChatML template the model was trained with travels in the file
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".")]  # no partial or scratch file left


def test_the_hub_push_carries_the_gguf_files_through_lfs(tiny_gguf_export, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    from llm_engineering.infrastructure.hub import push_folder

    folder, card = tiny_gguf_export
    with HubStubServer(tokens={"hf_gguf"}) as hub:
        use_stub_endpoint(monkeypatch, hub.endpoint)
        push_folder(folder, "stub-user/tiny-assistant", SecretStr("hf_gguf"), message="run 1")
        repo = hub.repo("model", "stub-user/tiny-assistant")
        assert repo is not None
        for described in card.gguf:
            assert repo.files[described.file] == (folder / described.file).read_bytes()
            assert described.file in repo.commits[-1].lfs  # *.gguf is an LFS pattern of a new Hub repo
        assert repo.files["README.md"] == (folder / "README.md").read_bytes()
        assert hub.unhandled == []


def tiny_opt(folder: Path) -> Path:
    """A tiny random OPT, an architecture llama.cpp's converter lacks."""
    from transformers import OPTConfig, OPTForCausalLM

    config = OPTConfig(
        vocab_size=64, hidden_size=16, ffn_dim=32, num_hidden_layers=1, num_attention_heads=2, word_embed_proj_dim=16,
        max_position_embeddings=32,
    )  # fmt: skip
    OPTForCausalLM(config).save_pretrained(folder)
    return folder


def test_an_architecture_the_converter_lacks_is_named_and_leaves_no_file(tmp_path: Path) -> None:
    """OPT has no model class in llama.cpp's converter: a tiny random OPT, built here."""
    from llm_engineering.application.gguf_export import export_gguf
    from llm_engineering.domain.config.gguf_export import GgufExportConfig
    from llm_engineering.infrastructure.gguf_converter import GgufUnsupportedArchitecture

    folder = tiny_opt(tmp_path / "tiny-opt")
    before = sorted(p.name for p in folder.iterdir())

    with pytest.raises(GgufUnsupportedArchitecture) as raised:
        export_gguf(folder, "tiny-opt", GgufExportConfig(enabled=True, quantizations=["q8_0"]))

    assert raised.value.architecture == "OPTForCausalLM"
    assert str(raised.value).startswith(
        "llama.cpp's converter (llama-cpp-python 0.3.36) does not support the architecture 'OPTForCausalLM' of "
    )
    assert "export.gguf.enabled: false" in str(raised.value)
    assert sorted(p.name for p in folder.iterdir()) == before  # nothing written, not even a partial file


def test_a_conversion_that_fails_midway_leaves_no_file(tiny_model_dir: Path, tmp_path: Path) -> None:
    """Truncated weights: the converter fails, and neither a .gguf nor its partial file is left in the folder."""
    from llm_engineering.application.gguf_export import export_gguf
    from llm_engineering.domain.config.gguf_export import GgufExportConfig
    from llm_engineering.infrastructure.gguf_converter import GgufConversionFailed

    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])

    with pytest.raises(GgufConversionFailed, match=r"llama.cpp's converter failed on .* \(--outtype f16, exit status"):
        export_gguf(folder, "tiny", GgufExportConfig(enabled=True, quantizations=["f16"]))
    assert not list(folder.glob("*.gguf")) and not list(folder.glob(".*"))


def test_an_export_that_fails_leaves_the_previous_export_as_it_was(tmp_path: Path) -> None:
    """The GGUF step fails after the weights are written: the folder a promoted version points at is untouched."""
    import json

    from llm_engineering.application.export import ModelCard, export_model
    from llm_engineering.domain.config.gguf_export import GgufExportConfig
    from llm_engineering.infrastructure.gguf_converter import GgufUnsupportedArchitecture

    trained = tiny_opt(tmp_path / "trained")
    info = {"stage": "sft", "method": "full", "base_model": "tiny-opt", "is_adapter": False}
    (trained / "training_info.json").write_text(json.dumps(info))
    card = ModelCard(title="tiny-opt", base_model="tiny-opt", method="full", stage="sft", datasets=[], metrics={},
                     config={}, merged=False)  # fmt: skip
    target = tmp_path / "exports" / "tiny-opt" / "v1"
    target.mkdir(parents=True)
    (target / "README.md").write_text("the promoted version's card")

    with pytest.raises(GgufUnsupportedArchitecture):
        export_model(trained, target, True, card, GgufExportConfig(enabled=True, quantizations=["q8_0"]))
    assert sorted(p.name for p in target.parent.iterdir()) == ["v1"]  # no partial folder left
    assert sorted(p.name for p in target.iterdir()) == ["README.md"]
    assert (target / "README.md").read_text() == "the promoted version's card"

    folder, _ = export_model(trained, target, True, card, GgufExportConfig(enabled=False))
    assert folder == target and (target / "model.safetensors").is_file()
    assert "tiny-opt" in (target / "README.md").read_text()
    assert sorted(p.name for p in target.parent.iterdir()) == ["v1"]
