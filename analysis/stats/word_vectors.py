"""Word vectors for description similarity, loaded with gensim.

A source is one of:

- ``"bundled"``: the GloVe subset shipped in ``analysis/stats/data/`` (25 dimensions,
  11,925 frequent English words; real but coarse, see that folder's README);
- a path to a GloVe text file without a header, a word2vec text file (its first line is
  ``<words> <dimensions>``), a word2vec binary file (``.bin``), each possibly ``.gz``, or a
  saved gensim ``KeyedVectors`` (``.kv``);
- a gensim-data name such as ``"glove-wiki-gigaword-300"`` (downloaded by gensim on first
  use, so it needs the network once);
- ``None``, ``""`` or ``"none"``: no vectors; description similarity is not computed.

Django reads the source from ``ICELAB_WORD_VECTORS``; this module only takes a parameter.
"""

from __future__ import annotations

import functools
import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from gensim.models import KeyedVectors

BUNDLED = "bundled"
BUNDLED_PATH = Path(__file__).resolve().parent / "data" / "glove.twitter.27B.25d.top12k.txt.gz"
BUNDLED_LABEL = (
    "GloVe Twitter 27B, 25 dimensions, restricted to 11,925 frequent English words "
    "(bundled with ICE Lab; coarse)"
)
NO_VECTORS = ("", "none")
# Below these sizes similarities are only indicative, and every report says so.
COARSE_DIMENSIONS = 100
COARSE_VOCABULARY = 100_000


class WordVectorsUnavailable(RuntimeError):
    """Configured word vectors that could not be read (the message says which and why)."""


@dataclass(frozen=True)
class WordVectors:
    """Loaded word vectors and how a report should name them.

    Attributes
    ----------
    vectors : gensim ``KeyedVectors`` (``vectors.vectors`` has shape (n_words, dimensions)).
    source : the configured source, as given.
    label : a human-readable name for reports, including dimensions and vocabulary size.
    """

    vectors: KeyedVectors
    source: str
    label: str

    @property
    def dimensions(self) -> int:
        return int(self.vectors.vector_size)

    @property
    def vocabulary_size(self) -> int:
        return len(self.vectors.key_to_index)

    @property
    def coarse(self) -> bool:
        """True for small vectors whose similarities are only indicative."""
        return self.dimensions < COARSE_DIMENSIONS or self.vocabulary_size < COARSE_VOCABULARY

    @property
    def description(self) -> str:
        """One sentence for a report: what the vectors are, and a warning when coarse."""
        text = f"{self.label} [{self.vocabulary_size:,} words × {self.dimensions} dimensions]"
        if self.coarse:
            text += (
                "; coarse vectors: similarities are only indicative (configure a full GloVe "
                "file, e.g. glove.6B.300d, with ICELAB_WORD_VECTORS for publication)"
            )
        return text


def load_word_vectors(source: str | Path | None) -> WordVectors | None:
    """Load the word vectors named by ``source`` (see the module docstring).

    Returns ``None`` when no vectors are configured. Raises :class:`WordVectorsUnavailable`
    naming the source, the reason and the fix when configured vectors cannot be read.
    Loaded vectors are cached per source for the life of the process.
    """
    if source is None or str(source).strip().lower() in NO_VECTORS:
        return None
    text = str(source).strip()
    if text.lower() == BUNDLED:
        return _load_cached(str(BUNDLED_PATH), BUNDLED, BUNDLED_LABEL)
    path = Path(text).expanduser()
    if path.exists() or _looks_like_path(text):
        path = path.resolve()
        return _load_cached(str(path), text, path.name)
    return _load_gensim_data(text)


def _looks_like_path(text: str) -> bool:
    return "/" in text or "\\" in text or text.endswith((".txt", ".gz", ".bin", ".kv", ".vec"))


@functools.lru_cache(maxsize=4)
def _load_cached(path_text: str, source: str, label: str) -> WordVectors:
    path = Path(path_text)
    if not path.is_file():
        raise WordVectorsUnavailable(
            f"word vectors {source!r}: no file at {path}. Set ICELAB_WORD_VECTORS to an "
            "existing GloVe/word2vec/.kv file, a gensim-data name, 'bundled' or 'none'."
        )
    try:
        vectors = _read_file(path)
    except (OSError, ValueError, EOFError, UnicodeDecodeError, IndexError) as error:
        raise WordVectorsUnavailable(
            f"word vectors {source!r} could not be read as {_format_name(path)}: {error}. "
            "Check the file (GloVe text without header, word2vec text/binary, or a gensim .kv)."
        ) from error
    if len(vectors.key_to_index) == 0:
        raise WordVectorsUnavailable(f"word vectors {source!r} hold no words; check the file.")
    return WordVectors(vectors=vectors, source=source, label=label)


def _read_file(path: Path) -> KeyedVectors:
    name = path.name.lower()
    if name.endswith(".kv"):
        return KeyedVectors.load(str(path))
    if name.endswith((".bin", ".bin.gz")):
        return KeyedVectors.load_word2vec_format(str(path), binary=True)
    return KeyedVectors.load_word2vec_format(
        str(path), binary=False, no_header=not _has_word2vec_header(path)
    )


def _has_word2vec_header(path: Path) -> bool:
    """word2vec text starts with "<n_words> <dimensions>"; GloVe text starts with a word."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as handle:
        first = handle.readline().split()
    return len(first) == 2 and all(part.isdigit() for part in first)


def _format_name(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".kv"):
        return "a gensim KeyedVectors file"
    if name.endswith((".bin", ".bin.gz")):
        return "a word2vec binary file"
    return "a GloVe/word2vec text file"


def _load_gensim_data(name: str) -> WordVectors:
    try:
        import gensim.downloader as downloader

        vectors = downloader.load(name)
    except Exception as error:  # noqa: BLE001 - any failure (network, unknown name) means "unavailable"
        raise WordVectorsUnavailable(
            f"word vectors {name!r} are neither a file nor a loadable gensim-data model "
            f"({type(error).__name__}: {error}). Give a path to a vector file, a gensim-data "
            "name with the network available once, 'bundled' or 'none'."
        ) from error
    if not isinstance(vectors, KeyedVectors):
        raise WordVectorsUnavailable(
            f"gensim-data {name!r} is not a word-vector model; pick one such as "
            "'glove-wiki-gigaword-300'."
        )
    return WordVectors(vectors=vectors, source=name, label=f"gensim-data {name}")


def word_matrix(vectors: WordVectors, words: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The vectors of ``words`` (shape (n, dimensions), zero rows for unknown words) and a
    boolean mask of the known ones (shape (n,))."""
    index = vectors.vectors.key_to_index
    rows = np.array([index.get(word, -1) for word in words], dtype=np.int64)
    known = rows >= 0
    matrix = np.zeros((len(words), vectors.dimensions), dtype=np.float64)
    matrix[known] = vectors.vectors.vectors[rows[known]]
    return matrix, known
