"""Pseudonymous participant IDs for exported files.

A keyed hash (HMAC-SHA256) maps a platform ID (an MTurk worker ID, a Prolific PID) to a
pseudonym: the same participant always gets the same pseudonym under one key, and without
the key nobody can test a guessed ID against the exports. The key belongs to the caller
(a deployment secret); it is never written anywhere by this package.
"""

from __future__ import annotations

import hashlib
import hmac

DEFAULT_LENGTH = 16
_MIN_KEY_BYTES = 16


def pseudonym(participant_id: object, key: bytes | str, *, length: int = DEFAULT_LENGTH) -> str:
    """The pseudonym of ``participant_id`` under ``key``: the first ``length`` hex digits of
    HMAC-SHA256(key, str(participant_id)).

    Parameters
    ----------
    participant_id : the identifier to hide (converted with ``str``).
    key : the secret, at least 16 bytes (a ``str`` is UTF-8 encoded).
    length : hex digits kept, 8..64 (16 digits = 64 bits: collisions are negligible
        below billions of participants).
    """
    key_bytes = key.encode() if isinstance(key, str) else key
    if not isinstance(key_bytes, bytes) or len(key_bytes) < _MIN_KEY_BYTES:
        raise ValueError(
            f"the pseudonym key must be at least {_MIN_KEY_BYTES} bytes; use a long random "
            "secret (e.g. secrets.token_hex(32)) kept outside the exports."
        )
    if not 8 <= length <= 64:
        raise ValueError(f"length={length} must be between 8 and 64 hex digits.")
    digest = hmac.new(key_bytes, str(participant_id).encode(), hashlib.sha256).hexdigest()
    return digest[:length]


def pseudonym_map(
    participant_ids: object, key: bytes | str, *, length: int = DEFAULT_LENGTH
) -> dict[object, str]:
    """``{id: pseudonym(id, key)}`` for each distinct ID; raises if two IDs collide."""
    mapping = {pid: pseudonym(pid, key, length=length) for pid in dict.fromkeys(participant_ids)}
    if len(set(mapping.values())) != len(mapping):
        raise ValueError(f"two participant IDs share a {length}-digit pseudonym; use a longer one.")
    return mapping
