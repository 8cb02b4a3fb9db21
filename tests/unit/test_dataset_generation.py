"""Instruction and preference generation through the real OpenAI-compatible provider and a loopback server."""

from __future__ import annotations

import pytest

from llm_engineering.application.dataset_generation.extracts import build_extracts, strip_overlap
from llm_engineering.application.dataset_generation.failure_budget import (
    TooManyFailedGenerations,
    check_generation_budget,
)
from llm_engineering.application.dataset_generation.instructions import generate_instructions
from llm_engineering.application.dataset_generation.parsing import ParseError, parse_question_answer
from llm_engineering.application.dataset_generation.preferences import generate_preferences, length_target
from llm_engineering.domain.config.dataset_generation import (
    DatasetGenerationConfig,
    ExtractConfig,
    InstructionGenerationConfig,
    PreferenceGenerationConfig,
    PromptFiles,
)
from llm_engineering.domain.config.llm import LLMConfig
from llm_engineering.domain.documents import Chunk
from llm_engineering.infrastructure.llm.factory import build_provider
from tests.support.dataset_responder import dataset_responder
from tests.support.openai_server import Fault, OpenAIStubServer, last_user_message

TEXTS = {
    "doc-a": "LoRA trains two small matrices per layer. The base weights stay frozen, so memory drops a lot.",
    "doc-b": "Packing joins short samples into one sequence. It wastes fewer padding tokens during training.",
    "doc-c": "MALFORMED first try. Deduplication removes near copies before they bias the model.",
    "doc-d": "HOPELESS output. This text never gets a usable pair from the model whatever we ask.",
}


def chunk(document_id: str, index: int, text: str) -> Chunk:
    return Chunk(
        chunk_id=f"{document_id}-{index}",
        document_id=document_id,
        source="articles",
        location=f"/corpus/{document_id}.md",
        chunk_index=index,
        text=text,
        token_count=len(text.split()),
        content_hash=f"{document_id}{index}",
    )


@pytest.fixture
def extracts():
    chunks = [chunk(d, 0, t) for d, t in TEXTS.items()]
    chunks[0].author = "Maya"
    return build_extracts(chunks, ExtractConfig(min_characters=20))


QA = InstructionGenerationConfig(mode="question_answer", pairs_per_extract=2)


@pytest.fixture
def server():
    with OpenAIStubServer(responder=dataset_responder) as stub:
        yield stub


def provider_for(server: OpenAIStubServer, tmp_path, **overrides):
    config = LLMConfig(provider="openai", base_url=server.base_url, model="stub", cache_dir=tmp_path / "cache",
                       max_retries=2, backoff_base_s=0.01, **overrides)  # fmt: skip
    return build_provider(config)


def test_extracts_merge_consecutive_chunks_without_repeating_the_overlap():
    chunks = [
        chunk("doc", 0, "First sentence here. Second sentence follows."),
        chunk("doc", 1, "Second sentence follows. Third one ends it."),
        chunk("doc", 2, "A new part starts. " * 30),
    ]
    extracts = build_extracts(chunks, ExtractConfig(max_characters=300, min_characters=10))
    assert extracts[0].text == "First sentence here. Second sentence follows.\n\nThird one ends it."
    assert extracts[0].chunk_ids == ["doc-0", "doc-1"]
    assert extracts[1].chunk_ids == ["doc-2"]
    assert strip_overlap("abc def ghi jkl mno", "ghi jkl mno pqr stu") == "pqr stu"


def test_instruction_pairs_with_repair_and_recorded_failures(server, tmp_path, extracts):
    provider = provider_for(server, tmp_path)
    result = generate_instructions(extracts, provider, QA, PromptFiles())
    by_document = {}
    for sample in result.samples:
        by_document.setdefault(sample.document_id, []).append(sample)
    assert sorted(by_document) == ["doc-a", "doc-b", "doc-c"]
    assert all(len(samples) == 2 for samples in by_document.values())
    lora = by_document["doc-a"][0]
    assert lora.answer == "LoRA trains two small matrices per layer."
    assert lora.instruction.startswith("What do we know about the main idea")
    assert lora.extract == TEXTS["doc-a"]
    # doc-c was repaired: 2 first tries + 2 repairs. doc-d failed after its repair, raw output kept.
    assert server.count("MALFORMED") == 4
    assert [f.error for f in result.failures] == [
        "after repair: missing a 'Question:' line followed by an 'Answer:' line"
    ] * 2
    assert result.failures[0].raw_output == "Sure! Here is something about the text."
    assert any("written by Maya" in r["messages"][0]["content"] for r in server.requests)  # the author's voice

    calls = server.request_count
    again = generate_instructions(extracts, provider, QA, PromptFiles())
    assert server.request_count == calls  # a rerun is answered from the cache
    assert [s.sample_id for s in again.samples] == [s.sample_id for s in result.samples]


