"""Pseudonyms are HMAC-SHA256 under the caller's key."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from analysis.stats.pseudonyms import pseudonym, pseudonym_map

KEY = "a-long-research-secret-0123456789"


def test_it_is_the_truncated_hmac_sha256():
    full = hmac.new(KEY.encode(), b"A1B2C3", hashlib.sha256).hexdigest()
    assert pseudonym("A1B2C3", KEY) == full[:16]
    assert pseudonym("A1B2C3", KEY.encode(), length=64) == full  # bytes and str keys agree
    assert (
        pseudonym(12345, KEY) == hmac.new(KEY.encode(), b"12345", hashlib.sha256).hexdigest()[:16]
    )


def test_it_depends_on_the_key_and_is_stable():
    assert pseudonym("w1", KEY) == pseudonym("w1", KEY)
    assert pseudonym("w1", KEY) != pseudonym("w1", KEY + "x")
    assert pseudonym_map(["w1", "w2", "w1"], KEY) == {
        "w1": pseudonym("w1", KEY),
        "w2": pseudonym("w2", KEY),
    }


def test_it_refuses_short_keys_and_lengths():
    with pytest.raises(ValueError, match="at least 16 bytes"):
        pseudonym("w1", "short")
    with pytest.raises(ValueError, match="between 8 and 64"):
        pseudonym("w1", KEY, length=4)
