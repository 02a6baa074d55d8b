"""Secrets of one run: the key from which systems derive the passwords of their nodes.

Owns `RunSecrets`. A key is drawn from the OS's random source when the run's `Test` is built and kept in memory
only: it is never written to test.json, results, reports or logs (its repr hides it), and a replay of a run gets
a new one. A system asks `test.secrets.password("postgres")` and gets the same password for the same purpose
throughout the run, so the DB, its clients and the harness's own queries agree without passing it around. Does
not own where a system puts the password on its nodes (see the systems in `clusters/`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets


class RunSecrets:
    """The random key of one run; `password(purpose)` derives a password from it."""

    __slots__ = ("_key",)

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)

    def password(self, purpose: str) -> str:
        """32 hex digits, the same for `purpose` throughout the run (hex: no character needs quoting in a
        connection string, a .pgpass line or a shell word)."""
        return hmac.new(self._key, purpose.encode(), hashlib.sha256).hexdigest()[:32]

    def __repr__(self) -> str:
        return "RunSecrets(<not shown>)"
