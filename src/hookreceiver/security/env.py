"""Secrets from environment variables, so credentials rotate without a code change.

One variable holds a comma-separated list, newest first where order matters::

    DOCUMO_BASIC_AUTH="documo:n3w-pass,documo:old-pass"
    UPDOX_URL_KEYS="new-key-at-least-16-bytes,old-key-at-least-16-bytes"

Errors name the variable and the position of a bad entry, never its value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from ..errors import ConfigurationError

__all__ = ["credentials_from_env", "secrets_from_env"]


def secrets_from_env(name: str, *, environ: Mapping[str, str] | None = None) -> list[str]:
    """The comma-separated entries of environment variable ``name``, blanks around them removed.

    Raises:
        ConfigurationError: the variable is unset or holds no entry.
    """
    value = (os.environ if environ is None else environ).get(name, "")
    entries = [entry.strip() for entry in value.split(",")]
    if not value.strip() or any(not entry for entry in entries):
        raise ConfigurationError(
            f"environment variable {name} must hold one or more comma-separated entries"
        )
    return entries


def credentials_from_env(
    name: str, *, environ: Mapping[str, str] | None = None
) -> list[tuple[str, str]]:
    """``user:password`` pairs from environment variable ``name`` (``"u1:p1,u2:p2"``).

    The password is everything after the first colon (it may contain colons, not commas).
    Pass the result as a provider's ``basic_auth=``.

    Raises:
        ConfigurationError: the variable is unset, or an entry has no colon, user or password.
    """
    pairs: list[tuple[str, str]] = []
    for position, entry in enumerate(secrets_from_env(name, environ=environ), start=1):
        user, colon, password = entry.partition(":")
        if not colon or not user or not password:
            raise ConfigurationError(
                f"entry {position} of environment variable {name} is not 'user:password'"
            )
        pairs.append((user, password))
    return pairs