def test_backtranslation_keeps_the_source_passage_as_the_answer(server, tmp_path):
    text = (
        "Author: Maya\n\n"
        + "LoRA freezes the base weights and learns two small matrices per layer, so memory drops. " * 3
        + "\n\n```python\nconfig = LoraConfig(r=16)\n\nmodel = get_peft_model(model, config)\n```\n\n"
        + "Rank sixteen is a good default for small models; raise it when the task is far from pretraining. " * 3
    )
    extracts = build_extracts([chunk("doc-a", 0, text)], ExtractConfig(min_characters=20))
    provider = provider_for(server, tmp_path)
    config = InstructionGenerationConfig(pairs_per_extract=3, passage_max_characters=300, passage_min_characters=50)
    result = generate_instructions(extracts, provider, config, PromptFiles())
    answers = [s.answer for s in result.samples]
    assert len(answers) == 3 and not result.failures
    assert answers[0].startswith("LoRA freezes the base weights")
    assert answers[1].startswith("```python\nconfig = LoraConfig(r=16)\n\nmodel") and answers[1].endswith("```")
    assert answers[2].startswith("Rank sixteen")
    assert all("Author:" not in a for a in answers)  # the byline is metadata, not an answer
    assert result.samples[0].instruction == "What should we know about: LoRA freezes the base?"


def test_json_output_format_uses_response_format(server, tmp_path, extracts):
    provider = provider_for(server, tmp_path)
    config = InstructionGenerationConfig(mode="question_answer", pairs_per_extract=1, output_format="json")
    result = generate_instructions(extracts[:1], provider, config, PromptFiles())
    assert result.samples[0].answer == "LoRA trains two small matrices per layer."
    assert server.requests[0]["response_format"] == {"type": "json_object"}


def test_transient_faults_are_retried_and_a_persistent_one_costs_one_sample(server, tmp_path, extracts):
    server.script("LoRA trains", Fault.rate_limited(retry_after=0.2), Fault.server_error(500))
    server.always("Packing joins", Fault.server_error(503))
    provider = provider_for(server, tmp_path)
    result = generate_instructions(
        extracts[:2], provider, QA.model_copy(update={"pairs_per_extract": 1}), PromptFiles()
    )
    assert [s.document_id for s in result.samples] == ["doc-a"]
    assert len(result.failures) == 1 and "HTTP 503" in result.failures[0].error
    assert provider.usage().failed == 1


def test_extract_vs_generated_preferences(server, tmp_path, extracts):
    provider = provider_for(server, tmp_path)
    samples = generate_instructions(
        extracts[:2], provider, QA.model_copy(update={"pairs_per_extract": 1}), PromptFiles()
    ).samples
    pairs = generate_preferences(samples, provider, PreferenceGenerationConfig(), PromptFiles())
    assert len(pairs.samples) == 2 and not pairs.failures
    pair = pairs.samples[0]
    assert pair.prompt == samples[0].instruction and pair.chosen == samples[0].answer
    assert pair.rejected.startswith("Generally speaking")
    assert pair.strategy == "extract_vs_generated"
    # The rejected answer is asked for the chosen one's length (rounded to ten words): length does not tell them apart
    asked = [last_user_message(r) for r in server.requests if "Answer in about" in last_user_message(r)]
    assert [a.rsplit("\n\n", 1)[1] for a in asked] == [length_target(s.answer) for s in samples]
    assert length_target("one two three") == "Answer in about 10 words."
    assert length_target(" ".join(["w"] * 96)) == "Answer in about 100 words."


def test_judge_ranked_preferences_pick_best_and_worst(server, tmp_path, extracts):
    provider = provider_for(server, tmp_path)
    samples = generate_instructions(
        extracts[:2], provider, QA.model_copy(update={"pairs_per_extract": 1}), PromptFiles()
    ).samples
    config = PreferenceGenerationConfig(strategy="judge_ranked", candidates=3)
    pairs = generate_preferences(samples, provider, config, PromptFiles())
    assert len(pairs.samples) == 2
    assert all(
        p.chosen == s.answer and p.rejected.startswith("Generally") for p, s in zip(pairs.samples, samples, strict=True)
    )
    judged = [r for r in server.requests if "Grade the answer" in r["messages"][0]["content"]]
    assert len(judged) == 2 * 3  # the grounded answer + two styled ones, each judged once


