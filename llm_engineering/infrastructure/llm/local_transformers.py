"""The default, offline provider: a small causal LM via transformers, batched on CPU.

SmolLM2-135M-Instruct loads from its converted safetensors folder (`resolve_base_model`), never from the
GGUF at run time. Nothing is imported or loaded until the first `generate`.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

from llm_engineering.domain.config.llm import LLMConfig
from llm_engineering.infrastructure.base_model import resolve_base_model
from llm_engineering.infrastructure.interruption import is_interruption, raise_if_stop_requested
from llm_engineering.infrastructure.llm.base import (
    ChatRequest,
    ChatResult,
    Progressed,
    Usage,
    UsageCounter,
    UsageReport,
    sampling_params,
)

# One forward pass at a time, across providers sharing the loaded model: torch already uses every core.
_GENERATE_LOCK = threading.Lock()


@lru_cache(maxsize=2)
def _load(path: str) -> tuple[Any, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    tokenizer.padding_side = "left"  # decoder-only: prompts must end where generation starts
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    model.eval()
    return tokenizer, model


class LocalTransformersProvider:
    def __init__(self, config: LLMConfig):
        self.config = config
        self.model_id = f"local:{config.model}"
        self._counter = UsageCounter(config)

    def usage(self) -> UsageReport:
        return self._counter.report()

    def generate(
        self, requests: list[ChatRequest], show_progress: bool = False, progress: Progressed | None = None
    ) -> list[ChatResult]:
        if not requests:
            return []
        from llm_engineering.infrastructure.progress import Progress

        tokenizer, model = _load(resolve_base_model(self.config.model))
        prompts = [self._prompt(tokenizer, request) for request in requests]
        # Batch requests that decode alike, shortest prompts together so little of each batch is padding.
        groups: dict[tuple, list[int]] = {}
        for index, request in enumerate(requests):
            params = sampling_params(self.config, request)
            groups.setdefault((params["temperature"], params["max_new_tokens"]), []).append(index)
        results: list[ChatResult | None] = [None] * len(requests)
        own = Progress(
            len(requests), f"generating ({self.model_id})", "request", enabled=show_progress and not progress
        )
        with own:
            advance = progress or own.update
            for (temperature, max_new_tokens), indices in groups.items():
                indices.sort(key=lambda i: len(prompts[i]))
                for start in range(0, len(indices), self.config.batch_size):
                    raise_if_stop_requested(f"between generation batches ({self.model_id})")
                    batch = indices[start : start + self.config.batch_size]
                    answers = self._generate_batch(
                        tokenizer, model, [prompts[i] for i in batch], temperature, max_new_tokens, start
                    )
                    for index, (text, usage, error, finish_reason) in zip(batch, answers, strict=True):
                        result = ChatResult(key=requests[index].key, text=text, error=error, attempts=1, usage=usage,
                                            finish_reason=finish_reason)  # fmt: skip
                        self._counter.record(result)
                        results[index] = result
                    advance(len(batch))  # a batch's answers all arrive when its generate() returns
        return [result for result in results if result is not None]

    @staticmethod
    def _prompt(tokenizer: Any, request: ChatRequest) -> str:
        return tokenizer.apply_chat_template(request.messages, add_generation_prompt=True, tokenize=False)

    def _generate_batch(
        self, tokenizer: Any, model: Any, prompts: list[str], temperature: float, max_new_tokens: int, offset: int
    ) -> list[tuple[str, Usage, str | None, str | None]]:
        try:
            return self._run(tokenizer, model, prompts, temperature, max_new_tokens, offset)
        except Exception as error:  # one bad prompt must not sink its batch
            if is_interruption(error):  # SIGTERM/Ctrl-C: stop the step, do not retry prompt by prompt
                raise
            if len(prompts) == 1:
                return [("", Usage(), f"{type(error).__name__}: {error}", None)]
            # Retry one by one, so only the prompt that fails is reported failed.
            return [
                self._generate_batch(tokenizer, model, [prompt], temperature, max_new_tokens, offset + position)[0]
                for position, prompt in enumerate(prompts)
            ]

    def _run(
        self, tokenizer: Any, model: Any, prompts: list[str], temperature: float, max_new_tokens: int, offset: int
    ) -> list[tuple[str, Usage, str | None, str | None]]:
        """(text, usage, error, finish_reason) per prompt: 'stop' when the row reached an end-of-turn token, 'length'
        when it ran out of max_new_tokens first (the text is cut off)."""
        import torch

        encoded = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        sampling: dict[str, Any] = (
            {"do_sample": True, "temperature": temperature, "top_p": self.config.top_p}
            if temperature > 0
            else {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
        )
        with _GENERATE_LOCK, torch.inference_mode(), torch.random.fork_rng(devices=[]):
            # Seeded per batch position, so a sampled rerun of the same requests gives the same answers.
            torch.manual_seed(self.config.seed + offset)
            output = model.generate(
                **encoded, max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id, **sampling
            )
        prompt_length = encoded["input_ids"].shape[1]
        stop_ids = _stop_token_ids(tokenizer, model)
        answers = []
        for row in range(len(prompts)):
            generated = output[row, prompt_length:]
            stopped = any(int(token) in stop_ids for token in generated)
            completion_tokens = int((generated != tokenizer.pad_token_id).sum())
            text = tokenizer.decode(generated, skip_special_tokens=True).strip()
            usage = Usage(prompt_tokens=int(encoded["attention_mask"][row].sum()), completion_tokens=completion_tokens)
            answers.append((text, usage, None, "stop" if stopped else "length"))
        return answers


def _stop_token_ids(tokenizer: Any, model: Any) -> set[int]:
    """The tokens generate() stops a row on: the generation config's eos ids (an int or a list) and the tokenizer's."""
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids = set(configured if isinstance(configured, list) else [configured] if configured is not None else [])
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    return ids
