"""Greedy answers to held-out instructions, scored with ROUGE-L F1 against the reference answers."""

from __future__ import annotations

from typing import Any


def generate_answers(model: Any, tokenizer: Any, messages: list[list[dict]], max_new_tokens: int) -> list[str]:
    import torch

    device = next(model.parameters()).device
    answers = []
    model.eval()
    for conversation in messages:
        prompt = [message for message in conversation if message["role"] != "assistant"]
        encoded = tokenizer.apply_chat_template(
            prompt, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt"
        )
        with torch.no_grad():
            output = model.generate(
                input_ids=encoded["input_ids"].to(device),
                attention_mask=encoded["attention_mask"].to(device),
                max_new_tokens=max_new_tokens,
                do_sample=False,
                eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id,
            )
        answers.append(tokenizer.decode(output[0, encoded["input_ids"].shape[1] :], skip_special_tokens=True).strip())
    return answers


def rouge_l(predictions: list[str], references: list[str]) -> float:
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    scores = [
        scorer.score(reference, prediction)["rougeL"].fmeasure
        for prediction, reference in zip(predictions, references, strict=True)
    ]
    return sum(scores) / max(len(scores), 1)
