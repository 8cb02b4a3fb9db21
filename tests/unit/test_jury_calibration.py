"""Jury weights fit on labelled samples: a member that only adds noise is left out, complementary members are both
kept, and the fitted jury is at least its best member on labels it was not fit on."""

from __future__ import annotations

import random

import pytest

from llm_engineering.application.judging.calibration import cross_validated, fit_weights, roc_auc, weighted_mean


def planted(seed: int = 0, good: int = 60) -> tuple[list[int], dict[str, list[float | None]], list[str]]:
    """Good samples and two kinds of bad ones: `swapped` (off-topic) and `truncated` (cut short)."""
    rng = random.Random(seed)
    labels, kinds = [], []
    for _ in range(good):
        labels += [1, 0, 0]
        kinds += ["good", "swapped", "truncated"]
    relevance = [rng.gauss(0.3 if k == "swapped" else 0.7, 0.1) for k in kinds]  # blind to truncation
    completeness = [rng.gauss(0.3 if k == "truncated" else 0.7, 0.1) for k in kinds]  # blind to topic
    noise = [rng.random() for _ in kinds]
    return labels, {"relevance": relevance, "completeness": completeness, "noise": noise}, kinds


def test_a_noise_member_is_left_out_and_the_jury_beats_its_best_member_out_of_sample():
    labels, scores, _ = planted()
    strong = {"relevance": scores["relevance"], "noise": scores["noise"]}
    equal = roc_auc(labels, weighted_mean(strong, {"relevance": 1, "noise": 1}))
    assert equal < roc_auc(labels, strong["relevance"]) - 0.05  # the plain mean is dragged down by the noise

    calibration = fit_weights(labels, strong)
    weights = {m.name: m.weight for m in calibration.members}
    assert weights["relevance"] > 0.8 and weights["noise"] <= 0.1
    assert calibration.jury_auc >= roc_auc(labels, strong["relevance"])  # its best member is a point of the grid

    folds = [i // 3 % 2 for i in range(len(labels))]  # a good sample and its bad copies stay in one fold
    checked = cross_validated(labels, strong, folds)
    assert checked.heldout_jury_auc >= checked.heldout_best_member_auc - 0.01


def test_complementary_members_are_both_kept_and_together_beat_either():
    labels, scores, _ = planted()
    pair = {"relevance": scores["relevance"], "completeness": scores["completeness"]}
    calibration = fit_weights(labels, pair)
    assert all(0.3 <= m.weight <= 0.7 for m in calibration.members)
    assert calibration.jury_auc > max(m.auc for m in calibration.members) + 0.1
    folds = [i // 3 % 2 for i in range(len(labels))]
    checked = cross_validated(labels, pair, folds)
    assert checked.heldout_jury_auc > checked.heldout_best_member_auc + 0.1
    assert calibration.weights() == {m.name: m.weight for m in calibration.members}


def test_a_missing_score_is_skipped_as_the_jury_skips_it():
    scores = {"a": [0.9, None, None], "b": [0.1, 0.4, None]}
    assert weighted_mean(scores, {"a": 0.75, "b": 0.25}) == [pytest.approx(0.7), pytest.approx(0.4), None]
    assert weighted_mean(scores, {"a": 1.0, "b": 0.0}) == [pytest.approx(0.9), None, None]  # weight 0: left out
