"""Quality filters: each planted bad sample removed by exactly its filter, counted; config errors name themselves."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from llm_engineering.application.quality_filters import apply_filters
from llm_engineering.domain.config.dataset_quality import QualityFilterConfig
from llm_engineering.domain.samples import InstructionSample, PreferenceSample

EXTRACT = "LoRA freezes the pretrained weights and learns two small low-rank matrices for each adapted layer."
GOOD_ANSWER = "LoRA freezes the pretrained weights and learns two small low-rank matrices per adapted layer."


def sample(sample_id: str, instruction: str = "How does LoRA work?", answer: str = GOOD_ANSWER,
           extract: str = EXTRACT) -> InstructionSample:  # fmt: skip
    return InstructionSample(sample_id=sample_id, instruction=instruction, answer=answer, extract=extract,
                             document_id="d", chunk_id="c", source="s")  # fmt: skip


SAMPLES = [
    sample("good"),
    sample("imperative", instruction="Explain how LoRA adapts a layer."),
    sample("too-short-answer", answer="Low rank."),
    sample("statement", instruction="LoRA is a fine-tuning method."),
    sample("template", answer=GOOD_ANSWER + "\nInstruction: ask another question"),
    sample("open-fence", answer="```python\nlora = LoraConfig(r=8) # learns low-rank matrices weights"),
    sample("refusal", answer="As an AI, I cannot say how LoRA freezes pretrained weights in each layer."),
    sample("ungrounded", answer="Quantum chromodynamics describes quarks, gluons and colour confinement forces."),
]


def test_each_planted_sample_is_removed_by_its_filter_and_counted() -> None:
    kept, removed, counts = apply_filters(SAMPLES, QualityFilterConfig())

    assert [s.sample_id for s in kept] == ["good", "imperative"]
    assert {r.sample_id: r.stage for r in removed} == {
        "too-short-answer": "filter:length",
        "statement": "filter:instruction_format",
        "template": "filter:template_markers",
        "open-fence": "filter:code_fences",
        "refusal": "filter:excluded_phrases",
        "ungrounded": "filter:grounding",
    }
    assert counts == {"length": 1, "instruction_format": 1, "template_markers": 1, "code_fences": 1,
                      "excluded_phrases": 1, "grounding": 1, "repetition": 0, "context_reference": 0}  # fmt: skip
    assert len(kept) + len(removed) == len(SAMPLES)
    assert "answer has 9 characters, outside [20, 8000]" in next(
        r.reason for r in removed if r.stage == "filter:length"
    )


def test_filters_and_params_come_from_yaml_style_config() -> None:
    config = QualityFilterConfig.model_validate(
        {"filters": [
            {"name": "length", "params": {"unit": "words", "instruction": {"min": 2}, "answer": {"min": 3}}},
            {"name": "excluded_phrases", "params": {"phrases": ["quantum"]}},
        ]}
    )  # fmt: skip
    kept, removed, counts = apply_filters(SAMPLES, config)
    assert counts == {"length": 1, "excluded_phrases": 1}  # "Low rank." has 2 words; only one mentions quantum
    assert {r.sample_id for r in removed} == {"too-short-answer", "ungrounded"}


def test_unknown_filter_name_is_a_validation_error_naming_it() -> None:
    with pytest.raises(ValidationError) as error:
        QualityFilterConfig.model_validate({"filters": [{"name": "length"}, {"name": "profanity"}]})
    assert "unknown quality filter 'profanity'; known filters: code_fences, context_reference, excluded_phrases" in str(
        error.value
    )


def test_bad_filter_params_and_duplicates_fail_at_config_time() -> None:
    with pytest.raises(ValidationError, match="max \\(5\\) is below min \\(10\\)"):
        QualityFilterConfig.model_validate(
            {"filters": [{"name": "length", "params": {"answer": {"min": 10, "max": 5}}}]}
        )
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        QualityFilterConfig.model_validate({"filters": [{"name": "grounding", "params": {"treshold": 0.3}}]})
    with pytest.raises(ValidationError, match="quality filter listed twice: length"):
        QualityFilterConfig.model_validate({"filters": [{"name": "length"}, {"name": "length"}]})


def test_preference_samples_use_prompt_and_chosen() -> None:
    pair = PreferenceSample(sample_id="p", prompt="Describe LoRA.", chosen="As an AI I cannot help with that.",
                            rejected="fine", document_id="d", chunk_id="c", source="s")  # fmt: skip
    kept, removed, counts = apply_filters([pair], QualityFilterConfig())
    assert kept == [] and removed[0].stage == "filter:excluded_phrases" and counts["excluded_phrases"] == 1


def test_degenerate_repetition_and_context_references_are_removed():
    from llm_engineering.application.quality_filters import apply_filters
    from llm_engineering.domain.config.dataset_quality import QualityFilterConfig
    from llm_engineering.domain.samples import InstructionSample

    def sample(sample_id: str, instruction: str, answer: str) -> InstructionSample:
        return InstructionSample(sample_id=sample_id, instruction=instruction, answer=answer, document_id="d",
                                 chunk_id="c", source="s")  # fmt: skip

    answer = "LoRA trains two small matrices per layer while the base weights stay frozen, which saves memory."
    samples = [
        sample("ok", "How does LoRA save memory during fine-tuning?", answer),
        sample("stutter", "How to create a new instance of the `Amina_Bos_Bos_Bos_Bos_Bos` class?", answer),
        sample("loop", "Why use LoRA?", " ".join(["the model learns the update"] * 6)),
        sample("context", "What is the purpose of the text above?", answer),
        sample("fine-code", "Which constant pads ids?", "Use 0000 as padding, e.g. ids = [5, 9, 0, 0, 0, 0]."),
    ]
    config = QualityFilterConfig(filters=[{"name": "repetition"}, {"name": "context_reference"}])
    kept, removed, counts = apply_filters(samples, config)
    assert [s.sample_id for s in kept] == ["ok", "fine-code"]
    assert {r.sample_id: r.reason for r in removed} == {
        "stutter": "instruction repeats one token 4+ times in a row",
        "loop": "answer repeats itself (5 distinct of 28 3-grams)",
        "context": "instruction refers to 'the text above', which the trained model will not see",
    }
    assert counts == {"repetition": 2, "context_reference": 1}
