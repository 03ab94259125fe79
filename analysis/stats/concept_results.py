"""Per-concept results for the explainers side: was the concept matched, what was it called,
and does the crowd's label agree with the object part the concept highlights?

Per concept (scenario, reducer, concept):

- ``n_target`` / ``n_matched`` / ``match_rate``: test trials where it was the target, and
  how many of them were answered with it;
- ``n_descriptions``, ``top_labels`` (the most frequent labels, a label being the
  description's words joined by one space, with counts), ``top_label`` and its share;
- from the ``concepts`` frame: ``class_name``, ``best_part`` (the synthetic dataset's part
  it highlights best) and ``best_iou``;
- ``part_named``: the share of descriptions that contain a word of the part's name
  (``window_grid`` -> "window" or "grid");
- ``part_similarity``: with word vectors, the mean cosine between the descriptions and the
  part's name (embedded the same way as a description).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .frames import (
    BEST_IOU,
    BEST_PART,
    CLASS_NAME,
    CONCEPT,
    CONCEPTS,
    CORRECT,
    DESCRIPTIONS,
    PHASE,
    REDUCER,
    SCENARIO,
    TARGET_CONCEPT,
    TEST,
    TEXT,
    check_frame,
    check_responses,
    key_codes,
)
from .similarity import CONCEPT_KEY, embed_texts, tokenize
from .word_vectors import WordVectors

COLUMNS = [
    SCENARIO,
    REDUCER,
    CONCEPT,
    CLASS_NAME,
    BEST_PART,
    BEST_IOU,
    "n_target",
    "n_matched",
    "match_rate",
    "n_descriptions",
    "top_labels",
    "top_label",
    "top_label_share",
    "part_named",
    "part_similarity",
]


def concept_results(
    responses: pd.DataFrame,
    descriptions: pd.DataFrame,
    concepts: pd.DataFrame | None = None,
    *,
    vectors: WordVectors | None = None,
    n_labels: int = 3,
) -> pd.DataFrame:
    """One row per concept that was a target or was described (see module docstring).

    Parameters
    ----------
    responses, descriptions : the input frames (pass only the participants to analyse).
    concepts : optional concepts frame with class_name and best_part per concept.
    vectors : optional word vectors for ``part_similarity``.
    n_labels : how many of the most frequent labels ``top_labels`` lists.
    """
    check_responses(responses)
    check_frame(descriptions, DESCRIPTIONS)
    key = list(CONCEPT_KEY)
    test = responses[responses[PHASE] == TEST]
    targets = (
        test.assign(_hit=test[CORRECT].astype(bool))
        .groupby([SCENARIO, REDUCER, TARGET_CONCEPT], sort=False)
        .agg(n_target=("_hit", "size"), n_matched=("_hit", "sum"), _class=(CLASS_NAME, "first"))
        .rename_axis(key)
    )
    labels = _labels(descriptions, n_labels)
    table = targets.join(labels, how="outer")
    if concepts is not None:
        check_frame(concepts, CONCEPTS)
        extra = [c for c in (CLASS_NAME, BEST_PART, BEST_IOU) if c in concepts]
        table = table.join(concepts.drop_duplicates(key).set_index(key)[extra], how="outer")
    table = table.reset_index()
    for column in (CLASS_NAME, BEST_PART, BEST_IOU):
        if column not in table:
            table[column] = np.nan
    from_concepts = table[CLASS_NAME].astype(object)
    table[CLASS_NAME] = from_concepts.where(from_concepts.notna(), table.pop("_class"))
    for column in ("n_target", "n_matched", "n_descriptions"):
        table[column] = table[column].fillna(0).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        table["match_rate"] = table["n_matched"] / table["n_target"].replace(0, np.nan)
    table["part_named"], table["part_similarity"] = _part_agreement(descriptions, table, vectors)
    return table[COLUMNS]


def _labels(descriptions: pd.DataFrame, n_labels: int) -> pd.DataFrame:
    key = list(CONCEPT_KEY)
    concept_codes, concept_keys = key_codes(descriptions, key)
    text_codes, texts = pd.factorize(descriptions[TEXT].where(descriptions[TEXT].notna(), ""))
    label_of_text = np.array([" ".join(tokenize(t)) for t in texts], dtype=object)
    label_codes, labels = pd.factorize(label_of_text)
    label_codes = label_codes[text_codes] if len(text_codes) else text_codes
    counts = (
        pd.DataFrame({"concept_code": concept_codes, "label_code": label_codes})
        .value_counts()
        .rename("count")
        .reset_index()
    )
    counts["label"] = np.asarray(labels, dtype=object)[counts["label_code"]]
    counts = counts[counts["label"] != ""]
    counts = counts.sort_values(["concept_code", "count", "label"], ascending=[True, False, True])
    top = counts.groupby("concept_code", sort=False).head(n_labels)
    listing = top["label"] + " (" + top["count"].astype(str) + ")"
    by_concept = counts.groupby("concept_code", sort=True)
    first = by_concept.head(1).set_index("concept_code")
    totals = by_concept["count"].sum()
    table = pd.DataFrame(
        {
            "n_descriptions": totals,
            "top_labels": listing.groupby(top["concept_code"]).agg("; ".join),
            "top_label": first["label"],
            "top_label_share": first["count"] / totals,
        }
    )
    table.index = pd.MultiIndex.from_frame(concept_keys.iloc[table.index])
    return table


def _part_agreement(
    descriptions: pd.DataFrame, table: pd.DataFrame, vectors: WordVectors | None
) -> tuple[np.ndarray, np.ndarray]:
    key = list(CONCEPT_KEY)
    named = np.full(len(table), np.nan)
    similar = np.full(len(table), np.nan)
    if table[BEST_PART].isna().all() or len(descriptions) == 0:
        return named, similar
    concept_codes, concept_keys = key_codes(descriptions, key)
    part_of_concept = concept_keys.merge(table[[*key, BEST_PART]], on=key, how="left")[BEST_PART]
    part = part_of_concept.to_numpy(dtype=object)[concept_codes]
    has_part = pd.notna(part)
    text_codes, texts = pd.factorize(descriptions[TEXT].where(descriptions[TEXT].notna(), ""))
    part_codes, parts = pd.factorize(pd.Series(part).where(has_part, ""))
    pair_codes, pair_keys = pd.factorize(text_codes.astype(np.int64) * len(parts) + part_codes)
    pair_texts = [str(texts[k // len(parts)]) for k in pair_keys]
    pair_parts = [str(parts[k % len(parts)]) for k in pair_keys]
    hit = np.array(
        [
            bool(set(tokenize(t)) & set(_part_words(p)))
            for t, p in zip(pair_texts, pair_parts, strict=True)
        ]
    )
    values = pd.DataFrame({"code": concept_codes, "part_named": hit[pair_codes].astype(float)})
    if vectors is not None:
        text_units, _ = embed_texts(pair_texts, vectors)
        part_units, _ = embed_texts([" ".join(_part_words(p)) for p in pair_parts], vectors)
        values["part_similarity"] = np.einsum("ij,ij->i", text_units, part_units)[pair_codes]
    else:
        values["part_similarity"] = np.nan
    means = values[has_part].groupby("code").mean()
    means.index = pd.MultiIndex.from_frame(concept_keys.iloc[means.index])
    aligned = means.reindex(pd.MultiIndex.from_frame(table[key]))
    return aligned["part_named"].to_numpy(), aligned["part_similarity"].to_numpy()


def _part_words(part: str) -> list[str]:
    return tokenize(part.replace("_", " "))
