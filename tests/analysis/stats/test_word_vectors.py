"""Loading word vectors from each supported format, and clear errors for unreadable ones."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from gensim.models import KeyedVectors

from analysis.stats.word_vectors import (
    BUNDLED_PATH,
    WordVectorsUnavailable,
    load_word_vectors,
    word_matrix,
)

LINES = ["cat 0.1 0.2 0.3", "dog 0.2 0.1 0.0", "wheel -1 0.5 2"]


def test_the_bundled_default_is_the_glove_subset_named_as_coarse():
    vectors = load_word_vectors("bundled")
    assert vectors.dimensions == 25 and vectors.vocabulary_size == 11_925
    assert vectors.coarse
    assert "GloVe Twitter 27B" in vectors.description and "coarse" in vectors.description
    # The shipped copy is the file in /work/shared/data, gzip-compressed: first row intact.
    with gzip.open(BUNDLED_PATH, "rt", encoding="utf-8") as handle:
        word, *values = handle.readline().split()
    assert np.allclose(vectors.vectors[word], np.array(values, dtype=np.float32))


@pytest.mark.parametrize("compress", [False, True])
def test_it_reads_glove_text_without_header(tmp_path: Path, compress: bool):
    path = tmp_path / ("v.txt.gz" if compress else "v.txt")
    text = "\n".join(LINES) + "\n"
    if compress:
        with gzip.open(path, "wt", encoding="utf-8") as handle:
            handle.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    vectors = load_word_vectors(str(path))
    assert vectors.vocabulary_size == 3 and vectors.dimensions == 3
    assert vectors.vectors["wheel"] == pytest.approx([-1, 0.5, 2])


def test_it_reads_word2vec_text_binary_and_kv(tmp_path: Path):
    source = tmp_path / "w2v.txt"
    source.write_text("3 3\n" + "\n".join(LINES) + "\n", encoding="utf-8")
    from_text = load_word_vectors(source)
    assert from_text.vocabulary_size == 3
    binary = tmp_path / "w2v.bin"
    from_text.vectors.save_word2vec_format(str(binary), binary=True)
    saved = tmp_path / "w2v.kv"
    from_text.vectors.save(str(saved))
    for path in (binary, saved):
        loaded = load_word_vectors(path)
        assert isinstance(loaded.vectors, KeyedVectors)
        assert loaded.vectors["dog"] == pytest.approx([0.2, 0.1, 0.0])


@pytest.mark.parametrize("source", [None, "", "none", " None "])
def test_no_vectors_configured_is_none(source):
    assert load_word_vectors(source) is None


def test_unreadable_vectors_raise_a_clear_error(tmp_path: Path):
    with pytest.raises(WordVectorsUnavailable, match="no file at"):
        load_word_vectors(tmp_path / "missing.txt")
    broken = tmp_path / "broken.txt"
    broken.write_text("cat 0.1 zebra\ndog 1\n", encoding="utf-8")
    with pytest.raises(WordVectorsUnavailable, match="could not be read"):
        load_word_vectors(broken)


def test_a_gensim_data_name_goes_to_the_downloader(monkeypatch):
    import gensim.downloader

    def refuse(name):
        raise ConnectionError(f"no network for {name}")

    monkeypatch.setattr(gensim.downloader, "load", refuse)
    with pytest.raises(WordVectorsUnavailable, match="glove-wiki-gigaword-50.*no network"):
        load_word_vectors("glove-wiki-gigaword-50")


def test_word_matrix_marks_unknown_words():
    vectors = load_word_vectors("bundled")
    matrix, known = word_matrix(vectors, ["the", "zzqxv"])
    assert known.tolist() == [True, False]
    assert np.all(matrix[1] == 0) and matrix.shape == (2, 25)
