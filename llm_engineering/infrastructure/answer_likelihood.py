"""How well a causal LM predicts an answer, with and without its question: the two losses behind instruction-following
difficulty (IFD = perplexity(answer | question) / perplexity(answer), Li et al. 2023, "From Quantity to Quality")."""

from __future__ import annotations

from typing import Any


class AnswerLikelihood:
    """A causal LM loaded once; `losses` gives the mean token loss of each answer, conditioned or not."""

    def __init__(self, model: str, device: str = "cpu", max_length: int = 512):
        from llm_engineering.infrastructure.causal_lm import load_base_model, load_tokenizer

        self.tokenizer = load_tokenizer(model)
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = load_base_model(model, device=device)
        self.model.eval()
        self.device = device
        self.max_length = max_length

    def _rows(self, question: str | None, answer: str) -> tuple[list[int], int]:
        """Token ids and where the answer starts: the chat-templated turn pair, or the bare answer."""
        answer_ids = self.tokenizer(answer, add_special_tokens=False)["input_ids"]
        if question is None:
            prefix: list[int] = []
        else:
            prefix = list(
                self.tokenizer.apply_chat_template(
                    [{"role": "user", "content": question}], tokenize=True, add_generation_prompt=True,
                    return_dict=True,
                )["input_ids"]
            )  # fmt: skip
        ids = (prefix + answer_ids)[: self.max_length]
        return ids, min(len(prefix), len(ids) - 1)

    def losses(self, questions: list[str | None], answers: list[str], batch_size: int = 4) -> list[float | None]:
        """Mean loss of each answer's tokens (None for an empty answer), in order."""
        import torch

        rows = [self._rows(question, answer) for question, answer in zip(questions, answers, strict=True)]
        losses: list[float | None] = []
        for start in range(0, len(rows), batch_size):
            batch = rows[start : start + batch_size]
            width = max(len(ids) for ids, _ in batch)
            pad = self.tokenizer.pad_token_id
            input_ids = torch.full((len(batch), width), pad, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            labels = torch.full((len(batch), width), -100, dtype=torch.long)
            for index, (ids, answer_start) in enumerate(batch):
                input_ids[index, : len(ids)] = torch.tensor(ids)
                mask[index, : len(ids)] = 1
                # Position 0's label is never predicted (the shift drops it): a bare answer's first token is not scored.
                labels[index, answer_start : len(ids)] = torch.tensor(ids[answer_start:])
            with torch.no_grad():
                logits = self.model(input_ids=input_ids.to(self.device), attention_mask=mask.to(self.device)).logits
            losses.extend(_mean_token_losses(logits.float().cpu(), labels))
        return losses


def _mean_token_losses(logits: Any, labels: Any) -> list[float | None]:
    import torch

    shifted_logits, shifted_labels = logits[:, :-1], labels[:, 1:]
    per_token = torch.nn.functional.cross_entropy(
        shifted_logits.transpose(1, 2), shifted_labels, ignore_index=-100, reduction="none"
    )
    counted = (shifted_labels != -100).sum(dim=1)
    return [
        float(per_token[row].sum() / counted[row]) if int(counted[row]) else None for row in range(per_token.shape[0])
    ]
