"""The length-controlled reward accuracy keeps only pairs where preferring the chosen answer cannot be "longer wins"
or "complete beats truncated"."""

from __future__ import annotations

from llm_engineering.application.evaluation.rewards import accuracy_on, length_controlled_pairs, reward_margins


def test_only_complete_pairs_of_similar_length_count():
    chosen = [
        "LoRA learns two low-rank matrices per layer.",  # 0: similar length, both complete
        "LoRA learns two low-rank matrices per layer.",  # 1: the rejected one is cut off
        "LoRA learns two low-rank matrices per layer and keeps the base weights frozen during training.",  # 2: 2.5x
        "It adapts layers.",  # 3: both complete, 3 vs 4 words
    ]
    rejected = [
        "It fine-tunes every weight of the model again.",
        "It fine-tunes every weight of the",
        "It fine-tunes the model.",
        "It retrains everything.",
    ]
    assert length_controlled_pairs(chosen, rejected) == [0, 3]
    margins = reward_margins(([-1.0, -1.0, -1.0, -5.0], [-3.0, -2.0, -9.0, -4.0]), ([0.0] * 4, [0.0] * 4), beta=0.5)
    assert margins == [1.0, 0.5, 4.0, -0.5]
    assert accuracy_on(margins, [0, 3]) == 0.5  # the plain accuracy over all four would read 0.75
    assert accuracy_on(margins, []) is None
