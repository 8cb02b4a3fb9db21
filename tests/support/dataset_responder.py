"""Deterministic answers for the generation prompts, served by the OpenAI stub server.

It plays a well-behaved LLM: grounded question-answer pairs from the extract, a generic answer
without context, and judges that prefer answers taken from the extract (the preference judge's 1-5 score, and the
accuracy_style rubric of a judge curation stage). Markers in the text script misbehaviour: `MALFORMED` answers
without the format once (the repair prompt fixes it), `HOPELESS` never follows the format.

It also follows the evol_instruct prompts (`evolution_reply`): each mutation rewrites the instruction its own
recognisable way, and an evolved instruction's answer is a sentence of the reference text (the second, so that it is
grounded but not the parent's answer). Markers in the parent instruction script the elimination cases: `COPYCAT` (the
reply is the parent unchanged), `TWEAK` (one word added), `LEAKY` (the reply quotes the prompt's wording), `STATEMENT`
(a statement, not an instruction), `RUNON` (the parent, then its own answer), `REFUSE` (the answer is a refusal),
`PARROT` (the answer repeats the instruction), `LONGWINDED` (the evolved instruction carries `CUTOFF`, for a test to
truncate its answer).
"""

from __future__ import annotations

import json
import re
from typing import Any

from tests.support.openai_server import last_user_message

EXTRACT = re.compile(r'"""\n(.*?)\n"""', re.DOTALL)


def first_sentence(text: str) -> str:
    prose = [line for line in text.splitlines() if line.strip() and not line.startswith(("#", "```", "Author"))]
    return re.split(r"(?<=[.!?])\s", " ".join(prose), maxsplit=1)[0].strip()


MUTATION_PHRASES = {  # a phrase of each shipped mutation prompt (llm_engineering/prompts/evolution/)
    "exactly one new constraint": "add_constraints",
    "its inquiry goes deeper": "deepen",
    "general concepts become specific": "concretize",
    "several explicit reasoning steps": "increase_reasoning_steps",
    "brand-new instruction on the same topic": "in_breadth",
}
ANSWER_PHRASE = "Follow the instruction below."
ADDED = {  # what each mutation adds: how a test recognises it in the evolved instruction
    "add_constraints": "Answer in at most three sentences and name one trade-off.",
    "deepen": "Why does it matter, and what are its limits?",
    "concretize": "Use the concrete case of",
    "increase_reasoning_steps": "First state the principle, then work through an example step by step, then conclude.",
    "in_breadth": "What is a less common aspect of",
}


def sentences(text: str) -> list[str]:
    prose = [line for line in text.splitlines() if line.strip() and not line.startswith(("#", "```", "Author"))]
    return [s.strip() for s in re.split(r"(?<=[.!?])\s", " ".join(prose)) if s.strip()]


def evolution_reply(prompt: str) -> str | None:
    """The reply to an evol_instruct prompt, or None when the prompt is not one."""
    extract_match = EXTRACT.search(prompt)
    extract = extract_match.group(1) if extract_match else ""
    if prompt.startswith(ANSWER_PHRASE) or f"\n\n{ANSWER_PHRASE}" in prompt:
        instruction = prompt.split("Instruction:\n", 1)[1]
        if "REFUSE" in instruction:
            return "I'm sorry, but I cannot help with that request."
        if "PARROT" in instruction:
            return instruction.split("\n", 1)[0]
        found = sentences(extract)
        if not found:
            return "Without a source to rely on, the general answer is that it depends on the setting and the data."
        return found[1] if len(found) > 1 else found[0]
    mutation = next((m for phrase, m in MUTATION_PHRASES.items() if phrase in prompt), None)
    if mutation is None:
        return None
    parent = prompt.split("Instruction:\n", 1)[1].split("\n\nReply with", 1)[0].strip()
    if "COPYCAT" in parent:
        return parent
    if "STATEMENT" in parent:  # a small model answering the parent instead of rewriting it
        return "The adapter is a pair of low-rank matrices trained on top of frozen weights."
    if "RUNON" in parent:  # a rewrite that goes on to answer itself: only the parent is left
        return f"{parent}\nThe answer to this question is: it depends."
    if "TWEAK" in parent:
        return parent.rstrip("?") + " exactly?"
    if "LEAKY" in parent:
        return f"{parent} Keep the rewritten prompt as close to the given prompt as possible."
    topic = " ".join((sentences(extract) or [parent])[0].split()[:5]).rstrip(".,:;")
    evolved = {
        "add_constraints": f"{parent} {ADDED['add_constraints']}",
        "deepen": f"{ADDED['deepen']} {parent}",
        "concretize": f"{parent} {ADDED['concretize']} {topic} as the example.",
        "increase_reasoning_steps": f"{parent} {ADDED['increase_reasoning_steps']}",
        "in_breadth": f"{ADDED['in_breadth']} {topic}, and how would you handle it in practice?",
    }[mutation]
    if "LONGWINDED" in parent:
        evolved += " Be thorough (CUTOFF)."
    return f"Rewritten instruction: {evolved}"  # a leading label, which the stage strips


def dataset_responder(body: dict[str, Any]) -> str:
    messages = body["messages"]
    prompt = last_user_message(body)
    first = messages[0]["content"]
    extract_match = EXTRACT.search(first)
    extract = extract_match.group(1) if extract_match else ""
    if '{"accuracy": 1-3' in prompt:  # the accuracy_style rubric of a judge curation stage
        answer = prompt.split("Answer:", 1)[1].split("Reply with JSON only", 1)[0].strip()
        grounded = answer and answer in extract
        return json.dumps({"accuracy": 3 if grounded else 1, "style": 3 if grounded else 2})
    if "Grade the answer" in prompt:
        answer = prompt.split("Answer:", 1)[1].split("Grade the answer", 1)[0].strip()
        return "Score: 5" if answer and answer in extract else "Score: 2"
    evolved = evolution_reply(prompt)
    if evolved is not None:
        return evolved
    if "Write the question that the text above answers" in first:
        passage = first.split("\n\nWrite the question", 1)[0]
        return f"Question: What should we know about: {' '.join(passage.split()[:4])}?"
    if "Write one question" in first and extract:  # an instruction prompt, or its repair
        if "HOPELESS" in extract or ("MALFORMED" in extract and len(messages) == 1):
            return "Sure! Here is something about the text."
        angle = re.search(r"could ask (about [^,]+?), then", first)
        sentence = first_sentence(extract)
        question = f"What do we know {angle.group(1) if angle else 'here'}: {sentence[:40]}?"
        if body.get("response_format", {}).get("type") == "json_object":
            return json.dumps({"question": question, "answer": sentence})
        return f"Question: {question}\nAnswer: {sentence}"
    return f"Generally speaking, it depends on many factors ({len(prompt)} characters asked)."
