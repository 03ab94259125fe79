"""Description similarity: hand-computed on a tiny vector file, and the vectorised sums
against a brute-force loop over pairs."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.stats.similarity import description_similarity, tokenize
from analysis.stats.word_vectors import load_word_vectors

VECTORS = {
    "wheel": [1.0, 0.0, 0.0],
    "tyre": [0.6, 0.8, 0.0],
    "round": [0.0, 1.0, 0.0],
    "eye": [0.0, 0.0, 2.0],
}


@pytest.fixture
def tiny_vectors(tmp_path: Path):
    path = tmp_path / "tiny.txt"
    path.write_text(
        "".join(f"{w} {' '.join(map(str, v))}\n" for w, v in VECTORS.items()), encoding="utf-8"
    )
    return load_word_vectors(path)


def frame(rows):
    return pd.DataFrame(rows, columns=["participant", "scenario", "reducer", "concept", "text"])


def test_it_tokenises_lower_case_words():
    assert tokenize("  Car's WHEEL, round-ish!") == ["car's", "wheel", "round", "ish"]
    assert tokenize(None) == []
    assert tokenize("") == []


def test_it_reproduces_a_hand_computed_similarity(tiny_vectors):
    descriptions = frame(
        [
            ("p1", "s", "nmf", "c1", "Wheel"),
            ("p2", "s", "nmf", "c1", "tyre"),
            ("p3", "s", "nmf", "c1", "round wheel"),
            ("p1", "s", "nmf", "c2", "eye"),
            ("p2", "s", "nmf", "c2", "blorf"),  # unknown only: no embedding
        ]
    )
    result = description_similarity(descriptions, tiny_vectors)
    # Unit embeddings: wheel (1,0,0); tyre (.6,.8,0); round wheel = mean (.5,.5,0) -> (1,1,0)/√2.
    # cos(wheel, tyre) = .6, cos(wheel, rw) = 1/√2, cos(tyre, rw) = 1.4/√2.
    r = 1 / np.sqrt(2)
    expected_concept = (0.6 + r + 1.4 * r) / 3
    per_concept = result.per_concept.set_index("concept")
    assert per_concept.loc["c1", "similarity"] == pytest.approx(expected_concept, abs=1e-6)
    assert np.isnan(per_concept.loc["c2", "similarity"])  # one embedded description
    # p1 on c1: mean of cos(wheel, tyre) and cos(wheel, rw); c2 has nobody else.
    per_participant = result.per_participant.set_index("participant")
    assert per_participant.loc["p1", "description_similarity"] == pytest.approx(
        (0.6 + r) / 2, abs=1e-6
    )
    assert per_participant.loc["p3", "description_similarity"] == pytest.approx(
        (r + 1.4 * r) / 2, abs=1e-6
    )
    assert result.unknown_words.to_dict("records") == [{"word": "blorf", "count": 1}]
    assert result.n_unknown == 1 and result.n_words == 6
    assert any("no known word" in note for note in result.notes)


def brute_force(descriptions: pd.DataFrame, vectors) -> dict:
    def embed(text):
        words = [w for w in tokenize(text) if w in vectors.vectors.key_to_index]
        if not words:
            return None
        v = np.mean([vectors.vectors[w].astype(float) for w in words], axis=0)
        return v / np.linalg.norm(v)

    units = [embed(t) for t in descriptions.text]
    out = {}
    for key, rows in descriptions.groupby(["scenario", "reducer", "concept"]):
        sims = [
            units[i] @ units[j]
            for i, j in itertools.permutations(rows.index, 2)
            if descriptions.participant[i] != descriptions.participant[j]
            and units[i] is not None
            and units[j] is not None
        ]
        out[key] = np.mean(sims) if sims else np.nan
    return out


def test_vectorised_sums_equal_a_loop_over_pairs_with_repeated_descriptions():
    vectors = load_word_vectors("bundled")
    rng = np.random.default_rng(0)
    words = [*list(vectors.vectors.key_to_index)[100:160], "zzqx"]
    rows = []
    for p in range(15):
        for c in range(6):
            # participant 3 describes some concepts twice: those pairs must not count.
            for _ in range(2 if p == 3 and c < 3 else 1):
                text = " ".join(rng.choice(words, rng.integers(0, 3)))
                rows.append((f"p{p}", "s", "nmf" if c % 2 else "pca", f"c{c % 3}", text))
    descriptions = frame(rows)
    result = description_similarity(descriptions, vectors)
    expected = brute_force(descriptions, vectors)
    got = result.per_concept.set_index(["scenario", "reducer", "concept"])["similarity"]
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=1e-9, nan_ok=True)


def test_descriptions_of_unknown_words_only_give_notes_not_a_crash(tiny_vectors):
    descriptions = frame([("p1", "s", "nmf", "c1", "blorf"), ("p2", "s", "nmf", "c1", "zzz qq")])
    result = description_similarity(descriptions, tiny_vectors)
    assert result.per_participant["description_similarity"].isna().all()
    assert any("No description could be embedded" in note for note in result.notes)
    assert result.n_unknown == 3


def test_it_needs_the_description_columns(tiny_vectors):
    with pytest.raises(ValueError, match=r"missing column\(s\) \['text'\]"):
        description_similarity(pd.DataFrame({"participant": [], "scenario": [], "reducer": [],
                                              "concept": []}), tiny_vectors)  # fmt: skip
