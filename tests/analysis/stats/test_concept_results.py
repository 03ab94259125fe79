"""Per-concept results: matches, labels and agreement with the known part (hand-counted)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.stats.concept_results import concept_results
from analysis.stats.word_vectors import load_word_vectors


def inputs():
    responses = pd.DataFrame(
        {
            "participant": ["a", "b", "c", "a"],
            "group": "g",
            "scenario": "s",
            "reducer": "nmf",
            "phase": ["test", "test", "test", "training"],
            "position": [6, 6, 6, 1],
            "trial_id": "t",
            "class_name": "car",
            "target_concept": "c1",
            "chosen_concept": ["c1", "c2", "c1", "c2"],
            "correct": [True, False, True, False],
            "rt_ms": 1000,
        }
    )
    descriptions = pd.DataFrame(
        {
            "participant": ["a", "b", "c", "a", "b"],
            "scenario": "s",
            "reducer": "nmf",
            "concept": ["c1", "c1", "c1", "c2", "c2"],
            "text": ["Wheel", "wheel", "round tyre", "grid", "window pane"],
        }
    )
    concepts = pd.DataFrame(
        {
            "scenario": "s",
            "reducer": "nmf",
            "concept": ["c1", "c2", "c3"],
            "class_name": "car",
            "best_part": ["wheel", "window_grid", "roof"],
            "best_iou": [0.7, 0.4, 0.1],
        }
    )
    return responses, descriptions, concepts


def test_it_counts_matches_and_labels():
    table = concept_results(*inputs()).set_index("concept")
    assert table.loc["c1", "n_target"] == 3 and table.loc["c1", "n_matched"] == 2
    assert table.loc["c1", "match_rate"] == pytest.approx(2 / 3)
    assert table.loc["c1", "top_labels"] == "wheel (2); round tyre (1)"
    assert table.loc["c1", "top_label_share"] == pytest.approx(2 / 3)
    assert table.loc["c1", "part_named"] == pytest.approx(2 / 3)
    # window_grid is named by "grid" and by "window pane".
    assert table.loc["c2", "part_named"] == 1.0 and table.loc["c2", "n_target"] == 0
    # c3 was never shown: it is still listed, with nothing counted.
    assert table.loc["c3", "n_descriptions"] == 0 and np.isnan(table.loc["c3", "part_named"])
    assert table.loc["c1", "best_iou"] == 0.7


def test_part_similarity_is_the_mean_cosine_to_the_part_name():
    vectors = load_word_vectors("bundled")
    table = concept_results(*inputs(), vectors=vectors).set_index("concept")
    kv = vectors.vectors

    def unit(words):
        v = np.mean([kv[w].astype(float) for w in words], axis=0)
        return v / np.linalg.norm(v)

    wheel = unit(["wheel"])
    # "tyre" is not in the bundled vocabulary, so "round tyre" is embedded as "round".
    assert "tyre" not in kv
    expected = np.mean([1.0, 1.0, unit(["round"]) @ wheel])
    assert table.loc["c1", "part_similarity"] == pytest.approx(expected, abs=1e-6)
    # window_grid is embedded as the mean of "window" and "grid"; "pane" is unknown.
    part = unit(["window", "grid"])
    expected = np.mean([unit(["grid"]) @ part, unit(["window"]) @ part])
    assert table.loc["c2", "part_similarity"] == pytest.approx(expected, abs=1e-6)
