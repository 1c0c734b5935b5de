"""Errors of the service (part of the ``scenerec.errors`` hierarchy), each with its HTTP status.

The one handler in ``serving.http`` maps every ``SceneRecError`` to a status: these classes carry
their own; the library's errors map by class (schema and config errors 422, unknown entities
404).
"""

from __future__ import annotations

from scenerec.errors import SceneRecError


class ServingError(SceneRecError):
    """Base of the service's own errors; ``status`` is the HTTP status it answers with."""

    status = 500

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class NotReadyError(ServingError):
    """The service is still rebuilding its state (or shutting down)."""

    status = 503


class StoreError(ServingError):
    """The event store cannot be reached or refused a write; nothing was acknowledged."""

    status = 503


class UnauthenticatedError(ServingError):
    """No API key was presented to an endpoint that needs one."""

    status = 401


class ForbiddenError(ServingError):
    """The API key presented is not the service's."""

    status = 403


class TooLargeError(ServingError):
    """The request body is larger than the service accepts."""

    status = 413


class UnsupportedError(ServingError):
    """The served model cannot do what was asked (e.g. add items to a model that does not learn
    online)."""

    status = 409


__all__ = [
    "ForbiddenError",
    "NotReadyError",
    "ServingError",
    "StoreError",
    "TooLargeError",
    "UnauthenticatedError",
    "UnsupportedError",
]
