"""Sequence packing that stays correct and cheap with every attention kernel.

TRL's packing (best-fit decreasing) is padding-free: its collator flattens the whole batch into one sequence
and relies on position_ids restarting at each sample. Flash attention turns that into variable-length kernels;
sdpa and eager get a block-diagonal mask over the flattened batch, i.e. (batch x max_length)^2 attention
scores instead of batch x max_length^2. With sdpa/eager we therefore keep packed rows as rows: the same
best-fit packing (TRL's `pack_dataset`), position_ids that restart at each sample, and no attention_mask, so
transformers builds a block-diagonal mask per row and no sample attends to another. (TRL's logged `num_tokens`
assumes a flattened batch and counts one row's width per batch here; benchmarks/gpu_train.py counts real tokens.)
"""

from __future__ import annotations

from typing import Any

from llm_engineering.domain.config.training import FLASH_ATTENTION


def packs_padding_free(attn_implementation: str, backend: str) -> bool:
    """Whether TRL's padding-free packing is right: under flash attention, and under unsloth, which replaces the
    attention and reads such batches itself (untested here: no GPU). Otherwise rows packed by us (`pack_rows`,
    `RowPackedCollator`)."""
    return backend == "unsloth" or attn_implementation in FLASH_ATTENTION


def pack_rows(dataset: Any, max_length: int) -> Any:
    """Best-fit-decreasing packing of tokenized samples (input_ids, labels) into rows of at most max_length."""
    from trl import pack_dataset

    return pack_dataset(dataset, max_length, strategy="bfd")


class RowPackedCollator:
    """Pads packed rows; position_ids restart per sample, and without an attention_mask transformers derives a
    block-diagonal causal mask per row from them (`find_packed_sequence_indices`, when no cache is in use).
    Padding sits at the end of a row, after every real token, with labels -100: causal attention never reads it."""

    def __init__(self, pad_token_id: int) -> None:
        from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

        self._collator = DataCollatorForLanguageModeling(pad_token_id=pad_token_id, return_position_ids=True)

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        batch = self._collator(examples)
        batch.pop("attention_mask")
        # transformers reads packing from position_ids only without a KV cache (TRL's compute_loss also sets this).
        batch["use_cache"] = False
        return batch
