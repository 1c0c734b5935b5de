"""The API key: read once from ``SCENEREC_API_KEY`` or a file, kept only as its SHA-256, and
compared in constant time with the key a request presents (``X-API-Key: KEY`` or
``Authorization: Bearer KEY``)."""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path
from typing import Final

from scenerec.errors import ConfigError
from scenerec.serving.errors import ForbiddenError, UnauthenticatedError

ENV_VAR: Final = "SCENEREC_API_KEY"
HEADER: Final = "X-API-Key"
MIN_LENGTH: Final = 16


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


class ApiKey:
    """The service's API key, as a hash.

    Args:
        key: the key in clear (not kept).
    """

    def __init__(self, key: str) -> None:
        key = key.strip()
        if len(key) < MIN_LENGTH:
            raise ConfigError(
                f"the API key has {len(key)} characters; at least {MIN_LENGTH} are required. "
                "Fix: generate one, e.g. "
                "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
            )
        self._hash = _digest(key)

    @classmethod
    def load(cls, file: str | Path | None = None) -> ApiKey:
        """The key from ``file`` (its first line) when given, else ``SCENEREC_API_KEY``.

        Raises:
            ConfigError: no key anywhere, an unreadable file, or a key that is too short.
        """
        if file is not None:
            p = Path(file)
            try:
                lines = p.read_text(encoding="utf-8").splitlines()
            except OSError as exc:
                raise ConfigError(f"{p}: cannot read the API key file ({exc.strerror})") from None
            return cls(lines[0] if lines else "")
        key = os.environ.get(ENV_VAR)
        if not key:
            raise ConfigError(
                f"no API key: the write endpoints need one. Fix: export {ENV_VAR}=... or pass "
                "--api-key-file FILE"
            )
        return cls(key)

    def check(self, presented: str | None) -> None:
        """Accept the key a request presented, or raise 401 (none) / 403 (wrong)."""
        if not presented:
            raise UnauthenticatedError(
                f"this endpoint needs the API key. Fix: send the header '{HEADER}: <key>' or "
                "'Authorization: Bearer <key>'"
            )
        if not hmac.compare_digest(_digest(presented), self._hash):
            raise ForbiddenError("the API key is not valid for this service")


def presented_key(x_api_key: str | None, authorization: str | None) -> str | None:
    """The key a request carries, from either header."""
    if x_api_key:
        return x_api_key
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    return None


__all__ = ["ENV_VAR", "HEADER", "ApiKey", "presented_key"]
