"""Our one chat template: ChatML with `{% generation %}` markers around the assistant's tokens.

SmolLM2's own template lacks the markers, so `return_assistant_tokens_mask` (assistant-only loss) would mark
nothing. The same template is used to train, to evaluate and in the exported tokenizer, so the model is
prompted at inference exactly as it was trained. The `<|im_end|>` closing an assistant turn sits inside the
markers: the model learns to stop.
"""

from __future__ import annotations

from typing import Any

CHATML_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'assistant' -%}"
    "{{ '<|im_start|>assistant\\n' }}"
    "{%- generation -%}{{ message['content'] + '<|im_end|>' }}{%- endgeneration -%}"
    "{{ '\\n' }}"
    "{%- else -%}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}"
)
CHATML_TOKENS = ("<|im_start|>", "<|im_end|>")


def apply_chat_template(tokenizer: Any) -> Any:
    """Install our template on a tokenizer; `<|im_end|>` ends generation and pads."""
    missing = [token for token in CHATML_TOKENS if token not in tokenizer.get_vocab()]
    if missing:
        tokenizer.add_special_tokens({"additional_special_tokens": missing})
    tokenizer.chat_template = CHATML_TEMPLATE
    tokenizer.eos_token = "<|im_end|>"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer
