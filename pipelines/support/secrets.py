"""Secrets the stages need, read from the environment or the user's own config folder,
never from the repository: the key that makes customer pseudonyms."""

from __future__ import annotations

import logging
import os
from pathlib import Path

PSEUDONYM_KEY_ENV = "CREDITRISK_PSEUDONYM_KEY"
PSEUDONYM_KEY_FILE = Path.home() / ".config" / "creditrisk" / "pseudonym.key"


def pseudonym_key() -> bytes:
    """The secret key for customer pseudonyms: ``$CREDITRISK_PSEUDONYM_KEY`` (text), else a
    random key kept in ``~/.config/creditrisk/pseudonym.key`` (created on first use, owner
    read-only), so pseudonyms agree across runs on one machine. Never a file in the repo."""
    log = logging.getLogger("pipelines.common")
    value = os.environ.get(PSEUDONYM_KEY_ENV)
    if value:
        return value.encode("utf-8")
    if not PSEUDONYM_KEY_FILE.exists():
        PSEUDONYM_KEY_FILE.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(PSEUDONYM_KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(os.urandom(32).hex())
        log.warning(
            "%s is not set: created a random pseudonymisation key in %s. Set the variable "
            "(from your secret store) to keep pseudonyms stable across machines.",
            PSEUDONYM_KEY_ENV,
            PSEUDONYM_KEY_FILE,
        )
    return PSEUDONYM_KEY_FILE.read_text().strip().encode("utf-8")