def test_parsing_is_forgiving_about_layout_and_strict_about_content():
    assert parse_question_answer("**Question:** What is LoRA?\n**Answer:** Low-rank adapters.") == (
        "What is LoRA?",
        "Low-rank adapters.",
    )
    assert parse_question_answer('{"question": "Why?", "answer": "Because."}', "json") == ("Why?", "Because.")
    for bad, problem in [
        ("", "the reply was empty"),
        ("Question: Why?\nAnswer: Why?", "the answer only repeats the question"),
        ("Question: Why?", "missing a 'Question:' line followed by an 'Answer:' line"),
        ('{"question": "Why?",}', "invalid JSON"),
    ]:
        with pytest.raises(ParseError, match=problem):
            parse_question_answer(bad, "json" if bad.startswith("{") else "text")


def test_json_output_needs_a_server():
    with pytest.raises(ValueError, match="output_format 'json' needs llm.provider 'openai'"):
        DatasetGenerationConfig(instructions={"output_format": "json", "mode": "question_answer"})
    with pytest.raises(ValueError, match="output_format 'json' is for mode 'question_answer'"):
        DatasetGenerationConfig(instructions={"output_format": "json"})


def test_a_generated_pair_cut_off_by_its_budget_is_dropped_not_repaired(server, tmp_path, extracts):
    """question_answer: the LLM writes the answer too, so a reply that ran out of tokens ends mid-answer; it is
    dropped with its raw text (not parsed, not sent for repair), and the other extracts' pairs are kept."""
    provider = provider_for(server, tmp_path)
    server.always("Packing joins", Fault.truncated())  # doc-b's extract
    result = generate_instructions(extracts, provider, QA, PromptFiles())
    assert sorted({s.document_id for s in result.samples}) == ["doc-a", "doc-c"]
    assert [(d.reason, d.stage) for d in result.dropped] == [("answer truncated", "generation:complete_answers")] * 2
    assert all("Packing joins" in d.text for d in result.dropped) and {d.matched for d in result.dropped} == {
        extracts[1].extract_id
    }
    assert server.count("Packing joins") == 2  # no repair prompt for a cut-off reply
    assert len(result.failures) == 2  # doc-d's, as before: truncation is not a failure


def test_a_rejected_answer_cut_off_by_its_budget_drops_the_pair_and_the_cache_remembers(server, tmp_path, extracts):
    """The artefact: rejected answers cut off mid-sentence at max_new_tokens, chosen ones complete, so DPO learns
    "complete beats truncated". The server says `finish_reason: length`; that pair is dropped, counted, not lost."""
    provider = provider_for(server, tmp_path)
    samples = generate_instructions(
        extracts[:2], provider, QA.model_copy(update={"pairs_per_extract": 1}), PromptFiles()
    ).samples
    server.always("Packing joins", Fault.truncated())  # doc-b's question, asked without its extract
    pairs = generate_preferences(samples, provider, PreferenceGenerationConfig(), PromptFiles())
    assert [p.document_id for p in pairs.samples] == ["doc-a"] and not pairs.failures
    (dropped,) = pairs.dropped
    assert (dropped.reason, dropped.stage, dropped.matched) == (
        "rejected answer truncated",
        "generation:complete_answers",
        samples[1].sample_id,
    )
    assert dropped.text.startswith(samples[1].instruction) and "Generally speaking" in dropped.text
    assert (pairs.answers_generated, pairs.answers_truncated) == (2, 1)

    calls = server.request_count
    again = generate_preferences(samples, provider, PreferenceGenerationConfig(), PromptFiles())
    assert server.request_count == calls  # a rerun is free: the cache kept the answer and its finish_reason
    assert [d.sample_id for d in again.dropped] == [dropped.sample_id]
    assert [p.sample_id for p in again.samples] == [p.sample_id for p in pairs.samples]


def test_a_truncated_candidate_is_never_ranked(server, tmp_path, extracts):
    provider = provider_for(server, tmp_path)
    samples = generate_instructions(
        extracts[:2], provider, QA.model_copy(update={"pairs_per_extract": 1}), PromptFiles()
    ).samples
    server.always("Answer in detail.", Fault.truncated())  # one of the two styled candidates, for every question
    config = PreferenceGenerationConfig(strategy="judge_ranked", candidates=3)
    pairs = generate_preferences(samples, provider, config, PromptFiles())
    assert len(pairs.samples) == 2 and not pairs.dropped
    judged = [r["messages"][0]["content"] for r in server.requests if "Grade the answer" in r["messages"][0]["content"]]
    assert len(judged) == 2 * 2  # the grounded answer and the complete candidate; the cut-off one is not judged
    assert (pairs.answers_generated, pairs.answers_truncated) == (4, 2)

    server.always("Answer in one short sentence.", Fault.truncated())  # now every generated candidate is cut off
    config = PreferenceGenerationConfig(strategy="judge_ranked", candidates=3, candidate_temperature=0.5)
    pairs = generate_preferences(samples, provider, config, PromptFiles())
    assert not pairs.samples and [d.reason for d in pairs.dropped] == ["rejected answer truncated"] * 2


