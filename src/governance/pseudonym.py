"""Keyed pseudonyms for customer ids.

A pseudonym is HMAC-SHA256 of the id under a secret key, shortened to 16 hex characters
(64 bits). Without the key nobody can recompute it from an id; with the key the owner of
the data can find a customer's pseudonym again. The key never lives in the repository.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

PSEUDONYM_LENGTH = 16  # hex characters


class PseudonymKeyError(ValueError):
    """The pseudonymisation key is missing or too short."""


def check_key(key: bytes) -> bytes:
    """The key itself, if it is at least 16 bytes long.

    Raises:
        PseudonymKeyError: shorter keys are guessable.
    """
    if len(key) < 16:
        raise PseudonymKeyError(
            f"the pseudonymisation key has {len(key)} bytes; use at least 16 random bytes"
        )
    return key


def pseudonym(customer_id: object, key: bytes) -> str:
    """The pseudonym of one id (its text form is hashed, so 42 and "42" agree)."""
    digest = hmac.new(check_key(key), str(customer_id).encode("utf-8"), hashlib.sha256)
    return digest.hexdigest()[:PSEUDONYM_LENGTH]


def pseudonymise(ids: Iterable[object], key: bytes) -> list[str]:
    """Pseudonyms of many ids, in order."""
    check_key(key)
    return [pseudonym(i, key) for i in ids]
