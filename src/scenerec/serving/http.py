"""The HTTP edges of the service: the one error handler (every error becomes an ``ErrorOut``
body with the status its class maps to, never a traceback) and the request-body limit.

Status codes: 422 a request or value that does not fit the schema (``SchemaError``,
``ConfigError``, validation), 404 an unknown user, item, scenario or route (``KeyError``s:
``UnknownEntityError``), 401 / 403 no key / a wrong key, 409 the model cannot do it, 413 a body
over the limit, 503 not ready or the store unavailable, 500 a bug (logged with its traceback
on the server, answered with one line and an id to find it).
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any, cast

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from scenerec.errors import ConfigError, SceneRecError, SchemaError, UnknownEntityError
from scenerec.serving.dto import ErrorBody, ErrorOut, FieldError
from scenerec.serving.errors import ServingError, TooLargeError

log = logging.getLogger("scenerec.serving")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def error_response(
    status: int, kind: str, message: str, fields: list[FieldError] | None = None
) -> JSONResponse:
    body = ErrorOut(error=ErrorBody(type=kind, message=message, fields=fields or []))
    return JSONResponse(body.model_dump(mode="json"), status_code=status)


def status_of(exc: SceneRecError) -> int:
    """The HTTP status of a library or service error."""
    if isinstance(exc, ServingError):
        return exc.status
    if isinstance(exc, UnknownEntityError):
        return 404
    if isinstance(exc, SchemaError | ConfigError):
        return 422
    return 500


def install_error_handlers(app: FastAPI) -> None:
    """Register the one mapping of errors to responses."""

    async def scenerec_error(request: Request, exc: Exception) -> JSONResponse:
        status = status_of(cast(SceneRecError, exc))  # registered for SceneRecError only
        if status == 500:
            return await internal_error(request, exc)
        return error_response(status, type(exc).__name__, str(exc))

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        errors = cast(RequestValidationError, exc).errors()
        fields = [
            FieldError(
                field=".".join(str(x) for x in err.get("loc", ())) or "<body>",
                message=str(err.get("msg", "invalid")),
            )
            for err in errors[:20]
        ]
        where = ", ".join(f.field for f in fields[:3])
        return error_response(
            422, "ValidationError", f"the request does not match the API schema ({where})", fields
        )

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        http = cast(HTTPException, exc)
        message = http.detail if isinstance(http.detail, str) else "request refused"
        if http.status_code == 400:  # a body FastAPI cannot decode: a schema error like any other
            return error_response(422, "ValidationError", f"{message}. Fix: send UTF-8 JSON")
        return error_response(http.status_code, "HTTPError", message)

    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        ref = uuid.uuid4().hex[:12]
        log.error("internal error %s on %s %s", ref, request.method, request.url.path, exc_info=exc)
        return error_response(
            500, "InternalError", f"internal error (reference {ref} in the server log)"
        )

    app.add_exception_handler(SceneRecError, scenerec_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, internal_error)


def limit_body(app: ASGIApp, max_bytes: int) -> ASGIApp:
    """An ASGI middleware that refuses bodies over ``max_bytes`` with 413 before the app
    parses them (by ``Content-Length`` when sent, else while reading)."""

    async def limited(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in _BODY_METHODS:
            await app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length", b"").decode("latin-1").strip()
        if declared.isdigit() and int(declared) > max_bytes:
            await _too_large(send, max_bytes)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > max_bytes:
                await _too_large(send, max_bytes)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            msg: Message = await receive()
            return msg

        await app(scope, replay, send)

    return limited


async def _too_large(send: Send, max_bytes: int) -> None:
    exc = TooLargeError(f"the request body is over {max_bytes:,} bytes. Fix: send smaller batches")
    body: dict[str, Any] = ErrorOut(
        error=ErrorBody(type=type(exc).__name__, message=exc.message)
    ).model_dump(mode="json")
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": exc.status,
            "headers": [(b"content-type", b"application/json"), (b"connection", b"close")],
        }
    )
    await send({"type": "http.response.body", "body": data})


__all__ = ["error_response", "install_error_handlers", "limit_body", "status_of"]