def test_failed_calls_record_their_cause_and_the_budget_quotes_them(server, tmp_path, extracts):
    bad_gateway = "<html>\n<body><h1>502 Bad Gateway</h1></body>\n</html>"
    server.always("LoRA trains", Fault.server_error(502, body=bad_gateway, content_type="text/html"))
    server.always("Packing joins", Fault.disconnect())
    provider = build_provider(LLMConfig(provider="openai", base_url=server.base_url, model="stub", cache=False,
                                        max_retries=0))  # fmt: skip
    one_pair = QA.model_copy(update={"pairs_per_extract": 1})

    result = generate_instructions(extracts[:2], provider, one_pair, PromptFiles())

    closed = "connection error: RemoteProtocolError: Server disconnected without sending a response."
    assert [(f.error, f.cause, f.kind) for f in result.failures] == [
        ("LLM call failed: HTTP 502: <html> <body><h1>502 Bad Gateway</h1></body> </html>", "HTTP 502",
         "LLM call failed: HTTP 502"),
        (f"LLM call failed: {closed}", "connection error", "LLM call failed: connection error"),
    ]  # fmt: skip
    kept: list[str] = []
    with pytest.raises(TooManyFailedGenerations) as raised:
        check_generation_budget(0, result.failures, 0.5, keep=lambda: kept.append("saved") or "artifact failures:1")
    assert str(raised.value) == (
        "2 of 2 generations failed (> max_failed_fraction 50%); most common: LLM call failed: HTTP 502 (1), "
        "LLM call failed: connection error (1); first: LLM call failed: HTTP 502: <html> <body><h1>502 Bad "
        "Gateway</h1></body> </html>; every failure, with its raw output, is kept in artifact failures:1"
    )
    assert kept == ["saved"]  # saved before raising
    check_generation_budget(2, result.failures, 0.5, keep=lambda: kept.append("again") or "")  # 50%: within
    assert kept == ["saved"]


CHATTY_VERDICT = "This answer looks mostly fine to me, though it could cite the text more."


def chatty_judge(body):
    """The dataset responder, but the preference judge answers without the `Score:` line it was asked for."""
    return CHATTY_VERDICT if "Grade the answer" in last_user_message(body) else dataset_responder(body)


def test_judge_verdicts_that_do_not_parse_are_kept_verbatim(tmp_path, extracts):
    with OpenAIStubServer(responder=chatty_judge) as server:
        provider = provider_for(server, tmp_path)
        one_pair = QA.model_copy(update={"pairs_per_extract": 1})
        samples = generate_instructions(extracts[:1], provider, one_pair, PromptFiles()).samples
        config = PreferenceGenerationConfig(strategy="judge_ranked", candidates=3)
        pairs = generate_preferences(samples, provider, config, PromptFiles())

    [failure] = pairs.failures
    assert failure.error == "judge scored 0 of 3 candidates"
    assert failure.kind == "judge scored 0 of 3 candidates: unparseable verdict"
    assert failure.raw_output.splitlines() == [
        f"candidate {index} (judge, unparseable verdict): {CHATTY_VERDICT}" for index in (1, 2, 3)
    ]
    [judge] = pairs.ranking.members
    assert judge.first_error == f"verdict {CHATTY_VERDICT!r}"
    assert judge.unjudged_by_reason == {"unparseable verdict": 3}


def test_a_task_budget_overrides_the_llm_block_only_when_set(server, tmp_path, extracts):
    llm = LLMConfig(provider="openai", base_url=server.base_url, model="stub", cache=False, max_new_tokens=222)
    one_pair = {"mode": "question_answer", "pairs_per_extract": 1}
    unset = DatasetGenerationConfig(llm=llm, instructions=one_pair, preferences={})
    given = DatasetGenerationConfig(llm=llm, instructions=one_pair | {"max_new_tokens": 123},
                                    preferences={"max_new_tokens": 111})  # fmt: skip
    provider = build_provider(llm)
    sent = []
    for datasets in (unset, given):
        server.reset()
        samples = generate_instructions(extracts[:1], provider, datasets.instruction_settings(), PromptFiles()).samples
        generate_preferences(samples, provider, datasets.preference_settings(), PromptFiles())
        sent.append([body["max_tokens"] for body in server.requests])
    assert sent == [[222, 222], [123, 111]]  # [instruction, rejected answer] as the server received them
    assert unset.generation_settings() == [
        ("instructions.max_new_tokens", 222, "llm.max_new_tokens (instructions.max_new_tokens not set)"),
        ("preferences.max_new_tokens", 222, "llm.max_new_tokens (preferences.max_new_tokens not set)"),
    ]
    assert [value for _, value, _ in given.generation_settings()] == [123, 111]
