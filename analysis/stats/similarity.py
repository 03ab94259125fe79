"""Description similarity: how alike different participants name the same concept.

Zhang et al. (2021) embed each 1-2 word description with GloVe and average the pairwise
cosine similarity across participants. Exactly:

1. A description is lower-cased and split into words (runs of letters and digits,
   apostrophes inside a word kept: ``"Car's wheel"`` -> ``["car's", "wheel"]``).
2. Its embedding is the mean of its known words' vectors, scaled to unit length. Words not
   in the vocabulary are counted and reported; a description with no known word has no
   embedding and is left out (and counted).
3. Per concept c (identified by scenario, reducer, concept), with n_c embedded
   descriptions u_i: the mean cosine over pairs of descriptions by *different*
   participants, computed without a pair loop as

       (‖Σ_i u_i‖² − Σ_p ‖Σ_{i∈p} u_i‖²) / (n_c² − Σ_p n_{c,p}²)

   where p runs over participants (so same-participant pairs, including i = j, drop out
   even when a participant described a concept twice).
4. Per participant p and concept c: the mean cosine between p's description(s) of c and
   every other participant's description of c. Per participant: the mean of these over
   the concepts p described. When each participant describes a concept once, the mean of
   the per-participant values of a concept equals the concept's value in (3).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import sparse

from .frames import (
    CONCEPT,
    DESCRIPTIONS,
    PARTICIPANT,
    REDUCER,
    SCENARIO,
    TEXT,
    check_frame,
    key_codes,
)
from .word_vectors import WordVectors

TOKEN_PATTERN = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
CONCEPT_KEY = (SCENARIO, REDUCER, CONCEPT)


def tokenize(text: object) -> list[str]:
    """Lower-cased words of ``text`` (letters and digits; inner apostrophes kept)."""
    if not isinstance(text, str):
        return []
    return [word.replace("’", "'") for word in TOKEN_PATTERN.findall(text.lower())]


@dataclass(frozen=True)
class SimilarityResult:
    """Description similarity at three levels, with the unknown words.

    Attributes
    ----------
    descriptions : the input rows plus ``n_words``, ``n_known``, ``n_unknown``,
        ``embedded`` (bool) and ``similarity`` (mean cosine to other participants'
        descriptions of the same concept; NaN when not embedded or nobody else's).
    per_concept : one row per concept: scenario, reducer, concept, n_descriptions
        (embedded), n_participants, similarity (NaN with fewer than two participants).
    per_participant : one row per participant: participant, n_descriptions, n_embedded,
        n_unknown_words, n_concepts_scored, description_similarity.
    unknown_words : word, count (occurrences), most frequent first.
    vectors_label : how the vectors are named in reports.
    notes : plain-language remarks for the report (left-out descriptions, ...).
    """

    descriptions: pd.DataFrame
    per_concept: pd.DataFrame
    per_participant: pd.DataFrame
    unknown_words: pd.DataFrame
    vectors_label: str
    notes: list[str] = field(default_factory=list)

    @property
    def n_words(self) -> int:
        return int(self.descriptions["n_words"].sum())

    @property
    def n_unknown(self) -> int:
        return int(self.descriptions["n_unknown"].sum())


def description_similarity(descriptions: pd.DataFrame, vectors: WordVectors) -> SimilarityResult:
    """Description similarity per description, concept and participant (see module docstring).

    Parameters
    ----------
    descriptions : frame with columns participant, scenario, reducer, concept, text.
    vectors : loaded word vectors (:func:`analysis.stats.load_word_vectors`).
    """
    check_frame(descriptions, DESCRIPTIONS)
    frame = descriptions.reset_index(drop=True)
    codes, texts = pd.factorize(frame[TEXT].where(frame[TEXT].notna(), "").astype(str))
    text_units, text_counts, unknown = _embed_texts(list(texts), vectors)
    counts = text_counts[codes]
    embedded = np.isfinite(text_units[codes, 0])

    per_description, per_concept, per_pair = _pairwise_means(frame, codes, text_units)
    rows = frame.assign(
        n_words=counts[:, 0],
        n_known=counts[:, 1],
        n_unknown=counts[:, 0] - counts[:, 1],
        embedded=embedded,
        similarity=per_description,
    )
    unknown_words = _count_unknown(unknown, codes)
    result = SimilarityResult(
        descriptions=rows,
        per_concept=per_concept,
        per_participant=_per_participant(rows, per_pair),
        unknown_words=unknown_words,
        vectors_label=vectors.description,
    )
    result.notes.extend(_notes(result))
    return result


def embed_texts(texts: list[str], vectors: WordVectors) -> tuple[np.ndarray, np.ndarray]:
    """Unit-length mean word vectors of ``texts``, shape (n, dimensions), NaN rows for texts
    without a known word; and (n_words, n_known) per text, shape (n, 2)."""
    units, counts, _ = _embed_texts(list(texts), vectors)
    return units, counts


@dataclass(frozen=True)
class _UnknownWords:
    """Every unknown word occurrence: the distinct text it is in (``rows``) and the word."""

    rows: np.ndarray
    words: np.ndarray


def _embed_texts(
    texts: list[str], vectors: WordVectors
) -> tuple[np.ndarray, np.ndarray, _UnknownWords]:
    """Unit embeddings (NaN rows when nothing is known), (n_words, n_known) per text, and
    the unknown words.

    Tokenising runs through pandas' string methods and the vocabulary lookup through a
    hashed index, about twice as fast as a Python loop over texts.
    """
    lowered = pd.Series(texts, dtype=object).str.lower()
    tokens = lowered.str.findall(TOKEN_PATTERN).explode().dropna()
    tokens = tokens.str.replace("’", "'", regex=False)
    rows = tokens.index.to_numpy(dtype=np.int64)
    columns = pd.Index(vectors.vectors.index_to_key).get_indexer(tokens.to_numpy())
    known = columns >= 0
    counts = np.stack(
        [
            np.bincount(rows, minlength=len(texts)),
            np.bincount(rows[known], minlength=len(texts)),
        ],
        axis=1,
    )
    shape = (len(texts), vectors.vocabulary_size)
    membership = sparse.csr_matrix(
        (np.ones(int(known.sum())), (rows[known], columns[known])), shape
    )
    sums = np.asarray(membership @ vectors.vectors.vectors.astype(np.float64))
    norms = np.linalg.norm(sums, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        # The mean and the sum point the same way, so the unit vector is the same.
        units = sums / norms[:, None]
    units[(counts[:, 1] == 0) | (norms == 0)] = np.nan
    unknown = _UnknownWords(rows[~known], tokens.to_numpy()[~known].astype(object))
    return units, counts, unknown


def _pairwise_means(
    frame: pd.DataFrame, codes: np.ndarray, text_units: np.ndarray
) -> tuple[np.ndarray, pd.DataFrame, pd.DataFrame]:
    """Similarity per description, per concept and per (concept, participant).

    Descriptions repeat a few hundred distinct texts, so the concept sums S_c are built from
    (concept, text) counts and every dot product u_d · S_c is looked up per (concept, text);
    only 1-D arrays run over all descriptions. The self term u_d · S_{c,p} is 1 for a
    participant's single description of a concept and computed explicitly otherwise.
    """
    if len(frame) == 0:
        per_concept = frame[list(CONCEPT_KEY)].assign(
            n_descriptions=0, n_participants=0, similarity=np.nan
        )
        return np.array([]), per_concept, pd.DataFrame({PARTICIPANT: [], "similarity": []})
    text_embedded = np.isfinite(text_units[:, 0])
    units = np.where(text_embedded[:, None], text_units, 0.0)
    embedded = text_embedded[codes]
    weights = embedded.astype(np.float64)
    n_texts = max(len(text_units), 1)
    concept_codes, concepts = key_codes(frame, CONCEPT_KEY)
    participant_codes, participants = pd.factorize(frame[PARTICIPANT])
    n_participants = max(len(participants), 1)
    pair_codes, pair_keys = pd.factorize(concept_codes * n_participants + participant_codes)
    pair_concept = pair_keys // n_participants
    pair_participant = np.asarray(participants, dtype=object)[pair_keys % n_participants]

    ct_codes, ct_keys = pd.factorize(concept_codes * n_texts + codes)
    ct_concept, ct_text = ct_keys // n_texts, ct_keys % n_texts
    ct_counts = np.bincount(ct_codes, weights=weights, minlength=len(ct_keys))
    concept_sum = np.asarray(
        sparse.csr_matrix((ct_counts, (ct_concept, ct_text)), shape=(len(concepts), n_texts))
        @ units
    )
    ct_dot = np.einsum("ij,ij->i", units[ct_text], concept_sum[ct_concept])
    dot = ct_dot[ct_codes] * weights  # u_d · S_c

    concept_n = np.bincount(concept_codes, weights=weights, minlength=len(concepts))
    pair_n = np.bincount(pair_codes, weights=weights, minlength=len(pair_keys))
    self_dot, pair_norm = _self_terms(pair_codes, pair_n, codes, units, weights)
    others_n = concept_n[pair_concept] - pair_n
    pair_dot = np.bincount(pair_codes, weights=dot, minlength=len(pair_keys))  # S_cp · S_c
    with np.errstate(invalid="ignore", divide="ignore"):
        per_description = (dot - self_dot) / others_n[pair_codes]
        pair_similarity = (pair_dot - pair_norm) / (pair_n * others_n)
        same = np.bincount(pair_concept, weights=pair_norm, minlength=len(concepts))
        same_n = np.bincount(pair_concept, weights=pair_n**2, minlength=len(concepts))
        numerator = np.einsum("ij,ij->i", concept_sum, concept_sum) - same
        concept_similarity = numerator / (concept_n**2 - same_n)
    per_description[~embedded | (others_n[pair_codes] == 0)] = np.nan
    participants_per_concept = np.bincount(pair_concept[pair_n > 0], minlength=len(concepts))
    concept_similarity[participants_per_concept < 2] = np.nan
    pair_similarity[(pair_n == 0) | (others_n == 0)] = np.nan

    per_concept = concepts.assign(
        n_descriptions=concept_n.astype(np.int64),
        n_participants=participants_per_concept,
        similarity=concept_similarity,
    )
    per_pair = pd.DataFrame({PARTICIPANT: pair_participant, "similarity": pair_similarity})
    return per_description, per_concept, per_pair


def _self_terms(
    pair_codes: np.ndarray,
    pair_n: np.ndarray,
    codes: np.ndarray,
    units: np.ndarray,
    weights: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """u_d · S_{c,p} per description and ‖S_{c,p}‖² per (concept, participant).

    With one embedded description both are 1 (unit vectors); pairs with several are summed
    explicitly (rare: a participant describing the same concept twice).
    """
    self_dot = weights.copy()
    pair_norm = np.minimum(pair_n, 1.0)
    repeated = np.flatnonzero((pair_n[pair_codes] > 1) & (weights > 0))
    if repeated.size:
        local, pairs = pd.factorize(pair_codes[repeated])
        vectors = units[codes[repeated]]
        sums = np.zeros((len(pairs), units.shape[1]))
        np.add.at(sums, local, vectors)
        self_dot[repeated] = np.einsum("ij,ij->i", vectors, sums[local])
        pair_norm[pairs] = np.einsum("ij,ij->i", sums, sums)
    return self_dot, pair_norm


def _per_participant(rows: pd.DataFrame, per_pair: pd.DataFrame) -> pd.DataFrame:
    counts = rows.groupby(PARTICIPANT, sort=False).agg(
        n_descriptions=(TEXT, "size"),
        n_embedded=("embedded", "sum"),
        n_unknown_words=("n_unknown", "sum"),
    )
    scored = per_pair.dropna(subset=["similarity"]).groupby(PARTICIPANT, sort=False)["similarity"]
    counts["n_concepts_scored"] = scored.size().reindex(counts.index, fill_value=0)
    counts["description_similarity"] = scored.mean().reindex(counts.index)
    return counts.reset_index()


def _count_unknown(unknown: _UnknownWords, codes: np.ndarray) -> pd.DataFrame:
    """Occurrences of each unknown word over all descriptions (a text used by k
    descriptions counts k times), most frequent first."""
    uses = np.bincount(codes, minlength=int(unknown.rows.max(initial=-1)) + 1)
    table = (
        pd.DataFrame({"word": unknown.words, "count": uses[unknown.rows].astype(np.int64)})
        .groupby("word", sort=False)["count"]
        .sum()
        .reset_index()
    )
    table["word"] = table["word"].astype(object)
    return table.sort_values(["count", "word"], ascending=[False, True], ignore_index=True)


def _notes(result: SimilarityResult) -> list[str]:
    rows = result.descriptions
    notes = []
    if len(rows) == 0:
        return ["No descriptions were given, so description similarity is not available."]
    n_words = result.n_words
    if result.n_unknown:
        top = ", ".join(
            f"{w!r} ({c})" for w, c in result.unknown_words.head(10).itertuples(index=False)
        )
        notes.append(
            f"{result.n_unknown:,} of {n_words:,} words ({result.n_unknown / max(n_words, 1):.1%}) "
            f"are not in the word vectors and were ignored; most frequent: {top}."
        )
    left_out = int((~rows["embedded"]).sum())
    if left_out:
        notes.append(
            f"{left_out:,} of {len(rows):,} descriptions had no known word (or were empty) and "
            "have no embedding; they are left out of description similarity."
        )
    if left_out == len(rows):
        notes.append("No description could be embedded, so description similarity is empty.")
    single = int((result.per_concept["n_participants"] < 2).sum())
    if single and left_out < len(rows):
        notes.append(
            f"{single:,} concept(s) were described by fewer than two participants (with an "
            "embedding), so no pairwise similarity exists for them."
        )
    return notes
